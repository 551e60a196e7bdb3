import { DEFAULT, FALLBACK, emptyTotals, type ProcessorIndex, type Totals, type Window } from './ledger.ts';

/**
 * Append-only record of settled payments on a SharedArrayBuffer: payment workers append, the
 * HTTP thread scans for summaries, nobody locks.
 *
 *   control (Int32): [count]           next free entry, claimed with Atomics.add
 *   processor (Int32 × capacity)        0 = not yet written, 1 = default, 2 = fallback
 *   requestedAt (Float64 × capacity)    epoch ms exactly as sent to the processor
 *   cents (Float64 × capacity)          integer cents (exact in a double below 2^53)
 *
 * A writer claims an entry, fills requestedAt and cents, then publishes it by storing the
 * processor code last; readers skip entries whose code is still 0. Pages of the buffer are only
 * touched as entries are written, so a large capacity costs address space, not memory.
 */
const COUNT = 0;
const CONTROL_INTS = 16;
/** Per-chunk sums stay below 2^53 for amounts up to 2^40 cents; chunks then add up as BigInt. */
const CHUNK = 4096;

export class SharedLedger {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly control: Int32Array;
  private readonly processor: Int32Array;
  private readonly requestedAt: Float64Array;
  private readonly cents: Float64Array;

  static create(capacity: number): SharedLedger {
    return new SharedLedger(new SharedArrayBuffer(CONTROL_INTS * 4 + capacity * 4 + capacity * 16), capacity);
  }

  constructor(buffer: SharedArrayBuffer, capacity: number) {
    this.buffer = buffer;
    this.capacity = capacity;
    this.control = new Int32Array(buffer, 0, CONTROL_INTS);
    this.processor = new Int32Array(buffer, CONTROL_INTS * 4, capacity);
    // Float64 columns need 8-byte alignment: the Int32 column has `capacity` entries, so pad.
    const doublesOffset = CONTROL_INTS * 4 + capacity * 4 + ((capacity * 4) % 8);
    this.requestedAt = new Float64Array(buffer, doublesOffset, capacity);
    this.cents = new Float64Array(buffer, doublesOffset + capacity * 8, capacity);
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
    this.requestedAt[entry] = requestedAtMs;
    this.cents[entry] = cents;
    Atomics.store(this.processor, entry, processor + 1);
    return true;
  }

  totals(window: Window): Totals {
    const from = window.from ?? -Infinity;
    const to = window.to ?? Infinity;
    const totals = emptyTotals();
    const end = this.count;
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
    const end = this.count;
    for (let entry = 0; entry < end; entry++) Atomics.store(this.processor, entry, 0);
    Atomics.store(this.control, COUNT, 0);
  }
}
