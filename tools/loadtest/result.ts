/** Shape of result.json, and helpers turning raw measurements into it. */
import type { GatewaySummary, ProcessorSummary } from './api.ts';
import type { AuditRecord, Inconsistency } from './auditor.ts';
import type { Histogram } from './histogram.ts';
import type { GeneratorCost } from './loop-monitor.ts';
import type { KindStats, Metrics } from './metrics.ts';
import type { FeesBps } from './options.ts';
import type { SettlementReport } from './settlement-sampler.ts';
import type { StrictLagReport } from './strict-auditor.ts';
import { formatMicros, microsToNumber } from './money.ts';
import type { Condition, ScheduleMode } from './schedule.ts';
import type { ScoreResult } from './score.ts';

export interface LatencySummary {
  count: number;
  minMs: number | null;
  meanMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface RequestCounts {
  total: number;
  ok: number;
  /** non-2xx responses + network errors */
  failed: number;
  httpErrors: number;
  networkErrors: number;
  timeouts: number;
}

export interface TimelinePoint {
  /** Second since the start of the load phase. */
  t: number;
  vus: number;
  ok: number;
  failed: number;
  timeouts: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface ScheduleEvent {
  /** Seconds since the start of the load phase (actual time applied). */
  atSec: number;
  step: number;
  label: string;
  condition: Condition;
  problems: string[];
}

export interface ProcessorReport {
  url: string;
  totalRequests: number;
  amountCents: number;
  amount: string;
  feeBps: number;
  fee: string;
  feeMicros: number;
  /** As reported by the processor's admin summary. */
  reported: ProcessorSummary;
}

export interface ScoreReport {
  gross: number;
  fees: { default: number; fallback: number; total: number };
  profit: number;
  p99Ms: number | null;
  bonusRate: number;
  bonus: number;
  fineRate: number;
  fine: number;
  score: number;
  scoreBeforeDisqualification: number;
  disqualified: boolean;
  reasons: string[];
  accepted: number;
  recorded: number;
  /** Accepted but in neither processor's summary at the cutoff (the final summary). */
  lag: number;
  /** Share of the fees paid to each processor (0..1). */
  feeShare: { default: number; fallback: number };
  /** The same figures as exact decimal strings. */
  exact: {
    gross: string;
    fees: { default: string; fallback: string; total: string };
    profit: string;
    bonus: string;
    fine: string;
    score: string;
  };
}

export interface LoadTestResult {
  tool: 'loadtest';
  version: 1;
  startedAt: string;
  loadEndedAt: string;
  finishedAt: string;
  options: {
    url: string;
    defaultUrl: string;
    fallbackUrl: string;
    admin: boolean;
    vus: number;
    durationSec: number;
    amount: string;
    timeoutMs: number;
    thinkMs: number;
    schedule: ScheduleMode;
    seed: number;
    stepSec: number;
    fees: FeesBps;
    auditIntervalSec: number;
    /** The contract auditor's lag (1.5 s, 2 s for the long schedule). */
    auditLagMs: number;
    auditEveryMs: number;
    auditLagsMs: number[];
    settlementSample: number;
    settleSec: number;
  };
  requests: { all: RequestCounts; payments: RequestCounts; summaries: RequestCounts };
  /** Client-side latency of every gateway request (payments + summary GETs). */
  latency: { all: LatencySummary; payments: LatencySummary; summaries: LatencySummary };
  acceptedPayments: number;
  processors: { default: ProcessorReport; fallback: ProcessorReport } | null;
  gatewayFinalSummary: GatewaySummary | null;
  score: ScoreReport | null;
  /** The contract audits' differences: what the score fines. */
  inconsistencies: Inconsistency[];
  /** The gateway's final summary against the processors' at the cutoff: reported, not fined. */
  finalDifferences: Inconsistency[];
  /** Of the lag: payments the processors held, just after the cutoff, dated after it (the rest were not yet recorded). */
  lagDatedAfterCutoff: number | null;
  audits: AuditRecord[];
  /** Strict auditor per lag; null when off. */
  strictAudits: StrictLagReport[] | null;
  /** Time from 202 to settled of the sampled payments, per schedule step; null when off. */
  settlement: SettlementReport | null;
  schedule: { mode: ScheduleMode; seed: number; stepSec: number; events: ScheduleEvent[] };
  timeline: TimelinePoint[];
  generator: GeneratorCost & { connectionsOpened: number };
  errors: Array<{ message: string; count: number }>;
  warnings: string[];
  /** The all-requests latency histogram (µs), HdrHistogram's compressed base64 form. */
  histogram: { note: string; hdrBase64: string };
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

export function latencySummary(h: Histogram): LatencySummary {
  if (h.count === 0) {
    return { count: 0, minMs: null, meanMs: null, p50Ms: null, p90Ms: null, p99Ms: null, maxMs: null };
  }
  return {
    count: h.count,
    minMs: round3(h.minUs / 1000),
    meanMs: round3(h.meanUs() / 1000),
    p50Ms: round3(h.percentileMs(50)),
    p90Ms: round3(h.percentileMs(90)),
    p99Ms: round3(h.percentileMs(99)),
    maxMs: round3(h.maxRecordedUs / 1000),
  };
}

export function requestCounts(...kinds: KindStats[]): RequestCounts {
  const c: RequestCounts = { total: 0, ok: 0, failed: 0, httpErrors: 0, networkErrors: 0, timeouts: 0 };
  for (const k of kinds) {
    c.total += k.total;
    c.ok += k.ok;
    c.failed += k.failed;
    c.httpErrors += k.httpErrors;
    c.networkErrors += k.networkErrors;
    c.timeouts += k.timeouts;
  }
  return c;
}

export function timeline(metrics: Metrics): TimelinePoint[] {
  let lastVus = 0;
  return metrics.seconds.map((s, t) => {
    if (s.vus > 0) lastVus = s.vus;
    return { t, vus: lastVus, ok: s.ok, failed: s.failed, timeouts: s.timeouts, ...s.hist.brief() };
  });
}

export function scoreReport(s: ScoreResult, p99Ms: number | null): ScoreReport {
  return {
    gross: microsToNumber(s.grossMicros),
    fees: {
      default: microsToNumber(s.feeMicros.default),
      fallback: microsToNumber(s.feeMicros.fallback),
      total: microsToNumber(s.feeMicros.total),
    },
    profit: microsToNumber(s.profitMicros),
    p99Ms,
    bonusRate: s.bonusRate,
    bonus: microsToNumber(s.bonusMicros),
    fineRate: s.fineRate,
    fine: microsToNumber(s.fineMicros),
    score: microsToNumber(s.scoreMicros),
    scoreBeforeDisqualification: microsToNumber(s.beforeDisqualificationMicros),
    disqualified: s.disqualified,
    reasons: s.reasons,
    accepted: s.accepted,
    recorded: s.recorded,
    lag: s.lag,
    feeShare: {
      default: s.feeMicros.total > 0 ? Math.round((s.feeMicros.default / s.feeMicros.total) * 10_000) / 10_000 : 0,
      fallback: s.feeMicros.total > 0 ? Math.round((s.feeMicros.fallback / s.feeMicros.total) * 10_000) / 10_000 : 0,
    },
    exact: {
      gross: formatMicros(s.grossMicros),
      fees: {
        default: formatMicros(s.feeMicros.default),
        fallback: formatMicros(s.feeMicros.fallback),
        total: formatMicros(s.feeMicros.total),
      },
      profit: formatMicros(s.profitMicros),
      bonus: formatMicros(s.bonusMicros),
      fine: formatMicros(s.fineMicros),
      score: formatMicros(s.scoreMicros),
    },
  };
}
