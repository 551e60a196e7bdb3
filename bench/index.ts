import { Bench } from 'tinybench';
import { PaymentRing, PaymentSlot } from '../src/queue/payment-ring.ts';
import { IdSet } from '../src/queue/id-set.ts';
import { ParsedPayment, parsePayment } from '../src/http/parse-payment.ts';
import { SharedLedger } from '../src/ledger/shared-ledger.ts';
import { DEFAULT, FALLBACK } from '../src/ledger/ledger.ts';

/**
 * Throughput of the hot-path building blocks. `bun run bench` prints ops/s per task; compare
 * figures from one run (the machine is noisy), never against a fixed number.
 */
const bench = new Bench({ time: Number(process.env.BENCH_TIME_MS ?? 1000), warmupTime: 200 });

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

await bench.run();
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
