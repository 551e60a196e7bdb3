import { describe, expect, test } from 'bun:test';
import { feeMicros, formatCents, formatMicros, toCents } from '../tools/loadtest/money.ts';
import { computeScore, p99BonusRate } from '../tools/loadtest/score.ts';

describe('money', () => {
  test('cents from float totals are exact', () => {
    // 19.90 * 3 in floating point is 59.699999999999996
    expect(toCents(19.9 * 3)).toBe(5970);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) sum += 19.9;
    expect(toCents(sum)).toBe(19_900_000);
  });

  test('fees are exact to a fraction of a cent', () => {
    // 5 % of 19.90 = 0.995
    expect(formatMicros(feeMicros(1990, 500))).toBe('0.995');
    // 15 % of 19.90 = 2.985
    expect(formatMicros(feeMicros(1990, 1500))).toBe('2.985');
    expect(formatCents(1990)).toBe('19.90');
    expect(formatCents(5)).toBe('0.05');
    expect(formatMicros(-1_500_000)).toBe('-1.50');
    expect(formatMicros(123)).toBe('0.000123');
  });
});

describe('score', () => {
  const base = {
    default: { totalRequests: 1000, amountCents: 1000 * 1990 },
    fallback: { totalRequests: 100, amountCents: 100 * 1990 },
    accepted: 1100,
    p99Ms: 11,
    inconsistencies: 0,
  };

  test('profit = amounts - 5% default - 15% fallback, exactly', () => {
    const s = computeScore(base);
    // gross 19900 + 1990 = 21890; fees 995 + 298.5 = 1293.5; profit 20596.5
    expect(formatMicros(s.grossMicros)).toBe('21890.00');
    expect(formatMicros(s.feeMicros.default)).toBe('995.00');
    expect(formatMicros(s.feeMicros.fallback)).toBe('298.50');
    expect(formatMicros(s.profitMicros)).toBe('20596.50');
    expect(s.bonusRate).toBe(0);
    expect(s.fineMicros).toBe(0);
    expect(formatMicros(s.scoreMicros)).toBe('20596.50');
    expect(s.lag).toBe(0);
    expect(s.disqualified).toBe(false);
  });

  test('odd counts keep sub-cent precision', () => {
    const s = computeScore({ ...base, default: { totalRequests: 1, amountCents: 1990 }, fallback: { totalRequests: 1, amountCents: 1990 }, accepted: 2 });
    // 19.90 - 0.995 + 19.90 - 2.985 = 35.82
    expect(formatMicros(s.profitMicros)).toBe('35.82');
    const s3 = computeScore({ ...base, default: { totalRequests: 3, amountCents: 5970 }, fallback: { totalRequests: 0, amountCents: 0 }, accepted: 3 });
    // 59.70 * 0.95 = 56.715
    expect(formatMicros(s3.profitMicros)).toBe('56.715');
  });

  test('p99 bonus: max((11 - p99) * 0.02, 0)', () => {
    expect(p99BonusRate(1)).toBe(0.2);
    expect(p99BonusRate(11)).toBe(0);
    expect(p99BonusRate(20)).toBe(0);
    expect(p99BonusRate(0)).toBe(0.22);
    expect(p99BonusRate(1.5)).toBe(0.19);
    expect(p99BonusRate(null)).toBe(0);
    expect(p99BonusRate(Number.NaN)).toBe(0);
    const s = computeScore({ ...base, p99Ms: 1 });
    // 20% of 20596.50 = 4119.30
    expect(formatMicros(s.bonusMicros)).toBe('4119.30');
    expect(formatMicros(s.scoreMicros)).toBe('24715.80');
  });

  test('any inconsistency costs 35% of profit', () => {
    const s = computeScore({ ...base, p99Ms: 1, inconsistencies: 2 });
    // fine 35% of 20596.50 = 7208.775
    expect(formatMicros(s.fineMicros)).toBe('7208.775');
    expect(s.fineRate).toBe(0.35);
    expect(formatMicros(s.scoreMicros)).toBe('17507.025');
    expect(s.reasons.some((r) => r.includes('inconsistencies'))).toBe(true);
    // one or many: same fine
    expect(computeScore({ ...base, inconsistencies: 1 }).fineMicros).toBe(computeScore({ ...base, inconsistencies: 7 }).fineMicros);
  });

  test('more payments recorded than accepted is a disqualification', () => {
    const s = computeScore({ ...base, accepted: 1099 });
    expect(s.disqualified).toBe(true);
    expect(s.scoreMicros).toBe(0);
    expect(formatMicros(s.beforeDisqualificationMicros)).toBe('20596.50');
    expect(s.lag).toBe(0);
    expect(s.reasons[0]).toContain('1 extra');
  });

  test('lag = accepted - recorded', () => {
    const s = computeScore({ ...base, accepted: 1150 });
    expect(s.disqualified).toBe(false);
    expect(s.lag).toBe(50);
    expect(s.recorded).toBe(1100);
  });
});
