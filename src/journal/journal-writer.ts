import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync, constants } from 'node:fs';
import { RECORD_BYTES, RecordFrame, type RecordKind } from './record.ts';

/**
 * Appends records to one journal file, owned by one thread, in O_APPEND mode: once a write(2)
 * returns, its records are in the kernel's page cache and survive a crash or kill -9 of the
 * process. Power loss is covered only by fsync, which runs every `fsyncIntervalMs` when that is
 * > 0 (off by default: it costs a disk flush per interval).
 *
 * `append` writes one record at once. `stage` only queues it, and `flush` writes everything
 * staged in one write(2): a payment worker stages the records of a whole pump (the attempts it is
 * about to send, the settlements it just recorded) and flushes once before any call leaves.
 */
export class JournalWriter {
  private readonly fd: number;
  private readonly frame = new RecordFrame();
  private readonly fsyncTimer: ReturnType<typeof setInterval> | null = null;
  private dirty = false;
  private staged = new Uint8Array(RECORD_BYTES * 64);
  private stagedBytes = 0;
  bytesWritten = 0;

  constructor(
    readonly path: string,
    fsyncIntervalMs: number,
  ) {
    this.fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    if (fsyncIntervalMs > 0) {
      this.fsyncTimer = setInterval(() => this.sync(), fsyncIntervalMs);
      this.fsyncTimer.unref?.();
    }
  }

  /** Throws when the record could not be written (disk full, I/O error). */
  append(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number): void {
    this.stage(kind, processor, id, idIndex, cents, at);
    this.flush();
  }

  /** Queues a record for the next `flush`. */
  stage(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number): void {
    if (this.stagedBytes + RECORD_BYTES > this.staged.length) {
      const larger = new Uint8Array(this.staged.length * 2);
      larger.set(this.staged.subarray(0, this.stagedBytes));
      this.staged = larger;
    }
    this.staged.set(this.frame.fill(kind, processor, id, idIndex, cents, at, Date.now()), this.stagedBytes);
    this.stagedBytes += RECORD_BYTES;
  }

  /** Writes every staged record in one write(2); throws when they could not all be written (they are dropped). */
  flush(): void {
    const length = this.stagedBytes;
    if (length === 0) return;
    this.stagedBytes = 0;
    const written = writeSync(this.fd, this.staged, 0, length);
    this.bytesWritten += written;
    this.dirty = true;
    if (written !== length) throw new Error(`short journal write to ${this.path} (${written} of ${length} bytes)`);
  }

  sync(): void {
    if (!this.dirty) return;
    this.dirty = false;
    fsyncSync(this.fd);
  }

  /** Empties the file (purge). Appends from other descriptors in O_APPEND mode continue at the new end. */
  truncate(): void {
    ftruncateSync(this.fd, 0);
    this.bytesWritten = 0;
  }

  close(): void {
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    this.flush();
    this.sync();
    closeSync(this.fd);
  }
}
