import { DEFAULT, FALLBACK, PROCESSORS, type ProcessorIndex } from '../domain/processors.ts';

/**
 * Live per-processor signals on a SharedArrayBuffer, written and read by every thread without
 * locks: the health worker publishes what service-health says, payment workers publish what
 * their own calls observe, the breaker state lives here so both workers obey one breaker, and
 * the HTTP thread reads it all for GET /health.
 *
 *   Int32 slots (Atomics), per processor 32:        global, from index 64:
 *   0 healthFailing   1 healthMinResponseMs          64 waiting (held by workers)
 *   2 observedLatencyMs 3 consecutiveFailures        65 inDoubt
 *   4 inflight        5 breaker (Breaker)            66 settled
 *   6 probeInFlight   7 settled   8 failures         67 duplicatesDropped
 *   9 healthRateLimited 10 latencyPeakMs             68 purges   69 timedOut
 *   11 breakerOpenings  12 rampLimit                 70 journalWriteErrors  71 fleetEpoch
 *
 *   Float64 slots (times), per processor 16:         global, from index 32:
 *   0 healthAt  1 observedAt  2 breakerSince         32 purgedAt (epoch ms)
 *   3 lastProbeAt  4 backoffUntil  5 lastSuccessAt
 *   6 latencyPeakAt
 *
 *   Call latency histograms (Int32 counts, Atomics), per processor × outcome × LATENCY_BUCKETS_MS
 *   bucket (+ one for larger), and their sums in ms (BigInt64, Atomics): exact across threads.
 *
 * Times are ms since `epochMs` as doubles: no wrap-around however long an instance lives (int32
 * milliseconds wrapped after 24.8 days). Aligned Float64 accesses on shared memory are tear-free
 * by the memory model; they carry no ordering with other slots, and no decision reads a time
 * together with another slot as one value (the breaker's state changes go through Int32 CAS).
 */
export enum Breaker {
  Closed = 0,
  Open = 1,
}

export enum Field {
  HealthFailing = 0,
  HealthMinResponseMs = 1,
  ObservedLatencyMs = 2,
  ConsecutiveFailures = 3,
  Inflight = 4,
  Breaker = 5,
  ProbeInFlight = 6,
  Settled = 7,
  Failures = 8,
  HealthRateLimited = 9,
  /** Highest latency observed since `Time.LatencyPeakAt` (a call, a timeout, or a health report). */
  LatencyPeakMs = 10,
  BreakerOpenings = 11,
  /** After a breaker closes: the most calls allowed in flight until answers show the pace (0: no limit). */
  RampLimit = 12,
}

export enum Time {
  HealthAt = 0,
  ObservedAt = 1,
  BreakerSince = 2,
  LastProbeAt = 3,
  BackoffUntil = 4,
  LastSuccessAt = 5,
  LatencyPeakAt = 6,
}

export enum Counter {
  /** Payments a worker took from the ring and holds until a processor can take them. */
  Waiting = 64,
  InDoubt = 65,
  Settled = 66,
  DuplicatesDropped = 67,
  Purges = 68,
  TimedOut = 69,
  JournalWriteErrors = 70,
  /**
   * Fleet mode: this process's lease epoch (0 until it has one). Stored once by the HTTP thread
   * before it feeds any payment into the ring; a worker reads it for a payment it popped, so it
   * sees it (the ring's push publishes it).
   */
  FleetEpoch = 71,
}

/** Outcomes of a processor call, as the latency histograms count them. */
export const CALL_OUTCOMES = ['recorded', 'duplicate', 'rejected', 'unknown'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];
/** Upper bounds (ms, inclusive) of the call latency buckets; one more bucket holds the rest. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;
const BUCKETS = LATENCY_BUCKETS_MS.length + 1;
const HISTOGRAMS = 2 * CALL_OUTCOMES.length;

const STRIDE = 32;
const INTS = 80;
const TIME_STRIDE = 16;
const PURGED_AT = 32;
const TIMES = 40;
const HISTOGRAM_BYTES = HISTOGRAMS * BUCKETS * 4;
const SUMS_OFFSET = INTS * 4 + TIMES * 8 + HISTOGRAM_BYTES;
/** Time slots use 0 for "never", so times start at 1. */
const NEVER = 0;
/** A latency peak is forgotten after this long (the next observation starts a new one). */
const PEAK_MEMORY_MS = 3000;

export class Signals {
  readonly buffer: SharedArrayBuffer;
  readonly epochMs: number;
  private readonly slots: Int32Array;
  private readonly times: Float64Array;
  private readonly histogram: Int32Array;
  private readonly sums: BigInt64Array;

  static create(): Signals {
    return new Signals(new SharedArrayBuffer(SUMS_OFFSET + HISTOGRAMS * 8), Date.now() - 1);
  }

  constructor(buffer: SharedArrayBuffer, epochMs: number) {
    this.buffer = buffer;
    this.epochMs = epochMs;
    this.slots = new Int32Array(buffer, 0, INTS);
    this.times = new Float64Array(buffer, INTS * 4, TIMES);
    this.histogram = new Int32Array(buffer, INTS * 4 + TIMES * 8, HISTOGRAMS * BUCKETS);
    this.sums = new BigInt64Array(buffer, SUMS_OFFSET, HISTOGRAMS);
  }

  /** Counts one processor call by outcome and latency. */
  observeCall(processor: ProcessorIndex, outcome: number, latencyMs: number): void {
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS_MS.length && latencyMs > LATENCY_BUCKETS_MS[bucket]!) bucket++;
    const histogram = processor * CALL_OUTCOMES.length + outcome;
    Atomics.add(this.histogram, histogram * BUCKETS + bucket, 1);
    Atomics.add(this.sums, histogram, BigInt(Math.max(0, Math.round(latencyMs))));
  }

  /** One call latency histogram: counts per bucket (not cumulative) and the sum of latencies in ms. */
  callHistogram(processor: ProcessorIndex, outcome: number): { counts: number[]; sumMs: bigint } {
    const histogram = processor * CALL_OUTCOMES.length + outcome;
    const counts: number[] = [];
    for (let bucket = 0; bucket < BUCKETS; bucket++) counts.push(Atomics.load(this.histogram, histogram * BUCKETS + bucket));
    return { counts, sumMs: Atomics.load(this.sums, histogram) };
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

  time(processor: ProcessorIndex, time: Time): number {
    return this.times[processor * TIME_STRIDE + time];
  }

  setTime(processor: ProcessorIndex, time: Time, value: number): void {
    this.times[processor * TIME_STRIDE + time] = value;
  }

  count(counter: Counter): number {
    return Atomics.load(this.slots, counter);
  }

  setCount(counter: Counter, value: number): void {
    Atomics.store(this.slots, counter, value);
  }

  addCount(counter: Counter, delta: number): void {
    Atomics.add(this.slots, counter, delta);
  }

  /** Epoch ms of the last purge: payments accepted at or before it are forgotten. */
  get purgedAt(): number {
    return this.times[PURGED_AT];
  }

  /** Records a purge; the caller accepts nothing at or before `atMs` after this. */
  purge(atMs: number): void {
    this.times[PURGED_AT] = atMs;
    Atomics.add(this.slots, Counter.Purges, 1);
  }

  /** Publishes a service-health report received `ageMs` ago (by a peer, when not polled here). */
  publishHealth(processor: ProcessorIndex, failing: boolean, minResponseMs: number, ageMs = 0): void {
    const minResponse = Math.max(0, Math.min(minResponseMs | 0, 0x7fffffff));
    this.set(processor, Field.HealthFailing, failing ? 1 : 0);
    this.set(processor, Field.HealthMinResponseMs, minResponse);
    this.setTime(processor, Time.HealthAt, Math.max(1, this.now() - Math.max(0, ageMs)));
    this.notePeak(processor, minResponse);
  }

  /** A call to `processor` took (or has been waiting for) `latencyMs`. */
  observeLatency(processor: ProcessorIndex, latencyMs: number): void {
    this.set(processor, Field.ObservedLatencyMs, latencyMs);
    this.setTime(processor, Time.ObservedAt, this.now());
    this.notePeak(processor, latencyMs);
  }

  private notePeak(processor: ProcessorIndex, latencyMs: number): void {
    const now = this.now();
    if (latencyMs >= this.get(processor, Field.LatencyPeakMs) || now - this.time(processor, Time.LatencyPeakAt) > PEAK_MEMORY_MS) {
      this.set(processor, Field.LatencyPeakMs, latencyMs);
      this.setTime(processor, Time.LatencyPeakAt, now);
    }
  }

  /**
   * Best current estimate of a processor's response time: whichever is newer of the last call a
   * worker observed and the last health report.
   */
  latencyEstimate(processor: ProcessorIndex): number {
    const observedAt = this.time(processor, Time.ObservedAt);
    const healthAt = this.time(processor, Time.HealthAt);
    if (observedAt === NEVER && healthAt === NEVER) return 0;
    return observedAt >= healthAt ? this.get(processor, Field.ObservedLatencyMs) : this.get(processor, Field.HealthMinResponseMs);
  }

  /** The longest a call to `processor` is expected to take now: the recent peak, or the estimate if higher. */
  latencyPeak(processor: ProcessorIndex): number {
    const recent = this.now() - this.time(processor, Time.LatencyPeakAt) <= PEAK_MEMORY_MS ? this.get(processor, Field.LatencyPeakMs) : 0;
    return Math.max(recent, this.latencyEstimate(processor));
  }

  /** Health says failing, and no call has succeeded since it said so. */
  reportedFailing(processor: ProcessorIndex): boolean {
    return this.get(processor, Field.HealthFailing) === 1 && this.time(processor, Time.HealthAt) >= this.time(processor, Time.LastSuccessAt);
  }

  snapshot(): Record<string, unknown> {
    const view = (p: ProcessorIndex) => ({
      failing: this.get(p, Field.Breaker) === Breaker.Open || this.reportedFailing(p),
      minResponseTime: this.latencyEstimate(p),
      breaker: this.get(p, Field.Breaker) === Breaker.Open ? 'open' : 'closed',
      health: {
        failing: this.get(p, Field.HealthFailing) === 1,
        minResponseTime: this.get(p, Field.HealthMinResponseMs),
        checkedMsAgo: this.time(p, Time.HealthAt) === NEVER ? null : Math.round(this.now() - this.time(p, Time.HealthAt)),
      },
      observedLatencyMs: this.get(p, Field.ObservedLatencyMs),
      latencyPeakMs: this.latencyPeak(p),
      consecutiveFailures: this.get(p, Field.ConsecutiveFailures),
      inflight: this.get(p, Field.Inflight),
      healthRateLimited: this.get(p, Field.HealthRateLimited),
      settled: this.get(p, Field.Settled),
      failedCalls: this.get(p, Field.Failures),
    });
    return { [PROCESSORS[DEFAULT]]: view(DEFAULT), [PROCESSORS[FALLBACK]]: view(FALLBACK) };
  }
}
