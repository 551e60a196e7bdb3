import { describe, expect, test } from 'bun:test';
import { deriveSeed, mulberry32 } from '../tools/loadtest/prng.ts';
import { type Condition, FINE, LONG_MIN_STEPS, REFERENCE_STEPS, Schedule, longPlan } from '../tools/loadtest/schedule.ts';

describe('mulberry32', () => {
  test('same seed, same sequence; different seed, different sequence', () => {
    const a = mulberry32(1234);
    const b = mulberry32(1234);
    const c = mulberry32(1235);
    const sa = Array.from({ length: 20 }, () => a());
    const sb = Array.from({ length: 20 }, () => b());
    const sc = Array.from({ length: 20 }, () => c());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    for (const v of sa) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
  });

  test('roughly uniform', () => {
    const r = mulberry32(7);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const k = Math.floor(r() * 10);
      bins[k] = (bins[k] ?? 0) + 1;
    }
    for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(600);
  });

  test('deriveSeed separates streams', () => {
    expect(deriveSeed(1, 1)).not.toBe(deriveSeed(1, 2));
    expect(deriveSeed(1, 1)).not.toBe(deriveSeed(2, 1));
    expect(deriveSeed(5, 9)).toBe(deriveSeed(5, 9));
  });
});

describe('Schedule', () => {
  test('random schedule is reproducible for a seed and independent of call order', () => {
    const s1 = new Schedule('random', 99);
    const s2 = new Schedule('random', 99);
    const forward = Array.from({ length: 12 }, (_, i) => s1.conditionAt(i));
    const backward = Array.from({ length: 12 }, (_, i) => s2.conditionAt(11 - i)).reverse();
    expect(backward).toEqual(forward);
    expect(s1.changesWithin(60)).toEqual(s2.changesWithin(60));
  });

  test('different seeds give different random schedules', () => {
    const a = new Schedule('random', 1).changesWithin(120).map((c) => c.condition);
    const b = new Schedule('random', 2).changesWithin(120).map((c) => c.condition);
    expect(a).not.toEqual(b);
  });

  test('random conditions use the documented delay menu', () => {
    const s = new Schedule('random', 3);
    let failures = 0;
    let total = 0;
    for (let step = 1; step <= 500; step++) {
      const c = s.conditionAt(step);
      for (const p of [c.default, c.fallback]) {
        total++;
        if (p.failure) failures++;
        const ok = [0, 20, 100, 500, 5000].includes(p.delayMs) || (p.delayMs >= 1000 && p.delayMs <= 2000);
        expect(ok).toBe(true);
      }
    }
    expect(failures).toBeGreaterThan(total * 0.15);
    expect(failures).toBeLessThan(total * 0.45);
  });

  test("step 0 is always both fine; 'none' never changes", () => {
    for (const mode of ['reference', 'random', 'none'] as const) {
      expect(new Schedule(mode, 5).conditionAt(0)).toEqual(FINE);
    }
    expect(new Schedule('none', 5).changesWithin(600)).toEqual([]);
  });

  test('reference schedule follows the fixed sequence and repeats', () => {
    const s = new Schedule('reference', 0, 10);
    const changes = s.changesWithin(60);
    expect(changes.map((c) => c.atSec)).toEqual([10, 20, 30, 40, 50]);
    expect(changes.map((c) => c.condition)).toEqual(REFERENCE_STEPS.slice(1));
    expect(s.conditionAt(1).default).toEqual({ delayMs: 100, failure: false });
    expect(s.conditionAt(2).default.failure).toBe(true);
    const both = s.conditionAt(3);
    expect(both.default.failure && both.fallback.failure).toBe(true);
    expect(both.default.delayMs).toBeGreaterThanOrEqual(1000);
    expect(both.fallback.delayMs).toBeLessThanOrEqual(2000);
    expect(s.conditionAt(5).fallback.delayMs).toBe(5000);
    expect(s.conditionAt(6)).toEqual(REFERENCE_STEPS[0] ?? FINE);
    expect(s.conditionAt(7)).toEqual(s.conditionAt(1));
    // with a shorter step the changes come sooner
    expect(new Schedule('reference', 0, 2.5).changesWithin(10).map((c) => c.atSec)).toEqual([2.5, 5, 7.5]);
  });
});

describe('long schedule', () => {
  const conditions = (s: Schedule, durationSec: number): Condition[] =>
    Array.from({ length: Schedule.fullSteps(durationSec, s.stepSec) }, (_, step) => s.conditionAt(step));
  const defaultSlow = (c: Condition) => !c.default.failure && c.default.delayMs >= 1000 && c.default.delayMs <= 5000;

  test('seeded: the same seed gives the same run, other seeds other runs', () => {
    const a = new Schedule('long', 7, 30, 300);
    expect(new Schedule('long', 7, 30, 300).changesWithin(300)).toEqual(a.changesWithin(300));
    const distinct = new Set(Array.from({ length: 20 }, (_, seed) => JSON.stringify(longPlan(seed, 10))));
    expect(distinct.size).toBeGreaterThan(10);
  });

  test("5 minutes at 30 s steps: changes every 30 s, the contract's stages, for many seeds", () => {
    for (let seed = 0; seed < 200; seed++) {
      const s = new Schedule('long', seed, 30, 300);
      expect(s.changesWithin(300).map((c) => c.atSec)).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270]);
      const steps = conditions(s, 300);
      expect(steps[0]).toEqual(FINE);
      // a default outage of two consecutive steps (60 s)
      expect(steps.some((c, i) => c.default.failure && steps[i + 1]?.default.failure === true)).toBe(true);
      // a fallback outage
      expect(steps.some((c) => c.fallback.failure)).toBe(true);
      // both slow, neither failing
      expect(steps.some((c) => !c.default.failure && !c.fallback.failure && c.default.delayMs >= 500 && c.fallback.delayMs >= 500)).toBe(true);
      // default working but slow (1-5 s) mid-run, and for the whole last step
      expect(steps.slice(1, -1).some(defaultSlow)).toBe(true);
      const last = steps[steps.length - 1] as Condition;
      expect(defaultSlow(last)).toBe(true);
      // the end stays slow through the settle period (what is held for default may stay unsettled)
      expect(s.settleCondition).toEqual(last);
    }
  });

  test('a trailing partial step belongs to the last one; too short a run is refused', () => {
    const s = new Schedule('long', 1, 30, 310);
    expect(s.changesWithin(310).map((c) => c.atSec)).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270]);
    expect(s.stepAt(305)).toBe(9);
    expect(s.conditionAt(10)).toEqual(s.conditionAt(9));
    expect(() => new Schedule('long', 1, 30, 30 * (LONG_MIN_STEPS - 1))).toThrow(RangeError);
    // longer runs add seeded filler steps and keep every stage
    const long = conditions(new Schedule('long', 3, 30, 600), 600);
    expect(long.length).toBe(20);
    expect(defaultSlow(long[19] as Condition)).toBe(true);
  });

  test('other schedules reset to fine for the settle period', () => {
    expect(new Schedule('reference', 0).settleCondition).toEqual(FINE);
    expect(new Schedule('none', 0).stepAt(123)).toBe(0);
  });
});
