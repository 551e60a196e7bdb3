import { DEFAULT, FALLBACK, type ProcessorIndex } from '../domain/processors.ts';
import { type ProcessorTotals, type Totals, type Window } from './ledger.ts';
import type { LedgerArchive } from './ledger-archive.ts';

/**
 * Append-only record of settled payments on SharedArrayBuffers: payment workers append, the HTTP
 * thread sums for summaries, nobody locks.
 *
 * control (Int32): [claimed, purgedBelow, sealedBelow, recycledBelow]
 *   claimed        next entry number to hand out (compare-and-swap within the limit below); never
 *                  goes back, so no entry is written twice
 *   purgedBelow    entries below it are forgotten; a purge raises it to `claimed`
 *   sealedBelow    every block below it is sealed (see below): one load instead of one per block
 *   recycledBelow  blocks below it were folded into the archive (or purged) and their memory
 *                  handed to later blocks
 *
 * Entry numbers grow forever; memory does not. Block b (entries b·4096 …) lives in ring slot
 * b mod ringBlocks, ringBlocks = ceil(capacity / 4096) + 1. A writer may claim entry e only while
 *   e < recycledBelow·4096 + ringBlocks·4096    (its ring slot holds no block still in use) and
 *   e < max(recycledBelow·4096, purgedBelow) + capacity,
 * so `capacity` bounds the entries held that are neither folded nor purged. The HTTP thread (the
 * only reader, see `totals`) folds the oldest sealed blocks into a LedgerArchive once more than
 * half the capacity is held, and recycles them; purged ones it recycles without folding. A summary
 * is the archive's totals plus the blocks from recycledBelow on: every entry is in exactly one of
 * the two, since folding and summing run on the same thread, one after the other.
 *
 * entries: one growable buffer of ringBlocks blocks of 4096 entries, grown (doubling, by whichever
 * thread needs room first) as entries arrive, so memory follows what was settled (20 bytes an
 * entry) up to the capacity, and no further:
 *
 *   block b  = [ code ×4096 (Int32) | requestedAt ×4096 (Float64) | cents ×4096 (Float64) ]
 *
 * blocks: one fixed buffer of 128-byte headers, one per ring slot, side by side so that a summary
 * walks them without touching the entries:
 *
 *   header = [ published, sealed, count ×2 | min at, max at, cents ×2 | low key, high key | block ]
 *              Int32 ×4                    Float64 ×4                 BigInt64 ×2          Int32
 *
 * `block` is the block the slot holds now: the sealed prefix advances over a slot only when it
 * holds the very block the prefix reached (not an older one sealed before it).
 *
 * Invariant (entry): all words of an entry lie in its block, and a writer touches the entry only
 * once the buffer covers the whole block. It widens the block's running keys to its requestedAt,
 * writes requestedAt and cents, then publishes with one Atomics.store of the code (1 default,
 * 2 fallback), then counts it in `published`:
 *
 *   claim slot ─▶ keys ∋ at ─▶ at, cents ─▶ Atomics.store(code) ─▶ Atomics.add(published)
 *
 * A reader that loads a non-zero code sees both words; 0 means not published yet (skipped). A
 * reader that loads the keys sees the requestedAt of every entry already published.
 *
 * Invariant (block): the writer that brings `published` to 4096 fills the summary (counts,
 * min/max requestedAt, exact cents per processor) from the entries, then sets `sealed` with one
 * Atomics.store. A reader uses a summary only once `sealed` is set; in an open block it skips the
 * block if the keys lie outside the window and otherwise loads each entry's code, so a summary
 * never skips or double-counts an entry. Entries arrive nearly in order of requestedAt, so most
 * blocks lie wholly inside or outside a window and are added or skipped whole; order only
 * affects speed: a block straddling a bound is read entry by entry.
 *
 * Purge: an append takes effect at its claim. A purge forgets every append that claimed its slot
 * before the purge read `claimed`, even one still writing (it publishes into the forgotten
 * region), and keeps every later one. It frees their capacity at once, and their memory once
 * their blocks are sealed (every claimed entry published: no writer still in them).
 *
 * Invariant (recycle): a block is recycled only once sealed; its codes are zeroed and its header
 * reset (holding its next block number) before recycledBelow is raised past it with one
 * Atomics.store, and a writer claims an entry of the next block in its slot only after loading
 * that store.
 *
 * Entry numbers are Int32: 2^31 settled payments between restarts (82 days at 300 a second).
 */
const CLAIMED = 0;
const PURGED_BELOW = 1;
const SEALED_BELOW = 2;
const RECYCLED_BELOW = 3;
const CONTROL_INTS = 4;

const BLOCK_SHIFT = 12;
const BLOCK_ENTRIES = 1 << BLOCK_SHIFT;
const BLOCK_BYTES = BLOCK_ENTRIES * (4 + 8 + 8);
// Offsets within a block, in units of the view that reads them.
const CODES = 0; // Int32
const AT = (BLOCK_ENTRIES * 4) / 8; // Float64
const CENTS = AT + BLOCK_ENTRIES; // Float64

const HEADER_BYTES = 128;
// Offsets within a header, in units of the view that reads them.
const PUBLISHED = 0; // Int32
const SEALED = 1; // Int32
const SUMMARY_COUNT = 2; // Int32, + processor index
const SUMMARY_MIN = 2; // Float64
const SUMMARY_MAX = 3; // Float64
const SUMMARY_CENTS = 4; // Float64, + processor index
const LOW_KEY = 6; // BigInt64, stored as KEY_TOP - key so that 0 (a fresh header) means "none yet"
const HIGH_KEY = 7; // BigInt64
const BLOCK_HELD = 16; // Int32: the block this ring slot holds

/**
 * requestedAt as a BigInt64 that Atomics can raise and lower: the bits of a positive double
 * order like the double. Non-positive times all map to 0: the map only has to never reverse an
 * order, so bounds stay bounds.
 */
const KEY_TOP = 0x7fff_ffff_ffff_ffffn;
const keyScratch = new Float64Array(1);
const keyBits = new BigInt64Array(keyScratch.buffer);
function keyOf(at: number): bigint {
  keyScratch[0] = at > 0 ? at : 0;
  return keyBits[0];
}

const INITIAL_ENTRIES = 1 << 16;

export interface LedgerBuffers {
  control: SharedArrayBuffer;
  blocks: SharedArrayBuffer;
  entries: SharedArrayBuffer;
}

export class SharedLedger {
  readonly buffers: LedgerBuffers;
  readonly capacity: number;
  private readonly ringBlocks: number;
  private readonly control: Int32Array;
  private readonly headerI32: Int32Array;
  private readonly headerF64: Float64Array;
  private readonly headerI64: BigInt64Array;
  // Fixed-length views of the first `viewBlocks` ring slots, renewed after a grow: reads through
  // them cost about half what length-tracking views cost (Bun 1.4). The buffer never shrinks.
  private i32 = new Int32Array(new SharedArrayBuffer(0));
  private f64 = new Float64Array(new SharedArrayBuffer(0));
  private viewBlocks = 0;
  /** Where folded blocks go; attached on the HTTP thread only (the one thread that folds and sums). */
  private archive: LedgerArchive | null = null;

  /** `initialEntries`: room allocated up front (rounded up to whole blocks). */
  static create(capacity: number, initialEntries = INITIAL_ENTRIES): SharedLedger {
    const ringBlocks = ringBlocksFor(capacity);
    const initialBlocks = Math.min(ringBlocks, Math.ceil(Math.min(capacity, initialEntries) / BLOCK_ENTRIES));
    const entries = new SharedArrayBuffer(initialBlocks * BLOCK_BYTES, { maxByteLength: ringBlocks * BLOCK_BYTES });
    const control = new SharedArrayBuffer(CONTROL_INTS * 4);
    const blocks = new SharedArrayBuffer(ringBlocks * HEADER_BYTES);
    const held = new Int32Array(blocks);
    for (let slot = 0; slot < ringBlocks; slot++) held[slot * (HEADER_BYTES / 4) + BLOCK_HELD] = slot;
    return new SharedLedger({ control, blocks, entries }, capacity);
  }

  constructor(buffers: LedgerBuffers, capacity: number) {
    this.buffers = buffers;
    this.capacity = capacity;
    this.ringBlocks = ringBlocksFor(capacity);
    this.control = new Int32Array(buffers.control);
    this.headerI32 = new Int32Array(buffers.blocks);
    this.headerF64 = new Float64Array(buffers.blocks);
    this.headerI64 = new BigInt64Array(buffers.blocks);
  }

  /**
   * On the HTTP thread: folds blocks into `archive` from now on, and sums with it. An append on
   * this thread (journal replay) that finds the ledger full folds first.
   */
  attachArchive(archive: LedgerArchive): void {
    this.archive = archive;
  }

  /** Entries appended since the last purge and not folded (including any still being written). */
  get count(): number {
    return this.claimed() - Math.max(Atomics.load(this.control, PURGED_BELOW), Atomics.load(this.control, RECYCLED_BELOW) * BLOCK_ENTRIES);
  }

  /** Appends that can still succeed before a fold or purge frees room. */
  get free(): number {
    return this.limit() - this.claimed();
  }

  /** Records one settled payment; false only when the ledger is full (and, on the HTTP thread, folding freed nothing). */
  append(processor: ProcessorIndex, requestedAtMs: number, cents: number): boolean {
    let entry = this.claim();
    if (entry < 0 && this.archive !== null) {
      try {
        this.fold(0);
      } catch {
        return false; // the archive cannot be written (disk full): as full as before
      }
      entry = this.claim();
    }
    if (entry < 0) return false;
    const block = entry >>> BLOCK_SHIFT;
    const slot = block % this.ringBlocks;
    if (slot >= this.viewBlocks) this.cover(slot + 1);
    const i = entry & (BLOCK_ENTRIES - 1);
    const f64Base = (slot * BLOCK_BYTES) / 8;
    const key = keyOf(requestedAtMs);
    this.raise(slot * (HEADER_BYTES / 8) + HIGH_KEY, key);
    this.raise(slot * (HEADER_BYTES / 8) + LOW_KEY, KEY_TOP - key);
    this.f64[f64Base + AT + i] = requestedAtMs;
    this.f64[f64Base + CENTS + i] = cents;
    Atomics.store(this.i32, f64Base * 2 + CODES + i, processor + 1);
    if (Atomics.add(this.headerI32, slot * (HEADER_BYTES / 4) + PUBLISHED, 1) === BLOCK_ENTRIES - 1) this.seal(block);
    return true;
  }

  /** The next entry number, or -1 when the limit is reached. */
  private claim(): number {
    for (let entry = Atomics.load(this.control, CLAIMED); ; ) {
      if (entry >= this.limit()) return -1;
      const seen = Atomics.compareExchange(this.control, CLAIMED, entry, entry + 1);
      if (seen === entry) return entry;
      entry = seen;
    }
  }

  /** Entries below this may be claimed (see the class comment). */
  private limit(): number {
    const recycled = Atomics.load(this.control, RECYCLED_BELOW) * BLOCK_ENTRIES;
    return Math.min(recycled + this.ringBlocks * BLOCK_ENTRIES, Math.max(recycled, Atomics.load(this.control, PURGED_BELOW)) + this.capacity);
  }

  /** Raises a header key to at least `value`. */
  private raise(index: number, value: bigint): void {
    for (let current = Atomics.load(this.headerI64, index); current < value; ) {
      const seen = Atomics.compareExchange(this.headerI64, index, current, value);
      if (seen === current) return;
      current = seen;
    }
  }

  /** Makes the buffer and this thread's views cover `slots` ring slots, growing the buffer (doubling) if no thread has yet. */
  private cover(slots: number): void {
    const buffer = this.buffers.entries;
    if (buffer.byteLength < slots * BLOCK_BYTES) {
      try {
        buffer.grow(Math.min(buffer.maxByteLength, Math.max(slots * BLOCK_BYTES, buffer.byteLength * 2)));
      } catch (error) {
        // A concurrent grow got there first: fine as long as the buffer now covers the slot.
        if (buffer.byteLength < slots * BLOCK_BYTES) throw error;
      }
    }
    this.view(Math.floor(buffer.byteLength / BLOCK_BYTES));
  }

  private view(slots: number): void {
    this.i32 = new Int32Array(this.buffers.entries, 0, (slots * BLOCK_BYTES) / 4);
    this.f64 = new Float64Array(this.buffers.entries, 0, (slots * BLOCK_BYTES) / 8);
    this.viewBlocks = slots;
  }

  /**
   * Called once per block, by the writer that published its last entry: every entry is visible.
   * A block whose amounts add up past 2^53 cents (4096 × the largest accepted amount is 4·10^15)
   * gets NaN bounds, which no window contains or excludes, so it is always read entry by entry.
   */
  private seal(block: number): void {
    const i32 = this.i32;
    const f64 = this.f64;
    const slot = block % this.ringBlocks;
    const codes = (slot * BLOCK_BYTES) / 4 + CODES;
    const ats = (slot * BLOCK_BYTES) / 8 + AT;
    const cents = ats + BLOCK_ENTRIES;
    let min = Infinity;
    let max = -Infinity;
    const counts = [0, 0];
    const sums = [0, 0];
    for (let i = 0; i < BLOCK_ENTRIES; i++) {
      const at = f64[ats + i];
      if (at < min) min = at;
      if (at > max) max = at;
      const p = i32[codes + i] - 1;
      counts[p]++;
      sums[p] += f64[cents + i];
    }
    // Partial sums of non-negative integers only grow: a final sum below 2^53 was exact all along.
    const exact = sums[DEFAULT] <= Number.MAX_SAFE_INTEGER && sums[FALLBACK] <= Number.MAX_SAFE_INTEGER;
    const headerF64 = (slot * HEADER_BYTES) / 8;
    const headerI32 = headerF64 * 2;
    for (const p of [DEFAULT, FALLBACK]) {
      this.headerI32[headerI32 + SUMMARY_COUNT + p] = counts[p];
      this.headerF64[headerF64 + SUMMARY_CENTS + p] = sums[p];
    }
    this.headerF64[headerF64 + SUMMARY_MIN] = exact ? min : NaN;
    this.headerF64[headerF64 + SUMMARY_MAX] = exact ? max : NaN;
    Atomics.store(this.headerI32, headerI32 + SEALED, 1);
    // Advance the sealed prefix over every block sealed in a row from it, whoever sealed them.
    // Seals are stored before this walk, so of two writers sealing neighbours, the later walk
    // sees both.
    for (let next = Atomics.load(this.control, SEALED_BELOW); this.isSealed(next); ) {
      const seen = Atomics.compareExchange(this.control, SEALED_BELOW, next, next + 1);
      next = seen === next ? next + 1 : seen;
    }
  }

  /** Whether block `block` is in its ring slot and sealed. */
  private isSealed(block: number): boolean {
    const header = (block % this.ringBlocks) * (HEADER_BYTES / 4);
    return Atomics.load(this.headerI32, header + BLOCK_HELD) === block && Atomics.load(this.headerI32, header + SEALED) === 1;
  }

  /**
   * On the HTTP thread: folds the oldest sealed blocks into the archive while more than
   * `keepEntries` are held (purged ones are recycled without folding), and recycles them.
   * Default: keeps half the capacity in memory, so recent windows are summed from memory.
   */
  fold(keepEntries = this.capacity / 2): number {
    const archive = this.archive;
    if (archive === null) throw new Error('fold needs an archive (attachArchive)');
    let folded = 0;
    for (;;) {
      const block = Atomics.load(this.control, RECYCLED_BELOW);
      if (block >= Atomics.load(this.control, SEALED_BELOW)) return folded;
      const start = block << BLOCK_SHIFT;
      const purged = Atomics.load(this.control, PURGED_BELOW);
      const first = Math.max(0, Math.min(BLOCK_ENTRIES, purged - start));
      if (first < BLOCK_ENTRIES) {
        if (this.claimed() - start <= keepEntries) return folded;
        const slot = block % this.ringBlocks;
        if (slot >= this.viewBlocks) this.cover(slot + 1);
        archive.fold(
          this.f64,
          (slot * BLOCK_BYTES) / 8 + AT,
          (slot * BLOCK_BYTES) / 8 + CENTS,
          this.i32,
          (slot * BLOCK_BYTES) / 4 + CODES,
          first,
          BLOCK_ENTRIES,
        );
        folded += BLOCK_ENTRIES - first;
      }
      this.recycle(block);
    }
  }

  /** Hands the ring slot of sealed block `block` to block + ringBlocks (see "Invariant (recycle)"). */
  private recycle(block: number): void {
    const slot = block % this.ringBlocks;
    if (slot < this.viewBlocks) this.i32.fill(0, (slot * BLOCK_BYTES) / 4 + CODES, (slot * BLOCK_BYTES) / 4 + CODES + BLOCK_ENTRIES);
    const header = slot * (HEADER_BYTES / 4);
    this.headerI32.fill(0, header, header + HEADER_BYTES / 4);
    this.headerI32[header + BLOCK_HELD] = block + this.ringBlocks;
    Atomics.store(this.control, RECYCLED_BELOW, block + 1);
  }

  totals(window: Window): Totals {
    const from = window.from ?? -Infinity;
    const to = window.to ?? Infinity;
    const start = Math.max(Atomics.load(this.control, PURGED_BELOW), Atomics.load(this.control, RECYCLED_BELOW) * BLOCK_ENTRIES);
    // One atomic load makes every header below it visible (each was sealed before it advanced).
    const sealedBelow = Atomics.load(this.control, SEALED_BELOW);
    const end = this.claimed();
    // A claimed entry whose ring slot the buffer does not cover yet is not published either.
    const covered = Math.floor(this.buffers.entries.byteLength / BLOCK_BYTES);
    if (covered > this.viewBlocks) this.view(covered);
    const headerI32 = this.headerI32;
    const headerF64 = this.headerF64;
    const fromKey = keyOf(from);
    const toKey = keyOf(to);
    const sums = [new ExactSum(), new ExactSum()] as const;
    this.archive?.addTotals(sums, from, to);
    for (let block = start >>> BLOCK_SHIFT; block << BLOCK_SHIFT < end; block++) {
      const slot = block % this.ringBlocks;
      if (slot >= covered) continue;
      const h = (slot * HEADER_BYTES) / 8; // in Float64 units; 2 * h in Int32 units
      const first = start > block << BLOCK_SHIFT ? start & (BLOCK_ENTRIES - 1) : 0;
      const last = Math.min(end - (block << BLOCK_SHIFT), BLOCK_ENTRIES);
      if (block >= sealedBelow && Atomics.load(headerI32, 2 * h + SEALED) === 0) {
        const outside = Atomics.load(this.headerI64, h + HIGH_KEY) < fromKey || KEY_TOP - Atomics.load(this.headerI64, h + LOW_KEY) > toKey;
        if (!outside) this.scanOpen(sums, block, first, last, from, to);
        continue;
      }
      const min = headerF64[h + SUMMARY_MIN];
      const max = headerF64[h + SUMMARY_MAX];
      if (max < from || min > to) continue;
      // The summary covers the whole block: usable only when no entry of it is purged or past `end`.
      if (min >= from && max <= to && first === 0 && last === BLOCK_ENTRIES) {
        sums[DEFAULT].add(headerI32[2 * h + SUMMARY_COUNT + DEFAULT], headerF64[h + SUMMARY_CENTS + DEFAULT]);
        sums[FALLBACK].add(headerI32[2 * h + SUMMARY_COUNT + FALLBACK], headerF64[h + SUMMARY_CENTS + FALLBACK]);
      } else {
        this.scanVisible(sums, block, first, last, from, to);
      }
    }
    return [sums[DEFAULT].totals(), sums[FALLBACK].totals()];
  }

  /**
   * Adds the published entries of an open block in [first, last) dated inside [from, to]. When
   * its `published` equals its claimed entries (loaded after it), every entry claimed by then was
   * published, and visible through that load: they are read plainly. Otherwise each code is
   * loaded atomically.
   */
  private scanOpen(sums: readonly [ExactSum, ExactSum], block: number, first: number, last: number, from: number, to: number): void {
    const published = Atomics.load(this.headerI32, (block % this.ringBlocks) * (HEADER_BYTES / 4) + PUBLISHED);
    if (published === Math.min(this.claimed() - (block << BLOCK_SHIFT), BLOCK_ENTRIES)) {
      this.scanVisible(sums, block, first, Math.min(last, published), from, to);
    } else {
      this.scanEach(sums, block, first, last, from, to);
    }
  }

  /** Adds the entries in [first, last) of a block dated inside [from, to]: all are published and visible. */
  private scanVisible(sums: readonly [ExactSum, ExactSum], block: number, first: number, last: number, from: number, to: number): void {
    const i32 = this.i32;
    const f64 = this.f64;
    const slot = block % this.ringBlocks;
    const codes = (slot * BLOCK_BYTES) / 4 + CODES;
    const ats = (slot * BLOCK_BYTES) / 8 + AT;
    const cents = ats + BLOCK_ENTRIES;
    let defaultCount = 0;
    let defaultCents = 0;
    let fallbackCount = 0;
    let fallbackCents = 0;
    for (let i = first; i < last; i++) {
      const at = f64[ats + i];
      if (at < from || at > to) continue;
      if (i32[codes + i] === DEFAULT + 1) {
        defaultCount++;
        defaultCents += f64[cents + i];
      } else {
        fallbackCount++;
        fallbackCents += f64[cents + i];
      }
    }
    // Partial sums of non-negative integers only grow: a final sum below 2^53 was exact all along.
    if (defaultCents <= Number.MAX_SAFE_INTEGER && fallbackCents <= Number.MAX_SAFE_INTEGER) {
      sums[DEFAULT].add(defaultCount, defaultCents);
      sums[FALLBACK].add(fallbackCount, fallbackCents);
    } else {
      this.scanEach(sums, block, first, last, from, to);
    }
  }

  /** Adds the published entries of a block in [first, last) dated inside [from, to], one code loaded atomically at a time. */
  private scanEach(sums: readonly [ExactSum, ExactSum], block: number, first: number, last: number, from: number, to: number): void {
    const slot = block % this.ringBlocks;
    const codes = (slot * BLOCK_BYTES) / 4 + CODES;
    const ats = (slot * BLOCK_BYTES) / 8 + AT;
    const cents = ats + BLOCK_ENTRIES;
    for (let i = first; i < last; i++) {
      const code = Atomics.load(this.i32, codes + i);
      if (code === 0) continue;
      const at = this.f64[ats + i];
      if (at >= from && at <= to) sums[code - 1].add(1, this.f64[cents + i]);
    }
  }

  /**
   * Forgets every entry appended so far (see the class comment for what "so far" means under
   * concurrent appends), folded ones included; on the HTTP thread, also recycles what it can.
   */
  purge(): void {
    const claimed = this.claimed();
    // Two concurrent purges: the later mark wins, never an earlier one.
    for (let mark = Atomics.load(this.control, PURGED_BELOW); mark < claimed; ) {
      const seen = Atomics.compareExchange(this.control, PURGED_BELOW, mark, claimed);
      if (seen === mark) break;
      mark = seen;
    }
    if (this.archive !== null) {
      this.archive.clear();
      this.fold(Infinity);
    }
  }

  private claimed(): number {
    return Atomics.load(this.control, CLAIMED);
  }
}

function ringBlocksFor(capacity: number): number {
  return Math.ceil(capacity / BLOCK_ENTRIES) + 1;
}

/** An exact sum of integer cents (each below 2^53): a double while below 2^53, BigInt beyond. */
export class ExactSum {
  private count = 0;
  private small = 0;
  private big = 0n;

  add(count: number, cents: number): void {
    this.count += count;
    const sum = this.small + cents;
    // Rounding is monotonic: a true sum of 2^53 or more never rounds below 2^53.
    if (sum > Number.MAX_SAFE_INTEGER) {
      this.big += BigInt(this.small);
      this.small = cents;
    } else {
      this.small = sum;
    }
  }

  /** Cents past 2^53, already counted. */
  addBig(cents: bigint): void {
    this.big += cents;
  }

  totals(): ProcessorTotals {
    return { count: this.count, cents: this.big + BigInt(this.small) };
  }
}
