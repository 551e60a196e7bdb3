import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync, constants } from 'node:fs';
import { RecordFrame, type RecordKind } from './record.ts';

/**
 * Appends records to one journal file, owned by one thread. Each append is a single write(2) of
 * 48 bytes in O_APPEND mode: once it returns, the record is in the kernel's page cache and
 * survives a crash or kill -9 of the process. Power loss is covered only by fsync, which runs
 * every `fsyncIntervalMs` when that is > 0 (off by default: it costs a disk flush per interval).
 */
export class JournalWriter {
  private readonly fd: number;
  private readonly frame = new RecordFrame();
  private readonly fsyncTimer: ReturnType<typeof setInterval> | null = null;
  private dirty = false;
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
    const bytes = this.frame.fill(kind, processor, id, idIndex, cents, at, Date.now());
    const written = writeSync(this.fd, bytes);
    if (written !== bytes.length) throw new Error(`short journal write to ${this.path} (${written} of ${bytes.length} bytes)`);
    this.bytesWritten += written;
    this.dirty = true;
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
    this.sync();
    closeSync(this.fd);
  }
}
