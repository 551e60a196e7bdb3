/**
 * Processor conditions over time. The test is cut into steps of `stepSec`
 * seconds; step k starts at k * stepSec. Step 0 is always "both fine" (it is
 * what the setup resets to).
 */
import { deriveSeed, mulberry32 } from "./prng.ts";

export type ScheduleMode = "reference" | "random" | "none";

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

export const FINE: Condition = { default: fine(), fallback: fine(), label: "both fine" };

/** The reference sequence; it repeats when the test is longer than one cycle. */
export const REFERENCE_STEPS: readonly Condition[] = [
  FINE,
  { default: fine(100), fallback: fine(), label: "default +100 ms delay" },
  { default: failing(), fallback: fine(), label: "default failing" },
  { default: failing(2000), fallback: failing(1000), label: "both failing, delays 2000/1000 ms" },
  { default: fine(20), fallback: fine(20), label: "both recovered, 20 ms" },
  { default: fine(20), fallback: fine(5000), label: "fallback 5 s delay" },
];

/** Delay menu of the random schedule; "range" = uniform 1000-2000 ms. */
const RANDOM_DELAYS: ReadonlyArray<number | "range"> = [0, 20, 100, 500, "range", 5000];
export const RANDOM_FAILURE_PROBABILITY = 0.3;

export function describeProcessor(p: ProcessorCondition): string {
  const d = p.delayMs > 0 ? `${p.delayMs} ms` : "0 ms";
  return p.failure ? `FAILING (${d})` : d;
}

export function describeCondition(c: Condition): string {
  return `default ${describeProcessor(c.default)}, fallback ${describeProcessor(c.fallback)}`;
}

export class Schedule {
  readonly mode: ScheduleMode;
  readonly seed: number;
  readonly stepSec: number;

  constructor(mode: ScheduleMode, seed: number, stepSec = 10) {
    if (!(stepSec > 0)) throw new RangeError("stepSec must be > 0");
    this.mode = mode;
    this.seed = seed >>> 0;
    this.stepSec = stepSec;
  }

  /** Condition of step `step` (0-based). Pure: same inputs, same output. */
  conditionAt(step: number): Condition {
    if (step <= 0 || this.mode === "none") return FINE;
    if (this.mode === "reference") {
      return REFERENCE_STEPS[step % REFERENCE_STEPS.length] ?? FINE;
    }
    const rng = mulberry32(deriveSeed(this.seed, step));
    const pick = (): ProcessorCondition => {
      const choice = RANDOM_DELAYS[Math.floor(rng() * RANDOM_DELAYS.length)] ?? 0;
      const delayMs = choice === "range" ? 1000 + Math.floor(rng() * 1001) : choice;
      return { delayMs, failure: rng() < RANDOM_FAILURE_PROBABILITY };
    };
    const d = pick();
    const f = pick();
    const c: Condition = { default: d, fallback: f, label: "" };
    c.label = `random #${step}: ${describeCondition(c)}`;
    return c;
  }

  /** Steps that start strictly inside (0, durationSec): the in-test changes. */
  changesWithin(durationSec: number): Array<{ step: number; atSec: number; condition: Condition }> {
    const out: Array<{ step: number; atSec: number; condition: Condition }> = [];
    if (this.mode === "none") return out;
    for (let step = 1; step * this.stepSec < durationSec; step++) {
      out.push({ step, atSec: step * this.stepSec, condition: this.conditionAt(step) });
    }
    return out;
  }
}
