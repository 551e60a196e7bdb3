import { describe, expect, test } from 'bun:test';
import { expectedValueHoldMs, loadConfig } from '../../src/config/env.ts';
import { Breaker, Field, Signals } from '../../src/health/signals.ts';
import { DEFAULT, FALLBACK } from '../../src/domain/processors.ts';
import { GRANTED, RECOVERY_COVER_MS, REFUSED, SettlementPolicy, STAMP_MARGIN_MS } from '../../src/settlement/policy.ts';

function policyWith(env: Record<string, string> = {}): { policy: SettlementPolicy; signals: Signals } {
  const signals = Signals.create();
  const config = loadConfig({ JOURNAL_DIR: 'off', ...env });
  return { policy: new SettlementPolicy(signals, config, () => {}), signals };
}

describe('settlement policy: the rule', () => {
  test('the hold for a failing default follows the fees: 5%/15% holds over three times longer than 7%/10%', () => {
    expect(expectedValueHoldMs(0.05, 0.15, 60_000)).toBe(6316);
    expect(expectedValueHoldMs(0.07, 0.1, 60_000)).toBe(1935);
    expect(loadConfig({ JOURNAL_DIR: 'off' }).maxHoldMs).toBe(6316);
    expect(loadConfig({ JOURNAL_DIR: 'off', DEFAULT_FEE: '7%', FALLBACK_FEE: '10%' }).maxHoldMs).toBe(1935);
    // Equal fees: nothing to gain by holding.
    expect(expectedValueHoldMs(0.1, 0.1, 60_000)).toBe(0);
    expect(() => loadConfig({ JOURNAL_DIR: 'off', DEFAULT_FEE: '0.2', FALLBACK_FEE: '0.1' })).toThrow(/FALLBACK_FEE/);
  });

  test('a saturated default: the payments whose extra wait for default passes the hold overflow, the rest wait; the fees move the line', () => {
    const at = (fees: Record<string, string>) => {
      const { policy, signals } = policyWith({ MAX_INFLIGHT_PER_PROCESSOR: '100', PAYMENT_WORKERS: '2', ...fees });
      signals.observeLatency(DEFAULT, 2000);
      signals.observeLatency(FALLBACK, 20);
      // 50 slots per worker, 2 s a call: place p waits p x 40 ms, then 2 s more than fallback's 20 ms.
      let place = 1;
      while (!policy.overflows(place)) place++;
      return { place, defaultTooSlow: policy.defaultTooSlow(signals.now()) };
    };
    expect(at({})).toEqual({ place: 109, defaultTooSlow: false }); // hold 6,316 ms: (6,316 - 1,980) / 40 = 108.4
    // hold 1,935 ms: default alone is 1,980 ms slower than fallback, more than holding pays.
    expect(at({ DEFAULT_FEE: '0.07', FALLBACK_FEE: '0.10' })).toEqual({ place: 1, defaultTooSlow: true });
  });

  test('a line longer than default can serve within the hold overflows, also when the excess still waits in the ring', () => {
    const { policy, signals } = policyWith({ MAX_INFLIGHT_PER_PROCESSOR: '100', PAYMENT_WORKERS: '2', MAX_HOLD_MS: '4000' });
    signals.observeLatency(DEFAULT, 2000);
    // 40 ms a place, 2 s a call: 50 in line are served within 4 s, more are not.
    expect(policy.overflows(25, 0)).toBe(false);
    expect(policy.overflows(25, 25)).toBe(false);
    expect(policy.overflows(25, 26)).toBe(true);
  });

  test('fallback takes what default cannot only while it is fast, unless the payment is past its settlement budget', () => {
    const { policy, signals } = policyWith({ MAX_SETTLE_MS: '10000', LATENCY_THRESHOLD_MS: '200' });
    signals.observeLatency(FALLBACK, 900);
    const now = signals.now();
    expect(policy.grantFallback(now, 5_000, 0)).toBe(REFUSED);
    expect(policy.grantFallback(now, 10_000, 0)).toBe(GRANTED);
  });

  test('timeouts never open a breaker; failed calls do', () => {
    const { policy, signals } = policyWith({ BREAKER_FAILURE_THRESHOLD: '3' });
    for (let i = 0; i < 10; i++) policy.recordTimeout(DEFAULT, 6000);
    expect(signals.get(DEFAULT, Field.Breaker)).toBe(Breaker.Closed);
    for (let i = 0; i < 3; i++) policy.recordFailure(DEFAULT, 5, signals.now(), 'HTTP 500');
    expect(signals.get(DEFAULT, Field.Breaker)).toBe(Breaker.Open);
  });

  test('by default requestedAt is the send time for a fast processor; later by what a slow one exceeds the lag; unique per instance', () => {
    const { policy, signals } = policyWith({ AUDIT_LAG_MS: '1500', PEERS: 'unix:/a.sock,unix:/b.sock', INSTANCE_INDEX: '1' });
    signals.observeLatency(DEFAULT, 20);
    const now = 1_700_000_000_000;
    const fast = policy.requestedAtFor(DEFAULT, now, 0);
    expect(fast - now).toBeGreaterThanOrEqual(0);
    expect(fast - now).toBeLessThan(3);
    expect(fast % 3).toBe(1);
    signals.observeLatency(DEFAULT, 5000);
    const slow = policy.requestedAtFor(DEFAULT, now, 0);
    expect(slow - now).toBeGreaterThanOrEqual(5000 + STAMP_MARGIN_MS - 1500);
    expect(slow - now).toBeLessThan(5000 + STAMP_MARGIN_MS - 1500 + 3);
    expect(slow % 3).toBe(1);
    // Slow but within the lag (1 s + margin < 1.5 s): the send time; a payment counted at a run's end needs no more.
    const within = policyWith({ AUDIT_LAG_MS: '1500' });
    within.signals.observeLatency(DEFAULT, 1000);
    expect(within.policy.requestedAtFor(DEFAULT, now, 0) - now).toBe(0);
    // A call in flight longer than anything seen so far raises the expectation at once.
    signals.observeLatency(FALLBACK, 20);
    expect(policy.requestedAtFor(FALLBACK, now, 3000) - now).toBeGreaterThanOrEqual(3000 + STAMP_MARGIN_MS - 1500);
  });

  test("DATING_COVER_MS: every payment is dated for at least that delay, a fast processor's too", () => {
    const { policy, signals } = policyWith({ DATING_COVER_MS: '4000' });
    signals.observeLatency(DEFAULT, 10);
    const now = 1_700_000_000_000;
    expect(policy.requestedAtFor(DEFAULT, now, 0) - now).toBe(4000 + STAMP_MARGIN_MS - 1500);
  });

  test('a processor whose oldest call waits far longer than it usually answers is stalled: no new calls until it answers', () => {
    const { policy, signals } = policyWith();
    signals.observeLatency(DEFAULT, 20);
    const now = signals.now();
    expect(policy.grant(DEFAULT, now, 60)).toBe(GRANTED); // within 20 ms + 50 ms
    policy.release(DEFAULT, GRANTED);
    expect(policy.stalled(DEFAULT, 300)).toBe(true);
    expect(policy.grant(DEFAULT, now, 300)).toBe(REFUSED);
    // Its answers tell the new pace: 2 s calls are not a stall.
    signals.observeLatency(DEFAULT, 2000);
    expect(policy.grant(DEFAULT, now, 1900)).toBe(GRANTED);
  });

  test('after a breaker closes, calls ramp up as answers show the pace: a backlog is not sent at once on a guess', () => {
    const { policy, signals } = policyWith({ BREAKER_FAILURE_THRESHOLD: '1', MAX_INFLIGHT_PER_PROCESSOR: '100' });
    const now = signals.now();
    policy.recordFailure(DEFAULT, 5, now, 'HTTP 500');
    expect(signals.get(DEFAULT, Field.Breaker)).toBe(Breaker.Open);
    policy.recordSuccess(DEFAULT, 20, now + 300); // a probe came back: closed
    const granted = () => {
      let count = 0;
      while (policy.grant(DEFAULT, now + 300, 0) !== REFUSED) count++;
      return count;
    };
    expect(granted()).toBe(8);
    for (let i = 0; i < 8; i++) {
      policy.release(DEFAULT, GRANTED);
      policy.recordSuccess(DEFAULT, 20, now + 320);
    }
    expect(granted()).toBe(24); // 8 + 2 per answer
  });

  test("while a processor's pace is unknown (breaker open: a probe; ramping up after it closed), its calls are dated for the longest delay; once ramped up, by its pace", () => {
    const { policy, signals } = policyWith({ BREAKER_FAILURE_THRESHOLD: '1', MAX_INFLIGHT_PER_PROCESSOR: '20', AUDIT_LAG_MS: '1500' });
    const epochNow = 1_700_000_000_000;
    const now = signals.now();
    signals.observeLatency(DEFAULT, 10);
    expect(policy.requestedAtFor(DEFAULT, epochNow, 0) - epochNow).toBe(0);
    policy.recordFailure(DEFAULT, 5, now, 'HTTP 500');
    const unknownPace = RECOVERY_COVER_MS + STAMP_MARGIN_MS - 1500;
    expect(policy.requestedAtFor(DEFAULT, epochNow, 0) - epochNow).toBe(unknownPace);
    policy.recordSuccess(DEFAULT, 10, now + 300); // the probe came back: closed, ramping
    expect(policy.requestedAtFor(DEFAULT, epochNow, 0) - epochNow).toBe(unknownPace);
    for (let answers = 0; signals.get(DEFAULT, Field.RampLimit) > 0; answers++) {
      expect(answers).toBeLessThan(20);
      policy.recordSuccess(DEFAULT, 10, now + 310);
    }
    expect(policy.requestedAtFor(DEFAULT, epochNow, 0) - epochNow).toBe(0);
  });
});
