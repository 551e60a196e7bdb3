import { describe, expect, test } from 'bun:test';
import { DEFAULT, FALLBACK, type ProcessorIndex } from '../../src/domain/processors.ts';
import { emptyTotals, type Totals, type Window } from '../../src/ledger/ledger.ts';
import { SharedLedger } from '../../src/ledger/shared-ledger.ts';

const T = Date.parse('2020-07-10T12:00:00.000Z');

function lcg(seed: number) {
  return (below: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % below;
}

describe('summary over block summaries', () => {
  // Correctness must not depend on order: nearly increasing times with entries recorded late
  // and some dated ahead, a purge in the middle of a block, a last block never filled.
  test('any window gives what a plain scan of the entries gives', () => {
    const random = lcg(2026);
    const ledger = SharedLedger.create(50_000, 4096);
    const entries: { p: ProcessorIndex; at: number; cents: number; kept: boolean }[] = [];
    let now = T;
    for (let i = 0; i < 47_123; i++) {
      if (i === 10_500) {
        ledger.purge();
        for (const e of entries) e.kept = false;
      }
      now += random(3);
      const roll = random(100);
      const at = roll < 5 ? now - random(10_000) : roll < 7 ? now + random(3_000) : now;
      const p: ProcessorIndex = random(4) === 0 ? FALLBACK : DEFAULT;
      const cents = random(10) === 0 ? 1_000_000_000_000 - random(1000) : 1 + random(100_000);
      expect(ledger.append(p, at, cents)).toBe(true);
      entries.push({ p, at, cents, kept: true });
    }
    const scan = ({ from, to }: Window): Totals => {
      const totals = emptyTotals();
      for (const e of entries) {
        if (!e.kept || (from !== null && e.at < from) || (to !== null && e.at > to)) continue;
        totals[e.p].count++;
        totals[e.p].cents += BigInt(e.cents);
      }
      return totals;
    };
    const span = now - T;
    const times = entries.map((e) => e.at);
    for (let w = 0; w < 300; w++) {
      // Bounds on entries' own times half the time: inclusivity at both ends.
      const from = w % 2 === 0 ? times[random(times.length)] : T - 20_000 + random(span + 40_000);
      const to = from + random(w % 3 === 0 ? span : 30_000);
      const window = { from: w % 17 === 0 ? null : from, to: w % 13 === 0 ? null : to };
      expect(ledger.totals(window)).toEqual(scan(window));
    }
  });

  // White-box: blocks of 4096 entries, 20 bytes each (see the layout in shared-ledger.ts). Every
  // block the window does not cut is overwritten with garbage: a summary that read any of their
  // entries (rather than adding or skipping the block whole) would come out wrong.
  test('a window reads only the blocks its bounds cut: the others are added or skipped whole', () => {
    const n = 1_000_000;
    const at = (i: number) => i + (i % 50 === 0 ? -3000 : 0);
    const ledger = SharedLedger.create(n);
    for (let i = 0; i < n; i++) ledger.append(i % 10 === 0 ? FALLBACK : DEFAULT, T + at(i), 1990);
    const [from, to] = [500_000, 515_000];
    let count = 0;
    for (let i = 0; i < n; i++) if (at(i) >= from && at(i) <= to) count++;
    const bytes = new Uint8Array(ledger.buffers.entries);
    let garbled = 0;
    for (let block = 0; block * 4096 < n; block++) {
      let min = Infinity;
      let max = -Infinity;
      for (let i = block * 4096; i < Math.min(n, (block + 1) * 4096); i++) {
        min = Math.min(min, at(i));
        max = Math.max(max, at(i));
      }
      const cut = min < from !== max < from || min > to !== max > to;
      if (cut) continue;
      bytes.fill(0xff, block * 4096 * 20, (block + 1) * 4096 * 20);
      garbled++;
    }
    expect(garbled).toBeGreaterThan(240);
    // Sealed blocks need no atomic load per entry either: a few loads in all, not one per entry.
    const load = Atomics.load;
    let loads = 0;
    Atomics.load = ((array: Int32Array, index: number) => {
      loads++;
      return load(array, index);
    }) as typeof Atomics.load;
    let totals: Totals;
    try {
      totals = ledger.totals({ from: T + from, to: T + to });
    } finally {
      Atomics.load = load;
    }
    expect(loads).toBeLessThan(100);
    expect(totals[DEFAULT].count + totals[FALLBACK].count).toBe(count);
    expect(totals[DEFAULT].cents + totals[FALLBACK].cents).toBe(BigInt(count) * 1990n);
  });

  test('memory follows the entries, not the capacity', () => {
    const ledger = SharedLedger.create(4_000_000);
    expect(ledger.buffers.entries.byteLength).toBeLessThanOrEqual(65_536 * 21);
    for (let i = 0; i < 100_000; i++) ledger.append(DEFAULT, T + i, 1990);
    // Doubling: at most twice the room the entries need, about 20 bytes each.
    expect(ledger.buffers.entries.byteLength).toBeLessThanOrEqual(2 * 100_000 * 21);
  });
});
