/**
 * The processor client (src/processors/client.ts) over each transport, against the simulator:
 * raw keep-alive sockets (the workers' default), undici's Pool and the runtime's fetch
 * (bench/fetch-transport.ts, for comparison only).
 *
 *   bun bench/processor-clients.ts                 # simulator in a separate process (default)
 *   bun bench/processor-clients.ts --in-process    # simulator in this process (shares the thread; Bun only)
 *   env: ROUNDS (3), SEQ (2000 calls), CONC_TOTAL (12000 calls), INFLIGHT (64), WARMUP (500 calls),
 *        ONLY (a comma-separated subset of: undici, raw, fetch)
 *
 * On Node (the clients run there too; "fetch" is then Node's global fetch), bundle it first and
 * run it from the repository root (the simulator is still started with Bun):
 *   node_modules/.bin/bun build bench/processor-clients.ts --target=node --outfile=/tmp/processor-clients.mjs
 *   node --expose-gc /tmp/processor-clients.mjs
 *
 * Cases, per client: sequential pays (one in flight: latency mean/p50/p99) and concurrent pays
 * (INFLIGHT in flight: pays/s). Each round runs every client once, in a rotated order, after a
 * warmup of that client; client CPU per pay is process CPU time over the case divided by the pays
 * (with the simulator in its own process that is the client's cost alone, plus the bench loop).
 * The machine is noisy: compare figures within one run, and across rounds, never to a constant.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessorClient, withDefaults, type PayOutcome, type ProcessorApi, type Transport } from '../src/processors/client.ts';
import { RawTransport } from '../src/processors/raw-transport.ts';
import { UndiciTransport } from '../src/processors/undici-transport.ts';
import { FetchTransport } from './fetch-transport.ts';

type Client = ProcessorApi;

const IN_PROCESS = process.argv.includes('--in-process');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SEQ = Number(process.env.SEQ ?? 2000);
const CONC_TOTAL = Number(process.env.CONC_TOTAL ?? 12_000);
const INFLIGHT = Number(process.env.INFLIGHT ?? 64);
const WARMUP = Number(process.env.WARMUP ?? 500);
/** As the workers: MAX_INFLIGHT_PER_PROCESSOR 256 over 2 workers. */
const OPTIONS = withDefaults({ connections: 128, timeoutMs: 6000 });
const TOKEN = '123';
const RUNTIME = process.versions.bun ? `Bun ${process.versions.bun}` : `Node ${process.version}`;
const gc = (): void => {
  if (typeof Bun !== 'undefined') Bun.gc(true);
  else (globalThis as { gc?: () => void }).gc?.();
};

const ONLY = process.env.ONLY ? process.env.ONLY.split(',') : null;
const CLIENTS: Array<{ key: string; name: string; make(url: string): Client }> = [
  { key: 'undici', name: 'undici Pool', transport: UndiciTransport },
  { key: 'raw', name: 'raw socket', transport: RawTransport },
  { key: 'fetch', name: process.versions.bun ? 'Bun fetch' : 'Node fetch', transport: FetchTransport },
]
  .filter((client) => ONLY === null || ONLY.includes(client.key))
  .map(({ key, name, transport }: { key: string; name: string; transport: new (url: string, options: typeof OPTIONS) => Transport }) => ({
    key,
    name,
    make: (url: string) => new ProcessorClient(new transport(url, OPTIONS)),
  }));

interface Simulator {
  url: string;
  stop(): Promise<void>;
}

async function startSimulator(): Promise<Simulator> {
  if (IN_PROCESS) {
    if (typeof Bun === 'undefined') throw new Error('--in-process needs Bun (the simulator is Bun.serve)');
    const { startProcessor } = await import('../tools/simulator/processor.ts');
    const processor = startProcessor({ name: 'default', port: 0, fee: 0.05, token: TOKEN, maxConcurrent: 10_000, maxQueued: 10_000 });
    return { url: processor.url, stop: () => processor.stop() };
  }
  // Next to this file when run from source; from the working directory when run as a bundle.
  const here = resolve(dirname(fileURLToPath(import.meta.url)), '../tools/simulator/main.ts');
  const main = existsSync(here) ? here : resolve('tools/simulator/main.ts');
  const bun = typeof Bun !== 'undefined' ? process.execPath : resolve('node_modules/.bin/bun');
  // Ports 0: the simulator prints the ones it got (never the fixed 8001/8002 of `npm run local`).
  const proc = spawn(bun, [main], {
    env: { ...process.env, SIM_HOST: '127.0.0.1', SIM_DEFAULT_PORT: '0', SIM_FALLBACK_PORT: '0', SIM_TOKEN: TOKEN, SIM_EXIT_ON_STDIN_CLOSE: '1' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolveExit) => proc.once('exit', () => resolveExit()));
  let output = '';
  const ready = new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulator did not start:\n${output}`)), 15_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/^simulator: ready$/m.test(output)) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    proc.once('exit', () => reject(new Error(`simulator exited:\n${output}`)));
  });
  await ready;
  const url = /^simulator: default listening on (\S+)$/m.exec(output)?.[1];
  if (!url) throw new Error(`no default URL in:\n${output}`);
  return {
    url,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

const REQUESTED_AT = Date.now();

function ids(count: number): string[] {
  return Array.from({ length: count }, () => crypto.randomUUID());
}

function check(outcome: PayOutcome, failures: Map<string, number>): void {
  if (outcome.kind === 'recorded') return;
  const key = outcome.kind === 'rejected' || outcome.kind === 'unknown' ? `${outcome.kind}: ${outcome.reason}` : outcome.kind;
  failures.set(key, (failures.get(key) ?? 0) + 1);
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface SequentialResult {
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerPay: number;
}

async function sequential(client: Client, count: number, failures: Map<string, number>): Promise<SequentialResult> {
  const list = ids(count);
  const latencies = new Float64Array(count);
  const cpu0 = cpuMicros();
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const outcome = await client.pay(list[i]!, 1990, REQUESTED_AT);
    latencies[i] = performance.now() - started;
    check(outcome, failures);
  }
  const cpu = cpuMicros() - cpu0;
  latencies.sort();
  let sum = 0;
  for (const value of latencies) sum += value;
  return { meanMs: sum / count, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), cpuUsPerPay: cpu / count };
}

interface ConcurrentResult {
  paysPerSecond: number;
  p99Ms: number;
  cpuUsPerPay: number;
}

async function concurrent(client: Client, total: number, inflight: number, failures: Map<string, number>): Promise<ConcurrentResult> {
  const list = ids(total);
  const latencies = new Float64Array(total);
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const i = next++;
      const started = performance.now();
      const outcome = await client.pay(list[i]!, 1990, REQUESTED_AT);
      latencies[i] = performance.now() - started;
      check(outcome, failures);
    }
  };
  const cpu0 = cpuMicros();
  const started = performance.now();
  await Promise.all(Array.from({ length: inflight }, lane));
  const elapsedMs = performance.now() - started;
  const cpu = cpuMicros() - cpu0;
  latencies.sort();
  return { paysPerSecond: (total / elapsedMs) * 1000, p99Ms: percentile(latencies, 99), cpuUsPerPay: cpu / total };
}

async function purge(url: string): Promise<void> {
  const response = await fetch(`${url}/admin/purge-payments`, { method: 'POST', headers: { 'X-Rinha-Token': TOKEN } });
  if (!response.ok) throw new Error(`purge: HTTP ${response.status}`);
}

const sim = await startSimulator();
console.log(
  `simulator ${IN_PROCESS ? 'IN PROCESS (shares this thread: figures include the server side)' : 'in a separate process'} at ${sim.url}; ` +
    `${RUNTIME}; ${ROUNDS} rounds; sequential ${SEQ} pays; concurrent ${CONC_TOTAL} pays at ${INFLIGHT} in flight; warmup ${WARMUP} + ${WARMUP} per client and round`,
);

interface Row {
  round: number;
  client: string;
  'seq mean ms': string;
  'seq p50 ms': string;
  'seq p99 ms': string;
  'seq CPU µs/pay': number;
  'conc pays/s': number;
  'conc p99 ms': string;
  'conc CPU µs/pay': number;
  'not recorded': string;
}
const rows: Row[] = [];

for (let round = 1; round <= ROUNDS; round++) {
  // Rotate the order so that no client always runs first (or right after another's warmup).
  const order = CLIENTS.map((_, i) => CLIENTS[(i + round - 1) % CLIENTS.length]!);
  for (const { name, make } of order) {
    await purge(sim.url);
    const client = make(sim.url);
    const failures = new Map<string, number>();
    const warmupFailures = new Map<string, number>();
    await sequential(client, WARMUP, warmupFailures);
    await concurrent(client, WARMUP, INFLIGHT, warmupFailures);
    gc();
    const seq = await sequential(client, SEQ, failures);
    gc();
    const conc = await concurrent(client, CONC_TOTAL, INFLIGHT, failures);
    await client.close();
    rows.push({
      round,
      client: name,
      'seq mean ms': seq.meanMs.toFixed(3),
      'seq p50 ms': seq.p50Ms.toFixed(3),
      'seq p99 ms': seq.p99Ms.toFixed(3),
      'seq CPU µs/pay': Math.round(seq.cpuUsPerPay),
      'conc pays/s': Math.round(conc.paysPerSecond),
      'conc p99 ms': conc.p99Ms.toFixed(2),
      'conc CPU µs/pay': Math.round(conc.cpuUsPerPay),
      'not recorded': failures.size === 0 && warmupFailures.size === 0 ? '0' : JSON.stringify(Object.fromEntries([...warmupFailures, ...failures])),
    });
    console.log(`round ${round} ${name}: done`);
  }
}

console.table(rows);

// Per client, the median of the rounds (robust to one noisy round).
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.table(
  CLIENTS.map(({ name }) => {
    const mine = rows.filter((row) => row.client === name);
    const m = (key: keyof Row) => median(mine.map((row) => Number(row[key])));
    return {
      client: name,
      'seq mean ms': m('seq mean ms').toFixed(3),
      'seq p99 ms': m('seq p99 ms').toFixed(3),
      'seq CPU µs/pay': m('seq CPU µs/pay'),
      'conc pays/s': m('conc pays/s'),
      'conc p99 ms': m('conc p99 ms').toFixed(2),
      'conc CPU µs/pay': m('conc CPU µs/pay'),
    };
  }),
);

await sim.stop();
