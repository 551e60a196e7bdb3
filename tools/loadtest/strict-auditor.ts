/**
 * Strict auditor: every `everyMs`, for each lag at once, the gateway's /payments-summary and both
 * processors' admin summaries over [now − 15 s, now − lag], queried concurrently (same window for
 * all three). Far more audits than the contract's one per 10 s, so a rare disagreement (a payment
 * recorded on one side a moment before the other) shows up with its rate per lag.
 *
 * Its gateway calls are not part of the measured load: they are kept out of the latency figures.
 */
import type { CallResult, GatewayApi, GatewaySummary, ProcessorSummary } from './api.ts';
import { AUDIT_WINDOW_FROM_MS, type Processors } from './auditor.ts';

/** Differing audits kept per lag, with both sides' counts. */
export const DIFFERENCES_KEPT = 5;

export interface Counts {
  default: number;
  fallback: number;
}

export interface StrictDifference {
  lagMs: number;
  /** Seconds since the start of the load phase. */
  atSec: number;
  from: string;
  to: string;
  gateway: Counts;
  processors: Counts;
}

export interface StrictLagReport {
  lagMs: number;
  /** Audits where all three summaries answered and were compared. */
  compared: number;
  /** Compared audits where a processor's count differs from the gateway's. */
  differences: number;
  /** Audits where a summary could not be had (error, timeout, bad body). */
  failed: number;
  /** Ticks skipped because this lag's previous audit had not finished. */
  skipped: number;
  firstDifferences: StrictDifference[];
}

export function formatStrictDifference(d: StrictDifference): string {
  return (
    `STRICT AUDIT DIFFERENCE [lag ${d.lagMs} ms, t=${d.atSec.toFixed(1)}s ${d.from} .. ${d.to}] ` +
    `gateway default ${d.gateway.default} / fallback ${d.gateway.fallback} vs ` +
    `processors default ${d.processors.default} / fallback ${d.processors.fallback}`
  );
}

export class StrictAuditor {
  private readonly lags: Array<StrictLagReport & { busy: boolean }>;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly gateway: GatewayApi,
    private readonly processors: Processors,
    lagsMs: readonly number[],
    private readonly everyMs: number,
    private readonly t0: number,
    private readonly timeoutMs: number,
    /** Called for each of the first differences of a lag, as they are found. */
    private readonly onDifference: (d: StrictDifference) => void = () => {},
  ) {
    this.lags = lagsMs.map((lagMs) => ({ lagMs, compared: 0, differences: 0, failed: 0, skipped: 0, firstDifferences: [], busy: false }));
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.everyMs);
  }

  /** Stops auditing; resolves once the audits in flight are counted. */
  async stop(): Promise<StrictLagReport[]> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    return this.report();
  }

  report(): StrictLagReport[] {
    return this.lags.map(({ busy: _, ...lag }) => ({ ...lag, firstDifferences: [...lag.firstDifferences] }));
  }

  /** One audit per lag, all at once; exposed for tests. */
  tick(): void {
    const now = Date.now();
    const from = new Date(now - AUDIT_WINDOW_FROM_MS).toISOString();
    const atSec = (performance.now() - this.t0) / 1000;
    for (const lag of this.lags) {
      if (lag.busy) {
        lag.skipped++;
        continue;
      }
      lag.busy = true;
      const to = new Date(now - lag.lagMs).toISOString();
      const audit = this.audit(lag, atSec, from, to).finally(() => {
        lag.busy = false;
        this.inFlight.delete(audit);
      });
      this.inFlight.add(audit);
    }
  }

  private async audit(lag: StrictLagReport, atSec: number, from: string, to: string): Promise<void> {
    const [g, d, f]: [CallResult<GatewaySummary>, CallResult<ProcessorSummary>, CallResult<ProcessorSummary>] = await Promise.all([
      this.gateway.summary(from, to, this.timeoutMs),
      this.processors.default.summary(from, to),
      this.processors.fallback.summary(from, to),
    ]);
    if (g.value === null || d.value === null || f.value === null) {
      lag.failed++;
      return;
    }
    lag.compared++;
    const gateway = { default: g.value.default.totalRequests, fallback: g.value.fallback.totalRequests };
    const processors = { default: d.value.totalRequests, fallback: f.value.totalRequests };
    if (gateway.default === processors.default && gateway.fallback === processors.fallback) return;
    lag.differences++;
    if (lag.firstDifferences.length < DIFFERENCES_KEPT) {
      const difference = { lagMs: lag.lagMs, atSec, from, to, gateway, processors };
      lag.firstDifferences.push(difference);
      this.onDifference(difference);
    }
  }
}
