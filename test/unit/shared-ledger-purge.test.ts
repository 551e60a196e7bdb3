import { describe, expect, test } from 'bun:test';
import { DEFAULT, FALLBACK } from '../../src/domain/processors.ts';
import { emptyTotals } from '../../src/ledger/ledger.ts';
import { SharedLedger } from '../../src/ledger/shared-ledger.ts';
import { SeriesOracle, startWriters } from '../support/ledger-writer.ts';

const T = Date.parse('2020-07-10T12:34:56.000Z');
const ALL = { from: null, to: null };

/**
 * A requestedAt whose conversion to a number runs `meanwhile` once: append converts it after
 * claiming its slot and before publishing the entry, the moment a writer thread can be
 * preempted. This makes that interleaving happen every time, on one thread.
 */
function preemptedAt(at: number, meanwhile: () => void): number {
  let ran = false;
  return {
    valueOf: () => {
      if (!ran) {
        ran = true;
        meanwhile();
      }
      return at;
    },
  } as unknown as number;
}

describe('purge racing appends', () => {
  test('an append claimed before a purge and published after it is forgotten; one claimed after is kept', () => {
    const ledger = SharedLedger.create(16);
    ledger.append(DEFAULT, T, 100);
    const slow = preemptedAt(T + 1, () => {
      ledger.purge();
      expect(ledger.append(FALLBACK, T + 2, 7)).toBe(true);
    });
    expect(ledger.append(DEFAULT, slow, 5)).toBe(true);
    expect(ledger.totals(ALL)).toEqual([
      { count: 0, cents: 0n },
      { count: 1, cents: 7n },
    ]);
    expect(ledger.count).toBe(1);
    // The purge gave back the capacity of the two it forgot; the one kept holds one entry.
    expect(ledger.free).toBe(15);
  });

  test('a purge in the middle of a block: the summary of the block, once sealed, is not used for it', () => {
    const ledger = SharedLedger.create(10_000);
    for (let i = 0; i < 1000; i++) ledger.append(DEFAULT, T, 1);
    ledger.purge();
    for (let i = 1000; i < 4096; i++) ledger.append(FALLBACK, T, 2);
    expect(ledger.totals({ from: T, to: T })).toEqual([
      { count: 0, cents: 0n },
      { count: 3096, cents: 6192n },
    ]);
  });

  test('a purge frees the capacity of what it forgets: free stays a bound on the appends that can succeed', () => {
    const ledger = SharedLedger.create(4);
    ledger.append(DEFAULT, T, 1);
    ledger.append(DEFAULT, T, 1);
    ledger.purge();
    expect(ledger.count).toBe(0);
    expect(ledger.free).toBe(4);
    for (let i = 0; i < 4; i++) expect(ledger.append(FALLBACK, T, 5)).toBe(true);
    expect(ledger.append(FALLBACK, T, 5)).toBe(false);
    expect(ledger.free).toBe(0);
    expect(ledger.count).toBe(4);
    expect(ledger.totals(ALL)[FALLBACK]).toEqual({ count: 4, cents: 20n });
  });

  // Real threads: two writers append their own ranges of milliseconds while this thread purges
  // several times. After the last purge, what each writer had finished before it is gone, what it
  // started after it is all there, and the few appends in flight during it are each whole or absent.
  test('purges during concurrent appends forget exactly the appends before them', async () => {
    const writers = 2;
    const entries = 200_000;
    const ledger = SharedLedger.create(writers * entries, 4096);
    const run = startWriters(ledger, T, writers, entries, 'separate');
    run.go();
    const before: number[] = [];
    const after: number[] = [];
    for (let purge = 0; purge < 5; purge++) {
      while (run.progress(0) + run.progress(1) < (purge + 1) * 50_000) await new Promise((resolve) => setImmediate(resolve));
      for (let w = 0; w < writers; w++) before[w] = run.progress(w);
      ledger.purge();
      for (let w = 0; w < writers; w++) after[w] = run.progress(w);
    }
    expect(await run.done).toEqual([0, 0]);

    const oracle = new SeriesOracle(writers * entries);
    const expected = emptyTotals();
    for (let w = 0; w < writers; w++) {
      const first = w * entries;
      const last = first + entries - 1;
      expect(ledger.totals({ from: T + first, to: T + first + before[w] - 1 })).toEqual(emptyTotals());
      const kept = oracle.totals(first + after[w] + 1, last);
      expect(ledger.totals({ from: T + first + after[w] + 1, to: T + last })).toEqual(kept);
      for (const p of [DEFAULT, FALLBACK]) {
        expected[p].count += kept[p].count;
        expected[p].cents += kept[p].cents;
      }
      for (let k = first + before[w]; k <= first + after[w]; k++) {
        const one = ledger.totals({ from: T + k, to: T + k });
        const whole = oracle.totals(k, k);
        expect([emptyTotals(), whole]).toContainEqual(one);
        for (const p of [DEFAULT, FALLBACK]) {
          expected[p].count += one[p].count;
          expected[p].cents += one[p].cents;
        }
      }
    }
    expect(ledger.totals(ALL)).toEqual(expected);
    expect(ledger.count).toBe(expected[DEFAULT].count + expected[FALLBACK].count);
    expect(ledger.count + ledger.free).toBeLessThanOrEqual(ledger.capacity);
  });
});
