/**
 * `bun deploy/bench.ts`: a fixed-rate (open-loop) load of POST /payments against the stack's
 * load balancer (TCP) or one gateway's unix socket, over N keep-alive connections used in turn
 * (500 connections at 500 req/s is the contract's pattern: each virtual user sends about once a
 * second). Reports latency percentiles, and, given the stack's stack.json, each service's peak RSS
 * (VmHWM) and CPU seconds per 1,000 payments (cgroup cpuacct, else /proc/<pid>/stat), counted
 * until every accepted payment is settled.
 *
 *   bun deploy/bench.ts --url http://127.0.0.1:9999 --rate 500 --duration 30 --stack .run/stack/stack.json
 *   bun deploy/bench.ts --unix .run/stack/gateway-1.sock --rate 500 --duration 30
 */
import type { Socket } from 'bun';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { StackInfo } from '../tools/stack.ts';

interface Options {
  url: string | null;
  unix: string | null;
  rate: number;
  durationSec: number;
  connections: number;
  stack: string | null;
  label: string;
  json: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      unix: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      stack: { type: 'string' },
      label: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const o: Options = {
    url: v.url ?? null,
    unix: v.unix ?? null,
    rate: v.rate === undefined ? 500 : Number(v.rate),
    durationSec: v.duration === undefined ? 30 : Number(v.duration),
    connections: v.connections === undefined ? 500 : Number(v.connections),
    stack: v.stack ?? null,
    label: v.label ?? '',
    json: v.json === true,
  };
  if ((o.url === null) === (o.unix === null)) throw new Error('give exactly one of --url and --unix');
  if (!(o.rate > 0 && o.durationSec > 0 && o.connections >= 1)) throw new Error('--rate, --duration, --connections must be positive');
  return o;
}

/** One keep-alive connection, one request at a time, requests queued behind it. */
class Connection {
  private socket: Socket<undefined> | null = null;
  private connecting: Promise<void> | null = null;
  private buffer = '';
  private current: { sentAt: number; done: (ms: number, status: number) => void } | null = null;
  private readonly queue: { body: string; done: (ms: number, status: number) => void }[] = [];

  constructor(
    private readonly target: { hostname: string; port: number } | { unix: string },
    private readonly host: string,
  ) {}

  send(body: string, done: (ms: number, status: number) => void): void {
    this.queue.push({ body, done });
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.current !== null || this.queue.length === 0) return;
    if (this.socket === null) {
      this.connecting ??= this.open().finally(() => (this.connecting = null));
      try {
        await this.connecting;
      } catch {
        const failed = this.queue.shift();
        failed?.done(-1, 0);
        setTimeout(() => void this.pump(), 10);
        return;
      }
      if (this.current !== null) return;
    }
    const next = this.queue.shift();
    if (!next) return;
    const request = `POST /payments HTTP/1.1\r\nHost: ${this.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(next.body)}\r\n\r\n${next.body}`;
    this.current = { sentAt: performance.now(), done: next.done };
    this.socket!.write(request);
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const handlers = {
        open: (socket: Socket<undefined>) => {
          this.socket = socket;
          resolve();
        },
        data: (_socket: Socket<undefined>, data: Buffer) => this.onData(data.toString('latin1')),
        close: () => this.onClose(),
        error: () => this.onClose(),
        connectError: (_socket: Socket<undefined>, error: Error) => reject(error),
      };
      const connect = 'unix' in this.target ? Bun.connect({ unix: this.target.unix, socket: handlers }) : Bun.connect({ ...this.target, socket: handlers });
      connect.catch(reject);
    });
  }

  private onData(text: string): void {
    this.buffer += text;
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0 || this.current === null) return;
      const head = this.buffer.slice(0, end);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buffer.length < end + 4 + length) return;
      this.buffer = this.buffer.slice(end + 4 + length);
      const status = Number(head.slice(9, 12));
      const { sentAt, done } = this.current;
      this.current = null;
      done(performance.now() - sentAt, status);
      if (/\r\nconnection:\s*close/i.test(head)) {
        this.socket?.end();
        this.socket = null;
      }
      void this.pump();
    }
  }

  private onClose(): void {
    this.socket = null;
    this.buffer = '';
    if (this.current) {
      this.current.done(-1, 0);
      this.current = null;
    }
    void this.pump();
  }

  close(): void {
    this.socket?.end();
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface ProcessSample {
  cpuSeconds: number;
  hwmKb: number;
  rssKb: number;
}

/** CPU and memory of a service: its cgroup when it has one, else its process. */
function sampleService(
  info: StackInfo,
  name: string,
): ProcessSample & { cgroupPeakMb: number | null; throttledPeriods: number; throttledMs: number; memoryLimitHits: number } {
  const dirs = info.cgroups?.dirs[name] ?? [];
  const cpuacct = dirs.find((d) => d.includes('/cpuacct/'));
  const memory = dirs.find((d) => d.includes('/memory/'));
  const cpu = dirs.find((d) => d.includes('/cpu/'));
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  };
  let pids = [info.services.find((s) => s.name === name)?.pid ?? -1];
  const procs = cpu ? read(`${cpu}/cgroup.procs`) : null;
  if (procs) pids = procs.split('\n').filter(Boolean).map(Number);
  let cpuSeconds = 0;
  let hwmKb = 0;
  let rssKb = 0;
  for (const pid of pids) {
    const status = read(`/proc/${pid}/status`);
    if (status) {
      hwmKb += Number(/VmHWM:\s*(\d+)/.exec(status)?.[1] ?? 0);
      rssKb += Number(/VmRSS:\s*(\d+)/.exec(status)?.[1] ?? 0);
    }
    const stat = read(`/proc/${pid}/stat`);
    if (stat) {
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuSeconds += (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ
    }
  }
  const usage = cpuacct ? read(`${cpuacct}/cpuacct.usage`) : null;
  if (usage) cpuSeconds = Number(usage) / 1e9;
  const peak = memory ? read(`${memory}/memory.max_usage_in_bytes`) : null;
  // CFS throttling (the group used its quota before the period ended) and memory limit hits.
  const cpuStat = cpu ? (read(`${cpu}/cpu.stat`) ?? '') : '';
  const throttledPeriods = Number(/^nr_throttled (\d+)$/m.exec(cpuStat)?.[1] ?? 0);
  const throttledMs = Number(/^throttled_time (\d+)$/m.exec(cpuStat)?.[1] ?? 0) / 1e6;
  const memoryLimitHits = Number((memory ? read(`${memory}/memory.failcnt`) : null) ?? 0);
  return { cpuSeconds, hwmKb, rssKb, cgroupPeakMb: peak ? Number(peak) / 1024 / 1024 : null, throttledPeriods, throttledMs, memoryLimitHits };
}

async function summaryCount(o: Options): Promise<number | null> {
  const response = await fetch(o.url ? `${o.url}/payments-summary` : 'http://gateway/payments-summary', o.unix ? { unix: o.unix } : {}).catch(() => null);
  if (!response || response.status !== 200) return null;
  const body = (await response.json()) as { default: { totalRequests: number }; fallback: { totalRequests: number } };
  return body.default.totalRequests + body.fallback.totalRequests;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const info: StackInfo | null = o.stack ? JSON.parse(readFileSync(o.stack, 'utf8')) : null;
  const measured = info ? info.services.filter((s) => s.name !== 'simulator').map((s) => s.name) : [];
  let target: { hostname: string; port: number } | { unix: string };
  let host = 'gateway';
  if (o.url) {
    const url = new URL(o.url);
    target = { hostname: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname, port: Number(url.port || 80) };
    host = url.host;
  } else {
    target = { unix: o.unix! };
  }
  const before = new Map(measured.map((name) => [name, sampleService(info!, name)]));
  const startCount = (await summaryCount(o)) ?? 0;
  const connections = Array.from({ length: o.connections }, () => new Connection(target, host));
  const total = Math.round(o.rate * o.durationSec);
  const latencies = new Float64Array(total);
  let completed = 0;
  let accepted = 0;
  let failed = 0;
  const statuses = new Map<number, number>();
  let allDone: () => void = () => {};
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  const record = (ms: number, status: number) => {
    if (ms >= 0) latencies[completed - failed] = ms;
    else failed++;
    completed++;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 200 && status < 300) accepted++;
    if (completed === total) allDone();
  };
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * o.rate) / 1000));
      while (sent < due) {
        connections[sent % connections.length]!.send(`{"correlationId":"${crypto.randomUUID()}","amount":19.90}`, record);
        sent++;
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await Promise.race([finished, Bun.sleep(30_000)]);
  const loadSeconds = (performance.now() - started) / 1000;
  for (const connection of connections) connection.close();

  // Settlement continues after the last response: count CPU until every payment is recorded.
  const settleDeadline = Date.now() + 60_000;
  let settled = false;
  while (Date.now() < settleDeadline) {
    const count = await summaryCount(o);
    if (count !== null && count - startCount >= accepted) {
      settled = true;
      break;
    }
    await Bun.sleep(200);
  }

  const sorted = latencies.slice(0, completed - failed).sort();
  const result = {
    label: o.label,
    target: o.url ?? `unix:${o.unix}`,
    rate: o.rate,
    durationSec: o.durationSec,
    connections: o.connections,
    requests: completed,
    accepted,
    failed,
    statuses: Object.fromEntries(statuses),
    achievedRate: Math.round(completed / loadSeconds),
    latencyMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    },
    settled,
    services: Object.fromEntries(
      measured.map((name) => {
        const after = sampleService(info!, name);
        const first = before.get(name)!;
        const cpu = after.cpuSeconds - first.cpuSeconds;
        return [
          name,
          {
            peakRssMb: after.hwmKb / 1024,
            rssMb: after.rssKb / 1024,
            cgroupPeakMb: after.cgroupPeakMb,
            cpuSeconds: cpu,
            cpuSecondsPer1000: accepted ? (cpu * 1000) / accepted : NaN,
            throttledPeriods: after.throttledPeriods - first.throttledPeriods,
            throttledMs: after.throttledMs - first.throttledMs,
            memoryLimitHits: after.memoryLimitHits - first.memoryLimitHits,
          },
        ];
      }),
    ),
  };
  if (o.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const f = (n: number | null, digits = 2) => (n === null || Number.isNaN(n) ? '-' : n.toFixed(digits));
  console.log(
    `${o.label ? `${o.label}: ` : ''}${result.requests} requests to ${result.target} at ${o.rate}/s over ${o.connections} connections (${result.achievedRate}/s achieved); ${accepted} accepted, ${failed} failed, statuses ${JSON.stringify(result.statuses)}`,
  );
  const l = result.latencyMs;
  console.log(`latency ms: p50 ${f(l.p50, 3)}  p90 ${f(l.p90, 3)}  p99 ${f(l.p99, 3)}  p99.9 ${f(l.p999, 3)}  max ${f(l.max, 3)}`);
  if (measured.length > 0) {
    console.log(`settled: ${settled ? 'every accepted payment' : 'NOT all within 60 s'}`);
    let cpuTotal = 0;
    for (const [name, s] of Object.entries(result.services)) {
      cpuTotal += s.cpuSeconds;
      console.log(
        `  ${name.padEnd(14)} peak RSS ${f(s.peakRssMb, 1)} MB (now ${f(s.rssMb, 1)}), cgroup peak ${f(s.cgroupPeakMb, 1)} MB, CPU ${f(s.cpuSeconds)} s = ${f(s.cpuSecondsPer1000, 3)} s per 1,000 payments; throttled ${s.throttledPeriods} periods (${f(s.throttledMs, 0)} ms), memory limit hit ${s.memoryLimitHits} times`,
      );
    }
    console.log(`  ${'total'.padEnd(14)} CPU ${f(cpuTotal)} s = ${f(accepted ? (cpuTotal * 1000) / accepted : NaN, 3)} s per 1,000 payments`);
  }
}

await main();
