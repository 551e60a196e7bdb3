import { describe, expect, test } from 'bun:test';
import { loadConfig } from '../../src/config/env.ts';
import { DEFAULT } from '../../src/domain/processors.ts';
import { Breaker, Field, Signals, Time } from '../../src/health/signals.ts';
import { GRANTED_PROBE, REFUSED, SettlementPolicy } from '../../src/settlement/policy.ts';

/** Signal times after weeks of uptime: ms since the instance started no longer fit an int32 after 24.8 days. */
describe('signals after a long uptime', () => {
  const DAYS_30 = 30 * 24 * 3600 * 1000;

  test('times past 2^31 ms since start are kept exactly', () => {
    const signals = new Signals(Signals.create().buffer, Date.now() - DAYS_30);
    const now = signals.now();
    expect(now).toBeGreaterThan(2 ** 31);
    signals.setTime(DEFAULT, Time.LastProbeAt, now);
    expect(signals.time(DEFAULT, Time.LastProbeAt)).toBe(now);
  });

  test('an open breaker is probed once per interval, not on every payment, after 30 days', () => {
    const signals = new Signals(Signals.create().buffer, Date.now() - DAYS_30);
    const policy = new SettlementPolicy(signals, loadConfig({ JOURNAL_DIR: 'off', BREAKER_FAILURE_THRESHOLD: '1', PROBE_INTERVAL_MS: '250' }), () => {});
    const now = signals.now();
    policy.recordFailure(DEFAULT, 5, now, 'HTTP 500');
    expect(signals.get(DEFAULT, Field.Breaker)).toBe(Breaker.Open);
    // Just opened: the first probe is due one interval later, then one per interval.
    expect(policy.grant(DEFAULT, now + 10, 0)).toBe(REFUSED);
    expect(policy.grant(DEFAULT, now + 260, 0)).toBe(GRANTED_PROBE);
    policy.release(DEFAULT, GRANTED_PROBE);
    expect(policy.grant(DEFAULT, now + 300, 0)).toBe(REFUSED);
    expect(policy.grant(DEFAULT, now + 520, 0)).toBe(GRANTED_PROBE);
  });
});
