/**
 * Closed-loop virtual users: each VU owns one keep-alive connection and one
 * pre-built payment request, and loops "POST /payments, sleep think time".
 * VUs are started on a linear ramp from 1 to N over the load duration.
 * Callback-driven (no promise per request) to keep the generator cheap.
 */
import { type Endpoint, HttpConnection, type HttpResult, OUTCOME_RESPONSE } from './http-client.ts';
import type { Metrics } from './metrics.ts';
import { PaymentRequest } from './request-builder.ts';

export interface LoadConfig {
  endpoint: Endpoint;
  vus: number;
  durationMs: number;
  thinkMs: number;
  timeoutMs: number;
  amountCents: number;
  /** Takes a share of the accepted payments to time their settlement (settlement-sampler.ts). */
  sampler?: { wants(): boolean; track(correlationId: string, acceptedAt: number): void };
}

class VirtualUser {
  private readonly gen: LoadGenerator;
  private readonly conn: HttpConnection;
  private readonly payment: PaymentRequest;
  private sleepTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly iterateBound = (): void => this.iterate();
  private readonly onResultBound = (r: HttpResult): void => this.onResult(r);

  constructor(gen: LoadGenerator) {
    this.gen = gen;
    const cfg = gen.config;
    this.conn = new HttpConnection(cfg.endpoint);
    this.payment = new PaymentRequest(cfg.endpoint.host, cfg.amountCents);
  }

  get inFlight(): boolean {
    return this.conn.inFlight;
  }

  iterate(): void {
    this.sleepTimer = null;
    if (!this.gen.running) return;
    this.conn.send(this.payment.next(), false, this.gen.config.timeoutMs, this.onResultBound);
  }

  private onResult(r: HttpResult): void {
    const gen = this.gen;
    const now = performance.now();
    gen.metrics.record('payment', r, now);
    const sampler = gen.config.sampler;
    // wants() first: the id string is only built for the sampled few.
    if (sampler !== undefined && r.outcome === OUTCOME_RESPONSE && r.status >= 200 && r.status < 300 && sampler.wants()) {
      sampler.track(this.payment.currentId(), now);
    }
    if (gen.running) {
      this.sleepTimer = setTimeout(this.iterateBound, gen.config.thinkMs);
    } else {
      gen.vuIdle();
    }
  }

  /** Cancels a pending sleep; returns true when a request is still in flight. */
  stop(): boolean {
    if (this.sleepTimer !== null) {
      clearTimeout(this.sleepTimer);
      this.sleepTimer = null;
    }
    return this.conn.inFlight;
  }

  close(): void {
    this.conn.close();
  }

  get connectionsOpened(): number {
    return this.conn.opened;
  }
}

export class LoadGenerator {
  readonly config: LoadConfig;
  readonly metrics: Metrics;
  running = false;
  private t0 = 0;
  private readonly vus: VirtualUser[] = [];
  private rampTimer: ReturnType<typeof setTimeout> | null = null;
  private stopWaiters: Array<() => void> = [];
  private pendingAtStop = 0;
  private readonly rampTickBound = (): void => this.rampTick();

  constructor(config: LoadConfig, metrics: Metrics) {
    if (config.vus < 1) throw new RangeError('vus must be >= 1');
    this.config = config;
    this.metrics = metrics;
  }

  get activeVus(): number {
    return this.vus.length;
  }

  /** Connections opened so far (1 per VU unless reopened after errors/timeouts). */
  get connectionsOpened(): number {
    let n = 0;
    for (const vu of this.vus) n += vu.connectionsOpened;
    return n;
  }

  /**
   * VUs that should be running `elapsedMs` after the start: a linear ramp
   * from 1 to N where VU k (0-based) starts at k * duration / N, so all N
   * VUs are running during the last 1/N of the load phase.
   */
  static targetVus(elapsedMs: number, vus: number, durationMs: number): number {
    if (vus <= 1 || durationMs <= 0) return vus;
    const t = Math.max(elapsedMs, 0);
    return Math.min(vus, 1 + Math.floor((vus * t) / durationMs));
  }

  private dueAt(k: number): number {
    return (k * this.config.durationMs) / this.config.vus;
  }

  start(t0: number = performance.now()): void {
    this.t0 = t0;
    this.running = true;
    this.rampTick();
  }

  private rampTick(): void {
    this.rampTimer = null;
    if (!this.running) return;
    const elapsed = performance.now() - this.t0;
    const n = this.config.vus;
    while (this.vus.length < n && this.dueAt(this.vus.length) <= elapsed) {
      const vu = new VirtualUser(this);
      this.vus.push(vu);
      vu.iterate();
    }
    this.metrics.noteVus(performance.now(), this.vus.length);
    if (this.vus.length < n) {
      const wait = Math.max(0, this.dueAt(this.vus.length) - (performance.now() - this.t0));
      this.rampTimer = setTimeout(this.rampTickBound, wait);
    }
  }

  /** Stops issuing requests; resolves once every in-flight request has finished. */
  stop(): Promise<void> {
    this.running = false;
    if (this.rampTimer !== null) {
      clearTimeout(this.rampTimer);
      this.rampTimer = null;
    }
    let pending = 0;
    for (const vu of this.vus) if (vu.stop()) pending++;
    this.pendingAtStop = pending;
    if (pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.stopWaiters.push(resolve));
  }

  /** Called by a VU whose last request finished after stop(). */
  vuIdle(): void {
    if (this.pendingAtStop <= 0) return;
    this.pendingAtStop--;
    if (this.pendingAtStop === 0) {
      const waiters = this.stopWaiters;
      this.stopWaiters = [];
      for (const w of waiters) w();
    }
  }

  get inFlight(): number {
    let n = 0;
    for (const vu of this.vus) if (vu.inFlight) n++;
    return n;
  }

  close(): void {
    for (const vu of this.vus) vu.close();
  }
}
