/**
 * Restart cost of the journal: writes the journal of N settled payments as the gateway does (the
 * HTTP thread's accepted records, a worker's attempt + settled records staged 16 payments to a
 * write, segments rolled every 4 MB, compaction while running every 100,000 payments), then
 * restarts on it in a child process and reports replay time and peak RSS (VmHWM). Where cgroup v1
 * memory is writable (root), the child runs under a 160 MB memory limit, as the container does.
 *
 *   bun bench/restart.ts [N ...]        default: 100000 1000000
 *
 * `--month [N]` (default 30,000,000): N settled payments dated over 30 days go into one ledger
 * with the gateway's default LEDGER_CAPACITY and its archive, folded as the gateway's timer does,
 * with the accepted ids in the gateway's RecentIdSet, in a child under the same 160 MB limit. It
 * reports peak memory, the archive's size, and 200 random windows (millisecond edges, old and
 * new): their time to answer and whether each equals an independent brute-force sum, kept while
 * the payments were generated (each payment added to the stretch between window edges it falls
 * in).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceJournal } from '../src/journal/instance-journal.ts';
import { DEFAULT, FALLBACK, type ProcessorIndex } from '../src/domain/processors.ts';
import { LedgerArchive } from '../src/ledger/ledger-archive.ts';
import { IdSet, RecentIdSet } from '../src/queue/id-set.ts';
import { JournalWriter } from '../src/journal/journal-writer.ts';
import { RecordKind } from '../src/journal/record.ts';
import { workerFile } from '../src/journal/replay.ts';
import { SharedLedger } from '../src/ledger/shared-ledger.ts';
import { mulberry32 } from '../tools/loadtest/prng.ts';

const LIMIT_BYTES = 160 * 1024 * 1024;
const COMPACT_EVERY = 100_000;
const QUEUE_CAPACITY = 65_536;

const vmHwmKb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

const MONTH_MS = 30 * 86_400_000;
const MONTH_START = Date.parse('2026-10-01T00:00:00.000Z');
const LEDGER_CAPACITY = 1_000_000;
const WINDOWS = 200;

if (process.argv[2] === '--month-child') {
  const [dir, payments] = [process.argv[3], Number(process.argv[4])];
  const next = mulberry32(2026);
  // The windows first (so the brute force can be kept while generating): a quarter auditor-like
  // (15 s), a quarter a few minutes, half anything up to the month; both edges at any millisecond.
  const windows = Array.from({ length: WINDOWS }, () => {
    const from = MONTH_START + Math.floor(next() * MONTH_MS);
    const kind = next();
    const length = Math.floor(kind < 0.25 ? next() * 15_000 : kind < 0.5 ? next() * 600_000 : next() * MONTH_MS);
    return { from, to: from + length };
  });
  // Brute force: the payments falling between consecutive edges, summed per stretch and processor.
  const edges = [...new Set(windows.flatMap((w) => [w.from, w.to + 1]))].sort((a, b) => a - b);
  const stretchCount = [new Float64Array(edges.length + 1), new Float64Array(edges.length + 1)];
  const stretchCents = [new Float64Array(edges.length + 1), new Float64Array(edges.length + 1)];
  const stretchOf = (at: number) => {
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid] <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const ledger = SharedLedger.create(LEDGER_CAPACITY);
  const archive = new LedgerArchive(join(dir, 'ledger-history.bin'));
  ledger.attachArchive(archive);
  const ids = new RecentIdSet(Math.ceil((LEDGER_CAPACITY + QUEUE_CAPACITY) / 2));
  const id = new Uint32Array(4);
  let peakRssMb = 0;
  const started = performance.now();
  for (let n = 0; n < payments; n++) {
    crypto.getRandomValues(id);
    ids.add(id, 0);
    // In order of settlement: a few seconds off the order of requestedAt, one in 500 found late (up to an hour).
    const late = next() < 0.002 ? next() * 3_600_000 : 0;
    const at = Math.max(MONTH_START, Math.floor(MONTH_START + (n / payments) * MONTH_MS + next() * 5000 - late));
    const processor = (next() < 0.25 ? FALLBACK : DEFAULT) as ProcessorIndex;
    const cents = 1 + Math.floor(next() * 100_000);
    if (!ledger.append(processor, at, cents)) throw new Error(`append ${n} refused`);
    const stretch = stretchOf(at);
    stretchCount[processor][stretch]++;
    stretchCents[processor][stretch] += cents;
    // The gateway folds on a timer; at 300 payments a second, 250 ms is ~75 payments.
    if (n % 4096 === 4095) ledger.fold();
    if (n % 1_000_000 === 999_999) peakRssMb = Math.max(peakRssMb, process.memoryUsage.rss() / 1024 / 1024);
  }
  ledger.fold();
  const loadMs = performance.now() - started;
  // The first pass also compiles the code; the second is what a running gateway answers with.
  const cold: number[] = [];
  for (const window of windows) {
    const t0 = performance.now();
    ledger.totals(window);
    cold.push(performance.now() - t0);
  }
  const times: number[] = [];
  let equal = 0;
  const mismatches: string[] = [];
  for (const window of windows) {
    const t0 = performance.now();
    const got = ledger.totals(window);
    times.push(performance.now() - t0);
    const expected = [DEFAULT, FALLBACK].map((p) => {
      let count = 0;
      let cents = 0n;
      for (let s = stretchOf(window.from); s < stretchOf(window.to + 1); s++) {
        count += stretchCount[p][s];
        cents += BigInt(stretchCents[p][s]);
      }
      return { count, cents };
    });
    if (
      JSON.stringify(got, (_, v) => (typeof v === 'bigint' ? v.toString() : v)) ===
      JSON.stringify(expected, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
    )
      equal++;
    else if (mismatches.length < 3) mismatches.push(`${JSON.stringify(window)}`);
  }
  times.sort((a, b) => a - b);
  cold.sort((a, b) => a - b);
  const at = (q: number, sorted = times) => Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(3));
  console.log(
    JSON.stringify({
      payments,
      loadS: Number((loadMs / 1000).toFixed(1)),
      windowsEqualBruteForce: `${equal}/${WINDOWS}`,
      mismatches,
      summaryMs: { p50: at(0.5), p99: at(0.99), max: at(1) },
      firstPassSummaryMs: { p50: at(0.5, cold), p99: at(0.99, cold), max: at(1, cold) },
      inMemory: ledger.count,
      folded: archive.entries,
      archiveMemoryMb: Number((archive.memoryBytes / 1024 / 1024).toFixed(1)),
      ledgerBuffersMb: Number((ledger.buffers.entries.byteLength / 1024 / 1024).toFixed(1)),
      idSetMb: Number((ids.bytes / 1024 / 1024).toFixed(1)),
      archiveFileMb: Math.round(statSync(join(dir, 'ledger-history.bin')).size / 1024 / 1024),
      sampledPeakRssMb: Math.round(peakRssMb),
      vmHwmMb: Math.round(vmHwmKb() / 1024),
    }),
  );
  process.exit(0);
}

if (process.argv[2] === '--child') {
  const [dir, capacity] = [process.argv[3], Number(process.argv[4])];
  const started = performance.now();
  // As the gateway starts: the ledger folds into its archive as the replay fills it.
  const ledger = SharedLedger.create(capacity);
  ledger.attachArchive(new LedgerArchive(join(dir, 'ledger-history.bin')));
  const ids = new RecentIdSet(Math.ceil((capacity + QUEUE_CAPACITY) / 2));
  const journal = new InstanceJournal(dir, 0, ledger, ids, () => {}, { compactEveryMs: 0 });
  const ms = performance.now() - started;
  const replay = journal.status().replay as Record<string, number>;
  console.log(JSON.stringify({ ms: Math.round(ms), vmHwmMb: Math.round(vmHwmKb() / 1024), settled: replay.settled, requeued: replay.requeued, ids: ids.size }));
  process.exit(0);
}

async function writeJournal(dir: string, payments: number): Promise<{ ms: number; compactions: number }> {
  const started = performance.now();
  const journal = new InstanceJournal(dir, 0, SharedLedger.create(16), new IdSet(16), (line) => console.error(line), { compactEveryMs: 0 });
  const worker = new JournalWriter(join(dir, workerFile(1)), 0);
  const id = new Uint32Array(4);
  let compactions = 0;
  for (let n = 0; n < payments; n++) {
    crypto.getRandomValues(id);
    const cents = 1 + (n % 100_000);
    const at = 1_700_000_000_000 + n;
    journal.accepted(id, cents, at);
    worker.stage(RecordKind.Attempt, n % 2, id, 0, cents, at);
    worker.stage(RecordKind.Settled, n % 2, id, 0, cents, at);
    if (n % 16 === 15) worker.flush();
    if (n % COMPACT_EVERY === COMPACT_EVERY - 1 && (await journal.compact())?.done) compactions++;
  }
  worker.close();
  journal.close();
  return { ms: performance.now() - started, compactions };
}

/** A memory cgroup of our own under this process's, or null (with why) when cgroup v1 memory is not writable. */
function memoryGroup(): { dir: string } | { why: string } {
  const line = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((entry) => entry.split(':')[1]?.split(',').includes('memory'));
  const own = line === undefined ? null : `/sys/fs/cgroup/memory${line.split(':')[2] === '/' ? '' : line.split(':')[2]}`;
  if (own === null || !existsSync(`${own}/memory.limit_in_bytes`)) return { why: 'no cgroup v1 memory controller' };
  const dir = `${own}/bench-restart-${process.pid}`;
  try {
    mkdirSync(dir);
    writeFileSync(`${dir}/memory.limit_in_bytes`, String(LIMIT_BYTES));
    return { dir };
  } catch (error) {
    return { why: `cgroup not writable (${(error as Error).message})` };
  }
}

function restartInChild(dir: string, capacity: number, mode = '--child') {
  const group = memoryGroup();
  const command = [process.execPath, import.meta.path, mode, dir, String(capacity)];
  const run =
    'dir' in group
      ? spawnSync('sh', ['-c', `echo $$ > ${group.dir}/cgroup.procs; exec "$@"`, 'sh', ...command], { encoding: 'utf8' })
      : spawnSync(command[0], command.slice(1), { encoding: 'utf8' });
  let cgroup = 'why' in group ? group.why : `limit ${LIMIT_BYTES / 1024 / 1024} MB`;
  if ('dir' in group) {
    cgroup += `, peak charged ${Math.round(Number(readFileSync(`${group.dir}/memory.max_usage_in_bytes`, 'utf8')) / 1024 / 1024)} MB`;
    rmdirSync(group.dir);
  }
  if (run.status !== 0) return { failed: `exit ${run.status ?? run.signal}: ${run.stderr.slice(-300)}`, cgroup };
  return { ...JSON.parse(run.stdout.trim().split('\n').pop()!), cgroup };
}

if (process.argv[2] === '--month') {
  const payments = Number(process.argv[3] ?? 30_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'bench-month-'));
  console.log(`month: ${JSON.stringify(restartInChild(dir, payments, '--month-child'))}`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

const counts = process.argv.slice(2).map(Number);
for (const payments of counts.length > 0 ? counts : [100_000, 1_000_000]) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-restart-'));
  const written = await writeJournal(dir, payments);
  const files = readdirSync(dir).map((name) => `${name} ${(statSync(join(dir, name)).size / 1024 / 1024).toFixed(1)} MB`);
  const restart = restartInChild(dir, LEDGER_CAPACITY);
  console.log(
    `${payments} payments: written in ${(written.ms / 1000).toFixed(1)} s with ${written.compactions} compactions while running; files: ${files.join(', ')}`,
  );
  console.log(`  restart: ${JSON.stringify(restart)}`);
  rmSync(dir, { recursive: true, force: true });
}
