import { DEFAULT, FALLBACK, emptyTotals, type ProcessorIndex, type Totals, type Window } from './ledger.ts';

/**
 * Append-only record of settled payments on growable SharedArrayBuffers: payment workers append,
 * the HTTP thread scans for summaries, nobody locks.
 *
 *   control (Int32): [count]           next free entry, claimed with Atomics.add
 *   processor (Int32 per entry)         0 = not yet written, 1 = default, 2 = fallback
 *   requestedAt (Float64 per entry)     epoch ms exactly as sent to the processor
 *   cents (Float64 per entry)           integer cents (exact in a double below 2^53)
 *
 * A writer claims an entry, fills requestedAt and cents, then publishes it by storing the
 * processor code last; readers skip entries whose code is still 0. Each column is its own
 * growable buffer, reserved up to `capacity` and grown (by whichever thread needs room first)
 * as entries arrive, so memory follows what was settled, not the configured maximum.
 */
const COUNT = 0;
const CONTROL_INTS = 16;
/** Per-chunk sums stay below 2^53 for amounts up to 2^40 cents; chunks then add up as BigInt. */
const CHUNK = 4096;
const INITIAL_ENTRIES = 1 << 16;

export interface LedgerBuffers {
  control: SharedArrayBuffer;
  processor: SharedArrayBuffer;
  requestedAt: SharedArrayBuffer;
  cents: SharedArrayBuffer;
}

export class SharedLedger {
  readonly buffers: LedgerBuffers;
  readonly capacity: number;
  private readonly control: Int32Array;
  // Length-tracking views: they see every grow, whichever thread did it.
  private readonly processor: Int32Array;
  private readonly requestedAt: Float64Array;
  private readonly cents: Float64Array;

  static create(capacity: number): SharedLedger {
    const initial = Math.min(capacity, INITIAL_ENTRIES);
    const column = (bytesPerEntry: number) => new SharedArrayBuffer(initial * bytesPerEntry, { maxByteLength: capacity * bytesPerEntry });
    return new SharedLedger({ control: new SharedArrayBuffer(CONTROL_INTS * 4), processor: column(4), requestedAt: column(8), cents: column(8) }, capacity);
  }

  constructor(buffers: LedgerBuffers, capacity: number) {
    this.buffers = buffers;
    this.capacity = capacity;
    this.control = new Int32Array(buffers.control);
    this.processor = new Int32Array(buffers.processor);
    this.requestedAt = new Float64Array(buffers.requestedAt);
    this.cents = new Float64Array(buffers.cents);
  }

  get count(): number {
    return Math.min(Atomics.load(this.control, COUNT), this.capacity);
  }

  get free(): number {
    return this.capacity - this.count;
  }

  /** Records one settled payment; false only when the ledger is full. */
  append(processor: ProcessorIndex, requestedAtMs: number, cents: number): boolean {
    const entry = Atomics.add(this.control, COUNT, 1);
    if (entry >= this.capacity) {
      Atomics.sub(this.control, COUNT, 1);
      return false;
    }
    if (entry >= this.processor.length) this.grow(entry + 1);
    this.requestedAt[entry] = requestedAtMs;
    this.cents[entry] = cents;
    Atomics.store(this.processor, entry, processor + 1);
    return true;
  }

  /** Grows every column to hold at least `entries` (doubling); another thread may have grown it already. */
  private grow(entries: number): void {
    const target = Math.min(this.capacity, Math.max(entries, this.processor.length * 2));
    for (const [buffer, bytesPerEntry] of [
      [this.buffers.processor, 4],
      [this.buffers.requestedAt, 8],
      [this.buffers.cents, 8],
    ] as const) {
      try {
        if (buffer.byteLength < target * bytesPerEntry) buffer.grow(target * bytesPerEntry);
      } catch (error) {
        // A concurrent grow got there first: fine as long as the buffer is now large enough.
        if (buffer.byteLength < entries * bytesPerEntry) throw error;
      }
    }
  }

  totals(window: Window): Totals {
    const from = window.from ?? -Infinity;
    const to = window.to ?? Infinity;
    const totals = emptyTotals();
    // An entry claimed but not yet grown into is not written yet either.
    const end = Math.min(this.count, this.processor.length);
    for (let chunkStart = 0; chunkStart < end; chunkStart += CHUNK) {
      const chunkEnd = Math.min(chunkStart + CHUNK, end);
      let defaultCount = 0;
      let defaultCents = 0;
      let fallbackCount = 0;
      let fallbackCents = 0;
      for (let entry = chunkStart; entry < chunkEnd; entry++) {
        const code = Atomics.load(this.processor, entry);
        if (code === 0) continue;
        const at = this.requestedAt[entry];
        if (at < from || at > to) continue;
        if (code === DEFAULT + 1) {
          defaultCount++;
          defaultCents += this.cents[entry];
        } else {
          fallbackCount++;
          fallbackCents += this.cents[entry];
        }
      }
      totals[DEFAULT].count += defaultCount;
      totals[DEFAULT].cents += BigInt(defaultCents);
      totals[FALLBACK].count += fallbackCount;
      totals[FALLBACK].cents += BigInt(fallbackCents);
    }
    return totals;
  }

  /** Forgets every entry. Meant for quiet moments (before a test run), like the processors' purge. */
  purge(): void {
    const end = Math.min(this.count, this.processor.length);
    for (let entry = 0; entry < end; entry++) Atomics.store(this.processor, entry, 0);
    Atomics.store(this.control, COUNT, 0);
  }
}
