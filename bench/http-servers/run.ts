/**
 * Bun.serve (src/gateway/main.ts) against uWebSockets.js on Node (dist/node/main-node.js), in one
 * run on one machine: one gateway instance at a time (port 27310), journal on, the processor
 * simulator on 27301/27302, the two servers alternated.
 *
 *   bun bench/http-servers/run.ts [--rounds 3] [--wrk-seconds 15] [--loadtest-rounds 2] [--loadtest-seconds 30]
 *
 * Per round and server: a fresh instance (fresh journal directory, simulator purged), a 3 s wrk
 * warm-up, then `wrk -t1 -c64 -d15s --latency` posting fresh payments (post-payment.lua); the
 * gateway's CPU time (all its threads, /proc) and peak RSS are read around the run. Then the
 * project's load generator, `tools/loadtest/main.ts --no-admin --schedule none --vus 500`, on a
 * fresh instance of each. Prints a Markdown table; everything goes to --out as JSON.
 *
 * Both servers run from one snapshot of the sources taken at the start (copied to a temporary
 * directory, node_modules linked), so edits made to the working tree while it runs change neither.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Subprocess } from 'bun';

const CHECKOUT = resolve(import.meta.dir, '../..');
const BUN = process.execPath;
// Below the ephemeral range (32768-60999 here): tests running beside this one bind port 0 and
// could otherwise take one of these first.
const SIM_DEFAULT = 27301;
const SIM_FALLBACK = 27302;
const PORT = 27310;
const TOKEN = '123';
const CLOCK_TICKS = 100;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'wrk-seconds': { type: 'string', default: '15' },
    'loadtest-rounds': { type: 'string', default: '2' },
    'loadtest-seconds': { type: 'string', default: '30' },
    out: { type: 'string', default: join(CHECKOUT, 'reports', `http-servers-${new Date().toISOString().replace(/[:.]/g, '-')}.json`) },
  },
});
const rounds = Number(args.rounds);
const wrkSeconds = Number(args['wrk-seconds']);
const loadtestRounds = Number(args['loadtest-rounds']);
const loadtestSeconds = Number(args['loadtest-seconds']);

const work = mkdtempSync(join(tmpdir(), 'http-servers-bench-'));
const ROOT = join(work, 'tree');
for (const path of [
  'package.json',
  'src',
  'tools/build-node.ts',
  'tools/loadtest',
  'bench/http-servers/bun-gateway.ts',
  'bench/http-servers/post-payment.lua',
]) {
  cpSync(join(CHECKOUT, path), join(ROOT, path), { recursive: true });
}
symlinkSync(join(CHECKOUT, 'node_modules'), join(ROOT, 'node_modules'));

type ServerName = 'bun' | 'node-uws';
const COMMANDS: Record<ServerName, string[]> = {
  // The Bun entry under a command line of its own (bun-gateway.ts imports src/gateway/main.ts).
  bun: [BUN, join(ROOT, 'bench/http-servers/bun-gateway.ts')],
  'node-uws': ['node', join(ROOT, 'dist/node/main-node.js')],
};

const say = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

async function run(cmd: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, out: out + err };
}

async function waitFor(read: () => string, pattern: RegExp, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(read())) {
    if (Date.now() > deadline) throw new Error(`${what}: no ${pattern} within ${timeoutMs} ms:\n${read()}`);
    await Bun.sleep(50);
  }
}

function collect(proc: Subprocess<'pipe' | 'ignore', 'pipe', 'pipe'>): () => string {
  let text = '';
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  return () => text;
}

/** CPU seconds (user + system, every thread) of a process so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function memoryMB(pid: number): { rssMB: number; peakMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMB: Math.round(kB('VmRSS') / 1024), peakMB: Math.round(kB('VmHWM') / 1024) };
}

async function purgeSimulator(): Promise<void> {
  for (const port of [SIM_DEFAULT, SIM_FALLBACK]) {
    const response = await fetch(`http://127.0.0.1:${port}/admin/purge-payments`, { method: 'POST', headers: { 'X-Rinha-Token': TOKEN } });
    if (!response.ok) throw new Error(`simulator purge on ${port}: HTTP ${response.status}`);
  }
}

interface Gateway {
  pid: number;
  stop(): Promise<void>;
}

let instanceCount = 0;
async function startGateway(name: ServerName): Promise<Gateway> {
  await purgeSimulator();
  const journalDir = join(work, `journal-${name}-${++instanceCount}`);
  const proc = Bun.spawn(COMMANDS[name], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(PORT),
      DEFAULT_PROCESSOR_URL: `http://127.0.0.1:${SIM_DEFAULT}`,
      FALLBACK_PROCESSOR_URL: `http://127.0.0.1:${SIM_FALLBACK}`,
      JOURNAL_DIR: journalDir,
      // The backlog a run leaves is not the next run's business: stop at once.
      SHUTDOWN_GRACE_MS: '0',
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const output = collect(proc);
  await waitFor(output, /gateway listening on/, name);
  return {
    pid: proc.pid,
    async stop() {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await proc.exited;
      clearTimeout(killer);
      rmSync(journalDir, { recursive: true, force: true });
      await Bun.sleep(1000);
    },
  };
}

const toMs = (value: string, unit: string) => Number(value) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);

interface WrkRun {
  server: ServerName;
  round: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  non2xx: number;
  socketErrors: string | null;
  gatewayCpuSec: number;
  gatewayCpuPercent: number;
  requestsPerCpuSec: number;
  rssMB: number;
  peakRssMB: number;
}

async function wrk(seconds: number): Promise<string> {
  const { code, out } = await run([
    'wrk',
    '-t1',
    '-c64',
    `-d${seconds}s`,
    '--latency',
    '-s',
    join(ROOT, 'bench/http-servers/post-payment.lua'),
    `http://127.0.0.1:${PORT}`,
  ]);
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${out}`);
  return out;
}

async function wrkRound(server: ServerName, round: number): Promise<WrkRun> {
  const gateway = await startGateway(server);
  try {
    await wrk(3); // warm-up (JIT, connections, pools)
    await Bun.sleep(500);
    const cpuBefore = cpuSeconds(gateway.pid);
    const out = await wrk(wrkSeconds);
    const cpu = cpuSeconds(gateway.pid) - cpuBefore;
    const latency = (p: string) => {
      const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)$`, 'm').exec(out);
      if (!match) throw new Error(`no ${p}% latency in wrk output:\n${out}`);
      return toMs(match[1]!, match[2]!);
    };
    const max = /Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)/.exec(out)!;
    const requests = Number(/(\d+) requests in/.exec(out)![1]);
    const requestsPerSec = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
    const result: WrkRun = {
      server,
      round,
      requestsPerSec: Math.round(requestsPerSec),
      p50Ms: latency('50'),
      p99Ms: latency('99'),
      maxMs: toMs(max[1]!, max[2]!),
      requests,
      non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
      socketErrors: /Socket errors: (.*)/.exec(out)?.[1] ?? null,
      gatewayCpuSec: Math.round(cpu * 10) / 10,
      gatewayCpuPercent: Math.round((cpu / wrkSeconds) * 100),
      requestsPerCpuSec: Math.round(requests / cpu),
      ...(({ rssMB, peakMB }) => ({ rssMB, peakRssMB: peakMB }))(memoryMB(gateway.pid)),
    };
    say(`wrk ${server} round ${round}: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await gateway.stop();
  }
}

interface LoadtestRun {
  server: ServerName;
  round: number;
  requests: number;
  failed: number;
  timeouts: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  generatorCpuPercentOfOneCore: number;
  generatorTimerLatenessP99Ms: number;
  gatewayCpuSec: number;
  peakRssMB: number;
}

async function loadtestRound(server: ServerName, round: number): Promise<LoadtestRun> {
  const gateway = await startGateway(server);
  try {
    const outDir = join(work, `loadtest-${server}-${round}`);
    const cpuBefore = cpuSeconds(gateway.pid);
    const cmd = [
      BUN,
      join(ROOT, 'tools/loadtest/main.ts'),
      '--url',
      `http://127.0.0.1:${PORT}`,
      '--no-admin',
      '--schedule',
      'none',
      '--vus',
      '500',
      '--duration',
      String(loadtestSeconds),
      '--out',
      outDir,
    ];
    const { code, out } = await run(cmd);
    if (code !== 0) throw new Error(`loadtest exited with ${code}:\n${out}`);
    const cpu = cpuSeconds(gateway.pid) - cpuBefore;
    const result = JSON.parse(readFileSync(join(outDir, 'result.json'), 'utf8'));
    const summary: LoadtestRun = {
      server,
      round,
      requests: result.requests.all.total,
      failed: result.requests.all.failed,
      timeouts: result.requests.all.timeouts,
      p50Ms: result.latency.all.p50Ms,
      p99Ms: result.latency.all.p99Ms,
      maxMs: result.latency.all.maxMs,
      generatorCpuPercentOfOneCore: Math.round(result.generator.cpuPercentOfOneCore * 10) / 10,
      generatorTimerLatenessP99Ms: result.generator.timerLatenessP99Ms,
      gatewayCpuSec: Math.round(cpu * 10) / 10,
      peakRssMB: memoryMB(gateway.pid).peakMB,
    };
    say(`loadtest ${server} round ${round}: ${JSON.stringify(summary)}`);
    return summary;
  } finally {
    await gateway.stop();
  }
}

// ---------------------------------------------------------------------------------------------
const build = await run([BUN, join(ROOT, 'tools/build-node.ts')]);
if (build.code !== 0) throw new Error(`build failed:\n${build.out}`);
const versions = {
  bun: Bun.version,
  node: (await run(['node', '--version'])).out.trim(),
  uws: JSON.parse(readFileSync(join(ROOT, 'node_modules/@trufflesuite/uws-js-unofficial/package.json'), 'utf8')).version,
  wrk: (await run(['wrk', '--version'])).out.split('\n')[0]!.trim(),
  cores: navigator.hardwareConcurrency,
  commit: (await run(['git', '-C', CHECKOUT, 'rev-parse', '--short', 'HEAD'])).out.trim(),
  uncommittedSourceFiles: (await run(['git', '-C', CHECKOUT, 'status', '--porcelain', 'src'])).out.trim().split('\n').filter(Boolean),
};
say(`versions ${JSON.stringify(versions)}; work dir ${work}`);

const sim = Bun.spawn([BUN, join(ROOT, 'tools/simulator/main.ts')], {
  cwd: ROOT,
  env: {
    ...process.env,
    SIM_HOST: '127.0.0.1',
    SIM_DEFAULT_PORT: String(SIM_DEFAULT),
    SIM_FALLBACK_PORT: String(SIM_FALLBACK),
    SIM_TOKEN: TOKEN,
    SIM_EXIT_ON_STDIN_CLOSE: '1',
  },
  stdin: 'pipe',
  stdout: 'pipe',
  stderr: 'pipe',
});
const simOutput = collect(sim);
const wrkRuns: WrkRun[] = [];
const loadtestRuns: LoadtestRun[] = [];
try {
  await waitFor(simOutput, /^simulator: ready$/m, 'simulator');
  const order = (round: number): ServerName[] => (round % 2 === 1 ? ['bun', 'node-uws'] : ['node-uws', 'bun']);
  for (let round = 1; round <= rounds; round++) for (const server of order(round)) wrkRuns.push(await wrkRound(server, round));
  for (let round = 1; round <= loadtestRounds; round++) for (const server of order(round)) loadtestRuns.push(await loadtestRound(server, round));
} finally {
  sim.kill('SIGTERM');
  await sim.exited;
  rmSync(work, { recursive: true, force: true });
}

mkdirSync(resolve(args.out!, '..'), { recursive: true });
writeFileSync(args.out!, JSON.stringify({ versions, wrkSeconds, loadtestSeconds, wrkRuns, loadtestRuns }, null, 2));

console.log(`\nwrk -t1 -c64 -d${wrkSeconds}s --latency, POST /payments (fresh ids), journal on\n`);
console.log('| round | server | req/s | p50 ms | p99 ms | max ms | non-2xx | gateway CPU | req per CPU-s | peak RSS MB |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of wrkRuns) {
  console.log(
    `| ${r.round} | ${r.server} | ${r.requestsPerSec} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.non2xx} | ${r.gatewayCpuPercent}% | ${r.requestsPerCpuSec} | ${r.peakRssMB} |`,
  );
}
console.log(`\ntools/loadtest --no-admin --schedule none --vus 500 --duration ${loadtestSeconds}\n`);
console.log(
  '| round | server | requests | failed | p50 ms | p99 ms | max ms | generator CPU (% of a core) | generator timer lateness p99 ms | gateway CPU s | peak RSS MB |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of loadtestRuns) {
  console.log(
    `| ${r.round} | ${r.server} | ${r.requests} | ${r.failed} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.generatorCpuPercentOfOneCore} | ${r.generatorTimerLatenessP99Ms} | ${r.gatewayCpuSec} | ${r.peakRssMB} |`,
  );
}
console.log(`\nJSON: ${args.out}`);
