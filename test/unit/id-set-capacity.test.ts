import { describe, expect, test } from 'bun:test';
import { IdSet } from '../../src/queue/id-set.ts';

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
