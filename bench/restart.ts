/**
 * Restart cost of the journal: writes the journal of N settled payments as the gateway does (the
 * HTTP thread's accepted records, a worker's attempt + settled records staged 16 payments to a
 * write, segments rolled every 4 MB, compaction while running every 100,000 payments), then
 * restarts on it in a child process and reports replay time and peak RSS (VmHWM). Where cgroup v1
 * memory is writable (root), the child runs under a 160 MB memory limit, as the container does.
 *
 *   bun bench/restart.ts [N ...]        default: 100000 1000000
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceJournal } from '../src/journal/instance-journal.ts';
import { JournalWriter } from '../src/journal/journal-writer.ts';
import { RecordKind } from '../src/journal/record.ts';
import { workerFile } from '../src/journal/replay.ts';
import { SharedLedger } from '../src/ledger/shared-ledger.ts';
import { IdSet } from '../src/queue/id-set.ts';

const LIMIT_BYTES = 160 * 1024 * 1024;
const COMPACT_EVERY = 100_000;
const QUEUE_CAPACITY = 65_536;

const vmHwmKb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

if (process.argv[2] === '--child') {
  const [dir, capacity] = [process.argv[3], Number(process.argv[4])];
  const started = performance.now();
  const ledger = SharedLedger.create(capacity);
  const ids = new IdSet(undefined, capacity + QUEUE_CAPACITY);
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

function restartInChild(dir: string, capacity: number) {
  const group = memoryGroup();
  const command = [process.execPath, import.meta.path, '--child', dir, String(capacity)];
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

const counts = process.argv.slice(2).map(Number);
for (const payments of counts.length > 0 ? counts : [100_000, 1_000_000]) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-restart-'));
  const written = await writeJournal(dir, payments);
  const files = readdirSync(dir).map((name) => `${name} ${(statSync(join(dir, name)).size / 1024 / 1024).toFixed(1)} MB`);
  const restart = restartInChild(dir, Math.max(payments, 1_000_000));
  console.log(
    `${payments} payments: written in ${(written.ms / 1000).toFixed(1)} s with ${written.compactions} compactions while running; files: ${files.join(', ')}`,
  );
  console.log(`  restart: ${JSON.stringify(restart)}`);
  rmSync(dir, { recursive: true, force: true });
}
