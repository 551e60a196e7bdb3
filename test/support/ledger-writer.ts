import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { DEFAULT, FALLBACK, type ProcessorIndex } from '../../src/domain/processors.ts';
import { type Totals } from '../../src/ledger/ledger.ts';
import { SharedLedger, type LedgerBuffers } from '../../src/ledger/shared-ledger.ts';

/**
 * Test worker: one payment-worker thread appending a deterministic series to a shared ledger.
 * Entry `k` of the whole run (see `entryNumber`) has requestedAt `base + k`, so every entry has
 * its own millisecond and a window's expected totals follow from `processorOf` and `centsOf`.
 *
 * sync (Int32): [go, progress of writer 0, progress of writer 1, ...]. Writers start together once
 * `go` is set, and each stores how many of its appends have returned, after each one.
 */
export interface WriterPlan {
  buffers: LedgerBuffers;
  capacity: number;
  sync: SharedArrayBuffer;
  base: number;
  writer: number;
  writers: number;
  entries: number;
  /** interleaved: writers' entries alternate in time; separate: writer w owns [w·entries, (w+1)·entries). */
  layout: 'interleaved' | 'separate';
}

function entryNumber(plan: Pick<WriterPlan, 'writer' | 'writers' | 'entries' | 'layout'>, i: number): number {
  return plan.layout === 'interleaved' ? i * plan.writers + plan.writer : plan.writer * plan.entries + i;
}

export function processorOf(k: number): ProcessorIndex {
  return k % 3 === 0 ? FALLBACK : DEFAULT;
}

export function centsOf(k: number): number {
  return 1 + ((k * 7919) % 99_991);
}

/**
 * Starts `writers` threads on `ledger`, each appending `entries`; they wait for `go()`.
 * `progress(w)`: appends of writer w that have returned. `done`: refused appends per writer.
 */
export function startWriters(ledger: SharedLedger, base: number, writers: number, entries: number, layout: WriterPlan['layout']) {
  const sync = new SharedArrayBuffer(4 * (1 + writers));
  const flags = new Int32Array(sync);
  const done = Array.from({ length: writers }, (_, writer) => {
    const worker = new Worker(new URL('./ledger-writer.ts', import.meta.url));
    const plan: WriterPlan = { buffers: ledger.buffers, capacity: ledger.capacity, sync, base, writer, writers, entries, layout };
    worker.postMessage(plan);
    return new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', ({ refused }: { refused: number }) => void worker.terminate().then(() => resolve(refused)));
    });
  });
  return {
    go: () => {
      Atomics.store(flags, 0, 1);
      Atomics.notify(flags, 0);
    },
    progress: (writer: number) => Atomics.load(flags, 1 + writer),
    done: Promise.all(done),
  };
}

/** Exact totals of the entries numbered [from, to] of a run of `n` entries. */
export class SeriesOracle {
  private readonly counts = [new Float64Array(0), new Float64Array(0)];
  private readonly cents = [new Float64Array(0), new Float64Array(0)];

  constructor(private readonly n: number) {
    for (const p of [DEFAULT, FALLBACK]) {
      this.counts[p] = new Float64Array(n + 1);
      this.cents[p] = new Float64Array(n + 1);
    }
    for (let k = 0; k < n; k++) {
      for (const p of [DEFAULT, FALLBACK]) {
        const mine = processorOf(k) === p;
        this.counts[p][k + 1] = this.counts[p][k] + (mine ? 1 : 0);
        this.cents[p][k + 1] = this.cents[p][k] + (mine ? centsOf(k) : 0);
      }
    }
  }

  totals(from: number, to: number): Totals {
    const lo = Math.max(0, from);
    const hi = Math.min(this.n, to + 1);
    const sum = (prefix: Float64Array) => (hi > lo ? prefix[hi] - prefix[lo] : 0);
    return [
      { count: sum(this.counts[DEFAULT]), cents: BigInt(sum(this.cents[DEFAULT])) },
      { count: sum(this.counts[FALLBACK]), cents: BigInt(sum(this.cents[FALLBACK])) },
    ];
  }
}

if (!isMainThread) {
  parentPort!.once('message', (plan: WriterPlan) => {
    const ledger = new SharedLedger(plan.buffers, plan.capacity);
    const sync = new Int32Array(plan.sync);
    while (Atomics.load(sync, 0) === 0) Atomics.wait(sync, 0, 0, 10);
    let refused = 0;
    for (let i = 0; i < plan.entries; i++) {
      const k = entryNumber(plan, i);
      if (!ledger.append(processorOf(k), plan.base + k, centsOf(k))) refused++;
      Atomics.store(sync, 1 + plan.writer, i + 1);
    }
    parentPort!.postMessage({ refused });
  });
}
