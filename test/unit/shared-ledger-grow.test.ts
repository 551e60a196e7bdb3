import { expect, test } from 'bun:test';
import { SharedLedger } from '../../src/ledger/shared-ledger.ts';
import { SeriesOracle, startWriters } from '../support/ledger-writer.ts';

const BASE = Date.parse('2020-07-10T12:00:00.000Z');
const ALL = { from: null, to: null };

// Real threads: writers race each other across every grow of the buffer (one block at first,
// then doubling up to 2^21 entries) while this thread keeps summing, as the HTTP thread does.
// Three runs: a torn entry needs an unlucky interleaving, which each run gives another chance.
test.each([1, 2, 3])('entries appended by several threads while the ledger grows are all there, none torn (run %d)', async () => {
  const writers = 3;
  const entries = 400_000;
  const n = writers * entries;
  const ledger = SharedLedger.create(1 << 21, 4096);
  const run = startWriters(ledger, BASE, writers, entries, 'interleaved');
  let finished = false;
  const done = run.done.finally(() => (finished = true));
  run.go();
  let previous = ledger.totals(ALL);
  while (!finished) {
    // Published entries never disappear, and each carries its cents (at least 1).
    const now = ledger.totals(ALL);
    for (const p of [0, 1]) {
      expect(now[p].count).toBeGreaterThanOrEqual(previous[p].count);
      expect(now[p].cents).toBeGreaterThanOrEqual(previous[p].cents);
      expect(now[p].cents).toBeGreaterThanOrEqual(BigInt(now[p].count));
    }
    previous = now;
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(await done).toEqual([0, 0, 0]);

  expect(ledger.count).toBe(n);
  expect(ledger.free).toBe((1 << 21) - n);
  const oracle = new SeriesOracle(n);
  expect(ledger.totals(ALL)).toEqual(oracle.totals(0, n - 1));
  // Every entry has its own millisecond: windows cut anywhere find exactly the entries written there.
  let seed = 7;
  const random = (below: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % below;
  for (let w = 0; w < 200; w++) {
    const from = random(n);
    const to = from + random(w % 2 === 0 ? 20_000 : n);
    expect(ledger.totals({ from: BASE + from, to: BASE + to })).toEqual(oracle.totals(from, to));
  }
});
