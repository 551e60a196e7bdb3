import { describe, expect, test } from 'bun:test';
import { IdSet, RecentIdSet } from '../../src/queue/id-set.ts';

const id = (n: number) => Uint32Array.of(n + 1, n * 7, 0xffffffff - n, n & 3);

describe('IdSet capacity', () => {
  test('hasRoom turns false at maxIds and the table never outgrows the bound for maxIds; add still takes ids past it (replay)', () => {
    const set = new IdSet(16, 3000);
    // 3000 ids at a load of at most 3/4: 4096 buckets of 16 bytes.
    for (let n = 0; n < 3000; n++) {
      expect(set.hasRoom).toBe(true);
      expect(set.add(id(n), 0)).toBe(true);
      expect(set.bytes).toBeLessThanOrEqual(4096 * 16);
    }
    expect(set.hasRoom).toBe(false);
    for (let n = 0; n < 3000; n++) expect(set.has(id(n), 0)).toBe(true);
    expect(set.add(id(5000), 0)).toBe(true);
    expect(set.has(id(5000), 0)).toBe(true);
    set.delete(id(5000), 0);
    set.delete(id(0), 0);
    expect(set.hasRoom).toBe(true);
  });
});

describe('RecentIdSet', () => {
  test('remembers at least the last generation of ids, forgets older ones, and its memory stays two tables whatever the history', () => {
    const set = new RecentIdSet(3000);
    const bytes = set.bytes;
    for (let n = 0; n < 100_000; n++) {
      expect(set.add(id(n), 0)).toBe(true);
      expect(set.hasRoom).toBe(true);
      // A repeat within the horizon: refused as already accepted.
      if (n >= 3000) expect(set.add(id(n - 3000), 0)).toBe(false);
    }
    expect(set.bytes).toBe(bytes);
    expect(set.bytes).toBeLessThanOrEqual(2 * 4096 * 16);
    expect(set.size).toBeLessThanOrEqual(6000);
    // Past twice the generation: forgotten (accepted again).
    expect(set.add(id(0), 0)).toBe(true);
    set.clear();
    expect(set.size).toBe(0);
  });
});
