/**
 * Client-side measurements of the requests made to the gateway: counters per
 * request kind, one overall latency histogram (the one the p99 comes from),
 * per-kind histograms, and per-second buckets for the plots.
 */
import { Histogram } from './histogram.ts';
import { type HttpResult, OUTCOME_RESPONSE, OUTCOME_TIMEOUT } from './http-client.ts';

export type RequestKind = 'payment' | 'summary';

export class KindStats {
  /** 2xx responses. */
  ok = 0;
  /** Non-2xx responses. */
  httpErrors = 0;
  /** Connection / protocol errors (no usable response). */
  networkErrors = 0;
  /** No complete response within the client timeout. */
  timeouts = 0;
  readonly hist = new Histogram();

  get total(): number {
    return this.ok + this.httpErrors + this.networkErrors + this.timeouts;
  }

  get failed(): number {
    return this.httpErrors + this.networkErrors;
  }
}

export class SecondStats {
  ok = 0;
  failed = 0;
  timeouts = 0;
  /** Highest VU count seen during this second. */
  vus = 0;
  readonly hist = new Histogram(2);
}

export class Metrics {
  /** performance.now() at the start of the measured phase. */
  t0: number;
  readonly all = new Histogram();
  readonly payment = new KindStats();
  readonly summary = new KindStats();
  readonly seconds: SecondStats[] = [];
  /** Most recent error messages (bounded), for diagnostics. */
  readonly recentErrors: string[] = [];
  private readonly errorCounts = new Map<string, number>();

  constructor(t0: number = performance.now()) {
    this.t0 = t0;
  }

  second(index: number): SecondStats {
    const secs = this.seconds;
    while (secs.length <= index) secs.push(new SecondStats());
    return secs[index] as SecondStats;
  }

  secondIndex(nowMs: number): number {
    const i = Math.floor((nowMs - this.t0) / 1000);
    return i < 0 ? 0 : i;
  }

  noteVus(nowMs: number, vus: number): void {
    const s = this.second(this.secondIndex(nowMs));
    if (vus > s.vus) s.vus = vus;
  }

  record(kind: RequestKind, r: HttpResult, nowMs: number): void {
    const k = kind === 'payment' ? this.payment : this.summary;
    const s = this.second(this.secondIndex(nowMs));
    if (r.outcome === OUTCOME_RESPONSE) {
      if (r.status >= 200 && r.status < 300) {
        k.ok++;
        s.ok++;
      } else {
        k.httpErrors++;
        s.failed++;
        this.noteError(`${kind}: HTTP ${r.status}`);
      }
    } else if (r.outcome === OUTCOME_TIMEOUT) {
      k.timeouts++;
      s.timeouts++;
    } else {
      k.networkErrors++;
      s.failed++;
      this.noteError(`${kind}: ${r.error ?? 'error'}`);
    }
    if (r.latencyMs >= 0) {
      const us = r.latencyMs * 1000;
      this.all.record(us);
      k.hist.record(us);
      s.hist.record(us);
    }
  }

  private noteError(message: string): void {
    const n = this.errorCounts.get(message);
    if (n !== undefined) {
      this.errorCounts.set(message, n + 1);
      return;
    }
    if (this.errorCounts.size < 50) this.errorCounts.set(message, 1);
    if (this.recentErrors.length < 20) this.recentErrors.push(message);
  }

  /** Distinct error messages with their counts (bounded). */
  errorSummary(): Array<{ message: string; count: number }> {
    return [...this.errorCounts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
  }

  get totalRequests(): number {
    return this.payment.total + this.summary.total;
  }

  get totalErrors(): number {
    return this.payment.failed + this.summary.failed;
  }

  get totalTimeouts(): number {
    return this.payment.timeouts + this.summary.timeouts;
  }
}
