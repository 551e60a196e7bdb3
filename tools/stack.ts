/**
 * `bun tools/stack.ts` (`npm run stack`): the deployment of docker-compose.yml, natively. The
 * processor simulator (unless DEFAULT_PROCESSOR_URL and FALLBACK_PROCESSOR_URL are given), the
 * gateway instances of deploy/topology.ts on unix sockets under the run directory, and a load
 * balancer (HAProxy, or nginx with `--lb nginx`) in front of them on the public port. As root,
 * each service is held by a cgroup v1 group with its own limits, all inside one group holding the
 * whole budget (1.5 CPU, 350 MB), as the containers would be.
 *
 * Output of each process is prefixed with its name. Ctrl-C or SIGTERM stops everything (load
 * balancer first, then the gateways, which settle what they queued, then the simulator), removes
 * the sockets and the cgroups (the gateways' journals stay, under the run directory). Writes `<run dir>/stack.json` (pids, sockets, groups) when ready,
 * then prints `stack: ready on <url>`.
 */
import type { Subprocess } from 'bun';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { StackCgroups, cgroupsUnavailable } from '../deploy/cgroup.ts';
import { renderHaproxy, renderNginx } from '../deploy/render.ts';
import {
  BUDGET,
  allLimits,
  fleet,
  fleetGatewayEnv,
  fleetGateways,
  fleetLimits,
  gatewayEnv,
  joinPath,
  socketPath,
  topology,
  type GatewayInstance,
  type LoadBalancerKind,
  type Limits,
  type ProcessorUrls,
} from '../deploy/topology.ts';

const ROOT = resolve(import.meta.dir, '..');

export interface StackOptions {
  lb: LoadBalancerKind;
  port: number;
  host: string;
  runDir: string;
  cgroups: boolean;
  exitOnStdinClose: boolean;
  /** Fleet mode: gateway hosts sharing a local redis-server (null: the embedded deployment). */
  redis: { hosts: number; port: number } | null;
  help: boolean;
}

export const STACK_HELP = `Usage: bun tools/stack.ts [options]

Runs the deployment natively: simulator (unless DEFAULT_PROCESSOR_URL and
FALLBACK_PROCESSOR_URL are set), ${topology.gateways.length} gateway instances on unix sockets, and a load
balancer on the public port, within ${BUDGET.cpus} CPU and ${BUDGET.memoryMb} MB (cgroup v1, as root).

  --lb haproxy|nginx      load balancer            (default ${topology.loadBalancer.kind})
  --port N                public port              (default ${topology.publicPort})
  --host ADDR             address to listen on     (default 127.0.0.1)
  --run-dir DIR           sockets, configs, stack.json (default .run/stack)
  --no-cgroups            do not create cgroups even as root
  --exit-on-stdin-close   stop when stdin closes (for a parent that may die)
  --redis                 the fleet shape: gateway hosts sharing a local redis-server
                          (append-only, fsync every second, data under the run directory)
  --hosts N               gateway hosts with --redis (default ${fleet.hosts})
  --redis-port N          redis-server's port with --redis (default 6380)
  -h, --help              this text

The simulator, when started here, listens on SIM_DEFAULT_PORT (8001) and
SIM_FALLBACK_PORT (8002). Other gateway variables (MAX_HOLD_MS, ...) pass through.
`;

export class StackUsageError extends Error {}

/** The options' node:util parseArgs spec; tools/local.ts adds its own to it. */
export const STACK_ARGS = {
  lb: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'run-dir': { type: 'string' },
  'no-cgroups': { type: 'boolean' },
  'exit-on-stdin-close': { type: 'boolean' },
  redis: { type: 'boolean' },
  hosts: { type: 'string' },
  'redis-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseStackArgs(argv: readonly string[]): StackOptions {
  let values: ReturnType<typeof parseStrict>['values'];
  try {
    ({ values } = parseStrict([...argv]));
  } catch (error) {
    // node:util's messages, reworded as this tool always said them.
    const message = error instanceof Error ? error.message : String(error);
    const arg = /'(--?[\w-]+)/.exec(message)?.[1] ?? /'([^']*)'/.exec(message)?.[1] ?? message;
    if (message.includes('argument missing')) throw new StackUsageError(`${arg} needs a value`);
    if (message.includes('does not take an argument')) throw new StackUsageError(`${arg} takes no value`);
    throw new StackUsageError(`unknown option "${arg}"`);
  }
  const value = (name: 'lb' | 'port' | 'host' | 'run-dir' | 'hosts' | 'redis-port'): string | undefined => {
    const v = values[name];
    if (v === '') throw new StackUsageError(`--${name} needs a value`);
    return v;
  };
  const options: StackOptions = {
    lb: topology.loadBalancer.kind,
    port: topology.publicPort,
    host: value('host') ?? '127.0.0.1',
    runDir: resolve(process.cwd(), value('run-dir') ?? resolve(ROOT, '.run/stack')),
    cgroups: values['no-cgroups'] !== true,
    exitOnStdinClose: values['exit-on-stdin-close'] === true,
    redis: null,
    help: values.help === true,
  };
  const hosts = value('hosts');
  const redisPort = value('redis-port');
  if (values.redis === true) {
    if (hosts !== undefined && (!/^\d+$/.test(hosts) || Number(hosts) < 1 || Number(hosts) > 16))
      throw new StackUsageError(`--hosts must be 1 to 16, got "${hosts}"`);
    if (redisPort !== undefined && (!/^\d+$/.test(redisPort) || Number(redisPort) < 1 || Number(redisPort) > 65535))
      throw new StackUsageError(`--redis-port must be a port number, got "${redisPort}"`);
    options.redis = { hosts: hosts === undefined ? fleet.hosts : Number(hosts), port: redisPort === undefined ? 6380 : Number(redisPort) };
  } else if (hosts !== undefined || redisPort !== undefined) {
    throw new StackUsageError('--hosts and --redis-port go with --redis (the embedded deployment has its two instances)');
  }
  const lb = value('lb');
  if (lb !== undefined) {
    if (lb !== 'haproxy' && lb !== 'nginx') throw new StackUsageError(`--lb must be haproxy or nginx, got "${lb}"`);
    options.lb = lb;
  }
  const port = value('port');
  if (port !== undefined) {
    if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new StackUsageError(`--port must be a port number, got "${port}"`);
    options.port = Number(port);
  }
  return options;
}

const parseStrict = (args: string[]) => parseArgs({ args, options: STACK_ARGS, strict: true, allowPositionals: false });

/** A load balancer binary on PATH or in the usual sbin directories, or null. */
export function findBinary(name: string): string | null {
  const path = [process.env.PATH ?? '', '/usr/local/sbin', '/usr/sbin', '/sbin'].filter(Boolean).join(':');
  return Bun.which(name, { PATH: path });
}

/** The first load balancer installed, preferring the topology's default. */
export function installedLoadBalancer(): LoadBalancerKind | null {
  const order: LoadBalancerKind[] = topology.loadBalancer.kind === 'haproxy' ? ['haproxy', 'nginx'] : ['nginx', 'haproxy'];
  return order.find((kind) => findBinary(kind) !== null) ?? null;
}

export interface StackInfo {
  url: string;
  lb: LoadBalancerKind;
  pid: number;
  runDir: string;
  processors: ProcessorUrls;
  services: { name: string; pid: number; socket?: string }[];
  cgroups: { name: string; dirs: Record<string, string[]> } | null;
}

interface Service {
  name: string;
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  /** Whole stack stops when it exits on its own (simulator, load balancer). */
  essential: boolean;
  output: string;
}

export async function runStack(options: StackOptions): Promise<void> {
  const bun = process.execPath;
  const services: Service[] = [];
  const say = (line: string) => console.log(`[stack] ${line}`);
  let stopping = false;
  let cgroups: StackCgroups | null = null;
  const gatewayList: readonly GatewayInstance[] = options.redis ? fleetGateways(options.redis.hosts) : topology.gateways;
  const limits = options.redis ? fleetLimits(options.redis.hosts) : allLimits();
  // A fleet's hosts would be machines of their own: its budget is the sum of its services' limits.
  const budget: Limits = options.redis
    ? { cpus: limits.reduce((sum, l) => sum + Math.round(l.limits.cpus * 100), 0) / 100, memoryMb: limits.reduce((sum, l) => sum + l.limits.memoryMb, 0) }
    : BUDGET;
  const sockets = gatewayList.map((gateway) => socketPath(gateway, options.runDir));

  function start(name: string, cmd: string[], env: Record<string, string>, essential: boolean, inCgroup: boolean): Service {
    const command = inCgroup && cgroups ? cgroups.wrapCommand(name, cmd) : cmd;
    // Own process group: a Ctrl-C at the terminal reaches the stack only, which stops the
    // services in order (a simulator gone first would leave the gateways unable to settle).
    const proc = Bun.spawn(command, { cwd: ROOT, env: { ...process.env, ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', detached: true });
    const service: Service = { name, proc, essential, output: '' };
    const relay = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
      const decoder = new TextDecoder();
      let pending = '';
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true });
        if (service.output.length < 64 * 1024) service.output += text;
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) sink.write(`[${name}] ${line}\n`);
      }
      if (pending) sink.write(`[${name}] ${pending}\n`);
    };
    void relay(proc.stdout, process.stdout);
    void relay(proc.stderr, process.stderr);
    services.push(service);
    void proc.exited.then((code) => {
      if (stopping) return;
      const oom = cgroups && cgroups.oomKills(name) > 0 ? `, killed by the kernel: over its memory limit` : '';
      const how = (proc.signalCode ? `signal ${proc.signalCode}` : `code ${code}`) + oom;
      if (essential) {
        say(`${name} exited (${how}); stopping`);
        void stop(1);
      } else {
        const alive = services.filter((s) => !s.essential && s.proc.exitCode === null && s.proc.signalCode === null);
        say(`${name} exited (${how}); the load balancer routes around it (${alive.length} gateway(s) left)`);
        if (alive.length === 0) void stop(1);
      }
    });
    return service;
  }

  async function waitForLine(service: Service, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = service.output.match(pattern);
      if (match) return match;
      if (service.proc.exitCode !== null || service.proc.signalCode !== null) throw new Error(`${service.name} exited before printing ${pattern}`);
      if (Date.now() > deadline) throw new Error(`${service.name} did not print ${pattern} within ${timeoutMs} ms`);
      await Bun.sleep(20);
    }
  }

  let stopped: Promise<never> | null = null;
  function stop(code: number): Promise<never> {
    stopped ??= (async () => {
      stopping = true;
      // Load balancer first (no new requests), then the gateways (they settle what they queued,
      // against processors still up), then the simulator.
      const stages: [string[], number][] = [
        [[topology.loadBalancer.name], 5000],
        [gatewayList.map((g) => g.name), 20_000],
        [['simulator', fleet.redis.name], 5000],
      ];
      for (const [names, graceMs] of stages) {
        await Promise.all(services.filter((s) => names.includes(s.name)).map((service) => terminate(service, graceMs)));
      }
      cleanup();
      process.exit(code);
    })();
    return stopped;
  }

  async function terminate(service: Service, graceMs: number): Promise<void> {
    const { proc } = service;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const killed = await Promise.race([proc.exited.then(() => false), Bun.sleep(graceMs).then(() => true)]);
    if (killed) {
      say(`${service.name} did not stop within ${graceMs} ms: SIGKILL`);
      proc.kill('SIGKILL');
      await proc.exited;
    }
    // Anything it left in its group (an nginx worker whose master is gone).
    for (const pid of cgroups?.pids(service.name) ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  let cleanedUp = false;
  function cleanup(): void {
    if (cleanedUp) return;
    cleanedUp = true;
    for (const { proc } of services) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    for (const socket of sockets) rmSync(socket, { force: true });
    rmSync(joinPath(options.runDir, 'stack.json'), { force: true });
    if (cgroups) {
      let left = cgroups.remove();
      // Killed processes may take a moment to leave their group.
      for (let attempt = 0; left.length > 0 && attempt < 50; attempt++) {
        Bun.sleepSync(20);
        left = cgroups.remove();
      }
      if (left.length > 0) say(`could not remove ${left.join(', ')} (still holding a process)`);
    }
  }

  // A second signal while stopping: no more waiting.
  const onSignal = () => {
    if (stopped === null) void stop(0);
    else {
      say('second signal: killing everything');
      cleanup();
      process.exit(1);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', cleanup);
  if (options.exitOnStdinClose) {
    void (async () => {
      for await (const _ of Bun.stdin.stream()) {
        // only waiting for the end
      }
      say('stdin closed: stopping');
      void stop(0);
    })();
  }

  try {
    const lbBinary = findBinary(options.lb);
    if (lbBinary === null)
      throw new Error(`${options.lb} is not installed (apt-get install ${options.lb}); try --lb ${options.lb === 'haproxy' ? 'nginx' : 'haproxy'}`);
    mkdirSync(options.runDir, { recursive: true });
    for (const socket of sockets) {
      if (socket.length > 107) throw new Error(`socket path too long for a unix socket: ${socket}`);
      rmSync(socket, { force: true });
    }

    if (options.cgroups) {
      const unavailable = cgroupsUnavailable();
      if (unavailable === null) {
        cgroups = StackCgroups.create(budget, limits);
        const parts = limits.map(({ name, limits }) => `${name} ${limits.cpus} CPU/${limits.memoryMb} MB`);
        say(`cgroups: ${budget.cpus} CPU and ${budget.memoryMb} MB in total (${parts.join(', ')}) in ${cgroups.limitsDescription()}`);
      } else {
        say(`${unavailable}: running WITHOUT cgroup limits (the ${budget.cpus} CPU / ${budget.memoryMb} MB budget is not enforced)`);
      }
    } else {
      say(`--no-cgroups: running without cgroup limits`);
    }

    let processors: ProcessorUrls;
    let startedSimulator = false;
    const givenDefault = process.env.DEFAULT_PROCESSOR_URL;
    const givenFallback = process.env.FALLBACK_PROCESSOR_URL;
    if (givenDefault && givenFallback) {
      processors = { default: givenDefault, fallback: givenFallback };
      say(`processors: default ${processors.default}, fallback ${processors.fallback}`);
    } else {
      const simulator = start(
        'simulator',
        [bun, 'tools/simulator/main.ts'],
        { SIM_HOST: '127.0.0.1', SIM_DEFAULT_PORT: process.env.SIM_DEFAULT_PORT ?? '8001', SIM_FALLBACK_PORT: process.env.SIM_FALLBACK_PORT ?? '8002' },
        true,
        false,
      );
      await waitForLine(simulator, /^simulator: ready$/m);
      const urlOf = (name: string) => simulator.output.match(new RegExp(`^simulator: ${name} listening on (\\S+)$`, 'm'))?.[1];
      const defaultUrl = urlOf('default');
      const fallbackUrl = urlOf('fallback');
      if (!defaultUrl || !fallbackUrl) throw new Error('the simulator did not print its URLs');
      processors = { default: defaultUrl, fallback: fallbackUrl };
      startedSimulator = true;
      say(`no processor URLs given: started the simulator (${defaultUrl}, ${fallbackUrl}; admin token ${process.env.SIM_TOKEN ?? '123'})`);
    }

    // Each instance journals what it accepts and replays it at start. Against a simulator started
    // here (empty), an old journal would bring back payments these processors never saw: start
    // afresh. Against given processors, keep it (what was accepted and not settled is settled now).
    const journalRoot = joinPath(options.runDir, 'journal');
    if (startedSimulator) {
      rmSync(journalRoot, { recursive: true, force: true });
    } else if (existsSync(journalRoot)) {
      say(`journals kept in ${journalRoot} (the gateways replay them; delete it to start afresh)`);
    }
    let redisUrl: string | null = null;
    if (options.redis) {
      const redisBinary = findBinary('redis-server');
      if (redisBinary === null) throw new Error('redis-server is not installed (apt-get install redis-server)');
      // Persistence on: a 202 is as durable as the append-only file (see the README). Against a
      // simulator started here (empty), start from empty data, as with the journals.
      const dataDir = joinPath(options.runDir, 'redis');
      if (startedSimulator) rmSync(dataDir, { recursive: true, force: true });
      mkdirSync(dataDir, { recursive: true });
      const port = String(options.redis.port);
      const args = ['--port', port, '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--dir', dataDir];
      const redis = start(fleet.redis.name, [redisBinary, ...args, '--maxmemory-policy', 'noeviction'], {}, true, true);
      await waitForLine(redis, /Ready to accept connections/);
      redisUrl = `redis://127.0.0.1:${port}`;
      say(`redis-server on ${redisUrl}, append-only data in ${dataDir}`);
    }
    const gateways = gatewayList.map((gateway) =>
      start(
        gateway.name,
        [bun, 'src/gateway/main.ts'],
        redisUrl !== null
          ? fleetGatewayEnv(gateway, gatewayList, options.runDir, redisUrl, processors)
          : gatewayEnv(gateway, options.runDir, joinPath(journalRoot, gateway.name), processors),
        false,
        true,
      ),
    );
    await Promise.all(gateways.map((gateway) => waitForLine(gateway, /gateway listening on/)));

    const listen = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
    let lbCommand: string[];
    if (options.lb === 'haproxy') {
      const config = joinPath(options.runDir, 'haproxy.cfg');
      writeFileSync(config, renderHaproxy({ socketDir: options.runDir, listen, gateways: gatewayList, routeByOwner: options.redis === null }));
      lbCommand = [lbBinary, '-f', config, '-db'];
    } else {
      const nginxDir = joinPath(options.runDir, 'nginx');
      mkdirSync(nginxDir, { recursive: true });
      const config = joinPath(nginxDir, 'nginx.conf');
      // As root, the worker would otherwise run as nobody and could not open the root-owned sockets.
      const user = process.getuid?.() === 0 ? 'root root' : undefined;
      writeFileSync(config, renderNginx({ socketDir: options.runDir, listen, runDir: nginxDir, user, gateways: gatewayList }));
      lbCommand = [lbBinary, '-p', `${nginxDir}/`, '-e', 'stderr', '-c', config, '-g', 'daemon off;'];
    }
    const lbService = start(topology.loadBalancer.name, lbCommand, {}, true, true);

    const url = `http://${listen}`;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const response = await fetch(`${url}/health`).catch(() => null);
      if (response?.status === 200) break;
      if (lbService.proc.exitCode !== null || lbService.proc.signalCode !== null) throw new Error(`${options.lb} exited at start`);
      if (Date.now() > deadline) throw new Error(`${options.lb} did not answer on ${url} within 15 s`);
      await Bun.sleep(50);
    }

    const info: StackInfo = {
      url,
      lb: options.lb,
      pid: process.pid,
      runDir: options.runDir,
      processors,
      services: services.map((s) => {
        const index = gatewayList.findIndex((g) => g.name === s.name);
        return index >= 0 ? { name: s.name, pid: s.proc.pid, socket: sockets[index] } : { name: s.name, pid: s.proc.pid };
      }),
      cgroups: cgroups ? { name: cgroups.name, dirs: Object.fromEntries(limits.map(({ name }) => [name, cgroups!.dirs(name)])) } : null,
    };
    writeFileSync(joinPath(options.runDir, 'stack.json'), `${JSON.stringify(info, null, 2)}\n`);
    for (const s of info.services) say(`${s.name} pid ${s.pid}${s.socket ? ` on ${s.socket}` : ''}`);
    console.log(`stack: ready on ${url} (${options.lb} in front of ${gateways.length} gateways)`);
  } catch (error) {
    say(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
    await stop(1);
  }
}

if (import.meta.main) {
  let options: StackOptions;
  try {
    options = parseStackArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof StackUsageError)) throw error;
    console.error(`stack: ${error.message}\n\n${STACK_HELP}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(STACK_HELP);
    process.exit(0);
  }
  await runStack(options);
}
