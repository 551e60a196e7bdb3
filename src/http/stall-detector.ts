import { ThreadCpu } from '../gateway/thread-cpu.ts';

/**
 * The HTTP thread's stall detector. A timer due every `intervalMs` measures how late it fires:
 * that lateness is how long the event loop was kept from serving anything (a request waiting
 * meanwhile waits as long). Every sample goes into a histogram (GET /metrics); a turn longer than
 * `thresholdMs` is logged with what ran meanwhile:
 *
 *   - the tracked tasks (requests, worker messages, journal work: `begin`/`end`), how many of each,
 *     their time and the longest;
 *   - the thread's own scheduler accounting (/proc/thread-self/schedstat, Linux): time on a CPU
 *     (tracked tasks + untracked JS, GC and native work), time runnable but not running (another
 *     thread or process had the CPU, or the cgroup's CPU quota was used up: CFS throttling), and
 *     the rest, asleep (waiting for events, or blocked in a system call: disk, a lock).
 *
 * The timer runs only while there is work: a task that counts as work arms it, and it stops
 * after `idleAfterMs` without one, so an idle instance does not wake up for it.
 */
export interface StallDetectorOptions {
  intervalMs?: number;
  thresholdMs?: number;
  idleAfterMs?: number;
  log: (line: string) => void;
}

/** Upper bounds (ms) of the histogram's buckets; the last bucket is +Inf. */
export const STALL_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500] as const;

/** Logged stalls at most this often, so a machine in trouble is not also flooded with lines. */
const LOG_EVERY_MS = 1000;

interface TaskStats {
  name: string;
  /** Whether it counts as work that arms the timer (payments do; a load balancer's health check does not). */
  arms: boolean;
  count: number;
  totalMs: number;
  longestMs: number;
}

export class StallDetector {
  readonly intervalMs: number;
  readonly thresholdMs: number;
  private readonly idleAfterMs: number;
  private readonly log: (line: string) => void;
  private readonly tasks: TaskStats[] = [];
  /** Samples per bucket of STALL_BUCKETS_MS, then +Inf. */
  readonly counts = new Float64Array(STALL_BUCKETS_MS.length + 1);
  sumMs = 0;
  /** Turns longer than the threshold. */
  stalls = 0;
  maxMs = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private dueAt = 0;
  private lastTickAt = 0;
  private lastTaskAt = 0;
  private lastLogAt = -Infinity;
  private unlogged = 0;
  private readonly cpu = new ThreadCpu();
  private runMsAtTick = 0;
  private waitMsAtTick = 0;
  private cpuKnown = false;
  private stopped = false;

  constructor(options: StallDetectorOptions) {
    this.intervalMs = options.intervalMs ?? 10;
    this.thresholdMs = options.thresholdMs ?? 10;
    this.idleAfterMs = options.idleAfterMs ?? 1000;
    this.log = options.log;
  }

  /**
   * A name for a kind of task, once at start. `arms`: whether it is work that starts the timer
   * (a periodic health check is not: it would keep an idle instance's timer running for good).
   */
  task(name: string, arms = true): number {
    this.tasks.push({ name, arms, count: 0, totalMs: 0, longestMs: 0 });
    return this.tasks.length - 1;
  }

  /** The start of a task: pass it to `end`. */
  begin(task: number): number {
    const now = performance.now();
    if (this.tasks[task]!.arms) {
      this.lastTaskAt = now;
      if (this.timer === null && !this.stopped) this.arm(now);
    }
    return now;
  }

  end(task: number, startedAt: number): void {
    const ms = performance.now() - startedAt;
    const stats = this.tasks[task]!;
    stats.count++;
    stats.totalMs += ms;
    if (ms > stats.longestMs) stats.longestMs = ms;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.cpu.close();
  }

  private arm(now: number): void {
    this.lastTickAt = now;
    this.dueAt = now + this.intervalMs;
    this.markTick();
    this.timer = setTimeout(this.tick, this.intervalMs);
  }

  private readonly tick = (): void => {
    const now = performance.now();
    const lateMs = Math.max(0, now - this.dueAt);
    this.record(lateMs);
    if (lateMs > this.thresholdMs) this.report(now, lateMs);
    if (now - this.lastTaskAt > this.idleAfterMs || this.stopped) {
      this.timer = null;
      return;
    }
    this.lastTickAt = now;
    this.dueAt = now + this.intervalMs;
    this.markTick();
    this.timer = setTimeout(this.tick, this.intervalMs);
  };

  /** What runs from here to the next tick is what a stall then reports. */
  private markTick(): void {
    this.cpuKnown = this.cpu.read();
    this.runMsAtTick = this.cpu.runMs;
    this.waitMsAtTick = this.cpu.waitMs;
    this.resetTasks();
  }

  private record(lateMs: number): void {
    let bucket = 0;
    while (bucket < STALL_BUCKETS_MS.length && lateMs > STALL_BUCKETS_MS[bucket]!) bucket++;
    this.counts[bucket]!++;
    this.sumMs += lateMs;
    if (lateMs > this.maxMs) this.maxMs = lateMs;
  }

  private report(now: number, lateMs: number): void {
    this.stalls++;
    if (now - this.lastLogAt < LOG_EVERY_MS) {
      this.unlogged++;
      return;
    }
    this.lastLogAt = now;
    const windowMs = now - this.lastTickAt;
    const ms = (value: number) => value.toFixed(1);
    const ran = this.tasks
      .filter((task) => task.count > 0)
      .sort((a, b) => b.longestMs - a.longestMs)
      .map((task) => `${task.name} ×${task.count} (${ms(task.totalMs)} ms, longest ${ms(task.longestMs)} ms)`);
    const tracked = this.tasks.reduce((sum, task) => sum + task.totalMs, 0);
    let where = '';
    if (this.cpuKnown && this.cpu.read()) {
      const runMs = this.cpu.runMs - this.runMsAtTick;
      const waitMs = this.cpu.waitMs - this.waitMsAtTick;
      where =
        `; on CPU ${ms(runMs)} ms (untracked: ${ms(Math.max(0, runMs - tracked))} ms of GC, native or untracked JS), ` +
        `runnable but not running ${ms(waitMs)} ms (CPU quota used up, or the CPUs busy), ` +
        `asleep ${ms(Math.max(0, windowMs - runMs - waitMs))} ms (idle, or blocked in a system call)`;
    }
    const skipped = this.unlogged > 0 ? ` (${this.unlogged} more stalls since the last line)` : '';
    this.unlogged = 0;
    this.log(
      `stall: the HTTP thread's event loop was blocked ${ms(lateMs)} ms in ${ms(windowMs)} ms${where}; ran: ${ran.length > 0 ? ran.join(', ') : 'no tracked task'}${skipped}`,
    );
  }

  private resetTasks(): void {
    for (const task of this.tasks) {
      task.count = 0;
      task.totalMs = 0;
      task.longestMs = 0;
    }
  }
}
