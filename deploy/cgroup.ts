/**
 * cgroup v1 groups for the native stack (tools/stack.ts): one parent group holding the whole
 * budget (1.5 CPU, 350 MB) with one child per service holding that service's own limits, as
 * Docker would give each container. Groups are created under this process's own cgroup of each
 * controller (so they stay inside whatever already holds it) and are named
 * `payment-stack-<pid>`; groups of a stack that died without cleaning up are removed at the next
 * start.
 *
 * A process joins its group before it runs any code: it is started as
 * `sh -c 'echo $$ > .../cgroup.procs; exec "$@"'` (see `wrapCommand`).
 */
import { existsSync, readFileSync, readdirSync, rmdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { MB, type Limits } from './topology.ts';

const ROOT = '/sys/fs/cgroup';
export const CFS_PERIOD_US = 100_000;
const PREFIX = 'payment-stack-';

type Controller = 'cpu' | 'memory' | 'cpuacct';
const CONTROLLERS: Controller[] = ['cpu', 'memory', 'cpuacct'];

export interface ServiceUsage {
  /** CPU time used by every process of the service so far (cpuacct.usage), in seconds. */
  cpuSeconds: number | null;
  /** Highest memory charged to the service's group (memory.max_usage_in_bytes), bytes. */
  memoryPeakBytes: number | null;
}

/** Why cgroups cannot be used here, or null when they can. */
export function cgroupsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not running as root';
  for (const file of ['cpu/cpu.cfs_quota_us', 'memory/memory.limit_in_bytes']) {
    if (!existsSync(`${ROOT}/${file}`)) return `cgroup v1 controller not found (${ROOT}/${file})`;
  }
  return null;
}

/** This process's own cgroup directory for a controller (v1), from /proc/self/cgroup. */
function ownDir(controller: Controller): string | null {
  const base = `${ROOT}/${controller}`;
  if (!existsSync(base)) return null;
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers === undefined || path === undefined) continue;
    if (controllers.split(',').includes(controller)) {
      const dir = `${base}${path === '/' ? '' : path}`;
      return existsSync(dir) ? dir : base;
    }
  }
  return base;
}

const write = (file: string, value: string | number) => writeFileSync(file, String(value));
const readNumber = (file: string): number | null => {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
};

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes a group and its children (they must hold no process). */
function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeTree(`${dir}/${entry.name}`);
  }
  rmdirSync(dir);
}

export class StackCgroups {
  readonly name: string;
  private readonly parents = new Map<Controller, string>();

  private constructor(
    name: string,
    private readonly services: string[],
  ) {
    this.name = name;
  }

  /** Creates the groups; throws (after undoing what it made) when a write is refused. */
  static create(total: Limits, services: { name: string; limits: Limits }[], name = `${PREFIX}${process.pid}`): StackCgroups {
    const groups = new StackCgroups(
      name,
      services.map((s) => s.name),
    );
    try {
      for (const controller of CONTROLLERS) {
        const own = ownDir(controller);
        if (own === null) continue;
        removeStale(own);
        const parent = `${own}/${name}`;
        mkdirSync(parent);
        groups.parents.set(controller, parent);
        for (const service of services) mkdirSync(`${parent}/${service.name}`);
      }
      const cpu = groups.parents.get('cpu');
      const memory = groups.parents.get('memory');
      if (!cpu || !memory) throw new Error('cpu or memory controller missing');
      const quota = (limits: Limits) => Math.round(limits.cpus * CFS_PERIOD_US);
      write(`${cpu}/cpu.cfs_period_us`, CFS_PERIOD_US);
      write(`${cpu}/cpu.cfs_quota_us`, quota(total));
      write(`${memory}/memory.limit_in_bytes`, total.memoryMb * MB);
      for (const service of services) {
        write(`${cpu}/${service.name}/cpu.cfs_period_us`, CFS_PERIOD_US);
        write(`${cpu}/${service.name}/cpu.cfs_quota_us`, quota(service.limits));
        write(`${memory}/${service.name}/memory.limit_in_bytes`, service.limits.memoryMb * MB);
      }
    } catch (error) {
      groups.remove();
      throw error;
    }
    return groups;
  }

  /** The group directories of a service, one per controller. */
  dirs(service: string): string[] {
    return [...this.parents.values()].map((parent) => `${parent}/${service}`);
  }

  /** `cmd` wrapped so that the process joins the service's groups, then becomes `cmd`. */
  wrapCommand(service: string, cmd: string[]): string[] {
    const joins = this.dirs(service)
      .map((dir) => `echo $$ > '${dir}/cgroup.procs'`)
      .join(' && ');
    return ['/bin/sh', '-c', `${joins} && exec "$@"`, 'sh', ...cmd];
  }

  usage(service?: string): ServiceUsage {
    const dir = (controller: Controller) => {
      const parent = this.parents.get(controller);
      return parent === undefined ? undefined : service === undefined ? parent : `${parent}/${service}`;
    };
    const cpuacct = dir('cpuacct');
    const memory = dir('memory');
    const ns = cpuacct ? readNumber(`${cpuacct}/cpuacct.usage`) : null;
    return {
      cpuSeconds: ns === null ? null : ns / 1e9,
      memoryPeakBytes: memory ? readNumber(`${memory}/memory.max_usage_in_bytes`) : null,
    };
  }

  /** How many times the kernel's OOM killer struck in a service's memory group. */
  oomKills(service: string): number {
    const memory = this.parents.get('memory');
    if (!memory) return 0;
    try {
      return Number(/^oom_kill (\d+)$/m.exec(readFileSync(`${memory}/${service}/memory.oom_control`, 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  /** Processes still in a service's group (e.g. an nginx worker whose master was killed). */
  pids(service: string): number[] {
    const cpu = this.parents.get('cpu');
    if (!cpu) return [];
    try {
      return readFileSync(`${cpu}/${service}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  limitsDescription(): string {
    const cpu = this.parents.get('cpu');
    const memory = this.parents.get('memory');
    return `${cpu ?? '-'} and ${memory ?? '-'}`;
  }

  /** Removes every group (best effort: a group still holding a process stays, and is reported). */
  remove(): string[] {
    const left: string[] = [];
    for (const parent of this.parents.values()) {
      try {
        removeTree(parent);
      } catch {
        left.push(parent);
      }
    }
    this.parents.clear();
    return left;
  }

  get serviceNames(): string[] {
    return this.services;
  }
}

/** Groups of stacks whose process is gone and which hold no process any more. */
function removeStale(own: string): void {
  for (const entry of readdirSync(own, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith(PREFIX)) continue;
    const pid = Number(entry.name.slice(PREFIX.length));
    if (!Number.isInteger(pid) || isAlive(pid)) continue;
    try {
      removeTree(`${own}/${entry.name}`);
    } catch {
      // still holds a process: leave it
    }
  }
}
