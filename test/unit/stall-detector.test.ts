import { afterEach, describe, expect, test } from 'bun:test';
import { STALL_BUCKETS_MS, StallDetector } from '../../src/http/stall-detector.ts';

/** Keeps the thread busy, as a long synchronous task on the HTTP thread would. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const detectors: StallDetector[] = [];
function detector(lines: string[], idleAfterMs = 1000): StallDetector {
  const made = new StallDetector({ intervalMs: 5, thresholdMs: 10, idleAfterMs, log: (line) => lines.push(line) });
  detectors.push(made);
  return made;
}
afterEach(() => {
  for (const made of detectors.splice(0)) made.stop();
});

const samples = (stalls: StallDetector) => stalls.counts.reduce((sum, n) => sum + n, 0);
const over = (stalls: StallDetector, ms: number) => {
  const bucket = STALL_BUCKETS_MS.indexOf(ms as (typeof STALL_BUCKETS_MS)[number]);
  return stalls.counts.slice(bucket + 1).reduce((sum, n) => sum + n, 0);
};

describe('StallDetector', () => {
  test('a task that blocks the thread shows in the histogram and is named in the log line', async () => {
    const lines: string[] = [];
    const stalls = detector(lines);
    const quick = stalls.task('quick task');
    const slow = stalls.task('slow task');
    stalls.end(quick, stalls.begin(quick));
    await Bun.sleep(30);
    const startedAt = stalls.begin(slow);
    busyFor(40);
    stalls.end(slow, startedAt);
    await Bun.sleep(30);
    expect(stalls.stalls).toBeGreaterThanOrEqual(1);
    expect(over(stalls, 20)).toBeGreaterThanOrEqual(1);
    expect(stalls.maxMs).toBeGreaterThanOrEqual(30);
    expect(lines).toHaveLength(1);
    const longest = /slow task ×1 \([\d.]+ ms, longest ([\d.]+) ms\)/.exec(lines[0]!);
    expect(longest).not.toBeNull();
    expect(Number(longest![1])).toBeGreaterThanOrEqual(40);
    expect(lines[0]).not.toContain('quick task');
    if (process.platform === 'linux') expect(lines[0]).toMatch(/on CPU [\d.]+ ms/);
  });

  test('the timer runs only while there is work, and a task that is not work does not start it', async () => {
    const stalls = detector([], 50);
    const work = stalls.task('payment');
    const check = stalls.task('health check', false);
    stalls.end(check, stalls.begin(check));
    await Bun.sleep(60);
    expect(samples(stalls)).toBe(0);
    stalls.end(work, stalls.begin(work));
    await Bun.sleep(40);
    const whileWorking = samples(stalls);
    expect(whileWorking).toBeGreaterThan(0);
    await Bun.sleep(150);
    const stoppedAt = samples(stalls);
    await Bun.sleep(100);
    expect(samples(stalls)).toBe(stoppedAt);
  });
});
