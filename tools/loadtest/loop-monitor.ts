/**
 * Measures the load generator's own cost: CPU use (process.cpuUsage) and
 * timer lateness (how late a 20 ms interval timer fires; includes the
 * runtime's ~1 ms timer granularity, so only values well above 1 ms point
 * at a blocked event loop), to show whether the generator is a bottleneck.
 */
import { Histogram } from './histogram.ts';

export interface GeneratorCost {
  wallMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** (user + system) / wall, in % of one core. */
  cpuPercentOfOneCore: number;
  timerLatenessP99Ms: number;
  timerLatenessMaxMs: number;
  rssMB: number;
}

export class LoopMonitor {
  readonly delay = new Histogram(2);
  private timer: ReturnType<typeof setInterval> | null = null;
  private expected = 0;
  private startWall = 0;
  private startCpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  private readonly intervalMs: number;

  constructor(intervalMs = 20) {
    this.intervalMs = intervalMs;
  }

  start(): void {
    this.startWall = performance.now();
    this.startCpu = process.cpuUsage();
    this.expected = this.startWall + this.intervalMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - this.expected;
      this.delay.record(late > 0 ? late * 1000 : 0);
      this.expected = now + this.intervalMs;
    }, this.intervalMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** CPU / loop-delay figures since start(). */
  snapshot(): GeneratorCost {
    const wallMs = performance.now() - this.startWall;
    const cpu = process.cpuUsage(this.startCpu);
    const cpuUserMs = cpu.user / 1000;
    const cpuSystemMs = cpu.system / 1000;
    return {
      wallMs,
      cpuUserMs,
      cpuSystemMs,
      cpuPercentOfOneCore: wallMs > 0 ? ((cpuUserMs + cpuSystemMs) / wallMs) * 100 : 0,
      timerLatenessP99Ms: this.delay.count > 0 ? this.delay.percentileMs(99) : 0,
      timerLatenessMaxMs: this.delay.maxRecordedUs / 1000,
      rssMB: process.memoryUsage().rss / (1024 * 1024),
    };
  }
}
