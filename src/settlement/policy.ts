import { DEFAULT, FALLBACK, PROCESSORS, type ProcessorIndex } from '../domain/processors.ts';
import { Breaker, Counter, Field, Time, type Signals } from '../health/signals.ts';

/**
 * The business rule, in one place.
 *
 * Where a payment goes. Default costs `defaultFee`, fallback `fallbackFee`, a payment never
 * settled costs everything. So:
 *   1. Default takes every payment it can: its breaker is closed (or a probe is due) and it has a
 *      free in-flight slot (this instance's share of the processor's concurrency).
 *   2. Default working but saturated (slow: every slot busy): a payment waits only while what it
 *      would wait more for default than for fallback (its place in line x latency / slots, plus
 *      default's latency, minus fallback's) fits the hold budget; the overflow beyond that goes to
 *      a healthy, fast fallback at once. A default slower than such a fallback by more than the
 *      hold gets only what fallback cannot take.
 *   3. Default failing: a payment waits up to the hold budget, `maxHoldMs`, which by default is the
 *      expected-value rule of config/env.ts (`expectedValueHoldMs`: longer when fallback costs much
 *      more than default), then goes to a healthy, fast fallback.
 *   4. Past the settlement budget `maxSettleMs`, any processor that can take a payment gets it,
 *      fast or not: settling late beats not settling.
 * A payment in doubt (an earlier call may have been recorded) is never sent again; the settler
 * looks it up (see settler.ts).
 *
 * Slowness never opens a breaker: a slow default still earns more per payment, and rule 2 diverts
 * what it cannot carry. Breakers open on consecutive failed calls (5xx, connection errors) or a
 * failing health report; a call that timed out is slow, not failed. While a breaker is open, one
 * payment at a time probes the processor every `probeIntervalMs`.
 *
 * When a payment is dated (requestedAt). An auditor compares our summary with the processors'
 * over windows ending `auditLagMs` before now. A processor records a payment only after its delay,
 * and we learn of it only when its answer arrives; if that is later than requestedAt + auditLagMs,
 * an audit landing between the processor's insert and our recording sees the processor ahead of
 * us. So requestedAt is the send time plus whatever part of the expected delay (plus a margin)
 * exceeds the audit lag: a payment enters any audit window only after both sides hold it. The
 * expected delay is the processor's pace (its recent peak, or its oldest call in flight if older):
 * a fast processor's payments carry the send time, a slow one's are dated by what its pace needs.
 * Dating further ahead has a price at every end of a run: the final count's window ends at that
 * moment, and a payment dated after it is never counted (`datingCoverMs` × the arrival rate are
 * lost). So the cover against a sudden slowdown, `datingCoverMs` (the least delay every payment is
 * dated for), is 0 by default: what it would protect is an audit landing within the ~1 ms between
 * a processor's insert and our recording of one of the few calls sent before the slowdown shows.
 * A processor whose oldest call in flight has waited far longer than it usually answers has changed
 * pace: it gets no new calls until its answers tell the new delay (`stalled`), so calls dated with
 * a stale estimate stay few.
 */
export interface PolicySettings {
  maxHoldMs: number;
  maxSettleMs: number;
  latencyThresholdMs: number;
  maxInflightPerProcessor: number;
  paymentWorkers: number;
  breakerFailureThreshold: number;
  probeIntervalMs: number;
  auditLagMs: number;
  datingCoverMs: number;
  instanceIndex: number;
  /** Instances whose requestedAts must differ (see requestedAtFor). */
  instances: number;
}

/** `grant` results: refused, granted, or granted as the breaker's half-open probe. */
export const REFUSED = -1;
export const GRANTED = 0;
export const GRANTED_PROBE = 1;
export type Grant = typeof REFUSED | typeof GRANTED | typeof GRANTED_PROBE;

/** Margin added to the expected delay when dating a payment (jitter of the processor and of our answer). */
export const STAMP_MARGIN_MS = 250;
/** A processor's oldest call in flight past max(latency x STALL_FACTOR, latency + STALL_SLACK_MS) means a new pace. */
const STALL_FACTOR = 1.5;
const STALL_SLACK_MS = 50;
/**
 * After a breaker closes, a processor's pace is unknown (a recovered processor may be slow): calls
 * in flight start at RAMP_START and each answer allows RAMP_STEP more (doubling per round trip), so
 * a backlog is not sent all at once dated with a pace nobody has seen.
 */
const RAMP_START = 8;
/** The longest delay the contract's processors are seen to take: what a call is dated for while its processor's pace is unknown. */
export const RECOVERY_COVER_MS = 5000;
const LOG_QUIET_MS = 5000;
const RAMP_STEP = 2;

export interface Transition {
  (message: string): void;
}

export class SettlementPolicy {
  /** Slow/fast as this thread last logged it, per processor. */
  private readonly slow: [boolean, boolean] = [false, false];
  /** Whether this thread is sending payments default could not take to fallback. */
  private diverting = false;
  /** Per log topic (0 default's pace, 1 fallback's, 2 diverting): no line before this time. */
  private readonly quietUntil = [0, 0, 0];
  private readonly instances: number;

  constructor(
    private readonly signals: Signals,
    private readonly settings: PolicySettings,
    private readonly log: Transition,
  ) {
    this.instances = settings.instances;
  }

  /**
   * Asks `processor` for an in-flight slot for one call now. A grant must be matched by one
   * `release(processor, grant)` when the call ends.
   */
  grant(processor: ProcessorIndex, now: number, oldestInflightAgeMs: number): Grant {
    const s = this.signals;
    if (now < s.time(processor, Time.BackoffUntil) || this.stalled(processor, oldestInflightAgeMs)) return REFUSED;
    const ramp = s.get(processor, Field.RampLimit);
    const limit = ramp > 0 ? Math.min(ramp, this.settings.maxInflightPerProcessor) : this.settings.maxInflightPerProcessor;
    if (s.add(processor, Field.Inflight, 1) >= limit) {
      s.add(processor, Field.Inflight, -1);
      return REFUSED;
    }
    if (s.get(processor, Field.Breaker) === Breaker.Closed && !s.reportedFailing(processor)) return GRANTED;
    // Open (or reported failing): one probe at a time, at most every probeIntervalMs.
    if (now - s.time(processor, Time.LastProbeAt) >= this.settings.probeIntervalMs && s.compareExchange(processor, Field.ProbeInFlight, 0, 1)) {
      s.setTime(processor, Time.LastProbeAt, now);
      return GRANTED_PROBE;
    }
    s.add(processor, Field.Inflight, -1);
    return REFUSED;
  }

  /** A slot for fallback, for a payment default could not take: only when fallback is fast, unless the payment is past its settlement budget. */
  grantFallback(now: number, ageMs: number, oldestInflightAgeMs: number): Grant {
    if (ageMs < this.settings.maxSettleMs && this.signals.latencyEstimate(FALLBACK) > this.settings.latencyThresholdMs) return REFUSED;
    const grant = this.grant(FALLBACK, now, oldestInflightAgeMs);
    if (grant !== REFUSED) this.noteDiverting(true);
    return grant;
  }

  /**
   * Called after default refused a payment: whether that was for want of a free slot (default
   * works, every slot is busy), so waiting payments are served at its pace rather than by a recovery.
   */
  defaultSaturated(now: number, oldestInflightAgeMs: number): boolean {
    const s = this.signals;
    return (
      s.get(DEFAULT, Field.Breaker) === Breaker.Closed &&
      !s.reportedFailing(DEFAULT) &&
      now >= s.time(DEFAULT, Time.BackoffUntil) &&
      !this.stalled(DEFAULT, oldestInflightAgeMs)
    );
  }

  /**
   * Whether the youngest payment of this worker's line (at `place`, with `queuedBehind` more of
   * this worker's share still in the ring) should stop waiting for a saturated or slow default:
   * what the last of them would wait more by staying for default (its place in line × the pace of
   * one slot, plus default's latency) than by going to fallback (fallback's latency) passes the
   * hold budget. Then the line is longer than default can serve in time, and its youngest leaves
   * now: the overflow goes to fallback at once instead of aging out the hold in the ring.
   */
  overflows(place: number, queuedBehind = 0): boolean {
    const slotsOfThisWorker = Math.max(1, this.settings.maxInflightPerProcessor / this.settings.paymentWorkers);
    // Usual paces (the last answers), not recent peaks: a peak is for dating, where too early costs an audit.
    const defaultMs = Math.max(1, this.signals.latencyEstimate(DEFAULT));
    const extraMs = ((place + queuedBehind) * defaultMs) / slotsOfThisWorker + defaultMs - this.signals.latencyEstimate(FALLBACK);
    return extraMs > this.settings.maxHoldMs;
  }

  /**
   * Default works but is slower than a healthy, fast fallback by more than the hold budget: even a
   * payment first in line would wait longer for it than holding pays (the same expected-value rule).
   */
  defaultTooSlow(now: number): boolean {
    const s = this.signals;
    return (
      s.latencyEstimate(DEFAULT) - s.latencyEstimate(FALLBACK) > this.settings.maxHoldMs &&
      s.latencyEstimate(FALLBACK) <= this.settings.latencyThresholdMs &&
      s.get(FALLBACK, Field.Breaker) === Breaker.Closed &&
      !s.reportedFailing(FALLBACK) &&
      now >= s.time(FALLBACK, Time.BackoffUntil)
    );
  }

  /** Whether a payment default cannot take (failing, stalled) has waited as long as it pays to. */
  holdExpired(ageMs: number): boolean {
    return ageMs >= this.settings.maxHoldMs;
  }

  /** Default took a payment again after payments went to fallback: log the end of the episode. */
  defaultTook(): void {
    this.noteDiverting(false);
  }

  /**
   * The requestedAt of a call sent now (epoch ms): now, plus the part of the expected delay that
   * exceeds the audit lag, made unique to this instance (≡ instanceIndex mod instances), so that
   * a processor's record tells which instance's call it is.
   */
  requestedAtFor(processor: ProcessorIndex, nowEpochMs: number, oldestInflightAgeMs: number): number {
    const expectedMs = Math.max(this.signals.latencyPeak(processor), oldestInflightAgeMs, this.coverFor(processor));
    const ahead = Math.max(0, expectedMs + STAMP_MARGIN_MS - this.settings.auditLagMs);
    const at = Math.ceil(nowEpochMs + ahead);
    const n = this.instances;
    return at + ((((this.settings.instanceIndex - at) % n) + n) % n);
  }

  /**
   * The least delay a call to `processor` is dated for: the configured cover, or RECOVERY_COVER_MS
   * while its pace is unknown: a probe of a failing processor, and the ramp after its breaker
   * closed, when a backlog leaves at a pace one answer has shown (a failing default that came back
   * at 1.9 s put 86 payments out of step at once). Those calls are few, and a run rarely ends
   * within seconds of a recovery, so this cover costs little at the end.
   */
  private coverFor(processor: ProcessorIndex): number {
    const s = this.signals;
    const paceUnknown = s.get(processor, Field.Breaker) === Breaker.Open || s.reportedFailing(processor) || s.get(processor, Field.RampLimit) > 0;
    return paceUnknown ? Math.max(this.settings.datingCoverMs, RECOVERY_COVER_MS) : this.settings.datingCoverMs;
  }

  /** Whether `processor` has changed pace: its oldest call in flight is far older than it usually answers. */
  stalled(processor: ProcessorIndex, oldestInflightAgeMs: number): boolean {
    if (oldestInflightAgeMs === 0) return false;
    const usual = this.signals.latencyPeak(processor);
    return oldestInflightAgeMs > Math.max(usual * STALL_FACTOR, usual + STALL_SLACK_MS);
  }

  release(processor: ProcessorIndex, grant: Grant): void {
    this.signals.add(processor, Field.Inflight, -1);
    if (grant === GRANTED_PROBE) this.signals.set(processor, Field.ProbeInFlight, 0);
  }

  recordSuccess(processor: ProcessorIndex, latencyMs: number, now: number): void {
    const s = this.signals;
    s.observeLatency(processor, latencyMs);
    s.setTime(processor, Time.LastSuccessAt, now);
    s.set(processor, Field.ConsecutiveFailures, 0);
    s.add(processor, Field.Settled, 1);
    const ramp = s.get(processor, Field.RampLimit);
    if (ramp > 0) s.compareExchange(processor, Field.RampLimit, ramp, ramp + RAMP_STEP >= this.settings.maxInflightPerProcessor ? 0 : ramp + RAMP_STEP);
    const openSince = s.time(processor, Time.BreakerSince);
    if (s.compareExchange(processor, Field.Breaker, Breaker.Open, Breaker.Closed)) {
      s.setTime(processor, Time.BreakerSince, now);
      s.set(processor, Field.RampLimit, RAMP_START);
      this.log(`breaker ${PROCESSORS[processor]}: closed (a call succeeded after ${Math.round(now - openSince)} ms open)`);
    }
    this.noteSlowness(processor, latencyMs);
  }

  /** A call failed: 5xx, or a connection error. */
  recordFailure(processor: ProcessorIndex, latencyMs: number, now: number, reason: string): void {
    const s = this.signals;
    s.observeLatency(processor, latencyMs);
    s.add(processor, Field.Failures, 1);
    const failures = s.add(processor, Field.ConsecutiveFailures, 1) + 1;
    if (failures >= this.settings.breakerFailureThreshold) this.open(processor, now, `${failures} consecutive failures, last: ${reason}`);
  }

  /**
   * A call got no answer in time: the processor is slow (it may still record it), not failing.
   * A timeout says "at least this long": it never lowers a higher estimate (a health report's).
   */
  recordTimeout(processor: ProcessorIndex, latencyMs: number): void {
    this.signals.observeLatency(processor, Math.max(latencyMs, this.signals.latencyEstimate(processor)));
    this.signals.addCount(Counter.TimedOut, 1);
    this.noteSlowness(processor, latencyMs);
  }

  /** The processor asked us to slow down (429): not a failure, but no calls for a while. */
  recordBackoff(processor: ProcessorIndex, now: number, backoffMs: number): void {
    this.signals.setTime(processor, Time.BackoffUntil, now + backoffMs);
  }

  /**
   * Called with each service-health report: a failing one opens the breaker (probes close it when
   * a call succeeds); a healthy one taken after the breaker opened closes it, so a processor that
   * recovered while no payment needed it is usable again without waiting for a probe.
   */
  healthReported(processor: ProcessorIndex, failing: boolean, now: number): void {
    const s = this.signals;
    if (failing) {
      if (s.reportedFailing(processor)) this.open(processor, now, 'health check reports failing');
      return;
    }
    const openSince = s.time(processor, Time.BreakerSince);
    if (s.time(processor, Time.HealthAt) > openSince && s.compareExchange(processor, Field.Breaker, Breaker.Open, Breaker.Closed)) {
      s.setTime(processor, Time.BreakerSince, now);
      s.set(processor, Field.RampLimit, RAMP_START);
      s.set(processor, Field.ConsecutiveFailures, 0);
      this.log(`breaker ${PROCESSORS[processor]}: closed (health check reports it working after ${Math.round(now - openSince)} ms open)`);
    }
  }

  private open(processor: ProcessorIndex, now: number, why: string): void {
    const s = this.signals;
    if (s.compareExchange(processor, Field.Breaker, Breaker.Closed, Breaker.Open)) {
      s.add(processor, Field.BreakerOpenings, 1);
      s.setTime(processor, Time.BreakerSince, now);
      s.setTime(processor, Time.LastProbeAt, now);
      this.log(`breaker ${PROCESSORS[processor]}: open (${why})`);
    }
  }

  /** Logs, once per episode, that payments default could not take started (or stopped) going to fallback. */
  private noteDiverting(diverting: boolean): void {
    if (diverting === this.diverting) return;
    this.diverting = diverting;
    this.logQuietly(
      2,
      diverting ? `payments default cannot take in time go to fallback (hold budget ${this.settings.maxHoldMs} ms)` : 'default takes payments again',
    );
  }

  /** Logs the slow/fast transitions this thread sees, once each. */
  private noteSlowness(processor: ProcessorIndex, latencyMs: number): void {
    const slow = latencyMs > this.settings.latencyThresholdMs;
    if (slow === this.slow[processor]) return;
    this.slow[processor] = slow;
    this.logQuietly(processor, `${PROCESSORS[processor]}: ${slow ? 'slow' : 'fast again'} (${latencyMs} ms, threshold ${this.settings.latencyThresholdMs} ms)`);
  }

  /**
   * One line per topic every LOG_QUIET_MS at most: at a saturated default, or just after a pace
   * change (old and new calls answering together), a state flips several times a second.
   */
  private logQuietly(topic: number, line: string): void {
    const now = this.signals.now();
    if (now < this.quietUntil[topic]!) return;
    this.quietUntil[topic] = now + LOG_QUIET_MS;
    this.log(line);
  }
}
