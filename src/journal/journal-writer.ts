import { closeSync, fsyncSync, fstatSync, ftruncateSync, openSync, writeSync, constants } from 'node:fs';
import { RECORD_BYTES, RecordFrame, type RecordKind } from './record.ts';
import { listSegments, segmentPath, streamOf } from './segments.ts';
import { threadSequence, type JournalSequence } from './sequence.ts';

/** write(2) as `writeSync` does it: returns how many bytes it wrote, or throws. Replaced by tests to inject short writes. */
export type WriteFn = (fd: number, buffer: Uint8Array, offset: number, length: number) => number;

export interface WriterOptions {
  /** Start a new segment once the current one holds this much. */
  segmentBytes?: number;
  write?: WriteFn;
  /** Numbers the records: the instance's one sequence, shared by all its writers (see sequence.ts). */
  sequence?: JournalSequence;
}

export const DEFAULT_SEGMENT_BYTES = 4 << 20;

/**
 * Appends records to one journal stream, owned by one thread, in O_APPEND mode: once a write(2)
 * returns, its records are in the kernel's page cache and survive a crash or kill -9 of the
 * process. Power loss is covered only by fsync, which runs every `fsyncIntervalMs` when that is
 * > 0 (off by default: it costs a disk flush per interval).
 *
 * `path` names the stream (`dir/worker-1.jnl`); records go to its segment files
 * (`dir/worker-1.<seq>.jnl`, see segments.ts), a new one past `segmentBytes`, so compaction can
 * fold the closed ones while this writer carries on.
 *
 * `append` writes one record at once. `stage` only queues it, and `flush` writes everything
 * staged in one write(2): a payment worker stages the records of a whole pump (the attempts it is
 * about to send, the settlements it just recorded) and flushes once before any call leaves.
 *
 * A failed or short write never damages later records: the writer cuts its file back to where
 * the failed write began (it is the file's only writer), so the file stays a whole number of
 * frames. When even that fails, every later write is refused until the file is repaired or a new
 * segment could be started.
 */
export class JournalWriter {
  private fd: number;
  private readonly dir: string;
  private readonly stream: string;
  private seq: number;
  private readonly segmentLimit: number;
  private readonly write: WriteFn;
  private readonly sequence: JournalSequence;
  private readonly frame = new RecordFrame();
  private readonly fsyncTimer: ReturnType<typeof setInterval> | null = null;
  private dirty = false;
  private closed = false;
  /** Bytes of a failed write still at the end of the file (cutting them off failed), or -1. */
  private damagedTail = -1;
  private segmentBytes = 0;
  private staged = new Uint8Array(RECORD_BYTES * 64);
  private stagedBytes = 0;
  bytesWritten = 0;

  constructor(streamPath: string, fsyncIntervalMs: number, options: WriterOptions = {}) {
    ({ dir: this.dir, stream: this.stream } = streamOf(streamPath));
    this.segmentLimit = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.write = options.write ?? writeSync;
    this.sequence = options.sequence ?? threadSequence;
    // Always a new segment: a file of an earlier process may end in a torn frame.
    const newest = listSegments(this.dir)
      .filter((segment) => segment.stream === this.stream)
      .reduce((max, segment) => Math.max(max, segment.seq), 0);
    [this.fd, this.seq] = this.openAfter(newest);
    if (fsyncIntervalMs > 0) {
      this.fsyncTimer = setInterval(() => this.sync(), fsyncIntervalMs);
      this.fsyncTimer.unref?.();
    }
  }

  /** The segment being written. */
  get path(): string {
    return segmentPath(this.dir, this.stream, this.seq);
  }

  /** Throws when the record could not be written (disk full, I/O error): then it is not in the journal. */
  append(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number): void {
    this.stage(kind, processor, id, idIndex, cents, at);
    this.flush();
  }

  /** Queues a record for the next `flush`. */
  stage(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number): void {
    this.assertOpen();
    if (this.stagedBytes + RECORD_BYTES > this.staged.length) {
      const larger = new Uint8Array(this.staged.length * 2);
      larger.set(this.staged.subarray(0, this.stagedBytes));
      this.staged = larger;
    }
    this.staged.set(this.frame.fill(kind, processor, id, idIndex, cents, at, this.sequence.next()), this.stagedBytes);
    this.stagedBytes += RECORD_BYTES;
  }

  /**
   * Writes every staged record in one write(2), or none of them: when it throws, none of the
   * staged records is in the journal (they are discarded, the file is back on its last whole
   * frame), so the caller must not act on them (not send the calls whose attempts they were).
   */
  flush(): void {
    this.assertOpen();
    const length = this.stagedBytes;
    if (length === 0) return;
    this.stagedBytes = 0;
    if (this.damagedTail >= 0) this.repair();
    if (this.segmentBytes >= this.segmentLimit) this.roll();
    let written = 0;
    try {
      written = this.write(this.fd, this.staged, 0, length);
    } catch (error) {
      this.cutBack(0);
      throw error;
    }
    if (written !== length) {
      this.cutBack(written);
      throw new Error(`short journal write to ${this.path} (${written} of ${length} bytes): nothing of it kept`);
    }
    this.bytesWritten += length;
    this.segmentBytes += length;
    this.dirty = true;
  }

  sync(): void {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    try {
      this.flush();
      this.sync();
    } finally {
      this.closed = true;
      closeSync(this.fd);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`journal writer for ${this.path} is closed`);
  }

  /**
   * Removes the `tail` bytes a failed write left at the end of the file. The file's size is
   * read back rather than counted here: a purge may have emptied the file since.
   */
  private cutBack(tail: number): void {
    try {
      const size = fstatSync(this.fd).size;
      const whole = Math.max(0, size - tail);
      ftruncateSync(this.fd, whole - (whole % RECORD_BYTES));
      this.damagedTail = -1;
    } catch {
      this.damagedTail = tail;
    }
  }

  /** Before writing after a failed cut: cut again, or else leave the damaged file for a new segment. */
  private repair(): void {
    this.cutBack(this.damagedTail);
    if (this.damagedTail >= 0 && !this.roll()) {
      throw new Error(`journal file ${this.path} ends in a partial write that could not be removed; not writing after it`);
    }
  }

  /** Moves on to a new segment; false (still on the current one) when it cannot be created. */
  private roll(): boolean {
    let next: [number, number];
    try {
      next = this.openAfter(this.seq);
    } catch {
      return false; // e.g. no inode left: the current segment keeps growing
    }
    if (this.fsyncTimer && this.dirty) fsyncSync(this.fd);
    closeSync(this.fd);
    [this.fd, this.seq] = next;
    this.segmentBytes = 0;
    this.damagedTail = -1;
    this.dirty = false;
    return true;
  }

  /** Creates the first free segment after `seq` (O_EXCL: never appends to a file of another writer). */
  private openAfter(seq: number): [number, number] {
    for (let candidate = seq + 1; ; candidate++) {
      try {
        const fd = openSync(
          segmentPath(this.dir, this.stream, candidate),
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL,
          0o600,
        );
        return [fd, candidate];
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  }
}
