import { describe, expect, test } from 'bun:test';
import { IdSet } from '../../src/queue/id-set.ts';

const id = (a: number, b = 0, c = 0, d = 0) => Uint32Array.of(a, b, c, d);

describe('IdSet', () => {
  test('adds once, reports presence, deletes', () => {
    const set = new IdSet(16);
    expect(set.add(id(1, 2, 3, 4), 0)).toBe(true);
    expect(set.add(id(1, 2, 3, 4), 0)).toBe(false);
    expect(set.has(id(1, 2, 3, 4), 0)).toBe(true);
    expect(set.has(id(1, 2, 3, 5), 0)).toBe(false);
    set.delete(id(1, 2, 3, 4), 0);
    expect(set.has(id(1, 2, 3, 4), 0)).toBe(false);
    expect(set.size).toBe(0);
  });

  test('tracks the nil UUID, which empty buckets cannot represent', () => {
    const set = new IdSet(16);
    expect(set.add(id(0), 0)).toBe(true);
    expect(set.add(id(0), 0)).toBe(false);
    expect(set.size).toBe(1);
  });

  test('grows and keeps every id; deletions keep probe chains intact', () => {
    const set = new IdSet(16);
    const ids = Array.from({ length: 50_000 }, (_, i) => id(i + 1, i * 7, 0xffffffff - i, i & 3));
    for (const each of ids) expect(set.add(each, 0)).toBe(true);
    expect(set.size).toBe(50_000);
    for (let i = 0; i < ids.length; i += 2) set.delete(ids[i], 0);
    for (let i = 0; i < ids.length; i++) expect(set.has(ids[i], 0)).toBe(i % 2 === 1);
    set.clear();
    expect(set.size).toBe(0);
    expect(set.has(ids[1], 0)).toBe(false);
  });
});
