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
 *   runs: offset, count, first and last requestedAt of each run (memory: 32 bytes a run, i.e.
 *         per 4096 payments)
 *   minutes: sorted minute numbers, and per processor the count and cents of each (cents exact
 *         while below 2^53; a minute past that keeps the excess as a BigInt aside)
 *
 * A window [from, to] is the whole minutes inside it, from `minutes`, plus at most two ragged
 * pieces of less than a minute at its ends, read from the runs that overlap them (a run's first
 * and last requestedAt say which; each is read in one pread and searched by bisection). Memory
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
    return this.runOffset.length * 32 + this.minutes.length * 40 + this.order.byteLength + this.run.byteLength + this.readBuffer.byteLength;
  }

  /**
   * Folds entries [first, last) of a ledger block: requestedAt at f64[ats + i], cents at
   * f64[cents + i], processor + 1 at i32[codes + i]. Every entry is published (the block is sealed).
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
    let minute = Number.NaN;
    const count = [0, 0];
    const sum = [0, 0];
    for (let k = 0; k < n; k++) {
      const i = order[k];
      const at = f64[ats + i];
      const processor = i32[codes + i] - 1;
      const entryCents = f64[cents + i];
      run[2 * k] = at;
      run[2 * k + 1] = entryCents * 2 + processor;
      const entryMinute = Math.floor(at / MINUTE_MS);
      if (entryMinute !== minute) {
        this.addMinute(minute, count, sum);
        minute = entryMinute;
      }
      count[processor]++;
      // At most 4096 entries of at most 10^12 cents: below 2^53, exact.
      sum[processor] += entryCents;
    }
    this.addMinute(minute, count, sum);
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
    this.fileBytes += bytes.length;
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
    if (Number.isNaN(minute)) return;
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
      count[p] = 0;
      sum[p] = 0;
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

  /** Adds the folded entries dated in [low, high] (or [low, high) when `highIncluded` is false). */
  private addEntries(sums: readonly [ExactSum, ExactSum], low: number, high: number, highIncluded: boolean): void {
    for (let r = 0; r < this.runCount.length; r++) {
      if (this.runLast[r] < low || this.runFirst[r] > high || (!highIncluded && this.runFirst[r] === high)) continue;
      const run = this.readRun(r);
      const n = this.runCount[r];
      // First entry dated at or after `low` (the run is sorted by requestedAt).
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (run[2 * mid] < low) lo = mid + 1;
        else hi = mid;
      }
      const count = [0, 0];
      const sum = [0, 0];
      for (let k = lo; k < n; k++) {
        const at = run[2 * k];
        if (at > high || (!highIncluded && at === high)) break;
        const value = run[2 * k + 1];
        const processor = value % 2;
        count[processor]++;
        sum[processor] += (value - processor) / 2;
      }
      for (const p of [DEFAULT, FALLBACK]) sums[p].add(count[p], sum[p]);
    }
  }

  private readRun(r: number): Float64Array {
    const n = this.runCount[r];
    if (this.readBuffer.length < n * 2) this.readBuffer = new Float64Array(n * 2);
    const bytes = new Uint8Array(this.readBuffer.buffer, 0, n * ENTRY_BYTES);
    for (let done = 0; done < bytes.length; ) {
      const read = readSync(this.fd, bytes, done, bytes.length - done, this.runOffset[r] + done);
      if (read === 0) throw new Error(`${this.path} is shorter than its runs`);
      done += read;
    }
    return this.readBuffer;
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
