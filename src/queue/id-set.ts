import { hashId } from './uuid.ts';

/**
 * A set of 128-bit ids (UUIDs as four uint32 words) in one flat Uint32Array with open addressing
 * and linear probing: no object or string per id, so a few hundred thousand accepted payments
 * cost a few MB and no GC pressure. The all-zero id marks an empty bucket, so the nil UUID is
 * tracked by a flag of its own.
 *
 * Memory is bounded by `maxIds`: the table grows (doubling) at a load of 1/2 up to the smallest
 * table that holds `maxIds` at a load of 3/4, 16 bytes a bucket, and no further (4,065,536 ids:
 * 8M buckets, 128 MB; 1,065,536: 2M buckets, 32 MB). `hasRoom` turns false at `maxIds`, so the
 * caller refuses new ids before that; `add` itself never refuses (replay must rebuild whatever
 * the journal holds), and past `maxIds` it keeps growing at a load of 3/4.
 */
export class IdSet {
  private table: Uint32Array;
  private mask: number;
  private stored = 0;
  private hasNil = false;
  private readonly maxBuckets: number;

  constructor(
    initialBuckets = 1 << 16,
    readonly maxIds = Infinity,
  ) {
    let buckets = 16;
    while (buckets < initialBuckets) buckets <<= 1;
    let maxBuckets = 16;
    while (maxBuckets * 3 < maxIds * 4) maxBuckets *= 2;
    this.maxBuckets = maxBuckets;
    this.table = new Uint32Array(Math.min(buckets, maxBuckets) * 4);
    this.mask = Math.min(buckets, maxBuckets) - 1;
  }

  get size(): number {
    return this.stored + (this.hasNil ? 1 : 0);
  }

  /** False once `maxIds` ids are held: a new id must then be refused (503), before memory runs out. */
  get hasRoom(): boolean {
    return this.size < this.maxIds;
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.table.byteLength;
  }

  /** Adds the id at `words[index..index+4)`; false when it was already present. */
  add(words: Uint32Array, index: number): boolean {
    const a = words[index];
    const b = words[index + 1];
    const c = words[index + 2];
    const d = words[index + 3];
    if ((a | b | c | d) === 0) {
      if (this.hasNil) return false;
      this.hasNil = true;
      return true;
    }
    const buckets = this.mask + 1;
    const load = buckets < this.maxBuckets ? 2 : 4 / 3;
    if ((this.stored + 1) * load > buckets) this.grow();
    return this.insert(a, b, c, d);
  }

  has(words: Uint32Array, index: number): boolean {
    const a = words[index];
    const b = words[index + 1];
    const c = words[index + 2];
    const d = words[index + 3];
    if ((a | b | c | d) === 0) return this.hasNil;
    const table = this.table;
    for (let bucket = hashId(a, b, c, d) & this.mask; ; bucket = (bucket + 1) & this.mask) {
      const at = bucket * 4;
      if ((table[at] | table[at + 1] | table[at + 2] | table[at + 3]) === 0) return false;
      if (table[at] === a && table[at + 1] === b && table[at + 2] === c && table[at + 3] === d) return true;
    }
  }

  /** Removes the id (used when an accepted payment could not be queued after all). */
  delete(words: Uint32Array, index: number): void {
    const a = words[index];
    const b = words[index + 1];
    const c = words[index + 2];
    const d = words[index + 3];
    if ((a | b | c | d) === 0) {
      this.hasNil = false;
      return;
    }
    const table = this.table;
    let bucket = hashId(a, b, c, d) & this.mask;
    for (; ; bucket = (bucket + 1) & this.mask) {
      const at = bucket * 4;
      if ((table[at] | table[at + 1] | table[at + 2] | table[at + 3]) === 0) return;
      if (table[at] === a && table[at + 1] === b && table[at + 2] === c && table[at + 3] === d) break;
    }
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    table.fill(0, bucket * 4, bucket * 4 + 4);
    this.stored--;
    for (let next = (bucket + 1) & this.mask; ; next = (next + 1) & this.mask) {
      const at = next * 4;
      if ((table[at] | table[at + 1] | table[at + 2] | table[at + 3]) === 0) return;
      const home = hashId(table[at], table[at + 1], table[at + 2], table[at + 3]) & this.mask;
      const distanceHome = (next - home) & this.mask;
      const distanceHole = (next - bucket) & this.mask;
      if (distanceHome >= distanceHole) {
        table.copyWithin(bucket * 4, at, at + 4);
        table.fill(0, at, at + 4);
        bucket = next;
      }
    }
  }

  clear(): void {
    this.table.fill(0);
    this.stored = 0;
    this.hasNil = false;
  }

  private insert(a: number, b: number, c: number, d: number): boolean {
    const table = this.table;
    for (let bucket = hashId(a, b, c, d) & this.mask; ; bucket = (bucket + 1) & this.mask) {
      const at = bucket * 4;
      if ((table[at] | table[at + 1] | table[at + 2] | table[at + 3]) === 0) {
        table[at] = a;
        table[at + 1] = b;
        table[at + 2] = c;
        table[at + 3] = d;
        this.stored++;
        return true;
      }
      if (table[at] === a && table[at + 1] === b && table[at + 2] === c && table[at + 3] === d) return false;
    }
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    this.mask = (this.mask << 1) | 1;
    this.stored = 0;
    for (let at = 0; at < old.length; at += 4) {
      if ((old[at] | old[at + 1] | old[at + 2] | old[at + 3]) !== 0) this.insert(old[at], old[at + 1], old[at + 2], old[at + 3]);
    }
  }
}

/** What the gateway needs of its accepted ids (IdSet, or RecentIdSet for a bounded memory over an unbounded history). */
export interface AcceptedIds {
  readonly size: number;
  readonly hasRoom: boolean;
  add(words: Uint32Array, index: number): boolean;
  delete(words: Uint32Array, index: number): void;
  clear(): void;
}

/**
 * The ids accepted most recently, in two generations of `generationIds` each: an id is added to
 * the current one (unless either holds it); when the current one is full it becomes the previous
 * one and the oldest generation is forgotten (its table cleared and reused: no allocation).
 * Memory is two IdSets of `generationIds` whatever the history, and it never refuses an id.
 *
 * The horizon: an id is remembered for at least `generationIds` later acceptances (and at most
 * twice that). A repeat within it gets 202 and is not queued again. A repeat past it is queued
 * again; if it reaches the processor that holds the first, that processor's 422 and the lookup
 * that follows tell it is not this copy's record, and it is dropped (never counted twice); only a
 * repeat sent to the other processor past the horizon would be paid twice.
 */
export class RecentIdSet implements AcceptedIds {
  private current: IdSet;
  private previous: IdSet;

  constructor(readonly generationIds: number) {
    this.current = new IdSet(undefined, generationIds);
    this.previous = new IdSet(undefined, generationIds);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  get hasRoom(): boolean {
    return true;
  }

  /** Bytes held by both tables. */
  get bytes(): number {
    return this.current.bytes + this.previous.bytes;
  }

  add(words: Uint32Array, index: number): boolean {
    if (this.previous.has(words, index)) return false;
    if (!this.current.hasRoom && !this.current.has(words, index)) {
      const forgotten = this.previous;
      forgotten.clear();
      this.previous = this.current;
      this.current = forgotten;
    }
    return this.current.add(words, index);
  }

  delete(words: Uint32Array, index: number): void {
    this.current.delete(words, index);
    this.previous.delete(words, index);
  }

  clear(): void {
    this.current.clear();
    this.previous.clear();
  }
}
