import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { AcceptJournal } from '../http/routes.ts';
import type { SharedLedger } from '../ledger/shared-ledger.ts';
import type { ProcessorIndex } from '../ledger/ledger.ts';
import type { IdSet } from '../queue/id-set.ts';
import type { PaymentRing } from '../queue/payment-ring.ts';
import { JournalWriter } from './journal-writer.ts';
import { RecordKind } from './record.ts';
import { ACCEPTED_FILE, compactJournal, replayJournal, truncateJournal, type UnsettledEntry } from './replay.ts';

/**
 * The HTTP thread's side of the journal: replays and compacts it at start (rebuilding the ledger
 * and the accepted ids, and queueing again what was not settled), then records each accepted
 * payment before its 202. Workers append their attempts and settlements to files of their own.
 */
export class InstanceJournal implements AcceptJournal {
  private readonly writer: JournalWriter;
  private requeuePending = 0;
  private readonly replay: { records: number; torn: number; settled: number; requeued: number; inDoubt: number; ms: number };

  constructor(
    readonly dir: string,
    private readonly fsyncMs: number,
    ledger: SharedLedger,
    acceptedIds: IdSet,
    private readonly log: (line: string) => void,
  ) {
    mkdirSync(dir, { recursive: true });
    const started = performance.now();
    const replayed = replayJournal(dir);
    compactJournal(dir, replayed);
    for (const entry of replayed.settled) {
      ledger.append(entry.processor as ProcessorIndex, entry.requestedAt, entry.cents);
      acceptedIds.add(entry.id, 0);
    }
    for (const entry of replayed.unsettled) acceptedIds.add(entry.id, 0);
    this.unsettled = replayed.unsettled;
    this.replay = {
      records: replayed.records,
      torn: replayed.torn,
      settled: replayed.settled.length,
      requeued: replayed.unsettled.length,
      inDoubt: replayed.unsettled.filter((entry) => entry.doubtAt >= 0).length,
      ms: Math.round(performance.now() - started),
    };
    if (replayed.records > 0) {
      log(`journal ${dir}: replayed ${replayed.records} records in ${this.replay.ms} ms: ${this.replay.settled} settled, ${this.replay.requeued} to settle (${this.replay.inDoubt} in doubt), ${replayed.torn} torn frames skipped`);
    }
    this.writer = new JournalWriter(join(dir, ACCEPTED_FILE), fsyncMs);
  }

  private unsettled: UnsettledEntry[];

  /** Queues the replayed unsettled payments, as fast as the workers make room in the ring. */
  async requeue(ring: PaymentRing): Promise<void> {
    const pending = this.unsettled;
    this.unsettled = [];
    this.requeuePending = pending.length;
    for (const entry of pending) {
      while (!ring.tryPush(entry.id, 0, entry.cents, entry.acceptedAt, entry.doubtAt, entry.doubtRequestedAt)) await sleep(5);
      this.requeuePending--;
    }
  }

  accepted(id: Uint32Array, cents: number, acceptedAt: number): void {
    this.writer.append(RecordKind.Accepted, 0, id, 0, cents, acceptedAt);
  }

  purge(): void {
    truncateJournal(this.dir);
  }

  status(): Record<string, unknown> {
    return { enabled: true, dir: this.dir, fsyncMs: this.fsyncMs, acceptedBytesSinceStart: this.writer.bytesWritten, replay: { ...this.replay, stillToQueue: this.requeuePending } };
  }
}
