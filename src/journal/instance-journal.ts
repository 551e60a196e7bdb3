import { mkdirSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { AcceptJournal } from '../http/routes.ts';
import type { SharedLedger } from '../ledger/shared-ledger.ts';
import type { ProcessorIndex } from '../domain/processors.ts';
import type { AcceptedIds } from '../queue/id-set.ts';
import type { PaymentRing } from '../queue/payment-ring.ts';
import { JournalWriter } from './journal-writer.ts';
import { RecordKind } from './record.ts';
import { ACCEPTED_FILE, compactJournal, removeTemporary, replayJournal, truncateJournal, type Compacted, type UnsettledEntry } from './replay.ts';
import { BASE_FILE, listSegments } from './segments.ts';
import { threadSequence, type JournalSequence } from './sequence.ts';

export interface JournalOptions {
  /** Segment size of the accepted-payments writer (the workers' writers use their default). */
  segmentBytes?: number;
  /** How often closed segments are looked at for compaction; 0: only when `compact()` is called. */
  compactEveryMs?: number;
  /** Closed segments are folded once they hold this much, or a quarter of the base if more. */
  compactMinBytes?: number;
  /** The instance's record numbering, shared with the workers' writers; raised past the journal's at replay. */
  sequence?: JournalSequence;
}

/** Past this many closed segments they are folded whatever their size (restarts each leave some). */
const COMPACT_MAX_FILES = 16;

const pause = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The HTTP thread's side of the journal: replays it at start (rebuilding the ledger and the
 * accepted ids, and queueing again what was not settled), then records each accepted payment
 * before its 202, and folds closed segments into the base while running, in slices between
 * requests (see replay.ts), so a restart reads about the compacted state, not the history.
 * Workers append their attempts and settlements to segments of their own.
 *
 * Starting needs no disk space: replay only reads, and a compaction that cannot write its new
 * base leaves the journal as it was and is tried again later.
 */
export class InstanceJournal implements AcceptJournal {
  private readonly writer: JournalWriter;
  private requeuePending = 0;
  private readonly replay: { records: number; torn: number; settled: number; dropped: number; requeued: number; inDoubt: number; ms: number };
  private unsettled: UnsettledEntry[];
  /** Files of earlier processes: closed, whatever their seq. */
  private readonly startFiles: Set<string>;
  /** Bumped by purge: a compaction that began before it drops its result. */
  private generation = 0;
  private compacting: Promise<Compacted | null> | null = null;
  private readonly compaction = { runs: 0, failures: 0, lastMs: 0, lastRecords: 0, baseBytes: 0, lastError: '' };
  private readonly timer: ReturnType<typeof setInterval> | null = null;
  private readonly compactMinBytes: number;

  constructor(
    readonly dir: string,
    private readonly fsyncMs: number,
    ledger: SharedLedger,
    acceptedIds: AcceptedIds,
    private readonly log: (line: string) => void,
    options: JournalOptions = {},
  ) {
    mkdirSync(dir, { recursive: true });
    removeTemporary(dir);
    const started = performance.now();
    let ledgerFull = 0;
    const replayed = replayJournal(dir, {
      settled(id, processor, requestedAt, cents) {
        // add() is false for an id already replayed: counted once, whatever the files hold.
        if (acceptedIds.add(id, 0) && !ledger.append(processor as ProcessorIndex, requestedAt, cents)) ledgerFull++;
      },
      dropped(id) {
        acceptedIds.add(id, 0);
      },
    });
    for (const entry of replayed.unsettled) acceptedIds.add(entry.id, 0);
    const sequence = options.sequence ?? threadSequence;
    sequence.passed(replayed.lastSequence);
    this.unsettled = replayed.unsettled;
    this.replay = {
      records: replayed.records,
      torn: replayed.torn,
      settled: replayed.settled,
      dropped: replayed.dropped,
      requeued: replayed.unsettled.length,
      inDoubt: replayed.unsettled.filter((entry) => entry.doubtAt >= 0).length,
      ms: Math.round(performance.now() - started),
    };
    if (replayed.records > 0) {
      log(
        `journal ${dir}: replayed ${replayed.records} records in ${this.replay.ms} ms: ${this.replay.settled} settled, ${this.replay.dropped} dropped, ${this.replay.requeued} to settle (${this.replay.inDoubt} in doubt), ${replayed.torn} damaged stretches skipped`,
      );
    }
    if (ledgerFull > 0) log(`journal ${dir}: ${ledgerFull} settled payments did not fit in the ledger (LEDGER_CAPACITY)`);
    this.startFiles = new Set(listSegments(dir).map((segment) => segment.path));
    this.writer = new JournalWriter(join(dir, ACCEPTED_FILE), fsyncMs, { segmentBytes: options.segmentBytes, sequence });
    this.compactMinBytes = options.compactMinBytes ?? 4 << 20;
    const every = options.compactEveryMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => void this.compactIfDue(), every);
      this.timer.unref?.();
    }
  }

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

  /** Throws when the record could not be written: the payment must then not be accepted. */
  accepted(id: Uint32Array, cents: number, acceptedAt: number): void {
    this.writer.append(RecordKind.Accepted, 0, id, 0, cents, acceptedAt);
  }

  /** Empties the journal; a compaction in progress drops its result. */
  purge(): void {
    this.generation++;
    truncateJournal(this.dir);
  }

  /**
   * Folds every closed segment into the base now (one compaction at a time: a call during one
   * gets that one's result). Null when there was nothing to fold or it failed (then logged).
   */
  compact(): Promise<Compacted | null> {
    this.compacting ??= this.runCompaction().finally(() => (this.compacting = null));
    return this.compacting;
  }

  private compactIfDue(): void {
    if (this.compacting) return;
    const closed = this.closedSegments();
    const bytes = closed.reduce((sum, segment) => sum + segment.bytes, 0);
    if (closed.length >= COMPACT_MAX_FILES || (closed.length > 0 && bytes >= Math.max(this.compactMinBytes, this.baseBytes() / 4))) void this.compact();
  }

  private async runCompaction(): Promise<Compacted | null> {
    const closed = this.closedSegments();
    if (closed.length === 0) return null;
    const generation = this.generation;
    const started = performance.now();
    try {
      const paths = closed.map((segment) => segment.path);
      const result = await compactJournal(this.dir, paths, { aborted: () => this.generation !== generation, pause });
      if (result.done) for (const path of paths) this.startFiles.delete(path);
      this.compaction.runs++;
      this.compaction.lastMs = Math.round(performance.now() - started);
      this.compaction.lastRecords = result.records;
      this.compaction.baseBytes = result.baseBytes;
      return result;
    } catch (error) {
      this.compaction.lastError = error instanceof Error ? error.message : String(error);
      if (this.compaction.failures++ < 10)
        this.log(`journal ${this.dir}: compaction failed (${this.compaction.lastError}); the journal is unchanged, trying again later`);
      return null;
    }
  }

  /** Segments no writer appends to: of an earlier process, or not the newest of their stream. */
  private closedSegments() {
    const segments = listSegments(this.dir);
    const newest = new Map<string, number>();
    for (const { stream, seq } of segments) newest.set(stream, Math.max(seq, newest.get(stream) ?? 0));
    return segments.filter((segment) => segment.seq === 0 || this.startFiles.has(segment.path) || segment.seq < newest.get(segment.stream)!);
  }

  private baseBytes(): number {
    try {
      return statSync(join(this.dir, BASE_FILE)).size;
    } catch {
      return 0;
    }
  }

  /** Stops compacting and closes the accepted-payments writer. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.writer.close();
  }

  status(): Record<string, unknown> {
    return {
      enabled: true,
      dir: this.dir,
      fsyncMs: this.fsyncMs,
      acceptedBytesSinceStart: this.writer.bytesWritten,
      replay: { ...this.replay, stillToQueue: this.requeuePending },
      compaction: { ...this.compaction },
    };
  }
}
