/**
 * `bun deploy/measure.ts [--rate 500] [--duration 30] [--rounds 2] [--lbs haproxy,nginx]`: the
 * figures of deploy/README.md. For each round and load balancer, starts tools/stack.ts (with
 * its simulator) on a free port, runs deploy/bench.ts through the load balancer, then directly
 * against gateway-1's socket, stops the stack, and prints one markdown row per run.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dir, '..');
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const rate = option('rate', '500');
const duration = option('duration', '30');
const rounds = Number(option('rounds', '2'));
const lbs = option('lbs', 'haproxy,nginx').split(',');
const direct = !args.includes('--no-direct');

function freePort(): number {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

async function bench(extra: string[]): Promise<any> {
  const proc = Bun.spawn([process.execPath, 'deploy/bench.ts', '--rate', rate, '--duration', duration, '--json', ...extra], {
    cwd: ROOT,
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  return JSON.parse(text.trim().split('\n').pop()!);
}

/** 1-minute load average of the machine: the figures are only comparable on a quiet machine. */
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!;

const rows: string[] = [];
const row = (lb: string, path: string, r: any, load: string) => {
  const s = r.services as Record<string, { peakRssMb: number; cpuSeconds: number; throttledPeriods: number; memoryLimitHits: number }>;
  const throttled = Object.entries(s)
    .map(([name, x]) => `${name.replace('gateway-', 'gw').replace('load-balancer', 'LB')} ${x.throttledPeriods}`)
    .join(', ');
  const limitHits = Object.values(s).reduce((sum, x) => sum + x.memoryLimitHits, 0);
  const cpu = Object.values(s).reduce((sum, x) => sum + x.cpuSeconds, 0);
  const mb = (name: string) => (s[name] ? s[name].peakRssMb.toFixed(0) : '-');
  const per1k = (seconds: number) => ((seconds * 1000) / r.accepted).toFixed(3);
  const lbCpu = s['load-balancer']?.cpuSeconds ?? 0;
  const line = `| ${lb} | ${path} | ${load} | ${r.achievedRate} | ${r.accepted}/${r.requests} | ${r.latencyMs.p50.toFixed(3)} | ${r.latencyMs.p90.toFixed(3)} | ${r.latencyMs.p99.toFixed(3)} | ${r.latencyMs.max.toFixed(1)} | ${per1k(cpu)} (${per1k(cpu - lbCpu)} + ${per1k(lbCpu)}) | ${mb('gateway-1')} / ${mb('gateway-2')} / ${mb('load-balancer')} | ${throttled} | ${limitHits} |`;
  rows.push(line);
  console.log(line);
};

console.log(`rate ${rate}/s, ${duration} s per run, ${rounds} round(s)`);
console.log(
  '| LB | path | load avg | req/s | 2xx | p50 ms | p90 ms | p99 ms | max ms | CPU s / 1k payments (gateways + LB) | peak RSS MB gw1 / gw2 / LB | CFS-throttled periods | memory limit hits |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (let round = 1; round <= rounds; round++) {
  for (const lb of lbs) {
    const runDir = mkdtempSync(join(tmpdir(), 'stack-measure-'));
    const port = freePort();
    const stack = Bun.spawn([process.execPath, 'tools/stack.ts', '--lb', lb, '--port', String(port), '--run-dir', runDir], {
      cwd: ROOT,
      env: { ...process.env, SIM_DEFAULT_PORT: '0', SIM_FALLBACK_PORT: '0' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    let output = '';
    void (async () => {
      for await (const chunk of stack.stdout) output += new TextDecoder().decode(chunk);
    })();
    void (async () => {
      for await (const chunk of stack.stderr) output += new TextDecoder().decode(chunk);
    })();
    const deadline = Date.now() + 30_000;
    while (!/stack: ready on/.test(output)) {
      if (Date.now() > deadline || stack.exitCode !== null) throw new Error(`stack did not start:\n${output}`);
      await Bun.sleep(50);
    }
    await Bun.sleep(1000);
    const stackJson = join(runDir, 'stack.json');
    // The stack's own output, kept for when a run goes wrong.
    const logFile = join(ROOT, '.run', `measure-stack-${lb}-${round}.log`);
    mkdirSync(join(ROOT, '.run'), { recursive: true });
    const saveLog = () => writeFileSync(logFile, output);
    process.on('exit', saveLog);
    const runs: [string, string[]][] = [['load balancer', ['--url', `http://127.0.0.1:${port}`]]];
    if (direct && lb === lbs[0]) runs.push(['gateway-1 socket', ['--unix', join(runDir, 'gateway-1.sock')]]);
    for (const [path, target] of runs) {
      const load = loadAverage();
      try {
        row(lb, path, await bench([...target, '--stack', stackJson]), load);
      } catch (error) {
        console.log(`| ${lb} | ${path} | ${load} | run failed: ${error instanceof Error ? error.message : String(error)} (see ${logFile}) |`);
      }
    }
    stack.kill('SIGTERM');
    await stack.exited;
    saveLog();
    process.off('exit', saveLog);
    rmSync(runDir, { recursive: true, force: true });
  }
}
