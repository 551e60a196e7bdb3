import { closeSync, fsync, fsyncSync, openSync, readSync, renameSync, truncateSync, unlinkSync, writeSync, constants } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { ACCEPTED, ATTEMPTED, DROPPED, PaymentTable, SETTLED } from './payment-table.ts';
import { frameVersion, RECORD_BYTES, RecordFrame, RecordKind } from './record.ts';
import { BASE_FILE, BASE_TEMPORARY, journalFiles, listSegments } from './segments.ts';

/**
 * Replay and compaction of an instance's journal.
 *
 *   HTTP thread ──▶ accepted.7.jnl  accepted.8.jnl ◀─ (open)        segments: each writer rolls
 *   worker 1    ──▶ worker-1.4.jnl  worker-1.5.jnl ◀─ (open)        to a new one every few MB
 *   worker 2    ──▶ worker-2.4.jnl ◀─ (open)
 *                        │ closed segments
 *                        ▼
 *   compaction: fold(base.jnl + closed segments) ─▶ base.jnl.tmp ─fsync─▶ rename ─▶ base.jnl
 *                                                    then unlink the closed segments it folded
 *
 * The state is the fold (PaymentTable.apply) of every record in every file present. The fold
 * gives the same state whatever the order of the records and however often one appears, and
 * compaction removes a record only after a file holding its effect (the new base) is durably in
 * place; so a crash at any point leaves files that replay to the same state: before the rename,
 * the old base and the segments; after it, the new base, plus the folded segments again until
 * they are unlinked, which folds to the same thing.
 *
 * The base holds one record per settled or dropped payment (what the ledger and the accepted ids
 * need) and, per payment still unsettled, its accepted record and its last attempt (sequence
 * kept, so it still orders against attempts in segments not folded yet).
 *
 * Memory: segments are folded into a PaymentTable (per payment seen there), then the base is
 * streamed: a terminal payment of the base not seen in a segment goes straight out (to the
 * ledger at replay, to the new base in compaction), without a table entry; every base payment
 * is there once, compaction writes each payment once. Files are read in 64 KB chunks.
 */
export { BASE_FILE, journalFiles } from './segments.ts';
/** The stream of the HTTP thread's writer (accepted payments). */
export const ACCEPTED_FILE = 'accepted.jnl';
/** The stream of payment worker `index` (its attempts and settlements). */
export const workerFile = (index: number) => `worker-${index}.jnl`;

export interface UnsettledEntry {
  id: Uint32Array;
  cents: number;
  acceptedAt: number;
  /** -1, or the processor the last call went to. */
  doubtAt: number;
  doubtRequestedAt: number;
}

/** Receives the terminal payments of a replay. `id` is valid only during the call. */
export interface ReplaySink {
  settled(id: Uint32Array, processor: number, requestedAt: number, cents: number): void;
  dropped(id: Uint32Array): void;
}

export interface Replayed {
  unsettled: UnsettledEntry[];
  settled: number;
  dropped: number;
  records: number;
  /** Damaged stretches (a write torn by power loss, a partial write left behind): skipped. */
  torn: number;
  /** The largest sequence number in the journal: writers must number their records past it. */
  lastSequence: number;
}

type OnFrame = (kind: RecordKind, processor: number, a: number, b: number, c: number, d: number, cents: number, at: number, sequence: number) => void;

const CHUNK_BYTES = 1 << 16;

/**
 * Reads one journal file a chunk at a time and hands over every whole frame. Current frames are
 * found at any byte offset, so a damaged stretch costs only the records in it; version-1 frames
 * only on the file's 48-byte grid (see record.ts).
 */
class FrameReader {
  private readonly buffer = new Uint8Array(CHUNK_BYTES + RECORD_BYTES);
  private readonly view = new DataView(this.buffer.buffer);
  private fd: number | null;
  /** File offset of buffer[0]. */
  private start = 0;
  private filled = 0;
  private inGap = false;
  records = 0;
  torn = 0;
  /** The largest sequence number read. */
  lastSequence = 0;

  constructor(path: string) {
    try {
      this.fd = openSync(path, constants.O_RDONLY);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.fd = null; // gone since it was listed (compaction, purge)
    }
  }

  /** Reads one chunk and hands over its frames; false once the file is done. */
  step(onFrame: OnFrame): boolean {
    if (this.fd === null) return false;
    const { buffer, view } = this;
    const read = readSync(this.fd, buffer, this.filled, buffer.length - this.filled, this.start + this.filled);
    if (read === 0) {
      if (this.filled > 0 && !this.inGap) this.torn++;
      closeSync(this.fd);
      this.fd = null;
      return false;
    }
    this.filled += read;
    let at = 0;
    while (at + RECORD_BYTES <= this.filled) {
      const version = frameVersion(view, buffer, at);
      if (version === 2 || (version === 1 && (this.start + at) % RECORD_BYTES === 0)) {
        this.records++;
        this.inGap = false;
        const sequence = view.getFloat64(at + 40, true);
        if (sequence > this.lastSequence) this.lastSequence = sequence;
        onFrame(
          buffer[at],
          buffer[at + 1],
          view.getUint32(at + 8, true),
          view.getUint32(at + 12, true),
          view.getUint32(at + 16, true),
          view.getUint32(at + 20, true),
          view.getFloat64(at + 24, true),
          view.getFloat64(at + 32, true),
          sequence,
        );
        at += RECORD_BYTES;
      } else {
        if (!this.inGap) this.torn++;
        this.inGap = true;
        at++;
      }
    }
    buffer.copyWithin(0, at, this.filled);
    this.start += at;
    this.filled -= at;
    return true;
  }
}

/**
 * Folds segments into a table, then streams the base: a base payment the segments know joins
 * its table entry, a terminal one they do not goes to `direct`, an unsettled one to the table.
 * One chunk per `step`, so compaction can run in slices.
 */
class FoldJob {
  readonly table: PaymentTable;
  records = 0;
  torn = 0;
  lastSequence = 0;
  private index = 0;
  private reader: FrameReader | null = null;
  private readonly intoTable: OnFrame;
  private readonly fromBase: OnFrame;

  constructor(
    private readonly segments: string[],
    private readonly base: string | null,
    direct: OnFrame,
    expectedPayments: number,
  ) {
    const table = new PaymentTable(expectedPayments * 2);
    this.table = table;
    this.intoTable = (kind, processor, a, b, c, d, cents, at, sequence) => table.apply(kind, processor, a, b, c, d, cents, at, sequence);
    this.fromBase = (kind, processor, a, b, c, d, cents, at, sequence) => {
      const slot = table.find(a, b, c, d);
      if (slot >= 0) table.applyAt(slot, kind, processor, cents, at, sequence);
      else if (kind === RecordKind.Settled || kind === RecordKind.Dropped) direct(kind, processor, a, b, c, d, cents, at, sequence);
      else table.apply(kind, processor, a, b, c, d, cents, at, sequence);
    };
  }

  /** Folds one chunk; false once every file is read. */
  step(): boolean {
    const files = this.base === null ? this.segments.length : this.segments.length + 1;
    if (this.index >= files) return false;
    const inBase = this.index === this.segments.length;
    this.reader ??= new FrameReader(inBase ? this.base! : this.segments[this.index]);
    if (!this.reader.step(inBase ? this.fromBase : this.intoTable)) {
      this.records += this.reader.records;
      this.torn += this.reader.torn;
      this.lastSequence = Math.max(this.lastSequence, this.reader.lastSequence);
      this.reader = null;
      this.index++;
    }
    return true;
  }
}

/**
 * Replays every file of the journal in `dir`: terminal payments go to `sink` as they are found
 * (settled ones rebuild the ledger, all of them the accepted ids), unsettled ones come back,
 * oldest first, to be queued again; one whose last call may have reached a processor goes back to
 * that processor only, with the same requestedAt, so a 422 settles it as ours and nothing is paid
 * twice. Reads only: it needs no disk space.
 */
export function replayJournal(dir: string, sink: ReplaySink): Replayed {
  const segments = listSegments(dir);
  const base = journalFiles(dir).find((file) => file.endsWith(`/${BASE_FILE}`)) ?? null;
  const id = new Uint32Array(4);
  let settled = 0;
  let dropped = 0;
  const terminal = (kind: RecordKind, processor: number, a: number, b: number, c: number, d: number, cents: number, at: number) => {
    id[0] = a;
    id[1] = b;
    id[2] = c;
    id[3] = d;
    if (kind === RecordKind.Settled) {
      settled++;
      sink.settled(id, processor, at, cents);
    } else {
      dropped++;
      sink.dropped(id);
    }
  };
  const segmentBytes = segments.reduce((sum, segment) => sum + segment.bytes, 0);
  const job = new FoldJob(
    segments.map((segment) => segment.path),
    base,
    terminal,
    Math.ceil(segmentBytes / RECORD_BYTES / 2),
  );
  while (job.step());
  const { table } = job;
  const unsettled: UnsettledEntry[] = [];
  for (let slot = 0; slot < table.slots; slot++) {
    const flags = table.flags[slot];
    if (flags === 0) continue;
    if ((flags & (SETTLED | DROPPED)) !== 0) {
      terminal(
        flags & SETTLED ? RecordKind.Settled : RecordKind.Dropped,
        table.processor[slot],
        table.key(slot, 0),
        table.key(slot, 1),
        table.key(slot, 2),
        table.key(slot, 3),
        table.cents[slot],
        table.at[slot],
      );
      continue;
    }
    const attempted = (flags & ATTEMPTED) !== 0;
    unsettled.push({
      id: Uint32Array.of(table.key(slot, 0), table.key(slot, 1), table.key(slot, 2), table.key(slot, 3)),
      cents: table.cents[slot],
      acceptedAt: flags & ACCEPTED ? table.acceptedAt[slot] : table.at[slot],
      doubtAt: attempted ? table.processor[slot] : -1,
      doubtRequestedAt: attempted ? table.at[slot] : 0,
    });
  }
  unsettled.sort((a, b) => a.acceptedAt - b.acceptedAt);
  return { unsettled, settled, dropped, records: job.records, torn: job.torn, lastSequence: job.lastSequence };
}

export interface CompactionOptions {
  /** Checked before the new base replaces the old one: true (a purge happened) drops the result. */
  aborted(): boolean;
  /** Awaited between slices (a chunk read or written), to let the thread serve requests. */
  pause(): Promise<void>;
}

export interface Compacted {
  /** False when `aborted` said so: nothing was changed. */
  done: boolean;
  records: number;
  torn: number;
  baseBytes: number;
}

const TABLE_SLICE = 4096;

/**
 * Folds `segments` (closed: no writer appends to them any more) and the base into a new base,
 * then unlinks those segments. Crash-safe at every point (see the top of this file). When the
 * new base cannot be written (disk full), its partial file is removed and it throws: the journal
 * is as it was, and replay still reads it.
 */
export async function compactJournal(dir: string, segments: string[], options: CompactionOptions): Promise<Compacted> {
  const base = join(dir, BASE_FILE);
  const temporary = join(dir, BASE_TEMPORARY);
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  const out = new Uint8Array(CHUNK_BYTES - (CHUNK_BYTES % RECORD_BYTES));
  const frame = new RecordFrame();
  let used = 0;
  let baseBytes = 0;
  const spill = () => {
    for (let done = 0; done < used; ) {
      const written = writeSync(fd, out, done, used - done);
      if (written === 0) throw new Error(`no progress writing ${temporary}`);
      done += written;
    }
    baseBytes += used;
    used = 0;
  };
  const emit: OnFrame = (kind, processor, a, b, c, d, cents, at, sequence) => {
    out.set(frame.fillWords(kind, processor, a, b, c, d, cents, at, sequence), used);
    used += RECORD_BYTES;
    if (used === out.length) spill();
  };
  let closed = false;
  try {
    const job = new FoldJob(segments, journalFiles(dir).includes(base) ? base : null, emit, 1 << 12);
    while (job.step()) await options.pause();
    const { table } = job;
    for (let slot = 0; slot < table.slots; slot++) {
      const flags = table.flags[slot];
      if (flags === 0) continue;
      const a = table.key(slot, 0);
      const b = table.key(slot, 1);
      const c = table.key(slot, 2);
      const d = table.key(slot, 3);
      const cents = table.cents[slot];
      if (flags & SETTLED) emit(RecordKind.Settled, table.processor[slot], a, b, c, d, cents, table.at[slot], table.sequence[slot]);
      else if (flags & DROPPED) emit(RecordKind.Dropped, table.processor[slot], a, b, c, d, cents, table.at[slot], table.sequence[slot]);
      else {
        if (flags & ACCEPTED) emit(RecordKind.Accepted, 0, a, b, c, d, cents, table.acceptedAt[slot], 0);
        if (flags & ATTEMPTED) emit(RecordKind.Attempt, table.processor[slot], a, b, c, d, cents, table.at[slot], table.sequence[slot]);
      }
      if (slot % TABLE_SLICE === TABLE_SLICE - 1) await options.pause();
    }
    spill();
    // On the thread pool: a flush to disk can take milliseconds, which the HTTP thread must not wait out.
    await fsyncInBackground(fd);
    closeSync(fd);
    closed = true;
    // From the check to the unlinks, nothing awaits: a purge cannot come in between.
    if (options.aborted()) {
      unlinkSync(temporary);
      return { done: false, records: job.records, torn: job.torn, baseBytes: 0 };
    }
    renameSync(temporary, base);
    syncDirectory(dir);
    for (const segment of segments) unlinkSync(segment);
    return { done: true, records: job.records, torn: job.torn, baseBytes };
  } catch (error) {
    if (!closed) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // already renamed, or never created
    }
    throw error;
  }
}

const fsyncInBackground = promisify(fsync);

function syncDirectory(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Removes what a compaction interrupted by a crash left (frees space; needs none). */
export function removeTemporary(dir: string): void {
  try {
    unlinkSync(join(dir, BASE_TEMPORARY));
  } catch {
    // none
  }
}

/** Empties every journal file (purge). Writers in O_APPEND mode carry on at the new end. */
export function truncateJournal(dir: string): void {
  for (const file of journalFiles(dir)) truncateSync(file, 0);
}
