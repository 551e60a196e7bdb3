/**
 * The contract's scoring rules, in exact integer arithmetic (see money.ts).
 *
 *   profit  = Σ processed amount − fees (5 % default, 15 % fallback)
 *   bonus   = profit × max((11 − p99_ms) × 0.02, 0)
 *   fine    = 35 % of profit when there was any inconsistency
 *   score   = profit + bonus − fine   (0 when disqualified)
 *   disqualified when the processors recorded more payments than the
 *   gateway accepted (2xx); lag = accepted − recorded.
 */
import { centsToMicros, feeMicros } from './money.ts';

export const DEFAULT_FEE_BPS = 500;
export const FALLBACK_FEE_BPS = 1500;
export const FINE_PERCENT = 35;

export interface ProcessorTotals {
  totalRequests: number;
  amountCents: number;
}

export interface ScoreInput {
  default: ProcessorTotals;
  fallback: ProcessorTotals;
  /** Payments the gateway answered with 2xx. */
  accepted: number;
  /** Client-side p99 over all gateway requests; null/NaN = unknown (no bonus). */
  p99Ms: number | null;
  inconsistencies: number;
  feeBps?: { default: number; fallback: number };
}

export interface ScoreResult {
  grossMicros: number;
  feeMicros: { default: number; fallback: number; total: number };
  profitMicros: number;
  bonusRate: number;
  bonusMicros: number;
  fineRate: number;
  fineMicros: number;
  /** profit + bonus − fine, ignoring disqualification. */
  beforeDisqualificationMicros: number;
  /** The final score: 0 when disqualified. */
  scoreMicros: number;
  accepted: number;
  recorded: number;
  lag: number;
  disqualified: boolean;
  reasons: string[];
}

export function p99BonusRate(p99Ms: number | null): number {
  if (p99Ms === null || !Number.isFinite(p99Ms)) return 0;
  const rate = (11 - p99Ms) * 0.02;
  // strip floating-point noise (e.g. 0.19999999999999998 -> 0.2)
  return rate > 0 ? Math.round(rate * 1e12) / 1e12 : 0;
}

export function computeScore(input: ScoreInput): ScoreResult {
  const bps = input.feeBps ?? { default: DEFAULT_FEE_BPS, fallback: FALLBACK_FEE_BPS };
  const grossDefault = centsToMicros(input.default.amountCents);
  const grossFallback = centsToMicros(input.fallback.amountCents);
  const feeDefault = feeMicros(input.default.amountCents, bps.default);
  const feeFallback = feeMicros(input.fallback.amountCents, bps.fallback);
  const grossMicros = grossDefault + grossFallback;
  const feeTotal = feeDefault + feeFallback;
  const profitMicros = grossMicros - feeTotal;

  const bonusRate = p99BonusRate(input.p99Ms);
  const bonusMicros = Math.round(profitMicros * bonusRate);
  const fineRate = input.inconsistencies > 0 ? FINE_PERCENT / 100 : 0;
  const fineMicros = input.inconsistencies > 0 ? Math.round((profitMicros * FINE_PERCENT) / 100) : 0;
  const beforeDisqualificationMicros = profitMicros + bonusMicros - fineMicros;

  const recorded = input.default.totalRequests + input.fallback.totalRequests;
  const reasons: string[] = [];
  const disqualified = recorded > input.accepted;
  if (disqualified) {
    reasons.push(`processors recorded ${recorded} payments but the gateway accepted only ${input.accepted} (${recorded - input.accepted} extra)`);
  }
  if (input.inconsistencies > 0) {
    reasons.push(`${input.inconsistencies} inconsistenc${input.inconsistencies === 1 ? 'y' : 'ies'}: ${FINE_PERCENT}% fine`);
  }
  return {
    grossMicros,
    feeMicros: { default: feeDefault, fallback: feeFallback, total: feeTotal },
    profitMicros,
    bonusRate,
    bonusMicros,
    fineRate,
    fineMicros,
    beforeDisqualificationMicros,
    scoreMicros: disqualified ? 0 : beforeDisqualificationMicros,
    accepted: input.accepted,
    recorded,
    lag: Math.max(0, input.accepted - recorded),
    disqualified,
    reasons,
  };
}
