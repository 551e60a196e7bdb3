/**
 * The deployment against its load-balancer floor, alternated in one session:
 *
 *   bun bench/floor/compare.ts [--rounds 3] [--vus 550] [--duration 60] [--schedule reference]
 *                              [--fees 5/15] [--only stack|floor] [--out DIR]
 *
 * Each round runs the load generator once against `floor.ts lb` (HAProxy with the deployment's
 * configuration in front of nginx answering 202: latency only) and once against `npm run stack`
 * (HAProxy, two gateways and the simulator, under cgroups as root) on the schedule, each on a
 * fresh free port, one after the other. Per stack run it prints:
 *   - p99 and its ratio to the floor's p99 of the same round, the slowest request;
 *   - the deployment's CPU per payment (cgroup cpuacct of the gateways and the load balancer,
 *     from the first request to the last; the simulator is not the deployment), and the CFS
 *     throttling each service had (cpu.stat);
 *   - each gateway's event-loop delay (its /metrics histogram) and the stalls it logged;
 *   - the 10 worst seconds by their slowest request, with the schedule step each fell in.
 * Then the same over all rounds. Reports of every run go under --out.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Subprocess } from 'bun';

const ROOT = resolve(import.meta.dir, '../..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    vus: { type: 'string', default: '550' },
    duration: { type: 'string', default: '60' },
    schedule: { type: 'string', default: 'reference' },
    fees: { type: 'string', default: '5/15' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const rounds = Number(args.rounds);
const outRoot = resolve(args.out ?? join(ROOT, 'reports', `floor-compare-${new Date().toISOString().replace(/[:.]/g, '-')}`));
mkdirSync(outRoot, { recursive: true });

interface Started {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  output(): string;
}

function spawn(cmd: string[], env: Record<string, string> = {}): Started {
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  let text = '';
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  return { proc, output: () => text };
}

async function waitFor(started: Started, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const match = started.output().match(pattern);
    if (match) return match;
    if (started.proc.exitCode !== null || Date.now() > deadline) throw new Error(`${what} did not start:\n${started.output()}`);
    await Bun.sleep(50);
  }
}

async function stop(started: Started): Promise<void> {
  if (started.proc.exitCode === null) started.proc.kill('SIGTERM');
  const timer = setTimeout(() => started.proc.kill('SIGKILL'), 30_000);
  await started.proc.exited;
  clearTimeout(timer);
}

function freePort(): number {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

interface LoadResult {
  p99: number;
  max: number;
  payments: number;
  accepted: number;
  worstSeconds: { t: number; maxMs: number; step: string }[];
}

async function loadtest(url: string, extra: string[], outDir: string): Promise<LoadResult> {
  const cmd = [process.execPath, 'tools/loadtest/main.ts', '--url', url, '--vus', args.vus!, '--duration', args.duration!, '--out', outDir, ...extra];
  const run = spawn(cmd);
  const code = await run.proc.exited;
  writeFileSync(join(outDir, 'loadtest.log'), run.output());
  if (code !== 0) throw new Error(`loadtest exited with ${code}:\n${run.output().slice(-2000)}`);
  const result = JSON.parse(readFileSync(join(outDir, 'result.json'), 'utf8'));
  const events: { atSec: number; label: string }[] = result.schedule?.events ?? [];
  const stepAt = (t: number) => events.filter((event) => event.atSec <= t).at(-1)?.label ?? '-';
  const worstSeconds = (result.timeline as { t: number; maxMs: number | null }[])
    .filter((point) => point.maxMs !== null)
    .sort((a, b) => b.maxMs! - a.maxMs!)
    .slice(0, 10)
    .map((point) => ({ t: point.t, maxMs: point.maxMs!, step: stepAt(point.t) }));
  return {
    p99: result.latency.all.p99Ms,
    max: result.latency.all.maxMs,
    payments: result.requests.payments.total,
    accepted: result.acceptedPayments,
    worstSeconds,
  };
}

async function floorRun(round: number): Promise<LoadResult> {
  const port = freePort();
  const floor = spawn([process.execPath, 'bench/floor/floor.ts', 'lb', String(port)]);
  try {
    await waitFor(floor, /floor: ready on/, 'floor');
    const outDir = join(outRoot, `round-${round}-floor`);
    return await loadtest(`http://127.0.0.1:${port}`, ['--no-admin', '--schedule', 'none'], outDir);
  } finally {
    await stop(floor);
  }
}

interface ServiceFigures {
  cpuSeconds: number;
  throttledPeriods: number;
  throttledMs: number;
}

interface StackResult extends LoadResult {
  cpuSeconds: number;
  services: Record<string, ServiceFigures>;
  gateways: { name: string; loopDelay: Record<string, number>; loopMaxMs: number; stalls: number }[];
  stallLines: string[];
}

function serviceFigures(dirs: string[]): ServiceFigures {
  const cpuacct = dirs.find((dir) => dir.includes('/cpuacct/'))!;
  const cpu = dirs.find((dir) => dir.includes('/cpu/'))!;
  const stat = readFileSync(join(cpu, 'cpu.stat'), 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0);
  return {
    cpuSeconds: Number(readFileSync(join(cpuacct, 'cpuacct.usage'), 'utf8')) / 1e9,
    throttledPeriods: field('nr_throttled'),
    throttledMs: field('throttled_time') / 1e6,
  };
}

async function stackRun(round: number): Promise<StackResult> {
  const port = freePort();
  const runDir = mkdtempSync(join(tmpdir(), 'floor-compare-stack-'));
  const stack = spawn([process.execPath, 'tools/stack.ts', '--port', String(port), '--run-dir', runDir], { SIM_DEFAULT_PORT: '0', SIM_FALLBACK_PORT: '0' });
  const outDir = join(outRoot, `round-${round}-stack`);
  mkdirSync(outDir, { recursive: true });
  try {
    await waitFor(stack, /stack: ready on/, 'stack');
    const info = JSON.parse(readFileSync(join(runDir, 'stack.json'), 'utf8'));
    if (info.cgroups === null) throw new Error('the stack runs without cgroups (run as root): no CPU figures');
    const deployment = Object.entries(info.cgroups.dirs as Record<string, string[]>).filter(([name]) => name !== 'simulator');
    const before = Object.fromEntries(deployment.map(([name, dirs]) => [name, serviceFigures(dirs)]));
    const extra = ['--schedule', args.schedule!, '--fees', args.fees!, '--default-url', info.processors.default, '--fallback-url', info.processors.fallback];
    const load = await loadtest(info.url, extra, outDir);
    const services: Record<string, ServiceFigures> = {};
    for (const [name, dirs] of deployment) {
      const after = serviceFigures(dirs);
      services[name] = {
        cpuSeconds: after.cpuSeconds - before[name]!.cpuSeconds,
        throttledPeriods: after.throttledPeriods - before[name]!.throttledPeriods,
        throttledMs: after.throttledMs - before[name]!.throttledMs,
      };
    }
    const gateways = [];
    for (const service of info.services as { name: string; socket?: string }[]) {
      if (service.socket === undefined) continue;
      const text = await (await fetch('http://localhost/metrics', { unix: service.socket })).text();
      const loopDelay: Record<string, number> = {};
      for (const match of text.matchAll(/^gateway_event_loop_delay_ms_bucket\{le="([^"]+)"\} (\d+)$/gm)) loopDelay[match[1]!] = Number(match[2]);
      const number = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      gateways.push({ name: service.name, loopDelay, loopMaxMs: number('gateway_event_loop_delay_max_ms'), stalls: number('gateway_event_loop_stalls_total') });
    }
    const cpuSeconds = Object.values(services).reduce((sum, s) => sum + s.cpuSeconds, 0);
    return { ...load, cpuSeconds, services, gateways, stallLines: stack.output().match(/^.*stall: .*$/gm) ?? [] };
  } finally {
    await stop(stack);
    writeFileSync(join(outDir, 'stack.log'), stack.output());
    rmSync(runDir, { recursive: true, force: true });
  }
}

const ms = (value: number) => `${value.toFixed(2)} ms`;
const floors: LoadResult[] = [];
const stacks: StackResult[] = [];
for (let round = 1; round <= rounds; round++) {
  // Alternate which goes first, so a drift in the machine's load weighs on both alike.
  const order = round % 2 === 1 ? ['floor', 'stack'] : ['stack', 'floor'];
  let floor: LoadResult | null = null;
  let stack: StackResult | null = null;
  for (const which of order) {
    if (args.only !== undefined && args.only !== which) continue;
    if (which === 'floor') floor = await floorRun(round);
    else stack = await stackRun(round);
  }
  console.log(`round ${round} (load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`);
  if (floor) {
    floors.push(floor);
    console.log(`  floor: p99 ${ms(floor.p99)}, max ${ms(floor.max)}, ${floor.payments} requests`);
  }
  if (stack) {
    stacks.push(stack);
    const ratio = floor ? ` (${(stack.p99 / floor.p99).toFixed(2)}× the floor)` : '';
    console.log(`  stack: p99 ${ms(stack.p99)}${ratio}, max ${ms(stack.max)}, ${stack.accepted} payments accepted`);
    console.log(
      `  CPU per payment: ${ms((stack.cpuSeconds * 1000) / stack.accepted)} (${Object.entries(stack.services)
        .map(([name, s]) => `${name} ${ms((s.cpuSeconds * 1000) / stack.accepted)}, throttled ${s.throttledPeriods}× ${s.throttledMs.toFixed(0)} ms`)
        .join('; ')})`,
    );
    for (const gateway of stack.gateways) {
      const total = gateway.loopDelay['+Inf'] ?? 0;
      const over = (le: string) => total - (gateway.loopDelay[le] ?? 0);
      console.log(
        `  ${gateway.name} event loop: ${total} samples, ${over('5')} over 5 ms, ${over('10')} over 10 ms, ${over('20')} over 20 ms, max ${ms(gateway.loopMaxMs)}`,
      );
    }
    for (const line of stack.stallLines) console.log(`  ${line}`);
    console.log(`  worst seconds: ${stack.worstSeconds.map((w) => `${w.t}s ${ms(w.maxMs)} (${w.step})`).join(', ')}`);
  }
}
if (stacks.length > 0) {
  const p99s = stacks.map((s) => s.p99);
  const cpu = stacks.reduce((sum, s) => sum + s.cpuSeconds, 0) / stacks.reduce((sum, s) => sum + s.accepted, 0);
  console.log(`stack over ${stacks.length} round(s): p99 ${p99s.map(ms).join(' / ')}; CPU per payment ${ms(cpu * 1000)}`);
  if (floors.length === stacks.length) {
    console.log(`p99 ratios stack/floor per round: ${stacks.map((s, i) => (s.p99 / floors[i]!.p99).toFixed(2)).join(' / ')}`);
  }
}
writeFileSync(join(outRoot, 'compare.json'), `${JSON.stringify({ floors, stacks }, null, 2)}\n`);
console.log(`reports: ${outRoot}`);
