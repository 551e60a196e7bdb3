import { describe, expect, test } from 'bun:test';
import { SendPace } from '../../src/settlement/pace.ts';

/** A CPU clock the test moves by hand. */
const clock = () => ({ runMs: 0, read: () => true });

describe('SendPace', () => {
  test('starts at most maxPerWindow calls per window, then holds until the next window', () => {
    const pace = new SendPace(clock(), { cpuShare: 0.5, windowMs: 10, maxPerWindow: 3 });
    pace.beginPump(100);
    expect([pace.take(), pace.take()]).toEqual([true, true]);
    expect(pace.held).toBe(false);
    pace.beginPump(104); // same window: one start left
    expect([pace.take(), pace.take()]).toEqual([true, false]);
    expect(pace.held).toBe(true);
    expect(pace.retryInMs(104)).toBe(6);
    pace.beginPump(110);
    expect(pace.held).toBe(false);
    expect([pace.take(), pace.take(), pace.take(), pace.take()]).toEqual([true, true, true, false]);
  });

  test('starts nothing while the CPU time spent in the window is over its share', () => {
    const cpu = clock();
    const pace = new SendPace(cpu, { cpuShare: 0.3, windowMs: 10, maxPerWindow: 100 });
    pace.beginPump(0);
    expect(pace.take()).toBe(true);
    cpu.runMs = 3; // 0.3 × 10 ms spent: the budget of this window
    pace.beginPump(5);
    expect(pace.take()).toBe(false);
    expect(pace.retryInMs(5)).toBe(5);
    pace.beginPump(10); // a new window: counted from here
    expect(pace.take()).toBe(true);
    cpu.runMs = 5.9;
    pace.beginPump(15);
    expect(pace.take()).toBe(true);
  });

  test('without a readable CPU clock only the count bounds it', () => {
    const pace = new SendPace({ runMs: 0, read: () => false }, { cpuShare: 0.1, windowMs: 10, maxPerWindow: 2 });
    pace.beginPump(0);
    expect([pace.take(), pace.take(), pace.take()]).toEqual([true, true, false]);
  });
});
