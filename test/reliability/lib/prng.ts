/**
 * A tiny seeded PRNG (mulberry32) so every fuzz run is reproducible: the seed comes from
 * FUZZ_SEED (decimal or 0x-hex), with a fixed default, and is printed by each fuzz test.
 */
export const DEFAULT_FUZZ_SEED = 0x5eed_2026;

export function fuzzSeed(): number {
  const raw = (process.env.FUZZ_SEED ?? '').trim();
  if (raw === '') return DEFAULT_FUZZ_SEED;
  const value = raw.startsWith('0x') ? Number.parseInt(raw.slice(2), 16) : Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`FUZZ_SEED must be an integer, got "${raw}"`);
  return value >>> 0;
}

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of table) total += w;
    let r = this.next() * total;
    for (const [w, v] of table) {
      r -= w;
      if (r < 0) return v;
    }
    return table[table.length - 1][1];
  }

  /** A random version-4 style UUID in lower case, from this generator (so reproducible). */
  uuid(): string {
    const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[this.int(16)]).join('');
    return `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[this.int(4)]}${hex(3)}-${hex(12)}`;
  }

  /** A fresh child generator (so one part of a run does not shift the sequence of another). */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 4294967296));
  }
}
