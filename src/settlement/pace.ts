import { ProcessCpu } from '../gateway/thread-cpu.ts';

/**
 * How fast a payment worker starts calls. At a steady load a worker uses a few % of a CPU; but
 * when held payments are released (processors recover after an outage), it could start hundreds
 * of calls in one pump and handle their answers in the next few milliseconds, burning its
 * process's CPU quota (a gateway has 0.65 CPU per 100 ms period) so fast that the kernel
 * throttles the whole process, HTTP thread included, for the rest of the period: 202s then wait
 * 30-120 ms. So, under a CPU quota (a container, the stack's cgroups), a worker starts at most
 * `maxPerWindow` calls per window (the answers of a window's calls cost a bounded CPU time
 * later), and none while the whole process's CPU time in the current window (what the kernel
 * counts) is over `cpuShare` of a CPU: a released backlog settles over a second or so instead of
 * in one burst. Without a quota nothing throttles the process and nothing is bounded.
 */
export interface CpuClock {
  /** Refreshes `runMs`; false when it cannot be read (then only the count bounds the pace). */
  read(): boolean;
  /** CPU time so far, in ms. */
  readonly runMs: number;
}

export interface PaceSettings {
  cpuShare: number;
  windowMs: number;
  /** Calls started per window at most, whatever the CPU says (a call's CPU is spent mostly when its answer comes, later). */
  maxPerWindow: number;
}

const WINDOW_MS = 10;
/** 3,200 calls a second per worker: 20× a worker's share of the contract's peak load (a backlog drains fast). */
const MAX_PER_WINDOW = 32;
/**
 * Under a CPU quota, workers start calls only while the whole process used less than this share
 * of its quota in the current window: the rest is the HTTP thread's, the JIT's and the GC's, and
 * the process is not throttled by a release however large.
 */
const QUOTA_SHARE = 0.5;
/** Without a quota nothing throttles the process, and a worker's turns are not the HTTP thread's: no bound. */
const UNMEASURED: CpuClock = { runMs: 0, read: () => false };

/** The pace of a payment worker: by its process's CPU time when it has a quota, else none. */
export function workerPace(): SendPace {
  const group = ProcessCpu.open();
  if (group !== null) return new SendPace(group, { cpuShare: group.quotaCpus * QUOTA_SHARE, windowMs: WINDOW_MS, maxPerWindow: MAX_PER_WINDOW });
  return new SendPace(UNMEASURED, { cpuShare: Infinity, windowMs: WINDOW_MS, maxPerWindow: Infinity });
}

export class SendPace {
  private windowStartMs = -Infinity;
  private cpuAtWindowStart = 0;
  /** Starts left in this window. */
  private left = 0;
  /** Whether the last pump left payments it could have sent for this pace. */
  held = false;

  constructor(
    private readonly cpu: CpuClock,
    private readonly settings: PaceSettings,
  ) {}

  /** At the start of each pump: how many calls it may start. */
  beginPump(nowMs: number): void {
    this.held = false;
    const measured = this.cpu.read();
    if (nowMs - this.windowStartMs >= this.settings.windowMs) {
      this.windowStartMs = nowMs;
      this.cpuAtWindowStart = this.cpu.runMs;
      this.left = this.settings.maxPerWindow;
    }
    if (measured && this.cpu.runMs - this.cpuAtWindowStart >= this.settings.cpuShare * this.settings.windowMs) this.left = 0;
  }

  /** One more call in this pump, or false (and `held`) when the pace says wait. */
  take(): boolean {
    if (this.left > 0) {
      this.left--;
      return true;
    }
    this.held = true;
    return false;
  }

  /** When a pump that was held may send again: in the next window. */
  retryInMs(nowMs: number): number {
    return Math.max(1, this.windowStartMs + this.settings.windowMs - nowMs);
  }
}
