/**
 * Processor conditions over time. The test is cut into steps of `stepSec`
 * seconds; step k starts at k * stepSec. Step 0 is always "both fine" (it is
 * what the setup resets to).
 */
import { deriveSeed, mulberry32 } from './prng.ts';

export type ScheduleMode = 'reference' | 'random' | 'long' | 'none';

export interface ProcessorCondition {
  delayMs: number;
  failure: boolean;
}

export interface Condition {
  default: ProcessorCondition;
  fallback: ProcessorCondition;
  label: string;
}

const fine = (delayMs = 0): ProcessorCondition => ({ delayMs, failure: false });
const failing = (delayMs = 0): ProcessorCondition => ({ delayMs, failure: true });

export const FINE: Condition = { default: fine(), fallback: fine(), label: 'both fine' };

/** The reference sequence; it repeats when the test is longer than one cycle. */
export const REFERENCE_STEPS: readonly Condition[] = [
  FINE,
  { default: fine(100), fallback: fine(), label: 'default +100 ms delay' },
  { default: failing(), fallback: fine(), label: 'default failing' },
  { default: failing(2000), fallback: failing(1000), label: 'both failing, delays 2000/1000 ms' },
  { default: fine(20), fallback: fine(20), label: 'both recovered, 20 ms' },
  { default: fine(20), fallback: fine(5000), label: 'fallback 5 s delay' },
];

/** Delay menu of the random schedule; "range" = uniform 1000-2000 ms. */
const RANDOM_DELAYS: ReadonlyArray<number | 'range'> = [0, 20, 100, 500, 'range', 5000];
export const RANDOM_FAILURE_PROBABILITY = 0.3;

/**
 * The long run's stages besides "both fine" at the start: the contract's longer runs (a default
 * outage of a minute, a fallback outage, both slow, and a default that works but slower than the
 * arrival rate allows, mid-run and at the very end, where holding payments for it can leave them
 * unsettled). Each stage is one step long except the outage (two steps, ≥ 60 s at 30 s steps).
 */
export type LongStage = 'default outage' | 'fallback outage' | 'both slow' | 'default slow' | 'filler';

/** Steps a long schedule needs: fine, 2 outage, fallback outage, both slow, default slow, default slow at the end. */
export const LONG_MIN_STEPS = 7;

/** Delay from lo to hi ms in 100 ms units. */
function delayBetween(rng: () => number, lo: number, hi: number): number {
  return lo + 100 * Math.floor(rng() * ((hi - lo) / 100 + 1));
}

function pick<T>(rng: () => number, menu: readonly T[]): T {
  return menu[Math.floor(rng() * menu.length)] as T;
}

const FAST_DELAYS = [0, 20, 100] as const;
const FILLERS: ReadonlyArray<(rng: () => number) => Condition> = [
  () => ({ default: fine(), fallback: fine(), label: 'both fine' }),
  () => ({ default: fine(20), fallback: fine(20), label: 'both 20 ms' }),
  () => ({ default: fine(100), fallback: fine(), label: 'default +100 ms' }),
  (rng) => ({ default: fine(delayBetween(rng, 300, 800)), fallback: fine(), label: 'default a little slow' }),
  () => ({ default: fine(20), fallback: fine(5000), label: 'fallback 5 s delay' }),
];

function longStage(stage: LongStage, rng: () => number): Condition {
  let c: Condition;
  switch (stage) {
    case 'default outage':
      c = { default: failing(), fallback: fine(pick(rng, FAST_DELAYS)), label: '' };
      break;
    case 'fallback outage':
      c = { default: fine(pick(rng, FAST_DELAYS)), fallback: failing(), label: '' };
      break;
    case 'both slow':
      c = { default: fine(delayBetween(rng, 500, 2000)), fallback: fine(delayBetween(rng, 500, 2000)), label: '' };
      break;
    case 'default slow':
      c = { default: fine(delayBetween(rng, 1000, 5000)), fallback: fine(pick(rng, FAST_DELAYS)), label: '' };
      break;
    case 'filler':
      return pick(rng, FILLERS)(rng);
  }
  c.label = `${stage}: ${describeCondition(c)}`;
  return c;
}

/** The long schedule's steps 0..steps-1, seeded: the middle stages in a seeded order. */
export function longPlan(seed: number, steps: number): Condition[] {
  if (steps < LONG_MIN_STEPS) throw new RangeError(`the long schedule needs at least ${LONG_MIN_STEPS} steps, got ${steps}`);
  const rng = mulberry32(deriveSeed(seed, 0x10a6));
  const blocks: LongStage[][] = [['default outage', 'default outage'], ['fallback outage'], ['both slow'], ['default slow']];
  for (let i = LONG_MIN_STEPS; i < steps; i++) blocks.push(['filler']);
  for (let i = blocks.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [blocks[i], blocks[j]] = [blocks[j] as LongStage[], blocks[i] as LongStage[]];
  }
  const plan: Condition[] = [FINE];
  for (const block of blocks) {
    const condition = longStage(block[0] as LongStage, rng);
    for (const _ of block) plan.push(condition);
  }
  plan.push(longStage('default slow', rng));
  return plan;
}

export function describeProcessor(p: ProcessorCondition): string {
  const d = p.delayMs > 0 ? `${p.delayMs} ms` : '0 ms';
  return p.failure ? `FAILING (${d})` : d;
}

export function describeCondition(c: Condition): string {
  return `default ${describeProcessor(c.default)}, fallback ${describeProcessor(c.fallback)}`;
}

export class Schedule {
  readonly mode: ScheduleMode;
  readonly seed: number;
  readonly stepSec: number;
  /** The long schedule's steps; a trailing partial step belongs to the last one. */
  private readonly plan: Condition[] | null;

  /** durationSec: the load phase's length, which the long schedule is laid out over (required for it). */
  constructor(mode: ScheduleMode, seed: number, stepSec = 10, durationSec?: number) {
    if (!(stepSec > 0)) throw new RangeError('stepSec must be > 0');
    this.mode = mode;
    this.seed = seed >>> 0;
    this.stepSec = stepSec;
    if (mode === 'long' && durationSec === undefined) throw new RangeError('the long schedule needs the duration');
    this.plan = mode === 'long' ? longPlan(this.seed, Schedule.fullSteps(durationSec ?? 0, stepSec)) : null;
  }

  static fullSteps(durationSec: number, stepSec: number): number {
    return Math.max(1, Math.floor(durationSec / stepSec + 1e-9));
  }

  /**
   * What the processors keep while the gateway settles after the load: the long run's slow end
   * stays (that is its point: what is held for a slow default can stay unsettled), other runs
   * reset to fine.
   */
  get settleCondition(): Condition {
    return this.plan?.[this.plan.length - 1] ?? FINE;
  }

  /** The step in force `sec` seconds into the load (0 throughout for "none"). */
  stepAt(sec: number): number {
    if (this.mode === 'none' || sec < 0) return 0;
    const step = Math.floor(sec / this.stepSec);
    return this.plan === null ? step : Math.min(step, this.plan.length - 1);
  }

  /** Condition of step `step` (0-based). Pure: same inputs, same output. */
  conditionAt(step: number): Condition {
    if (step <= 0 || this.mode === 'none') return FINE;
    if (this.plan !== null) return this.plan[Math.min(step, this.plan.length - 1)] ?? FINE;
    if (this.mode === 'reference') {
      return REFERENCE_STEPS[step % REFERENCE_STEPS.length] ?? FINE;
    }
    const rng = mulberry32(deriveSeed(this.seed, step));
    const pick = (): ProcessorCondition => {
      const choice = RANDOM_DELAYS[Math.floor(rng() * RANDOM_DELAYS.length)] ?? 0;
      const delayMs = choice === 'range' ? 1000 + Math.floor(rng() * 1001) : choice;
      return { delayMs, failure: rng() < RANDOM_FAILURE_PROBABILITY };
    };
    const d = pick();
    const f = pick();
    const c: Condition = { default: d, fallback: f, label: '' };
    c.label = `random #${step}: ${describeCondition(c)}`;
    return c;
  }

  /** Steps that start strictly inside (0, durationSec): the in-test changes. */
  changesWithin(durationSec: number): Array<{ step: number; atSec: number; condition: Condition }> {
    const out: Array<{ step: number; atSec: number; condition: Condition }> = [];
    if (this.mode === 'none') return out;
    const last = this.plan === null ? Number.POSITIVE_INFINITY : this.plan.length - 1;
    for (let step = 1; step * this.stepSec < durationSec && step <= last; step++) {
      out.push({ step, atSec: step * this.stepSec, condition: this.conditionAt(step) });
    }
    return out;
  }
}
