import { Bench } from 'tinybench';
import { PaymentRing, PaymentSlot } from '../src/queue/payment-ring.ts';
import { IdSet } from '../src/queue/id-set.ts';
import { ParsedPayment, parsePayment } from '../src/http/parse-payment.ts';
import { SharedLedger } from '../src/ledger/shared-ledger.ts';
import { DEFAULT, FALLBACK } from '../src/domain/processors.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/env.ts';
import { createSharedState } from '../src/gateway/shared-state.ts';
import { StallDetector } from '../src/http/stall-detector.ts';
import { GatewayRoutes, type Reply } from '../src/http/routes.ts';
import { LocalLedger } from '../src/ledger/local-ledger.ts';
import { InstanceJournal } from '../src/journal/instance-journal.ts';
import { JournalWriter } from '../src/journal/journal-writer.ts';
import { RecordKind } from '../src/journal/record.ts';

/**
 * Throughput of the hot-path building blocks. `bun run bench` prints ops/s per task; compare
 * figures from one run (the machine is noisy), never against a fixed number.
 */
const bench = new Bench({ time: Number(process.env.BENCH_TIME_MS ?? 1000), warmupTime: 200 });

// Baselines measured in the same run: the hot paths below are reported as ratios to them, so a
// regression shows whatever the machine's speed today (see the table printed at the end).
const baselineSignal = new Int32Array(new SharedArrayBuffer(64));
bench.add('baseline: 4 atomic operations on shared memory', () => {
  Atomics.compareExchange(baselineSignal, 0, Atomics.load(baselineSignal, 0), Atomics.load(baselineSignal, 0) + 1);
  Atomics.store(baselineSignal, 8, Atomics.load(baselineSignal, 0));
});
const baselineHeaders = { 'content-type': 'application/json' };
bench.add('baseline: build a 202 Response', () => new Response('{"message":"payment accepted"}', { status: 202, headers: baselineHeaders }));

const ring = PaymentRing.create(1024);
const slot = new PaymentSlot();
const id = Uint32Array.of(0x4a7901b8, 0x7d264d9d, 0xaa194dc1, 0xc7cf60b3);
bench.add('ring push+pop', () => {
  ring.tryPush(id, 0, 1990, 1_700_000_000_000);
  ring.tryPop(slot);
});

const bodies = Array.from({ length: 1024 }, () => new TextEncoder().encode(JSON.stringify({ correlationId: crypto.randomUUID(), amount: 19.9 })));
const parsed = new ParsedPayment();
let next = 0;
bench.add('parse+validate payment body', () => {
  if (parsePayment(bodies[next++ & 1023], parsed) !== null) throw new Error('rejected a valid body');
});

const ids = new IdSet();
const words = new Uint32Array(4);
let counter = 0;
bench.add('accepted-id set add (growing)', () => {
  words[0] = counter++;
  words[1] = counter * 2654435761;
  ids.add(words, 0);
});

const ledger = SharedLedger.create(200_000);
const start = Date.now();
for (let i = 0; i < 100_000; i++) ledger.append(i % 10 === 0 ? FALLBACK : DEFAULT, start + i * 3, 1990);
bench.add('ledger summary, 15 s window of 100k entries', () => {
  ledger.totals({ from: start + 150_000, to: start + 165_000 });
});

// A full ledger at one settlement per ms, nearly in order as workers record them: every 50th
// entry 3 s late, every 997th dated 2 s ahead.
const fullLedger = SharedLedger.create(4_000_000);
for (let i = 0; i < 4_000_000; i++) {
  const late = i % 50 === 0 ? -3000 : i % 997 === 0 ? 2000 : 0;
  fullLedger.append(i % 10 === 0 ? FALLBACK : DEFAULT, start + i + late, 1990);
}
bench.add('ledger summary, 15 s window over 4M entries', () => {
  fullLedger.totals({ from: start + 2_000_000, to: start + 2_015_000 });
});

// The HTTP hot path in process: parse + validate + dedup + (journal) + enqueue + build the 202.
// A consumer pops right after, standing in for the payment workers so the ring never fills.
for (const journaled of [false, true]) {
  const { attached } = createSharedState(loadConfig({ LEDGER_CAPACITY: '10000', JOURNAL_DIR: 'off' }));
  const acceptedIds = new IdSet();
  const journal = journaled ? new InstanceJournal(mkdtempSync(join(tmpdir(), 'bench-journal-')), 0, attached.ledger, acceptedIds, () => {}) : null;
  const stalls = new StallDetector({ log: () => {} });
  const routes = new GatewayRoutes({
    ...attached,
    acceptedIds,
    journal,
    ledgerReader: new LocalLedger(attached.ledger, async () => {}),
    instances: [null],
    fleet: null,
    stalls,
  });
  // One body whose first 8 id digits are rewritten per call: every call is a new payment.
  const body = new TextEncoder().encode('{"correlationId":"00000000-7d26-4d9d-aa19-4dc1c7cf60b3","amount":19.90}');
  const hex = new TextEncoder().encode('0123456789abcdef');
  const popped = new PaymentSlot();
  const headers = { 'content-type': 'application/json' };
  let serial = 0;
  bench.add(`POST /payments in process (${journaled ? 'journal on' : 'journal off'})`, () => {
    serial++;
    for (let digit = 0; digit < 8; digit++) body[18 + digit] = hex[(serial >>> (28 - 4 * digit)) & 15];
    const reply = routes.acceptPayment(body) as Reply;
    if (reply.status !== 202) throw new Error(reply.body);
    attached.ring.tryPop(popped);
    return new Response(reply.body, { status: reply.status, headers });
  });
}

// A payment worker's journal: 16 records (the attempts and settlements of one pump), written one
// write(2) each, or staged and flushed in one.
const JOURNAL_BATCH = 16;
const workerJournal = new JournalWriter(join(mkdtempSync(join(tmpdir(), 'bench-journal-')), 'worker-1.jnl'), 0);
const journalId = new Uint32Array([1, 2, 3, 4]);
bench.add(`worker journal, ${JOURNAL_BATCH} records as ${JOURNAL_BATCH} writes`, () => {
  for (let i = 0; i < JOURNAL_BATCH; i++) workerJournal.append(RecordKind.Attempt, 0, journalId, 0, 1990, i);
});
bench.add(`worker journal, ${JOURNAL_BATCH} records staged, 1 write`, () => {
  for (let i = 0; i < JOURNAL_BATCH; i++) workerJournal.stage(RecordKind.Attempt, 0, journalId, 0, 1990, i);
  workerJournal.flush();
});

await bench.run();
const opsPerSecond = (name: string) =>
  (bench.tasks.find((task) => task.name === name)?.result as { throughput?: { mean: number } } | undefined)?.throughput?.mean ?? NaN;
/** Each hot path over its baseline of this run; today's ratios (README "Performance") are the reference. */
const ratio = (path: string, baseline: string) => ({ path, baseline, ratio: (opsPerSecond(path) / opsPerSecond(baseline)).toFixed(3) });
console.table(
  bench.tasks.map((task) => {
    const result = task.result as { throughput?: { mean: number }; latency?: { p99?: number; mean: number } } | undefined;
    return {
      task: task.name,
      'ops/s': Math.round(result?.throughput?.mean ?? 0).toLocaleString('en-US'),
      'mean (ns)': Math.round((result?.latency?.mean ?? 0) * 1e6),
      'p99 (ns)': Math.round((result?.latency?.p99 ?? 0) * 1e6),
    };
  }),
);
console.table([
  ratio('ring push+pop', 'baseline: 4 atomic operations on shared memory'),
  ratio('POST /payments in process (journal off)', 'baseline: build a 202 Response'),
  ratio('POST /payments in process (journal on)', 'baseline: build a 202 Response'),
]);
