import { DEFAULT, FALLBACK, PROCESSORS, type ProcessorIndex } from '../ledger/ledger.ts';

/**
 * Live per-processor signals on a SharedArrayBuffer, written and read by every thread without
 * locks: the health worker publishes what service-health says, payment workers publish what
 * their own calls observe, the breaker state lives here so both workers obey one breaker, and
 * the HTTP thread reads it all for GET /health.
 *
 * Times are ms since `epochMs` (int32 holds 24 days of that), so they fit Atomics-capable slots.
 *
 *   per processor, 32 Int32 slots:            global, from index 64:
 *   0 healthFailing   1 healthMinResponseMs    64 held (waiting in workers)
 *   2 healthAt        3 observedLatencyMs      65 inDoubt
 *   4 observedAt      5 consecutiveFailures    66 settled
 *   6 inflight        7 breaker (Breaker)      67 duplicatesDropped
 *   8 breakerSince    9 probeInFlight
 *   10 lastProbeAt   11 backoffUntil
 *   12 lastSuccessAt 13 settled  14 failures  15 healthRateLimited
 */
export enum Breaker {
  Closed = 0,
  Open = 1,
}

export enum Field {
  HealthFailing = 0,
  HealthMinResponseMs = 1,
  HealthAt = 2,
  ObservedLatencyMs = 3,
  ObservedAt = 4,
  ConsecutiveFailures = 5,
  Inflight = 6,
  Breaker = 7,
  BreakerSince = 8,
  ProbeInFlight = 9,
  LastProbeAt = 10,
  BackoffUntil = 11,
  LastSuccessAt = 12,
  Settled = 13,
  Failures = 14,
  HealthRateLimited = 15,
}

export enum Counter {
  Held = 64,
  InDoubt = 65,
  Settled = 66,
  DuplicatesDropped = 67,
}

const STRIDE = 32;
const INTS = 80;
/** Time slots use 0 for "never", so times start at 1. */
const NEVER = 0;

export class Signals {
  readonly buffer: SharedArrayBuffer;
  readonly epochMs: number;
  private readonly slots: Int32Array;

  static create(): Signals {
    return new Signals(new SharedArrayBuffer(INTS * 4), Date.now() - 1);
  }

  constructor(buffer: SharedArrayBuffer, epochMs: number) {
    this.buffer = buffer;
    this.epochMs = epochMs;
    this.slots = new Int32Array(buffer);
  }

  /** Now, in this buffer's time base. */
  now(): number {
    return Date.now() - this.epochMs;
  }

  get(processor: ProcessorIndex, field: Field): number {
    return Atomics.load(this.slots, processor * STRIDE + field);
  }

  set(processor: ProcessorIndex, field: Field, value: number): void {
    Atomics.store(this.slots, processor * STRIDE + field, value);
  }

  add(processor: ProcessorIndex, field: Field, delta: number): number {
    return Atomics.add(this.slots, processor * STRIDE + field, delta);
  }

  compareExchange(processor: ProcessorIndex, field: Field, expected: number, replacement: number): boolean {
    return Atomics.compareExchange(this.slots, processor * STRIDE + field, expected, replacement) === expected;
  }

  count(counter: Counter): number {
    return Atomics.load(this.slots, counter);
  }

  addCount(counter: Counter, delta: number): void {
    Atomics.add(this.slots, counter, delta);
  }

  /** Publishes a service-health report received `ageMs` ago (by a peer, when not polled here). */
  publishHealth(processor: ProcessorIndex, failing: boolean, minResponseMs: number, ageMs = 0): void {
    this.set(processor, Field.HealthFailing, failing ? 1 : 0);
    this.set(processor, Field.HealthMinResponseMs, Math.max(0, Math.min(minResponseMs | 0, 0x7fffffff)));
    this.set(processor, Field.HealthAt, Math.max(1, this.now() - Math.max(0, ageMs)));
  }

  /**
   * Best current estimate of a processor's response time: whichever is newer of the last call a
   * worker observed and the last health report.
   */
  latencyEstimate(processor: ProcessorIndex): number {
    const observedAt = this.get(processor, Field.ObservedAt);
    const healthAt = this.get(processor, Field.HealthAt);
    if (observedAt === NEVER && healthAt === NEVER) return 0;
    return observedAt >= healthAt ? this.get(processor, Field.ObservedLatencyMs) : this.get(processor, Field.HealthMinResponseMs);
  }

  /** Health says failing, and no call has succeeded since it said so. */
  reportedFailing(processor: ProcessorIndex): boolean {
    return this.get(processor, Field.HealthFailing) === 1 && this.get(processor, Field.HealthAt) >= this.get(processor, Field.LastSuccessAt);
  }

  snapshot(): Record<string, unknown> {
    const view = (p: ProcessorIndex) => ({
      failing: this.get(p, Field.Breaker) === Breaker.Open || this.reportedFailing(p),
      minResponseTime: this.latencyEstimate(p),
      breaker: this.get(p, Field.Breaker) === Breaker.Open ? 'open' : 'closed',
      health: {
        failing: this.get(p, Field.HealthFailing) === 1,
        minResponseTime: this.get(p, Field.HealthMinResponseMs),
        checkedMsAgo: this.get(p, Field.HealthAt) === NEVER ? null : this.now() - this.get(p, Field.HealthAt),
      },
      observedLatencyMs: this.get(p, Field.ObservedLatencyMs),
      consecutiveFailures: this.get(p, Field.ConsecutiveFailures),
      inflight: this.get(p, Field.Inflight),
      healthRateLimited: this.get(p, Field.HealthRateLimited),
      settled: this.get(p, Field.Settled),
      failedCalls: this.get(p, Field.Failures),
    });
    return { [PROCESSORS[DEFAULT]]: view(DEFAULT), [PROCESSORS[FALLBACK]]: view(FALLBACK) };
  }
}
