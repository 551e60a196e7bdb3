/**
 * Time from the gateway's 202 to "settled", measured from outside: a fixed share of the accepted
 * payments is looked up with GET /payments/{id} on both processors (their public API, so it works
 * on real processors too) until one of them holds it.
 *
 * Lookups back off with the payment's age (every 10 % of it, from 25 ms up to 1 s), so a reported
 * time is late by at most that interval (10 % of it), and a pending sample costs each processor
 * at most one lookup a second once it is 10 s old; at most MAX_LOOKUPS_IN_FLIGHT at once, so the
 * lookups never take more than a sliver of a processor's concurrency from the gateway.
 */
import { buildRequest } from './request-builder.ts';
import { ConnectionPool, type HttpResult, OUTCOME_RESPONSE, parseEndpoint } from './http-client.ts';
import { Histogram } from './histogram.ts';

export const MAX_LOOKUPS_IN_FLIGHT = 32;
const TICK_MS = 25;
const MIN_INTERVAL_MS = 25;
const MAX_INTERVAL_MS = 1000;
const LOOKUP_TIMEOUT_MS = 2000;

export interface StageSettlement {
  step: number;
  label: string;
  sampled: number;
  settled: number;
  /** Sampled payments neither processor held when sampling stopped (the cutoff). */
  unsettled: number;
  onDefault: number;
  onFallback: number;
  /** Found on both processors: paid twice. */
  onBoth: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface SettlementReport {
  fraction: number;
  sampled: number;
  settled: number;
  unsettled: number;
  onBoth: number;
  /** Lookups that got neither a 200 nor a 404 (timeouts, 429, errors); retried. */
  lookupErrors: number;
  stages: StageSettlement[];
}

interface Sample {
  id: string;
  acceptedAt: number;
  step: number;
  nextLookupAt: number;
  busy: boolean;
}

interface StageState {
  step: number;
  sampled: number;
  settled: number;
  onDefault: number;
  onFallback: number;
  onBoth: number;
  hist: Histogram;
}

class Lookup {
  private readonly pool: ConnectionPool;
  private readonly host: string;

  constructor(url: string) {
    const endpoint = parseEndpoint(url);
    this.pool = new ConnectionPool(endpoint);
    this.host = endpoint.host;
  }

  get(id: string): Promise<HttpResult> {
    return this.pool.request(buildRequest({ method: 'GET', path: `/payments/${id}`, host: this.host }), false, LOOKUP_TIMEOUT_MS);
  }

  close(): void {
    this.pool.close();
  }
}

export class SettlementSampler {
  private credit = 0;
  private pending: Sample[] = [];
  private readonly stages = new Map<number, StageState>();
  private readonly lookups: { default: Lookup; fallback: Lookup };
  private lookupsInFlight = 0;
  private lookupErrors = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;

  constructor(
    processorUrls: { default: string; fallback: string },
    readonly fraction: number,
    /** The schedule step a payment accepted at this performance.now() belongs to. */
    private readonly stepOf: (at: number) => number,
    private readonly labelOf: (step: number) => string,
  ) {
    this.lookups = { default: new Lookup(processorUrls.default), fallback: new Lookup(processorUrls.fallback) };
  }

  /**
   * Whether the next accepted payment is sampled: exactly one in 1/fraction, evenly spread,
   * so a short run or a test gets the share it asked for.
   */
  wants(): boolean {
    if (this.stopped) return false;
    this.credit += this.fraction;
    if (this.credit < 1) return false;
    this.credit -= 1;
    return true;
  }

  /** A sampled payment the gateway accepted at `acceptedAt` (performance.now()). */
  track(id: string, acceptedAt: number): void {
    const step = this.stepOf(acceptedAt);
    this.stage(step).sampled++;
    this.pending.push({ id, acceptedAt, step, nextLookupAt: acceptedAt, busy: false });
    if (this.timer === null && !this.stopped) this.timer = setInterval(() => this.poll(), TICK_MS);
  }

  private stage(step: number): StageState {
    let s = this.stages.get(step);
    if (s === undefined) {
      s = { step, sampled: 0, settled: 0, onDefault: 0, onFallback: 0, onBoth: 0, hist: new Histogram() };
      this.stages.set(step, s);
    }
    return s;
  }

  private poll(): void {
    const now = performance.now();
    for (const sample of this.pending) {
      if (this.lookupsInFlight >= MAX_LOOKUPS_IN_FLIGHT) return;
      if (sample.busy || sample.nextLookupAt > now) continue;
      sample.busy = true;
      this.lookupsInFlight++;
      void this.lookUp(sample).finally(() => {
        sample.busy = false;
        this.lookupsInFlight--;
      });
    }
  }

  private async lookUp(sample: Sample): Promise<void> {
    const [d, f] = await Promise.all([this.lookups.default.get(sample.id), this.lookups.fallback.get(sample.id)]);
    if (this.stopped) return; // past the cutoff: it counts as unsettled
    const now = performance.now();
    const found = (r: HttpResult) => r.outcome === OUTCOME_RESPONSE && r.status === 200;
    const missing = (r: HttpResult) => r.outcome === OUTCOME_RESPONSE && r.status === 404;
    if (found(d) || found(f)) {
      const stage = this.stage(sample.step);
      stage.settled++;
      if (found(d) && found(f)) stage.onBoth++;
      else if (found(d)) stage.onDefault++;
      else stage.onFallback++;
      stage.hist.recordMs(now - sample.acceptedAt);
      this.pending = this.pending.filter((s) => s !== sample);
      return;
    }
    if (!missing(d) || !missing(f)) this.lookupErrors++;
    const age = now - sample.acceptedAt;
    sample.nextLookupAt = now + Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, age / 10));
  }

  /** The cutoff: stops looking up; what is still pending stays unsettled. */
  stop(): SettlementReport {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.lookups.default.close();
    this.lookups.fallback.close();
    return this.report();
  }

  report(): SettlementReport {
    const stages = [...this.stages.values()]
      .sort((a, b) => a.step - b.step)
      .map((s): StageSettlement => {
        return {
          step: s.step,
          label: this.labelOf(s.step),
          sampled: s.sampled,
          settled: s.settled,
          unsettled: s.sampled - s.settled,
          onDefault: s.onDefault,
          onFallback: s.onFallback,
          onBoth: s.onBoth,
          ...s.hist.brief(),
        };
      });
    const sum = (key: 'sampled' | 'settled' | 'unsettled' | 'onBoth') => stages.reduce((n, s) => n + s[key], 0);
    return {
      fraction: this.fraction,
      sampled: sum('sampled'),
      settled: sum('settled'),
      unsettled: sum('unsettled'),
      onBoth: sum('onBoth'),
      lookupErrors: this.lookupErrors,
      stages,
    };
  }
}
