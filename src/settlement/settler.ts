import { PROCESSORS, type ProcessorIndex } from '../ledger/ledger.ts';
import type { SharedLedger } from '../ledger/shared-ledger.ts';
import { formatUuid } from '../queue/uuid.ts';
import { PaymentSlot, type PaymentRing } from '../queue/payment-ring.ts';
import { Counter, type Signals } from '../health/signals.ts';
import type { PayOutcome, ProcessorApi } from '../processors/client.ts';
import { Deque } from './deque.ts';
import { HOLD, type Decision, type SettlementPolicy } from './policy.ts';
import type { JournalWriter } from '../journal/journal-writer.ts';
import { RecordKind } from '../journal/record.ts';

/**
 * Carries each payment a worker took from the ring to exactly one recording by exactly one
 * processor, and records that in the ledger with the requestedAt the processor holds.
 *
 *   ring ──pull──▶ waiting (FIFO, oldest first) ──policy──▶ call ──┬─ recorded / 422 after doubt ─▶ ledger
 *                     ▲                                            ├─ rejected (not recorded) ──▶ front of waiting
 *                     └──── released (processor does not hold it) ─┴─ unknown (maybe recorded) ──▶ inDoubt
 *
 * In doubt, a payment is looked up (GET /payments/{id}) every DOUBT_POLL_MS, so a late insert
 * (the processor does not cancel its delay when we time out) reaches the ledger within a poll of
 * reaching the processor. When a call's worth of time has passed with no record, it is sent again
 * to the same processor with the same requestedAt (a 422 then means our earlier call landed).
 * Only after doubtReleaseMs with no record may it go elsewhere.
 */
export interface SettlerSettings {
  /**
   * Most payments a worker takes out of the ring to wait for a processor. The rest of a backlog
   * stays in the ring, a fixed preallocated buffer: it costs no heap, and a ring that fills up
   * answers 503 instead of growing memory without bound.
   */
  maxInflightPerProcessor: number;
  doubtReleaseMs: number;
  processorTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

interface Pending {
  id: string;
  /** The id's four words, kept as plain numbers (a typed array per payment costs ~100 bytes more). */
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  cents: number;
  /** When it started waiting, in signals time (the FIFO is ordered by it). */
  heldSince: number;
  /** Processor that may hold it from an earlier call, or HOLD. */
  doubtAt: Decision;
  doubtRequestedAt: number;
  /** Last call to `doubtAt`, in signals time: any call with that requestedAt may still land. */
  lastDoubtCallAt: number;
  lastLookupAt: number;
  lookingUp: boolean;
  /** The call `send` decided, started by `startCalls` once its attempt is journaled. */
  callTarget: ProcessorIndex;
  callRequestedAt: number;
  callIsProbe: boolean;
}

/** How often an in-doubt payment is looked up, and how many lookups a worker runs at once. */
const DOUBT_POLL_MS = 100;
const MAX_LOOKUPS_IN_FLIGHT = 16;

export type Log = (message: string) => void;

export class Settler {
  private readonly waiting = new Deque<Pending>();
  /** Decided this pump, sent at its end, after one journal write for all their attempts. */
  private readonly starting: Pending[] = [];
  private pumpScheduled = false;
  private inDoubt: Pending[] = [];
  private inflight = 0;
  private lookupsInFlight = 0;
  private readonly slot = new PaymentSlot();
  private readonly rateLimitedStreak: [number, number] = [0, 0];
  private duplicatesLogged = 0;

  constructor(
    private readonly ring: PaymentRing,
    private readonly ledger: SharedLedger,
    private readonly signals: Signals,
    private readonly policy: SettlementPolicy,
    private readonly clients: readonly [ProcessorApi, ProcessorApi],
    private readonly settings: SettlerSettings,
    private readonly log: Log,
    /** Attempts and settlements are journaled so a restart knows which processor may hold what. */
    private readonly journal: JournalWriter | null = null,
  ) {}

  /** Payments this worker holds: waiting, in doubt, or with a call in flight. */
  get unsettled(): number {
    return this.waiting.length + this.inDoubt.length + this.inflight;
  }

  /** Whether a timer should keep calling `pump` (something waits for a processor to become available). */
  get hasWaiting(): boolean {
    return this.waiting.length > 0 || this.inDoubt.length > 0;
  }

  /** Whether the waiting bound is reached: the ring's backlog stays there until a call or a hold frees room. */
  get waitingFull(): boolean {
    return this.waiting.length >= this.settings.maxInflightPerProcessor;
  }

  /** Takes what the ring holds (up to the waiting bound), then sends whatever the policy allows now; returns how many it took. */
  pump(): number {
    const pulled = this.pull();
    const now = this.signals.now();
    if (this.inDoubt.length > 0) this.pumpInDoubt(now);
    while (this.waiting.length > 0) {
      const payment = this.waiting.peek()!;
      const target = this.policy.decide(payment.heldSince, HOLD, now);
      // FIFO by age: when the oldest must hold, so must every younger one.
      if (target === HOLD) break;
      this.waiting.shift();
      this.signals.addCount(Counter.Held, -1);
      this.send(payment, target, Date.now());
    }
    this.startCalls();
    return pulled;
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
   * Counts a payment as held before taking it from the ring, so that ring depth + held + in
   * flight never reads zero while a payment is between places (GET /health, drain checks).
   */
  private pull(): number {
    const slot = this.slot;
    const now = this.signals.now();
    const room = this.settings.maxInflightPerProcessor - this.waiting.length;
    for (let pulled = 0; ; pulled++) {
      if (pulled >= room) return pulled;
      this.signals.addCount(Counter.Held, 1);
      if (!this.ring.tryPop(slot)) {
        this.signals.addCount(Counter.Held, -1);
        return pulled;
      }
      const replayedInDoubt = slot.doubtAt >= 0;
      const payment: Pending = {
        id: formatUuid(slot.id, 0),
        w0: slot.id[0],
        w1: slot.id[1],
        w2: slot.id[2],
        w3: slot.id[3],
        cents: slot.cents,
        heldSince: Math.min(now, slot.acceptedAt - this.signals.epochMs),
        doubtAt: replayedInDoubt ? (slot.doubtAt as ProcessorIndex) : HOLD,
        doubtRequestedAt: slot.doubtRequestedAt,
        lastDoubtCallAt: 0,
        lastLookupAt: 0,
        lookingUp: false,
        callTarget: 0,
        callRequestedAt: 0,
        callIsProbe: false,
      };
      if (replayedInDoubt) {
        this.inDoubt.push(payment);
        this.signals.addCount(Counter.InDoubt, 1);
      } else {
        this.waiting.push(payment);
      }
    }
  }

  private pumpInDoubt(now: number): void {
    const stillInDoubt: Pending[] = [];
    for (const payment of this.inDoubt) {
      if (!payment.lookingUp && now - payment.lastDoubtCallAt >= this.settings.processorTimeoutMs) {
        const target = this.policy.decide(payment.heldSince, payment.doubtAt, now);
        if (target !== HOLD) {
          this.signals.addCount(Counter.Held, -1);
          this.send(payment, target, payment.doubtRequestedAt);
          continue;
        }
      }
      if (!payment.lookingUp && now - payment.lastLookupAt >= DOUBT_POLL_MS && this.lookupsInFlight < MAX_LOOKUPS_IN_FLIGHT) this.lookUp(payment, now);
      stillInDoubt.push(payment);
    }
    this.inDoubt = stillInDoubt;
  }

  private send(payment: Pending, target: ProcessorIndex, requestedAt: number): void {
    payment.callTarget = target;
    payment.callRequestedAt = requestedAt;
    payment.callIsProbe = this.policy.lastGrantWasProbe;
    this.inflight++;
    if (payment.doubtAt === target) payment.lastDoubtCallAt = this.signals.now();
    this.journalStage(RecordKind.Attempt, target, payment, requestedAt);
    this.starting.push(payment);
  }

  /** Writes what this pump staged, then starts the calls it decided: no call leaves before its attempt is journaled. */
  private startCalls(): void {
    this.journalFlush();
    const starting = this.starting;
    for (let i = 0; i < starting.length; i++) {
      const payment = starting[i]!;
      const target = payment.callTarget;
      const requestedAt = payment.callRequestedAt;
      const probe = payment.callIsProbe;
      this.clients[target].pay(payment.id, payment.cents, requestedAt).then((outcome) => {
        // Settle (record or requeue) before releasing the slot: the payment is always counted somewhere.
        this.settle(payment, target, requestedAt, outcome);
        this.inflight--;
        this.policy.release(target, probe);
        this.schedulePump();
      });
    }
    starting.length = 0;
  }

  private settle(payment: Pending, target: ProcessorIndex, requestedAt: number, outcome: PayOutcome): void {
    const now = this.signals.now();
    switch (outcome.kind) {
      case 'recorded':
        this.rateLimitedStreak[target] = 0;
        this.policy.recordSuccess(target, outcome.latencyMs, now);
        this.record(payment, target, requestedAt);
        return;
      case 'duplicate':
        this.policy.recordSuccess(target, outcome.latencyMs, now);
        if (payment.doubtAt === target) {
          // Our own earlier call, sent with this same requestedAt, was recorded.
          this.record(payment, target, payment.doubtRequestedAt);
        } else {
          // Recorded by someone else (another instance was sent the same id): theirs to count.
          this.signals.addCount(Counter.DuplicatesDropped, 1);
          if (this.duplicatesLogged++ < 10) this.log(`payment ${payment.id}: ${PROCESSORS[target]} already held it from another sender; not counted here`);
        }
        return;
      case 'rejected':
        if (outcome.status === 429) {
          const streak = ++this.rateLimitedStreak[target];
          this.policy.recordBackoff(target, now, Math.min(this.settings.retryMaxMs, this.settings.retryBaseMs * 2 ** Math.min(streak, 16)));
        } else {
          this.policy.recordFailure(target, outcome.latencyMs, now, outcome.reason);
        }
        this.requeue(payment);
        return;
      case 'unknown':
        this.policy.recordFailure(target, outcome.latencyMs, now, outcome.reason);
        if (payment.doubtAt === HOLD) {
          payment.doubtAt = target;
          payment.doubtRequestedAt = requestedAt;
          payment.lastDoubtCallAt = now;
          this.signals.addCount(Counter.InDoubt, 1);
        }
        this.requeue(payment);
        return;
    }
  }

  private requeue(payment: Pending): void {
    this.signals.addCount(Counter.Held, 1);
    if (payment.doubtAt === HOLD) this.waiting.pushFront(payment);
    else this.inDoubt.push(payment);
  }

  private record(payment: Pending, target: ProcessorIndex, requestedAt: number): void {
    if (payment.doubtAt !== HOLD) this.signals.addCount(Counter.InDoubt, -1);
    this.journalStage(RecordKind.Settled, target, payment, requestedAt);
    // The HTTP thread refuses payments before the ledger could fill; this is the last line of defence.
    if (!this.ledger.append(target, requestedAt, payment.cents)) {
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

  private journalFlush(): void {
    if (this.journal === null) return;
    try {
      this.journal.flush();
    } catch (error) {
      // The calls go ahead: refusing to settle would lose the payments now rather than maybe later.
      if (this.journalErrors++ < 10) this.log(`journal write failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Asks the doubted processor whether it holds the payment: settles it, or after long enough frees it. */
  private lookUp(payment: Pending, now: number): void {
    const processor = payment.doubtAt as ProcessorIndex;
    payment.lookingUp = true;
    payment.lastLookupAt = now;
    this.lookupsInFlight++;
    this.clients[processor].lookup(payment.id).then((found) => {
      payment.lookingUp = false;
      this.lookupsInFlight--;
      if (found.kind === 'found') {
        this.removeFromDoubt(payment);
        this.signals.addCount(Counter.Held, -1);
        this.record(payment, processor, found.requestedAtMs);
      } else if (found.kind === 'absent' && this.signals.now() - payment.lastDoubtCallAt >= this.settings.doubtReleaseMs) {
        this.removeFromDoubt(payment);
        this.signals.addCount(Counter.InDoubt, -1);
        this.log(`payment ${payment.id}: ${PROCESSORS[processor]} does not hold it ${this.settings.doubtReleaseMs} ms after the last call; free to go anywhere`);
        payment.doubtAt = HOLD;
        this.waiting.pushFront(payment);
      }
      this.schedulePump();
    });
  }

  private removeFromDoubt(payment: Pending): void {
    this.inDoubt.splice(this.inDoubt.indexOf(payment), 1);
  }
}
