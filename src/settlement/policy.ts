import { DEFAULT, FALLBACK, PROCESSORS, type ProcessorIndex } from '../ledger/ledger.ts';
import { Breaker, Field, type Signals } from '../health/signals.ts';

/**
 * The business rule, in one place:
 *
 *   Default costs 5%, fallback 15%, and a payment never settled costs 100%. So every payment goes
 *   to default whenever default can take it. A payment default cannot take (breaker open, or
 *   default already has its maximum of calls in flight because it is slow) waits for it, up to
 *   `maxHoldMs`; past that it goes to fallback, but only if fallback is working and fast (a slow
 *   fallback would not settle it sooner than waiting). A payment whose earlier call may have been
 *   recorded ("in doubt") only ever goes back to that same processor, so it is never paid twice.
 *
 * Slowness alone does not open default's breaker: a slow default still earns 10 points more per
 * payment than fallback, and the in-flight bound plus `maxHoldMs` already divert what a slow
 * default cannot absorb. The breaker opens on consecutive failures (or a failing health report),
 * and while open, one payment at a time probes the processor every `probeIntervalMs`, so a
 * recovery is seen within a fraction of a second rather than at the next 5 s health window.
 */
export interface PolicySettings {
  maxHoldMs: number;
  latencyThresholdMs: number;
  maxInflightPerProcessor: number;
  breakerFailureThreshold: number;
  probeIntervalMs: number;
}

export const HOLD = -1;
export type Decision = ProcessorIndex | typeof HOLD;

export interface Transition {
  (message: string): void;
}

export class SettlementPolicy {
  /** Whether the last granted call is a half-open probe (it then owns the probe slot). */
  lastGrantWasProbe = false;
  /** Slow/fast as this thread last logged it, per processor. */
  private readonly slow: [boolean, boolean] = [false, false];
  /** Whether this thread is sending payments whose hold expired to fallback. */
  private diverting = false;

  constructor(
    private readonly signals: Signals,
    private readonly settings: PolicySettings,
    private readonly log: Transition,
  ) {}

  /**
   * Chooses where a payment goes now. A returned processor has already granted this call an
   * in-flight slot (and the probe slot, see `lastGrantWasProbe`): the caller must call
   * `release` when the call ends.
   * @param heldSince when the payment started waiting (acceptance time), in signals time
   * @param doubtAt processor an earlier call to which may have been recorded, or HOLD if none
   */
  decide(heldSince: number, doubtAt: Decision, now: number): Decision {
    if (doubtAt !== HOLD) return this.tryAcquire(doubtAt, now) ? doubtAt : HOLD;
    if (this.tryAcquire(DEFAULT, now)) {
      this.noteDiverting(false);
      return DEFAULT;
    }
    if (now - heldSince < this.settings.maxHoldMs) return HOLD;
    if (this.fastEnough(FALLBACK) && this.tryAcquire(FALLBACK, now)) {
      this.noteDiverting(true);
      return FALLBACK;
    }
    return HOLD;
  }

  release(processor: ProcessorIndex, wasProbe: boolean): void {
    this.signals.add(processor, Field.Inflight, -1);
    if (wasProbe) this.signals.set(processor, Field.ProbeInFlight, 0);
  }

  recordSuccess(processor: ProcessorIndex, latencyMs: number, now: number): void {
    const s = this.signals;
    s.set(processor, Field.ObservedLatencyMs, latencyMs);
    s.set(processor, Field.ObservedAt, now);
    s.set(processor, Field.LastSuccessAt, now);
    s.set(processor, Field.ConsecutiveFailures, 0);
    s.add(processor, Field.Settled, 1);
    const openSince = s.get(processor, Field.BreakerSince);
    if (s.compareExchange(processor, Field.Breaker, Breaker.Open, Breaker.Closed)) {
      s.set(processor, Field.BreakerSince, now);
      this.log(`breaker ${PROCESSORS[processor]}: closed (a call succeeded after ${now - openSince} ms open)`);
    }
    this.noteSlowness(processor, latencyMs);
  }

  /** A call failed: 5xx, a connection error, or no answer in time. */
  recordFailure(processor: ProcessorIndex, latencyMs: number, now: number, reason: string): void {
    const s = this.signals;
    s.set(processor, Field.ObservedLatencyMs, latencyMs);
    s.set(processor, Field.ObservedAt, now);
    s.add(processor, Field.Failures, 1);
    const failures = s.add(processor, Field.ConsecutiveFailures, 1) + 1;
    if (failures >= this.settings.breakerFailureThreshold) this.open(processor, now, `${failures} consecutive failures, last: ${reason}`);
  }

  /** The processor asked us to slow down (429): not a failure, but no calls for a while. */
  recordBackoff(processor: ProcessorIndex, now: number, backoffMs: number): void {
    this.signals.set(processor, Field.BackoffUntil, now + backoffMs);
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
    const openSince = s.get(processor, Field.BreakerSince);
    if (s.get(processor, Field.HealthAt) > openSince && s.compareExchange(processor, Field.Breaker, Breaker.Open, Breaker.Closed)) {
      s.set(processor, Field.BreakerSince, now);
      s.set(processor, Field.ConsecutiveFailures, 0);
      this.log(`breaker ${PROCESSORS[processor]}: closed (health check reports it working after ${now - openSince} ms open)`);
    }
  }

  private open(processor: ProcessorIndex, now: number, why: string): void {
    const s = this.signals;
    if (s.compareExchange(processor, Field.Breaker, Breaker.Closed, Breaker.Open)) {
      s.set(processor, Field.BreakerSince, now);
      s.set(processor, Field.LastProbeAt, now);
      this.log(`breaker ${PROCESSORS[processor]}: open (${why})`);
    }
  }

  /** Logs, once per episode, that held payments started (or stopped) going to fallback. */
  private noteDiverting(diverting: boolean): void {
    if (diverting === this.diverting) return;
    this.diverting = diverting;
    this.log(diverting ? `hold expired: payments waiting over ${this.settings.maxHoldMs} ms go to fallback` : 'default takes payments again');
  }

  /** Logs the slow/fast transitions this thread sees, once each. */
  private noteSlowness(processor: ProcessorIndex, latencyMs: number): void {
    const slow = latencyMs > this.settings.latencyThresholdMs;
    if (slow === this.slow[processor]) return;
    this.slow[processor] = slow;
    this.log(`${PROCESSORS[processor]}: ${slow ? 'slow' : 'fast again'} (${latencyMs} ms, threshold ${this.settings.latencyThresholdMs} ms)`);
  }

  private fastEnough(processor: ProcessorIndex): boolean {
    return this.signals.latencyEstimate(processor) <= this.settings.latencyThresholdMs;
  }

  private tryAcquire(processor: ProcessorIndex, now: number): boolean {
    const s = this.signals;
    if (now < s.get(processor, Field.BackoffUntil)) return false;
    if (s.add(processor, Field.Inflight, 1) >= this.settings.maxInflightPerProcessor) {
      s.add(processor, Field.Inflight, -1);
      return false;
    }
    if (s.get(processor, Field.Breaker) === Breaker.Closed && !s.reportedFailing(processor)) {
      this.lastGrantWasProbe = false;
      return true;
    }
    // Open (or reported failing): one probe at a time, at most every probeIntervalMs.
    if (now - s.get(processor, Field.LastProbeAt) >= this.settings.probeIntervalMs && s.compareExchange(processor, Field.ProbeInFlight, 0, 1)) {
      s.set(processor, Field.LastProbeAt, now);
      this.lastGrantWasProbe = true;
      return true;
    }
    s.add(processor, Field.Inflight, -1);
    return false;
  }
}
