import { afterEach, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT, FALLBACK, type ProcessorIndex } from '../../src/domain/processors.ts';
import { emptyTotals, type Totals } from '../../src/ledger/ledger.ts';
import { LedgerArchive } from '../../src/ledger/ledger-archive.ts';
import { SharedLedger } from '../../src/ledger/shared-ledger.ts';
import { startWriters } from '../support/ledger-writer.ts';
import { mulberry32 } from '../../tools/loadtest/prng.ts';

/**
 * The ledger over a long history: blocks past half the capacity are folded into the archive
 * (per-minute totals in memory, entries on disk) and their memory reused; any window still sums
 * exactly, to the millisecond and to the cent.
 */
const T = Date.parse('2026-11-01T00:00:00.000Z');
const ALL = { from: null, to: null };
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function archived(capacity: number): { ledger: SharedLedger; archive: LedgerArchive } {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-fold-'));
  dirs.push(dir);
  const ledger = SharedLedger.create(capacity);
  const archive = new LedgerArchive(join(dir, 'ledger-history.bin'));
  ledger.attachArchive(archive);
  return { ledger, archive };
}

/** The oracle: a plain scan over every entry appended. */
function scan(ats: Float64Array, processors: Uint8Array, cents: Float64Array, n: number, from: number, to: number): Totals {
  const totals = emptyTotals();
  for (let i = 0; i < n; i++) {
    if (ats[i] < from || ats[i] > to) continue;
    totals[processors[i]].count++;
    totals[processors[i]].cents += BigInt(cents[i]);
  }
  return totals;
}

describe('folding the ledger into its archive', () => {
  test('300 random windows (millisecond edges, old and new, open bounds) equal a plain scan, with most of the history folded', () => {
    const capacity = 3 * 4096;
    const { ledger, archive } = archived(capacity);
    const next = mulberry32(0x5eed);
    const n = 200_000;
    const ats = new Float64Array(n);
    const processors = new Uint8Array(n);
    const cents = new Float64Array(n);
    // Two days at ~1.2 payments a second, settled nearly in order: each a few seconds off, one
    // in 200 found late (up to an hour old), some amounts near the largest accepted.
    for (let i = 0; i < n; i++) {
      const late = next() < 0.005 ? next() * 3_600_000 : 0;
      ats[i] = Math.max(T, Math.floor(T + i * 864 + next() * 5000 - late));
      processors[i] = next() < 0.3 ? FALLBACK : DEFAULT;
      cents[i] = next() < 0.001 ? 1_000_000_000_000 - Math.floor(next() * 1000) : 1 + Math.floor(next() * 100_000);
      expect(ledger.append(processors[i] as ProcessorIndex, ats[i], cents[i])).toBe(true);
      if (i % 1000 === 999) ledger.fold();
    }
    expect(archive.entries).toBeGreaterThan(n - capacity);
    expect(ledger.count).toBeLessThanOrEqual(capacity);
    const first = T - 3_600_000;
    const span = n * 864 + 10_000;
    for (let w = 0; w < 300; w++) {
      const a = Math.floor(first + next() * (span + 3_600_000));
      // Short windows (the auditor's 15 s), a few minutes, or hours; some start on a minute.
      const kind = next();
      const length = Math.floor(kind < 0.4 ? next() * 15_000 : kind < 0.7 ? next() * 600_000 : next() * span);
      const from = w % 10 === 0 ? a - (a % 60_000) : a;
      const to = from + length;
      const window = w % 50 === 1 ? { from: null, to } : w % 50 === 2 ? { from, to: null } : { from, to };
      const expected = scan(ats, processors, cents, n, window.from ?? -Infinity, window.to ?? Infinity);
      expect(ledger.totals(window)).toEqual(expected);
    }
    expect(ledger.totals(ALL)).toEqual(scan(ats, processors, cents, n, -Infinity, Infinity));
  });

  test('memory stays within the capacity: blocks folded are reused, never more than capacity / 4096 + 1 of them', () => {
    const capacity = 2 * 4096;
    const { ledger } = archived(capacity);
    for (let i = 0; i < 100 * 4096; i++) {
      expect(ledger.append(DEFAULT, T + i, 1)).toBe(true);
      if (i % 512 === 0) ledger.fold();
    }
    expect(ledger.buffers.entries.byteLength).toBeLessThanOrEqual(3 * 4096 * 20);
    expect(ledger.totals(ALL)[DEFAULT]).toEqual({ count: 100 * 4096, cents: BigInt(100 * 4096) });
    expect(ledger.totals({ from: T + 17, to: T + 99 * 4096 })[DEFAULT]).toEqual({ count: 99 * 4096 - 16, cents: BigInt(99 * 4096 - 16) });
  });

  test('ten purge-then-run cycles, each as large as the capacity: no append refused, each run summed alone', () => {
    const capacity = 3000;
    const { ledger } = archived(capacity);
    for (let cycle = 0; cycle < 10; cycle++) {
      for (let i = 0; i < capacity; i++) expect(ledger.append((i % 2) as ProcessorIndex, T + cycle * 10_000 + i, 100 + cycle)).toBe(true);
      expect(ledger.totals(ALL)).toEqual([
        { count: capacity / 2, cents: BigInt((capacity / 2) * (100 + cycle)) },
        { count: capacity / 2, cents: BigInt((capacity / 2) * (100 + cycle)) },
      ]);
      ledger.purge();
      expect(ledger.totals(ALL)).toEqual(emptyTotals());
    }
  });

  // Real threads: two writers append while this thread folds and sums; no summary in between
  // counts more than the writers had appended, and the end counts every append that succeeded
  // exactly once (writers that outrun the folding are refused, as the gateway's workers would be).
  test('folding while other threads append: nothing lost or counted twice', async () => {
    const capacity = 4 * 4096;
    const { ledger } = archived(capacity);
    const writers = 2;
    const entries = 60_000;
    const run = startWriters(ledger, T, writers, entries, 'interleaved');
    run.go();
    let refused = -1;
    void run.done.then((counts) => (refused = counts.reduce((sum, count) => sum + count, 0)));
    while (refused < 0) {
      ledger.fold();
      const totals = ledger.totals(ALL);
      const after = run.progress(0) + run.progress(1);
      // Each writer's latest entry may be published before its progress says it returned.
      expect(totals[DEFAULT].count + totals[FALLBACK].count).toBeLessThanOrEqual(after + writers);
      await new Promise((resolve) => setImmediate(resolve));
    }
    ledger.fold();
    const totals = ledger.totals(ALL);
    expect(totals[DEFAULT].count + totals[FALLBACK].count + refused).toBe(writers * entries);
    // Refused appends (a writer outran the folding) are the writers' to report; each window agrees with the whole.
    const halves = [ledger.totals({ from: null, to: T + entries }), ledger.totals({ from: T + entries + 1, to: null })];
    expect(halves[0][DEFAULT].count + halves[1][DEFAULT].count).toBe(totals[DEFAULT].count);
    expect(halves[0][FALLBACK].cents + halves[1][FALLBACK].cents).toBe(totals[FALLBACK].cents);
  });
});
