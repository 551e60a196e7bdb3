/**
 * Test helper: runs the payment-processor simulator (tools/simulator/main.ts) as a
 * REAL separate process on free ports and drives it over HTTP with plain fetch.
 */
import { resolve } from 'node:path';

export type SimFault = 'none' | 'reset' | 'garbage' | 'hang' | 'status-503';

export interface SimSummary {
  totalRequests: number;
  totalAmount: number;
  totalFee: number;
  feePerTransaction: number;
}

export interface SimProcessor {
  url: string;
  setDelay(ms: number): Promise<void>;
  setFailure(failing: boolean): Promise<void>;
  setFault(fault: SimFault): Promise<void>;
  /** Simulator extension: the fee as a fraction (0.07). */
  setFee(fee: number): Promise<void>;
  summary(from?: string, to?: string): Promise<SimSummary>;
  purge(): Promise<void>;
  getPayment(id: string): Promise<any | null>;
}

export interface Simulator {
  default: SimProcessor;
  fallback: SimProcessor;
  stop(): Promise<void>;
}

/**
 * A gateway's environment for this simulator, at test speed: health polled every second (start
 * the simulator with healthWindowMs: 1000 to allow it) and an open breaker probed every 100 ms.
 */
export function gatewayEnvFor(simulator: Simulator): Record<string, string> {
  return {
    DEFAULT_PROCESSOR_URL: simulator.default.url,
    FALLBACK_PROCESSOR_URL: simulator.fallback.url,
    HEALTH_INTERVAL_MS: '1000',
    PROBE_INTERVAL_MS: '100',
  };
}

const MAIN = resolve(import.meta.dir, '../../tools/simulator/main.ts');
const TOKEN = '123';

export async function startSimulator(opts: { healthWindowMs?: number; fees?: { default: number; fallback: number } } = {}): Promise<Simulator> {
  const proc = Bun.spawn([process.execPath, MAIN], {
    env: {
      ...process.env,
      SIM_HOST: '127.0.0.1',
      SIM_DEFAULT_PORT: '0', // the simulator prints the ports it got
      SIM_FALLBACK_PORT: '0',
      SIM_TOKEN: TOKEN,
      SIM_HEALTH_WINDOW_MS: String(opts.healthWindowMs ?? 5000),
      ...(opts.fees ? { SIM_DEFAULT_FEE: String(opts.fees.default), SIM_FALLBACK_FEE: String(opts.fees.fallback) } : {}),
      SIM_EXIT_ON_STDIN_CLOSE: '1', // dies with this test process even if stop() is never called
    },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let output = '';
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([collect(proc.stdout), collect(proc.stderr)]);

  async function stop(): Promise<void> {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await proc.exited;
    clearTimeout(killer);
    await drained;
  }

  const deadline = Date.now() + 15_000;
  while (!/^simulator: ready$/m.test(output)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`simulator did not start (exit code ${proc.exitCode}); output:\n${output}`);
    }
    await Bun.sleep(10);
  }
  const urlOf = (name: string): string => {
    const match = new RegExp(`^simulator: ${name} listening on (\\S+)$`, 'm').exec(output);
    if (!match?.[1]) throw new Error(`no URL for ${name} in simulator output:\n${output}`);
    return match[1];
  };
  return { default: processorClient(urlOf('default')), fallback: processorClient(urlOf('fallback')), stop };
}

function processorClient(url: string): SimProcessor {
  async function admin(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await fetch(url + path, {
      method,
      headers: { 'X-Rinha-Token': TOKEN, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${url}${path} -> ${res.status} ${await res.text()}`);
    return res;
  }
  const put = async (setting: string, value: unknown) => {
    await admin('PUT', `/admin/configurations/${setting}`, { [setting]: value });
  };
  return {
    url,
    setDelay: (ms) => put('delay', ms),
    setFailure: (failing) => put('failure', failing),
    setFault: (fault) => put('fault', fault),
    setFee: (fee) => put('fee', fee),
    async summary(from, to) {
      const query = new URLSearchParams();
      if (from !== undefined) query.set('from', from);
      if (to !== undefined) query.set('to', to);
      const qs = query.size > 0 ? `?${query}` : '';
      return (await admin('GET', `/admin/payments-summary${qs}`).then((r) => r.json())) as SimSummary;
    },
    async purge() {
      await admin('POST', '/admin/purge-payments');
    },
    async getPayment(id) {
      const res = await fetch(`${url}/payments/${encodeURIComponent(id)}`);
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`GET ${url}/payments/${id} -> ${res.status} ${await res.text()}`);
      return res.json();
    },
  };
}
