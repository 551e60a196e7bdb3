/**
 * Consistency audits: the gateway's /payments-summary for a window must
 * report, per processor, the same number of payments as that processor's
 * admin summary for the same window. Every per-processor difference in
 * totalRequests is one inconsistency.
 */
import { type CallResult, type GatewayApi, type GatewaySummary, type ProcessorAdmin, type ProcessorSummary, type Totals } from './api.ts';
import type { Metrics } from './metrics.ts';

export type ProcessorName = 'default' | 'fallback';

/** Audit windows are [now − 15 s, now − lag], as in the contract. */
export const AUDIT_WINDOW_FROM_MS = 15_000;
/** The contract auditor's lag: 1.5 s in the reference runs, 2 s in the longer ones. */
export const CONTRACT_AUDIT_LAG_MS = { reference: 1_500, long: 2_000 } as const;

export interface Inconsistency {
  phase: 'audit' | 'final';
  /** Seconds since the start of the load phase. */
  atSec: number;
  from: string;
  to: string;
  processor: ProcessorName;
  gatewayRequests: number;
  processorRequests: number;
  gatewayAmount: number;
  processorAmount: number;
}

export interface AuditRecord {
  phase: 'audit' | 'final';
  atSec: number;
  from: string;
  to: string;
  /** Why the comparison could not be made, or null. */
  problem: string | null;
  gateway: GatewaySummary | null;
  processors: { default: ProcessorSummary; fallback: ProcessorSummary } | null;
  inconsistencies: Inconsistency[];
}

export interface Processors {
  default: ProcessorAdmin;
  fallback: ProcessorAdmin;
}

export function compareSummaries(
  gateway: GatewaySummary,
  processors: { default: Totals; fallback: Totals },
  meta: { phase: 'audit' | 'final'; atSec: number; from: string; to: string },
): Inconsistency[] {
  const out: Inconsistency[] = [];
  for (const name of ['default', 'fallback'] as const) {
    const g = gateway[name];
    const p = processors[name];
    if (g.totalRequests !== p.totalRequests) {
      out.push({
        ...meta,
        processor: name,
        gatewayRequests: g.totalRequests,
        processorRequests: p.totalRequests,
        gatewayAmount: g.totalAmount,
        processorAmount: p.totalAmount,
      });
    }
  }
  return out;
}

export function formatInconsistency(i: Inconsistency): string {
  return (
    `INCONSISTENCY [${i.phase} t=${i.atSec.toFixed(1)}s ${i.from} .. ${i.to}] ${i.processor}: ` +
    `gateway ${i.gatewayRequests} req / ${i.gatewayAmount} vs processor ${i.processorRequests} req / ${i.processorAmount}`
  );
}

export class Auditor {
  readonly records: AuditRecord[] = [];
  private readonly gateway: GatewayApi;
  private readonly processors: Processors | null;
  private readonly metrics: Metrics;

  constructor(gateway: GatewayApi, processors: Processors | null, metrics: Metrics) {
    this.gateway = gateway;
    this.processors = processors;
    this.metrics = metrics;
  }

  /** What the contract fines: the periodic audits' differences. */
  get inconsistencies(): Inconsistency[] {
    return this.records.flatMap((r) => (r.phase === 'audit' ? r.inconsistencies : []));
  }

  /**
   * The gateway's final summary against the processors' at the cutoff: reported, not fined (the
   * contract takes the end's totals from the processors alone, over a window ending now, when a
   * call answering that very moment may be on one side only).
   */
  get finalDifferences(): Inconsistency[] {
    return this.records.flatMap((r) => (r.phase === 'final' ? r.inconsistencies : []));
  }

  /**
   * Fetches the gateway summary (recorded as a gateway request in the
   * metrics) and, with admin access, both processors' summaries for the
   * same window, then compares them.
   */
  async audit(phase: 'audit' | 'final', fromMs: number, toMs: number, gatewayTimeoutMs: number): Promise<AuditRecord> {
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    const atSec = (performance.now() - this.metrics.t0) / 1000;
    const gwPromise = this.gateway.summary(from, to, gatewayTimeoutMs).then((r) => {
      this.metrics.record('summary', r.http, performance.now());
      return r;
    });
    let procResults: [CallResult<ProcessorSummary>, CallResult<ProcessorSummary>] | null = null;
    if (this.processors !== null) {
      procResults = await Promise.all([this.processors.default.summary(from, to), this.processors.fallback.summary(from, to)]);
    }
    const gw = await gwPromise;
    const record: AuditRecord = {
      phase,
      atSec,
      from,
      to,
      problem: null,
      gateway: gw.value,
      processors: null,
      inconsistencies: [],
    };
    const problems: string[] = [];
    if (gw.value === null) problems.push(`gateway summary: ${gw.problem ?? '?'}`);
    if (procResults !== null) {
      const [d, f] = procResults;
      if (d.value === null) problems.push(`default processor summary: ${d.problem ?? '?'}`);
      if (f.value === null) problems.push(`fallback processor summary: ${f.problem ?? '?'}`);
      if (d.value !== null && f.value !== null) record.processors = { default: d.value, fallback: f.value };
    } else {
      problems.push('no admin access (--no-admin): not compared');
    }
    if (record.gateway !== null && record.processors !== null) {
      record.inconsistencies = compareSummaries(record.gateway, record.processors, { phase, atSec, from, to });
    }
    record.problem = problems.length > 0 ? problems.join('; ') : null;
    this.records.push(record);
    return record;
  }
}
