import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT, FALLBACK } from '../domain/processors.ts';
import type { ExactSum } from './shared-ledger.ts';

/**
 * The settled payments the shared ledger no longer holds in memory: exact per-minute totals per
 * processor in memory, and every entry on disk, so that the millisecond edges of a window are
 * answered exactly too.
 *
 *   file: runs, one per folded block, each sorted by requestedAt, 16 bytes an entry:
 *         [ requestedAt f64 | cents × 2 + processor f64 ]          (exact: cents < 2^52)
 *   runs: offset, count, first and last requestedAt of each run, and where each minute it holds
 *         starts in it (memory: ~32 bytes a run plus 16 a minute of it: a run of 4096 payments
 *         holds a few minutes, and a payment found late adds its own)
 *   minutes: sorted minute numbers, and per processor the count and cents of each (cents exact
 *         while below 2^53; a minute past that keeps the excess as a BigInt aside)
 *
 * A window [from, to] is the whole minutes inside it, from `minutes`, plus at most two ragged
 * pieces of less than a minute at its ends, read from the runs that hold entries in their minutes
 * (one pread of just those minutes' entries per such run). Memory
 * grows with the minutes that hold payments (~56 bytes a minute: 2.4 MB for a month) and the
 * runs, not with the payments. The file is derived state: the journal's replay rebuilds it, so it
 * starts empty.
 *
 * Only the HTTP thread uses it: it folds and sums, one after the other, never at once.
 */
const ENTRY_BYTES = 16;
const MINUTE_MS = 60_000;

export class LedgerArchive {
  private readonly fd: number;
  private fileBytes = 0;
  private runOffset: number[] = [];
  private runCount: number[] = [];
  private runFirst: number[] = [];
  private runLast: number[] = [];
  /** Per run: [minute, index of its first entry in the run] for each minute it holds, ascending. */
  private runMinutes: Float64Array[] = [];
  private minutes: number[] = [];
  private readonly minuteCounts: [number[], number[]] = [[], []];
  private readonly minuteCents: [number[], number[]] = [[], []];
  /** minute × 2 + processor → cents that did not fit below 2^53 in `minuteCents`. */
  private readonly overflow = new Map<number, bigint>();
  private order = new Uint32Array(0);
  private run = new Float64Array(0);
  private readBuffer = new Float64Array(0);

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o600);
  }

  /** Payments folded since the last clear. */
  get entries(): number {
    return this.fileBytes / ENTRY_BYTES;
  }

  /** Bytes of memory held for the runs and minutes (the file aside). */
  get memoryBytes(): number {
    let runMinutes = 0;
    for (const starts of this.runMinutes) runMinutes += starts.byteLength;
    return this.runOffset.length * 32 + runMinutes + this.minutes.length * 40 + this.order.byteLength + this.run.byteLength + this.readBuffer.byteLength;
  }

  /**
   * Folds entries [first, last) of a ledger block: requestedAt at f64[ats + i], cents at
   * f64[cents + i], processor + 1 at i32[codes + i]. Every entry is published (the block is sealed).
   * All or nothing: when the write fails it throws and nothing is counted (the caller keeps the
   * block and tries again later).
   */
  fold(f64: Float64Array, ats: number, cents: number, i32: Int32Array, codes: number, first: number, last: number): void {
    const n = last - first;
    if (n <= 0) return;
    if (this.order.length < n) {
      this.order = new Uint32Array(n);
      this.run = new Float64Array(n * 2);
    }
    const order = this.order.subarray(0, n);
    for (let i = 0; i < n; i++) order[i] = first + i;
    order.sort((x, y) => f64[ats + x] - f64[ats + y]);
    const run = this.run;
    // Per minute of the run: [minute, default count, fallback count, default cents, fallback cents],
    // counted only once the run is written; and where each minute starts in the run.
    const perMinute: number[] = [];
    const starts: number[] = [];
    let minute = Number.NaN;
    const count = [0, 0];
    const sum = [0, 0];
    const closeMinute = () => {
      if (!Number.isNaN(minute)) perMinute.push(minute, count[DEFAULT], count[FALLBACK], sum[DEFAULT], sum[FALLBACK]);
      count[DEFAULT] = count[FALLBACK] = sum[DEFAULT] = sum[FALLBACK] = 0;
    };
    for (let k = 0; k < n; k++) {
      const i = order[k];
      const at = f64[ats + i];
      const processor = i32[codes + i] - 1;
      const entryCents = f64[cents + i];
      run[2 * k] = at;
      run[2 * k + 1] = entryCents * 2 + processor;
      const entryMinute = Math.floor(at / MINUTE_MS);
      if (entryMinute !== minute) {
        closeMinute();
        minute = entryMinute;
        starts.push(minute, k);
      }
      count[processor]++;
      // At most 4096 entries of at most 10^12 cents: below 2^53, exact.
      sum[processor] += entryCents;
    }
    closeMinute();
    const bytes = new Uint8Array(run.buffer, 0, n * ENTRY_BYTES);
    for (let done = 0; done < bytes.length; ) {
      const written = writeSync(this.fd, bytes, done, bytes.length - done, this.fileBytes + done);
      if (written === 0) throw new Error(`no progress writing ${this.path}`);
      done += written;
    }
    this.runOffset.push(this.fileBytes);
    this.runCount.push(n);
    this.runFirst.push(run[0]);
    this.runLast.push(run[2 * (n - 1)]);
    this.runMinutes.push(Float64Array.from(starts));
    this.fileBytes += bytes.length;
    for (let m = 0; m < perMinute.length; m += 5) this.addMinute(perMinute[m], perMinute.slice(m + 1, m + 3), perMinute.slice(m + 3, m + 5));
  }

  /** Adds what was folded into [from, to] (inclusive; infinite for an open bound) to `sums`. */
  addTotals(sums: readonly [ExactSum, ExactSum], from: number, to: number): void {
    if (this.runCount.length === 0) return;
    // Minutes m with [m·60000, (m+1)·60000) inside [from, to].
    const firstWhole = from === -Infinity ? -Infinity : Math.ceil(from / MINUTE_MS);
    const lastWhole = to === Infinity ? Infinity : Math.floor(to / MINUTE_MS) - 1;
    if (firstWhole > lastWhole) {
      this.addEntries(sums, from, to, true);
      return;
    }
    this.addMinutes(sums, firstWhole, lastWhole);
    if (from !== -Infinity && from < firstWhole * MINUTE_MS) this.addEntries(sums, from, firstWhole * MINUTE_MS, false);
    if (to !== Infinity) this.addEntries(sums, (lastWhole + 1) * MINUTE_MS, to, true);
  }

  /** Forgets everything (purge). */
  clear(): void {
    ftruncateSync(this.fd, 0);
    this.fileBytes = 0;
    this.runOffset = [];
    this.runCount = [];
    this.runFirst = [];
    this.runLast = [];
    this.runMinutes = [];
    this.minutes = [];
    for (const p of [DEFAULT, FALLBACK]) {
      this.minuteCounts[p] = [];
      this.minuteCents[p] = [];
    }
    this.overflow.clear();
  }

  close(): void {
    closeSync(this.fd);
  }

  private addMinute(minute: number, count: number[], sum: number[]): void {
    const minutes = this.minutes;
    let index = minutes.length - 1;
    if (index < 0 || minutes[index] !== minute) {
      index = lowerBound(minutes, minute);
      if (minutes[index] !== minute) {
        minutes.splice(index, 0, minute);
        for (const p of [DEFAULT, FALLBACK]) {
          this.minuteCounts[p].splice(index, 0, 0);
          this.minuteCents[p].splice(index, 0, 0);
        }
      }
    }
    for (const p of [DEFAULT, FALLBACK]) {
      this.minuteCounts[p][index] += count[p];
      const total = this.minuteCents[p][index] + sum[p];
      // Rounding is monotonic: a true sum of 2^53 or more never rounds below 2^53.
      if (total > Number.MAX_SAFE_INTEGER) {
        const key = minute * 2 + p;
        this.overflow.set(key, (this.overflow.get(key) ?? 0n) + BigInt(this.minuteCents[p][index]));
        this.minuteCents[p][index] = sum[p];
      } else {
        this.minuteCents[p][index] = total;
      }
    }
  }

  private addMinutes(sums: readonly [ExactSum, ExactSum], firstMinute: number, lastMinute: number): void {
    const minutes = this.minutes;
    for (const p of [DEFAULT, FALLBACK]) {
      const counts = this.minuteCounts[p];
      const cents = this.minuteCents[p];
      for (let i = lowerBound(minutes, firstMinute); i < minutes.length && minutes[i] <= lastMinute; i++) sums[p].add(counts[i], cents[i]);
    }
    for (const [key, cents] of this.overflow) {
      const minute = Math.floor(key / 2);
      if (minute >= firstMinute && minute <= lastMinute) sums[key - minute * 2].addBig(cents);
    }
  }

  /**
   * Adds the folded entries dated in [low, high] (or [low, high) when `highIncluded` is false),
   * a stretch of at most two minutes: from each run, only the entries of those minutes are read.
   */
  private addEntries(sums: readonly [ExactSum, ExactSum], low: number, high: number, highIncluded: boolean): void {
    const firstMinute = Math.floor(low / MINUTE_MS);
    const lastMinute = Math.floor(high / MINUTE_MS);
    for (let r = 0; r < this.runCount.length; r++) {
      if (this.runLast[r] < low || this.runFirst[r] > high) continue;
      const starts = this.runMinutes[r];
      const pairs = starts.length / 2;
      let m = 0;
      let hi = pairs;
      while (m < hi) {
        const mid = (m + hi) >>> 1;
        if (starts[2 * mid] < firstMinute) m = mid + 1;
        else hi = mid;
      }
      if (m === pairs || starts[2 * m] > lastMinute) continue;
      let end = m;
      while (end < pairs && starts[2 * end] <= lastMinute) end++;
      const first = starts[2 * m + 1];
      const entries = this.readEntries(r, first, end === pairs ? this.runCount[r] : starts[2 * end + 1]);
      const count = [0, 0];
      const sum = [0, 0];
      for (let k = 0; k < entries.length; k += 2) {
        const at = entries[k];
        if (at < low) continue;
        if (at > high || (!highIncluded && at === high)) break;
        const value = entries[k + 1];
        const processor = value % 2;
        count[processor]++;
        sum[processor] += (value - processor) / 2;
      }
      for (const p of [DEFAULT, FALLBACK]) sums[p].add(count[p], sum[p]);
    }
  }

  /** Entries [first, end) of run `r`, as [requestedAt, cents × 2 + processor] pairs. */
  private readEntries(r: number, first: number, end: number): Float64Array {
    const n = end - first;
    if (this.readBuffer.length < n * 2) this.readBuffer = new Float64Array(n * 2);
    const bytes = new Uint8Array(this.readBuffer.buffer, 0, n * ENTRY_BYTES);
    for (let done = 0; done < bytes.length; ) {
      const read = readSync(this.fd, bytes, done, bytes.length - done, this.runOffset[r] + first * ENTRY_BYTES + done);
      if (read === 0) throw new Error(`${this.path} is shorter than its runs`);
      done += read;
    }
    return this.readBuffer.subarray(0, n * 2);
  }
}

/** The first index of sorted `values` holding a value ≥ `value`. */
function lowerBound(values: number[], value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
