import { handleAdmin } from './admin.ts';
import { ConcurrencyGate } from './concurrency-gate.ts';
import { applyFault } from './faults.ts';
import { HealthLimiter } from './health-limiter.ts';
import { parsePaymentBody, parseUuid } from './parse.ts';
import { PaymentStore } from './payment-store.ts';
import { json, type ProcessorState } from './state.ts';

export interface ProcessorOptions {
  name: string;
  /** 0 picks a free port; the real one is returned. */
  port: number;
  hostname?: string;
  /** Initial fee (0.05); PUT /admin/configurations/fee changes it. */
  fee: number;
  token?: string;
  /** Length of a health-check rate-limit window (ms), default 5000. */
  healthWindowMs?: number;
  /** Requests handled at once (default 800) and queued beyond that (default 500) before 429. */
  maxConcurrent?: number;
  maxQueued?: number;
}

export interface RunningProcessor {
  name: string;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** One simulated payment processor (the real processors' HTTP contract) on its own port. */
export function startProcessor(options: ProcessorOptions): RunningProcessor {
  const state: ProcessorState = {
    config: { delayMs: 0, fee: options.fee, failing: false, fault: 'none', token: options.token ?? '123' },
    store: new PaymentStore(),
  };
  const limiter = new HealthLimiter(options.healthWindowMs ?? 5000);
  const gate = new ConcurrencyGate(options.maxConcurrent ?? 800, options.maxQueued ?? 500);
  const hostname = options.hostname ?? '127.0.0.1';

  async function handlePublic(req: Request, path: string): Promise<Response> {
    if (path === '/payments') return req.method === 'POST' ? postPayment(req, state) : json(405, { message: 'method not allowed' });
    if (path === '/payments/service-health' && req.method === 'GET') {
      if (!(await limiter.acquire())) return json(429, { message: 'too many requests' });
      // Read at answer time: a queued caller sees the configuration of its window.
      return json(200, { failing: state.config.failing, minResponseTime: state.config.delayMs });
    }
    if (path.startsWith('/payments/') && req.method === 'GET') return getPayment(path.slice('/payments/'.length), state);
    return json(404, { message: 'not found' });
  }

  const server = Bun.serve({
    port: options.port,
    hostname,
    development: false,
    async fetch(req) {
      const url = new URL(req.url);
      // Admin calls bypass the gate so tooling keeps control under load.
      if (url.pathname.startsWith('/admin/')) return handleAdmin(req, url, state);
      if (!(await gate.enter())) return json(429, { message: 'too many requests' });
      try {
        return await handlePublic(req, url.pathname);
      } finally {
        gate.release();
      }
    },
    error(err) {
      return json(500, { message: `simulator error: ${err.message}` });
    },
  });

  const port = server.port ?? options.port;
  const host = hostname.includes(':') ? `[${hostname}]` : hostname;
  return {
    name: options.name,
    port,
    url: `http://${host}:${port}`,
    async stop() {
      limiter.dispose();
      await server.stop(true);
    },
  };
}

/** POST /payments, in the real processors' order: validate, delay, failure, insert (then the fault). */
async function postPayment(req: Request, state: ProcessorState): Promise<Response> {
  const parsed = parsePaymentBody(await req.text());
  if (!parsed.ok) return json(400, { message: parsed.message });
  const { config } = state;
  // Not tied to req.signal: a client that gives up does not cancel the payment.
  if (config.delayMs > 0) await Bun.sleep(config.delayMs);
  if (config.failing) return json(500, { message: 'internal server error' });
  const answer = state.store.insert(parsed.value)
    ? json(200, { message: 'payment processed successfully' })
    : json(422, { message: 'correlationId already exists' });
  return applyFault(config.fault, answer, req);
}

/** GET /payments/{id}; the body is written by hand to print the amount with 2 decimals (19.90). */
function getPayment(id: string, state: ProcessorState): Response {
  const correlationId = parseUuid(id);
  const payment = correlationId === null ? undefined : state.store.get(correlationId);
  if (!payment) return json(404, { message: 'payment not found' });
  const body =
    `{"correlationId":${JSON.stringify(payment.correlationId)},` +
    `"amount":${(payment.amountCents / 100).toFixed(2)},` +
    `"requestedAt":${JSON.stringify(new Date(payment.requestedAtMs).toISOString())}}`;
  return new Response(body, { headers: { 'content-type': 'application/json' } });
}
