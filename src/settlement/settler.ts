import { DEFAULT, FALLBACK, PROCESSORS, type ProcessorIndex } from '../domain/processors.ts';
import type { SharedLedger } from '../ledger/shared-ledger.ts';
import { formatUuid } from '../queue/uuid.ts';
import { PaymentSlot, type PaymentRing } from '../queue/payment-ring.ts';
import { CALL_OUTCOMES, Counter, type Signals } from '../health/signals.ts';
import type { PayOutcome, ProcessorApi } from '../processors/client.ts';
import { Deque } from './deque.ts';
import { GRANTED_PROBE, REFUSED, type Grant, type SettlementPolicy } from './policy.ts';
import { RecordKind } from '../journal/record.ts';
import type { SendPace } from './pace.ts';

/**
 * Where attempts and outcomes are made durable: the instance's file journal (flush is
 * synchronous and throws when the write failed), or the fleet's Redis (flush returns a promise,
 * rejected when it failed; undefined when nothing was staged). Either way, no call leaves before
 * the flush holding its attempt has succeeded. The fleet's log may also refuse an attempt: the
 * payment is another host's now (fencing); its promise resolves with the refused correlationIds.
 */
export interface SettlementLog {
  stage(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number): void;
  // biome-ignore lint/suspicious/noConfusingVoidType: the file journal's flush is synchronous and returns nothing.
  flush(): Promise<ReadonlySet<string>> | undefined | void;
}

/**
 * Carries each payment a worker took from the ring to exactly one recording by exactly one
 * processor, and records that in the ledger with the requestedAt the processor holds.
 *
 *   ring ──pull──▶ waiting (FIFO) ──policy──▶ call ──┬─ 2xx ─────────────────────────────────────▶ ledger
 *                     ▲                             ├─ refused (500, 429, never sent) ─▶ front of waiting
 *                     │                             └─ 422, timeout, connection lost ─▶ in doubt
 *                     │                                                                     │ lookup
 *                     └──── released: absent doubtReleaseMs after the call was written ◀───┤
 *                                   found with one of OUR requestedAts ──▶ ledger ◀─────────┤
 *                                   found with another requestedAt ──▶ dropped (another sender's)
 *
 * In doubt, a payment is never sent again: it is looked up (GET /payments/{id}) every
 * DOUBT_POLL_MS, so a late insert (the processor does not cancel its delay when we time out)
 * reaches the ledger within a poll. It is released to go anywhere only when the processor says it
 * does not hold it doubtReleaseMs after the call was written (no call with that requestedAt can
 * land after that unless the processor's delay exceeds doubtReleaseMs). A found record counts as
 * ours only when its requestedAt is one this instance sent for this id (requestedAts are unique
 * per instance: see policy.requestedAtFor): a 422 or a lookup can also find another sender's copy.
 *
 * A purge forgets every payment accepted at or before it, wherever it is here: waiting, in doubt,
 * or in flight (a call that ends after the purge is not counted, nor journaled).
 */
export interface SettlerSettings {
  /**
   * Most payments a worker takes out of the ring to wait for a processor. The rest of a backlog
   * stays in the ring, a fixed preallocated buffer: it costs no heap, and a ring that fills up
   * answers 503 instead of growing memory without bound.
   */
  maxInflightPerProcessor: number;
  /** Workers sharing the ring: each serves about its share of what is queued there. */
  paymentWorkers: number;
  doubtReleaseMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** `doubtAt` when no call of the payment is unresolved. */
const NO_DOUBT = -1;

interface Pending {
  id: string;
  /** The id's four words, kept as plain numbers (a typed array per payment costs ~100 bytes more). */
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  cents: number;
  /** Epoch ms of its acceptance: a purge forgets payments accepted at or before it. */
  acceptedAt: number;
  /** When it started waiting, in signals time. */
  heldSince: number;
  /** Calls written for it that a processor may hold, as [processor, requestedAt] pairs: what counts as ours. */
  attempts: number[];
  /** Processor a call to which may have been recorded and is not yet resolved, or NO_DOUBT. */
  doubtAt: ProcessorIndex | typeof NO_DOUBT;
  /** When that call was written, in signals time. */
  doubtSince: number;
  /** When its last lookup ended (or -Infinity: due at once), in signals time. */
  lastLookupAt: number;
  /** The call `send` decided, started by `startCalls` once its attempt is journaled. */
  callTarget: ProcessorIndex;
  callRequestedAt: number;
  callGrant: Grant;
  callSentAt: number;
}

/** How often an in-doubt payment is looked up, and how many lookups a worker runs at once. */
const DOUBT_POLL_MS = 100;
const MAX_LOOKUPS_IN_FLIGHT = 8; // the clients keep 8 connections for lookups

export type Log = (message: string) => void;

export class Settler {
  private readonly waiting = new Deque<Pending>();
  /** Decided this pump, sent at its end, after one journal write for all their attempts. */
  private readonly starting: Pending[] = [];
  private pumpScheduled = false;
  /**
   * In-doubt payments not being looked up right now, in the order their next lookup is due
   * (lastLookupAt ascending: a lookup that ends goes to the back, one due at once to the front).
   * A pump looks at the front only, and a payment leaves doubt while its lookup runs, outside this
   * line: every step is O(1), whatever how many are in doubt.
   */
  private readonly lookupLine = new Deque<Pending>();
  /** Payments in doubt: in `lookupLine` or being looked up. */
  private inDoubt = 0;
  /**
   * Past this many in doubt (lookups failing), the worker takes nothing more from the ring: the
   * backlog waits there, in fixed memory, and a full ring answers 503. Its share of the ring.
   */
  private readonly maxInDoubt: number;
  /** Calls in flight per processor, oldest first (a Set keeps insertion order). */
  private readonly inflightCalls: [Set<Pending>, Set<Pending>] = [new Set(), new Set()];
  private lookupsInFlight = 0;
  private readonly slot = new PaymentSlot();
  private readonly rateLimitedStreak: [number, number] = [0, 0];
  private duplicatesLogged = 0;
  private refusedLogged = 0;
  private purgesSeen: number;
  private stopped = false;
  /** Payments whose calls wait for an asynchronous flush (fleet mode) of their attempts. */
  private launching = 0;

  constructor(
    private readonly ring: PaymentRing,
    /** This instance's ledger; null in fleet mode, where the settled record (the log's LOG script) counts it in Redis. */
    private readonly ledger: SharedLedger | null,
    private readonly signals: Signals,
    private readonly policy: SettlementPolicy,
    private readonly clients: readonly [ProcessorApi, ProcessorApi],
    private readonly settings: SettlerSettings,
    private readonly log: Log,
    /** Attempts and outcomes are journaled so a restart (or another host) knows which processor may hold what. */
    private readonly journal: SettlementLog | null = null,
    /** Bounds how many calls a pump starts (see pace.ts); null: no bound. */
    private readonly pace: SendPace | null = null,
  ) {
    this.purgesSeen = signals.count(Counter.Purges);
    this.maxInDoubt = Math.ceil(ring.capacity / settings.paymentWorkers);
  }

  private get inflight(): number {
    return this.inflightCalls[DEFAULT].size + this.inflightCalls[FALLBACK].size + this.starting.length + this.launching;
  }

  /** Payments this worker holds: waiting, in doubt, or with a call in flight. */
  get unsettled(): number {
    return this.waiting.length + this.inDoubt + this.inflight;
  }

  /** Calls and lookups still running. */
  get busy(): boolean {
    return this.inflight > 0 || this.lookupsInFlight > 0;
  }

  /** Whether a timer should keep calling `pump` (something waits for a processor to become available). */
  get hasWaiting(): boolean {
    return this.waiting.length > 0 || this.inDoubt > 0;
  }

  /** Whether the waiting bound is reached: the ring's backlog stays there until a call or a hold frees room. */
  get waitingFull(): boolean {
    return this.waiting.length >= this.settings.maxInflightPerProcessor || this.inDoubt >= this.maxInDoubt;
  }

  /** No new calls or lookups from now on (shutdown); calls in flight still end and are recorded. */
  stop(): void {
    this.stopped = true;
  }

  /** Takes what the ring holds (up to the waiting bound), then sends whatever the policy allows now; returns how many it took. */
  pump(): number {
    if (this.signals.count(Counter.Purges) !== this.purgesSeen) this.forgetPurged();
    let pulled = 0;
    if (!this.stopped) {
      pulled = this.pull();
      this.pace?.beginPump(performance.now());
      const now = this.signals.now();
      if (this.lookupLine.length > 0) this.pumpInDoubt(now);
      this.sendWaiting(now);
    }
    this.startCalls();
    return pulled;
  }

  private sendWaiting(now: number): void {
    const waiting = this.waiting;
    const policy = this.policy;
    const oldestDefault = this.oldestInflightAge(DEFAULT, now);
    const oldestFallback = this.oldestInflightAge(FALLBACK, now);
    // Default first, oldest first; unless default is slower than fallback by more than the hold
    // is worth: then fallback first, and default takes what fallback cannot.
    const fallbackFirst = policy.defaultTooSlow(now);
    if (!fallbackFirst) this.sendToDefault(now, oldestDefault);
    if (waiting.length === 0) return;
    if (fallbackFirst || policy.defaultSaturated(now, oldestDefault)) {
      // Default works at its own pace: the youngest wait longest, so the overflow leaves from the back.
      const queuedBehind = Math.ceil(this.ring.size / this.settings.paymentWorkers);
      while (waiting.length > 0 && policy.overflows(waiting.length, queuedBehind)) {
        if (this.pace !== null && !this.pace.take()) break;
        const grant = policy.grantFallback(now, now - waiting.peekBack()!.heldSince, oldestFallback);
        if (grant === REFUSED) break;
        this.send(waiting.pop()!, FALLBACK, grant);
      }
      if (fallbackFirst) this.sendToDefault(now, oldestDefault);
      return;
    }
    // Default cannot take payments at all: the oldest go to fallback once their hold has expired.
    while (waiting.length > 0) {
      const age = now - waiting.peek()!.heldSince;
      if (!policy.holdExpired(age)) break;
      if (this.pace !== null && !this.pace.take()) break;
      const grant = policy.grantFallback(now, age, oldestFallback);
      if (grant === REFUSED) break;
      this.send(waiting.shift()!, FALLBACK, grant);
    }
  }

  /** Sends waiting payments to default, oldest first, while it grants slots. */
  private sendToDefault(now: number, oldestDefault: number): void {
    const waiting = this.waiting;
    const policy = this.policy;
    while (waiting.length > 0) {
      if (this.pace !== null && !this.pace.take()) return;
      const grant = policy.grant(DEFAULT, now, oldestDefault);
      if (grant === REFUSED) return;
      if (grant === GRANTED_PROBE) {
        // A probe may fail or hang: it goes with the youngest payment, and never with one that
        // already spent time in doubt (it would go back there, again and again, while the rest move on).
        if (waiting.peekBack()!.attempts.length > 0) {
          policy.release(DEFAULT, grant);
          return;
        }
        this.send(waiting.pop()!, DEFAULT, grant);
        continue;
      }
      policy.defaultTook();
      this.send(waiting.shift()!, DEFAULT, grant);
    }
  }

  /** How long the oldest call this worker has in flight to `processor` has waited (0: none). */
  private oldestInflightAge(processor: ProcessorIndex, now: number): number {
    const calls = this.inflightCalls[processor];
    if (calls.size === 0) return 0;
    return now - calls.values().next().value!.callSentAt;
  }

  /**
   * One pump per turn of the event loop, however many calls ended in it: their settlements and
   * the attempts that follow go to the journal in one write.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Counts a payment as waiting before taking it from the ring, so that ring depth + waiting + in
   * flight never reads zero while a payment is between places (GET /health, drain checks).
   */
  private pull(): number {
    const slot = this.slot;
    const now = this.signals.now();
    const purgedAt = this.signals.purgedAt;
    const room = Math.min(this.settings.maxInflightPerProcessor - this.waiting.length, this.maxInDoubt - this.inDoubt);
    let pulled = 0;
    while (pulled < room) {
      this.signals.addCount(Counter.Waiting, 1);
      if (!this.ring.tryPop(slot)) {
        this.signals.addCount(Counter.Waiting, -1);
        return pulled;
      }
      if (slot.acceptedAt <= purgedAt) {
        this.signals.addCount(Counter.Waiting, -1);
        continue;
      }
      pulled++;
      const replayedInDoubt = slot.doubtAt >= 0;
      const payment: Pending = {
        id: formatUuid(slot.id, 0),
        w0: slot.id[0],
        w1: slot.id[1],
        w2: slot.id[2],
        w3: slot.id[3],
        cents: slot.cents,
        acceptedAt: slot.acceptedAt,
        heldSince: Math.min(now, slot.acceptedAt - this.signals.epochMs),
        attempts: replayedInDoubt ? [slot.doubtAt, slot.doubtRequestedAt] : [],
        doubtAt: NO_DOUBT,
        doubtSince: 0,
        lastLookupAt: 0,
        callTarget: DEFAULT,
        callRequestedAt: 0,
        callGrant: REFUSED,
        callSentAt: 0,
      };
      if (replayedInDoubt) {
        // The call was written before a restart, at or before its requestedAt: date the doubt from there.
        this.enterDoubt(payment, slot.doubtAt as ProcessorIndex, slot.doubtRequestedAt - this.signals.epochMs);
      } else {
        this.waiting.push(payment);
      }
    }
    return pulled;
  }

  private enterDoubt(payment: Pending, processor: ProcessorIndex, since: number): void {
    payment.doubtAt = processor;
    payment.doubtSince = since;
    payment.lastLookupAt = -Infinity;
    this.lookupLine.pushFront(payment);
    this.inDoubt++;
    this.signals.addCount(Counter.InDoubt, 1);
  }

  /** Starts the lookups that are due, from the front of the line, as many as may run at once. */
  private pumpInDoubt(now: number): void {
    const line = this.lookupLine;
    while (this.lookupsInFlight < MAX_LOOKUPS_IN_FLIGHT && line.length > 0 && now - line.peek()!.lastLookupAt >= DOUBT_POLL_MS) {
      this.lookUp(line.shift()!);
    }
  }

  private send(payment: Pending, target: ProcessorIndex, grant: Grant): void {
    this.signals.addCount(Counter.Waiting, -1);
    const requestedAt = this.policy.requestedAtFor(target, Date.now(), this.oldestInflightAge(target, this.signals.now()));
    payment.callTarget = target;
    payment.callRequestedAt = requestedAt;
    payment.callGrant = grant;
    payment.attempts.push(target, requestedAt);
    this.journalStage(RecordKind.Attempt, target, payment, requestedAt);
    this.starting.push(payment);
  }

  /** Writes what this pump staged, then starts the calls it decided: no call leaves before its attempt is journaled. */
  private startCalls(): void {
    const starting = this.starting;
    let flushed: ReturnType<SettlementLog['flush']>;
    try {
      flushed = this.journal?.flush();
    } catch (error) {
      this.journalFailed(error);
      this.holdBack(starting);
      starting.length = 0;
      return;
    }
    if (flushed === undefined) {
      this.launch(starting);
      starting.length = 0;
      return;
    }
    // A remote log: these calls leave once it holds their attempts; the next pump goes on meanwhile.
    const batch = starting.splice(0);
    this.launching += batch.length;
    flushed.then(
      (refused) => {
        this.launching -= batch.length;
        this.launch(refused.size > 0 ? this.dropRefused(batch, refused) : batch);
      },
      (error: unknown) => {
        this.launching -= batch.length;
        this.journalFailed(error);
        this.holdBack(batch);
        this.schedulePump();
      },
    );
  }

  /** Their attempts may not be durable: a restart (or another host) would not know these calls. They wait instead. */
  private holdBack(payments: Pending[]): void {
    for (let i = payments.length - 1; i >= 0; i--) {
      const payment = payments[i]!;
      payment.attempts.length -= 2;
      this.policy.release(payment.callTarget, payment.callGrant);
      this.signals.addCount(Counter.Waiting, 1);
      this.waiting.pushFront(payment);
    }
  }

  /**
   * The payments of `batch` whose attempts the log refused are another host's now (it took them
   * over while this one was paused or cut off): forgotten here, never sent. Returns the others.
   */
  private dropRefused(batch: Pending[], refused: ReadonlySet<string>): Pending[] {
    const kept: Pending[] = [];
    for (const payment of batch) {
      if (!refused.has(payment.id)) {
        kept.push(payment);
        continue;
      }
      this.policy.release(payment.callTarget, payment.callGrant);
      if (this.refusedLogged++ < 10) this.log(`payment ${payment.id}: another host owns it now; not sent from here`);
    }
    return kept;
  }

  private launch(payments: readonly Pending[]): void {
    const now = this.signals.now();
    for (let i = 0; i < payments.length; i++) {
      const payment = payments[i]!;
      const target = payment.callTarget;
      const requestedAt = payment.callRequestedAt;
      const grant = payment.callGrant;
      payment.callSentAt = now;
      this.inflightCalls[target].add(payment);
      this.clients[target].pay(payment.id, payment.cents, requestedAt).then((outcome) => {
        this.inflightCalls[target].delete(payment);
        // Settle (record, or count it as waiting again) before the call stops counting as in
        // flight: another thread reading the counters never sees the payment nowhere.
        this.settle(payment, target, requestedAt, outcome);
        this.policy.release(target, grant);
        this.schedulePump();
      });
    }
  }

  private settle(payment: Pending, target: ProcessorIndex, requestedAt: number, outcome: PayOutcome): void {
    const now = this.signals.now();
    this.signals.observeCall(target, CALL_OUTCOMES.indexOf(outcome.kind), outcome.latencyMs);
    if (payment.acceptedAt <= this.signals.purgedAt) return;
    switch (outcome.kind) {
      case 'recorded':
        this.rateLimitedStreak[target] = 0;
        this.policy.recordSuccess(target, outcome.latencyMs, now);
        this.record(payment, target, requestedAt);
        return;
      case 'duplicate':
        // The processor held it before this call: ours from an earlier call, or another sender's. A lookup tells.
        this.policy.recordSuccess(target, outcome.latencyMs, now);
        this.signals.addCount(Counter.Waiting, 1);
        this.enterDoubt(payment, target, payment.callSentAt);
        return;
      case 'rejected':
        if (outcome.status === 429) {
          const streak = ++this.rateLimitedStreak[target];
          this.policy.recordBackoff(target, now, Math.min(this.settings.retryMaxMs, this.settings.retryBaseMs * 2 ** Math.min(streak, 16)));
        } else {
          this.policy.recordFailure(target, outcome.latencyMs, now, outcome.reason);
        }
        // Not recorded by this call: it no longer counts among the requestedAts the processor may hold.
        payment.attempts.length -= 2;
        this.signals.addCount(Counter.Waiting, 1);
        this.wait(payment);
        return;
      case 'unknown':
        if (outcome.timedOut) this.policy.recordTimeout(target, outcome.latencyMs);
        else this.policy.recordFailure(target, outcome.latencyMs, now, outcome.reason);
        this.signals.addCount(Counter.Waiting, 1);
        this.enterDoubt(payment, target, payment.callSentAt);
        return;
    }
  }

  /**
   * Puts a payment back in line by age: the line stays oldest first, which the hold rule relies on
   * (a young probe put back at the front would hold back every older payment behind it). One older
   * than the front goes first; any other goes last (a rare one in between waits a little longer).
   */
  private wait(payment: Pending): void {
    const front = this.waiting.peek();
    if (front === undefined || payment.heldSince <= front.heldSince) this.waiting.pushFront(payment);
    else this.waiting.push(payment);
  }

  /** Whether `requestedAt` at `processor` is one of this instance's calls for the payment. */
  private isOurs(payment: Pending, processor: ProcessorIndex, requestedAt: number): boolean {
    const attempts = payment.attempts;
    for (let i = 0; i < attempts.length; i += 2) if (attempts[i] === processor && attempts[i + 1] === requestedAt) return true;
    return false;
  }

  private record(payment: Pending, target: ProcessorIndex, requestedAt: number): void {
    this.journalStage(RecordKind.Settled, target, payment, requestedAt);
    // The HTTP thread refuses payments before the ledger could fill; this is the last line of defence.
    if (this.ledger !== null && !this.ledger.append(target, requestedAt, payment.cents)) {
      this.log(`LEDGER FULL: payment ${payment.id} settled on ${PROCESSORS[target]} but could not be recorded; raise LEDGER_CAPACITY`);
    }
    this.signals.addCount(Counter.Settled, 1);
  }

  private journalErrors = 0;
  private readonly journalWords = new Uint32Array(4);

  private journalStage(kind: RecordKind, processor: ProcessorIndex, payment: Pending, requestedAt: number): void {
    if (this.journal === null) return;
    const words = this.journalWords;
    words[0] = payment.w0;
    words[1] = payment.w1;
    words[2] = payment.w2;
    words[3] = payment.w3;
    this.journal.stage(kind, processor, words, 0, payment.cents, requestedAt);
  }

  private journalFailed(error: unknown): void {
    this.signals.addCount(Counter.JournalWriteErrors, 1);
    if (this.journalErrors++ < 10) this.log(`journal write failed, calls wait: ${error instanceof Error ? error.message : String(error)}`);
  }

  /** Asks the doubted processor whether it holds the payment, and with which requestedAt; back in line unless that settles it. */
  private lookUp(payment: Pending): void {
    const processor = payment.doubtAt as ProcessorIndex;
    this.lookupsInFlight++;
    this.clients[processor].lookup(payment.id).then((found) => {
      this.lookupsInFlight--;
      if (payment.acceptedAt <= this.signals.purgedAt) {
        // Purged while looked up (outside the line, so the purge left it to this).
        this.leaveDoubt(payment);
        this.signals.addCount(Counter.Waiting, -1);
        return;
      }
      if (found.kind === 'found') {
        if (this.isOurs(payment, processor, found.requestedAtMs)) {
          this.record(payment, processor, found.requestedAtMs);
        } else {
          // Recorded by another sender (another instance, or a client straight to the processor): theirs to count.
          this.journalStage(RecordKind.Dropped, processor, payment, found.requestedAtMs);
          this.signals.addCount(Counter.DuplicatesDropped, 1);
          if (this.duplicatesLogged++ < 10) this.log(`payment ${payment.id}: ${PROCESSORS[processor]} holds it from another sender; not counted here`);
        }
        // Only now out of the counters: a reader never sees it nowhere.
        this.leaveDoubt(payment);
        this.signals.addCount(Counter.Waiting, -1);
      } else if (found.kind === 'absent' && this.signals.now() - payment.doubtSince >= this.settings.doubtReleaseMs) {
        this.leaveDoubt(payment);
        this.log(`payment ${payment.id}: ${PROCESSORS[processor]} does not hold it ${this.settings.doubtReleaseMs} ms after the call; free to go anywhere`);
        this.wait(payment);
      } else {
        payment.lastLookupAt = this.signals.now();
        this.lookupLine.push(payment);
      }
      this.schedulePump();
    });
  }

  /** For a payment out of the line (its lookup just ended, or a purge took it out). */
  private leaveDoubt(payment: Pending): void {
    this.inDoubt--;
    payment.doubtAt = NO_DOUBT;
    this.signals.addCount(Counter.InDoubt, -1);
  }

  /** A purge happened: forgets what waits or is in doubt here and was accepted at or before it. */
  private forgetPurged(): void {
    this.purgesSeen = this.signals.count(Counter.Purges);
    const purgedAt = this.signals.purgedAt;
    const kept = new Deque<Pending>();
    for (let payment = this.waiting.shift(); payment !== undefined; payment = this.waiting.shift()) {
      if (payment.acceptedAt <= purgedAt) this.signals.addCount(Counter.Waiting, -1);
      else kept.push(payment);
    }
    for (let payment = kept.shift(); payment !== undefined; payment = kept.shift()) this.waiting.push(payment);
    // The line keeps its order; a payment being looked up is left to its lookup's end.
    for (let left = this.lookupLine.length; left > 0; left--) {
      const payment = this.lookupLine.shift()!;
      if (payment.acceptedAt > purgedAt) {
        this.lookupLine.push(payment);
        continue;
      }
      this.leaveDoubt(payment);
      this.signals.addCount(Counter.Waiting, -1);
    }
  }
}
