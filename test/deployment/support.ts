/**
 * Clients of the native stack for the deployment tests: the load balancer's port, and each gateway
 * instance straight through its unix socket. They have the shape of test/support/gateway.ts's
 * GatewayProcess where the shared scenario helpers need it (pay, summary).
 */
import type { GatewayProcess, Summary } from '../support/gateway.ts';

export interface Endpoint {
  label: string;
  pay(correlationId: string, amount: number | string): Promise<Response>;
  get(path: string): Promise<Response>;
  post(path: string): Promise<Response>;
  /** The summary; throws unless HTTP 200. */
  summary(from?: string, to?: string): Promise<Summary>;
  health(): Promise<any>;
}

function endpoint(label: string, base: string, unix?: string): Endpoint {
  const request = (method: string, path: string, body?: string) =>
    fetch(`${base}${path}`, { method, unix, body, headers: body === undefined ? undefined : { 'content-type': 'application/json' } });
  const self: Endpoint = {
    label,
    pay: (correlationId, amount) => request('POST', '/payments', `{"correlationId":"${correlationId}","amount":${amount}}`),
    get: (path) => request('GET', path),
    post: (path) => request('POST', path),
    async summary(from, to) {
      const query = new URLSearchParams();
      if (from) query.set('from', from);
      if (to) query.set('to', to);
      const response = await request('GET', `/payments-summary?${query}`);
      if (response.status !== 200) throw new Error(`${label} summary: HTTP ${response.status} ${await response.text()}`);
      return (await response.json()) as Summary;
    },
    async health() {
      return (await request('GET', '/health')).json();
    },
  };
  return self;
}

export const viaLoadBalancer = (url: string) => endpoint(`load balancer ${url}`, url);
export const viaSocket = (label: string, socket: string) => endpoint(label, 'http://gateway', socket);

/** The endpoint as the shared scenario helpers (sendPayments, expectConsistent) want it. */
export const asGateway = (e: Endpoint) => e as unknown as GatewayProcess;

/** Resolves when nothing is queued, held, in doubt or in flight in this instance. */
export async function settled(instance: Endpoint, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const health = await instance.health();
    const busy =
      health.queues.pending + health.queues.failed + health.queues.inDoubt + health.processors.default.inflight + health.processors.fallback.inflight;
    if (busy === 0) return;
    if (Date.now() > deadline) throw new Error(`${instance.label} not settled after ${timeoutMs} ms: ${JSON.stringify(health.queues)}`);
    await Bun.sleep(50);
  }
}

/**
 * Resolves when the deployment's summary (through `via`) counts `expected` payments: every
 * accepted payment recorded. Settlement is asynchronous; this waits for its result rather than
 * for the instances' queue counters alone.
 */
export async function recorded(via: Endpoint, expected: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const summary = await via.summary();
    const count = summary.default.totalRequests + summary.fallback.totalRequests;
    if (count === expected) return;
    if (count > expected || Date.now() > deadline) throw new Error(`${via.label}: ${count} payments recorded, expected ${expected}`);
    await Bun.sleep(50);
  }
}

/** This instance's own count of recorded payments (its part of the deployment's ledger). */
export async function ownCount(instance: Endpoint): Promise<number> {
  const own = (await (await instance.get('/internal/totals')).json()) as { default: { count: number }; fallback: { count: number } };
  return own.default.count + own.fallback.count;
}

/**
 * One raw HTTP/1.1 request over TCP, the request target sent exactly as given (fetch would
 * normalise `/payments/../internal/totals`). Returns the status code.
 */
export async function rawStatus(port: number, method: string, target: string): Promise<number> {
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  let received = '';
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_socket, data) {
        received += data.toString('latin1');
        const match = /^HTTP\/1\.[01] (\d{3})/.exec(received);
        if (match) resolve(Number(match[1]));
      },
      close() {
        reject(new Error(`connection closed without a status line; got ${JSON.stringify(received)}`));
      },
      error(_socket, error) {
        reject(error);
      },
    },
  });
  socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  try {
    return await promise;
  } finally {
    socket.end();
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
