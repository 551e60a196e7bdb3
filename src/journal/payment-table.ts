import { hashId } from '../queue/uuid.ts';
import { RecordKind } from './record.ts';

/** What the journal says of one payment, as bits: several records fold into one entry. */
export const ACCEPTED = 1;
export const ATTEMPTED = 2;
export const SETTLED = 4;
export const DROPPED = 8;

/**
 * Per-payment journal state in typed-array columns with open addressing and linear probing (as
 * IdSet does): 50 bytes a slot, no object or string per payment. A slot is in use when its flags
 * are not 0, so every id, the nil UUID included, can be a key. Grows at a load of 3/4.
 *
 * `apply` folds one record into its payment's entry. The fold gives the same entry whatever the
 * order of the records and however often one is repeated, which is what lets replay read the
 * files in any order and lets compaction leave a file behind after a crash:
 *   - settled and dropped are terminal (settled wins over dropped); a payment's first settled
 *     record stands;
 *   - of its attempts, the one written last (the largest sequence number) stands; numbers are
 *     unique, so no tie leaves the choice to the order the files are read in;
 *   - accepted gives acceptedAt, and the cents unless a terminal record gave them.
 */
export class PaymentTable {
  private keys!: Uint32Array;
  flags!: Uint8Array;
  /** Attempt: processor of the last one. Settled, dropped: the processor that holds the payment. */
  processor!: Uint8Array;
  cents!: Float64Array;
  acceptedAt!: Float64Array;
  /** requestedAt of the last attempt, or of the settlement. */
  at!: Float64Array;
  sequence!: Float64Array;
  private mask = 0;
  size = 0;

  constructor(initialSlots = 1 << 12) {
    let slots = 16;
    while (slots < initialSlots) slots <<= 1;
    this.allocate(slots);
  }

  get slots(): number {
    return this.mask + 1;
  }

  /** Word `word` (0..3) of the id in `slot`. */
  key(slot: number, word: number): number {
    return this.keys[slot * 4 + word];
  }

  /** The slot of the id, or -1 when it has none. */
  find(a: number, b: number, c: number, d: number): number {
    const keys = this.keys;
    const flags = this.flags;
    for (let slot = hashId(a, b, c, d) & this.mask; ; slot = (slot + 1) & this.mask) {
      if (flags[slot] === 0) return -1;
      const at = slot * 4;
      if (keys[at] === a && keys[at + 1] === b && keys[at + 2] === c && keys[at + 3] === d) return slot;
    }
  }

  /** Folds one record into its payment's entry (creating it); returns the entry's slot. */
  apply(kind: RecordKind, processor: number, a: number, b: number, c: number, d: number, cents: number, at: number, sequence: number): number {
    let slot = this.find(a, b, c, d);
    if (slot < 0) {
      if ((this.size + 1) * 4 > this.slots * 3) this.grow();
      slot = this.claim(a, b, c, d);
    }
    this.applyAt(slot, kind, processor, cents, at, sequence);
    return slot;
  }

  applyAt(slot: number, kind: RecordKind, processor: number, cents: number, at: number, sequence: number): void {
    const flags = this.flags[slot];
    const terminal = (flags & (SETTLED | DROPPED)) !== 0;
    if (kind === RecordKind.Accepted) {
      this.flags[slot] = flags | ACCEPTED;
      this.acceptedAt[slot] = at;
      if (!terminal) this.cents[slot] = cents;
    } else if (kind === RecordKind.Attempt) {
      if (terminal || ((flags & ATTEMPTED) !== 0 && sequence < this.sequence[slot])) return;
      this.flags[slot] = flags | ATTEMPTED;
      this.setCall(slot, processor, at, sequence);
      if ((flags & ACCEPTED) === 0) this.cents[slot] = cents;
    } else if (kind === RecordKind.Settled) {
      if ((flags & SETTLED) !== 0) return;
      this.flags[slot] = (flags & ~DROPPED) | SETTLED;
      this.setCall(slot, processor, at, sequence);
      this.cents[slot] = cents;
    } else {
      if (terminal) return;
      this.flags[slot] = flags | DROPPED;
      this.setCall(slot, processor, at, sequence);
      this.cents[slot] = cents;
    }
  }

  private setCall(slot: number, processor: number, at: number, sequence: number): void {
    this.processor[slot] = processor;
    this.at[slot] = at;
    this.sequence[slot] = sequence;
  }

  private claim(a: number, b: number, c: number, d: number): number {
    const flags = this.flags;
    let slot = hashId(a, b, c, d) & this.mask;
    while (flags[slot] !== 0) slot = (slot + 1) & this.mask;
    const at = slot * 4;
    this.keys[at] = a;
    this.keys[at + 1] = b;
    this.keys[at + 2] = c;
    this.keys[at + 3] = d;
    this.size++;
    return slot;
  }

  private allocate(slots: number): void {
    this.keys = new Uint32Array(slots * 4);
    this.flags = new Uint8Array(slots);
    this.processor = new Uint8Array(slots);
    this.cents = new Float64Array(slots);
    this.acceptedAt = new Float64Array(slots);
    this.at = new Float64Array(slots);
    this.sequence = new Float64Array(slots);
    this.mask = slots - 1;
    this.size = 0;
  }

  private grow(): void {
    const { keys, flags, processor, cents, acceptedAt, at, sequence } = this;
    this.allocate(flags.length * 2);
    for (let old = 0; old < flags.length; old++) {
      if (flags[old] === 0) continue;
      const slot = this.claim(keys[old * 4], keys[old * 4 + 1], keys[old * 4 + 2], keys[old * 4 + 3]);
      this.flags[slot] = flags[old];
      this.processor[slot] = processor[old];
      this.cents[slot] = cents[old];
      this.acceptedAt[slot] = acceptedAt[old];
      this.at[slot] = at[old];
      this.sequence[slot] = sequence[old];
    }
  }
}
