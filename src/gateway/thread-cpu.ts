import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';

/**
 * The scheduler's accounting of the thread that created it, from /proc/thread-self/schedstat
 * (Linux): how long it ran on a CPU, and how long it was runnable but not running (another thread
 * or process had the CPU, or its cgroup's CPU quota was used up). Elsewhere `read` is false.
 * A read is one pread(2) of a short file (a few µs).
 */
export class ThreadCpu {
  private readonly fd: number | null;
  private readonly buffer = new Uint8Array(96);
  /** Filled by `read`, in ms. */
  runMs = 0;
  waitMs = 0;

  constructor() {
    let fd: number | null = null;
    try {
      fd = openSync('/proc/thread-self/schedstat', 'r');
    } catch {
      fd = null;
    }
    this.fd = fd;
  }

  get available(): boolean {
    return this.fd !== null;
  }

  /** Updates `runMs` and `waitMs`; false when unavailable. */
  read(): boolean {
    if (this.fd === null) return false;
    const length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
    // "run_ns wait_ns timeslices\n", ASCII digits.
    let field = 0;
    let value = 0;
    for (let i = 0; i < length && field < 2; i++) {
      const c = this.buffer[i]!;
      if (c >= 48 && c <= 57) {
        value = value * 10 + (c - 48);
        continue;
      }
      if (field === 0) this.runMs = value / 1e6;
      else this.waitMs = value / 1e6;
      field++;
      value = 0;
    }
    return field === 2;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
  }
}

/**
 * CPU time of this whole process (every thread: getrusage, exact to the µs, where a cgroup's own
 * counter lags by up to a scheduler tick per CPU) and the CPU quota of its cgroup, which is what
 * the kernel's CFS throttling holds it to: cgroup v1 (cpu.cfs_quota_us) or v2 (cpu.max). `open`
 * is null when there is no quota (nothing throttles the process then).
 */
export class ProcessCpu {
  runMs = 0;

  private constructor(
    /** The quota, in CPUs (0.65: 65 ms per 100 ms period). */
    readonly quotaCpus: number,
  ) {}

  static open(): ProcessCpu | null {
    try {
      const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
      const v1 = lines.map((line) => line.split(':')).find(([, controllers]) => controllers?.split(',').includes('cpu'));
      let quota: number;
      let period: number;
      if (v1 !== undefined) {
        const dir = groupDir('/sys/fs/cgroup/cpu', v1[2]!);
        quota = Number(readFileSync(`${dir}/cpu.cfs_quota_us`, 'utf8'));
        period = Number(readFileSync(`${dir}/cpu.cfs_period_us`, 'utf8'));
      } else {
        const v2 = lines.find((line) => line.startsWith('0::'));
        if (v2 === undefined) return null;
        const [max, length] = readFileSync(`${groupDir('/sys/fs/cgroup', v2.slice(3))}/cpu.max`, 'utf8')
          .trim()
          .split(' ');
        quota = max === 'max' ? -1 : Number(max);
        period = Number(length);
      }
      return quota > 0 && period > 0 ? new ProcessCpu(quota / period) : null;
    } catch {
      return null;
    }
  }

  /** Updates `runMs`. */
  read(): boolean {
    const usage = process.cpuUsage();
    this.runMs = (usage.user + usage.system) / 1e3;
    return true;
  }
}

/** A group's directory under a controller's mount; the mount itself when the group is not visible there (a container's own namespace). */
function groupDir(mount: string, path: string): string {
  const dir = path === '/' ? mount : `${mount}${path}`;
  return existsSync(dir) ? dir : mount;
}
