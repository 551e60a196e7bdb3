import { centsToAmountText } from '../domain/money.ts';

/**
 * The client of one payment processor, and the one place that reads the processor's answers.
 * It reports what happened and nothing more: which processor to call, and what to do about an
 * outcome, is the settlement policy's business. Moving the bytes is a transport's business:
 *
 *   ProcessorClient (this file)          pay / lookup / health → outcome: the rules below, once
 *     │ postPayment(json), get(path) → Exchanged
 *   Transport: RawTransport (raw-transport.ts: pool.ts → connection.ts → response-parser.ts)
 *              or UndiciTransport (undici-transport.ts)
 */
export type PayOutcome =
  /** 2xx: recorded by this call. */
  | { kind: 'recorded'; latencyMs: number }
  /** 422: the processor already held this correlationId before this call. */
  | { kind: 'duplicate'; latencyMs: number }
  /** Definitely not recorded (500, 429, 400, or never written): safe to send anywhere later. */
  | { kind: 'rejected'; latencyMs: number; status: number; reason: string }
  /**
   * Maybe recorded: written, then no answer (timeout, connection lost) or an unexpected one.
   * `timedOut`: no answer within the timeout after the request was written, i.e. slow rather
   * than broken (a slow processor still records what it was sent).
   */
  | { kind: 'unknown'; latencyMs: number; reason: string; timedOut: boolean };

export type LookupOutcome = { kind: 'found'; requestedAtMs: number; cents: number } | { kind: 'absent' } | { kind: 'unknown'; reason: string };

export type HealthOutcome = { kind: 'health'; failing: boolean; minResponseTime: number } | { kind: 'rate-limited' } | { kind: 'unavailable'; reason: string };

/** What settlement needs from a processor client. */
export interface ProcessorApi {
  pay(correlationId: string, cents: number, requestedAtMs: number): Promise<PayOutcome>;
  lookup(correlationId: string): Promise<LookupOutcome>;
  health(): Promise<HealthOutcome>;
  /** Lets calls in flight finish, then closes every connection; later calls are rejected unsent. */
  close(): Promise<void>;
}

export interface ProcessorClientOptions {
  /**
   * Connections for payments: the most payment calls in flight at once that the caller will
   * start. More wait, first in first out, for a free connection.
   */
  connections: number;
  /**
   * How long a written request waits for its answer, counted from the write; also how long a
   * request may wait unsent for a free connection (it is then rejected, never sent).
   */
  timeoutMs: number;
  /** Connections for lookups and health checks, so that they never wait behind payments (default 8). */
  lookupConnections?: number;
  /** How long connecting may take (default min(timeoutMs, 2000)); a request whose connect fails was never sent. */
  connectTimeoutMs?: number;
  /**
   * An idle connection is not reused after this long (default 4000 ms, below the common 5 s
   * server keep-alive), nor beyond a server's `Keep-Alive: timeout=N` hint minus one second: a
   * connection the server is about to close would turn a payment into an 'unknown' outcome.
   */
  keepAliveTimeoutMs?: number;
}

/** The options with their defaults applied, as transports take them. */
export type TransportOptions = Required<ProcessorClientOptions>;

export function withDefaults(options: ProcessorClientOptions): TransportOptions {
  if (!(options.connections >= 1)) throw new Error(`connections must be >= 1, got ${options.connections}`);
  if (!(options.timeoutMs > 0)) throw new Error(`timeoutMs must be > 0, got ${options.timeoutMs}`);
  const lookupConnections = options.lookupConnections ?? 8;
  if (!(lookupConnections >= 1)) throw new Error(`lookupConnections must be >= 1, got ${lookupConnections}`);
  return {
    connections: options.connections,
    timeoutMs: options.timeoutMs,
    lookupConnections,
    connectTimeoutMs: options.connectTimeoutMs ?? Math.min(options.timeoutMs, 2000),
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 4000,
  };
}

/**
 * What a transport reports for one request: the processor's answer, or why there is none.
 * `written`: the request's bytes were handed to a connected socket, so the processor may have
 * acted on it. `timedOut`: written, and no answer within the timeout since.
 */
export type Exchanged = { status: number; body: string } | { error: string; written: boolean; timedOut: boolean };

/** Moves the bytes of processor calls; knows nothing of what the answers mean. */
export interface Transport {
  /**
   * POST /payments with this JSON body, on the payment connections. Answered once the status and
   * headers arrived: the body is drained, not kept, and a failure while draining changes nothing.
   */
  postPayment(json: string): Promise<Exchanged>;
  /** GET `path` on the lookup connections, apart from payments; answered with the whole body. */
  get(path: string): Promise<Exchanged>;
  close(): Promise<void>;
}

export class ProcessorClient implements ProcessorApi {
  constructor(private readonly transport: Transport) {}

  async pay(correlationId: string, cents: number, requestedAtMs: number): Promise<PayOutcome> {
    const json = `{"correlationId":${JSON.stringify(correlationId)},"amount":${centsToAmountText(cents)},"requestedAt":"${new Date(requestedAtMs).toISOString()}"}`;
    const started = performance.now();
    const result = await this.transport.postPayment(json);
    return payOutcome(result, Math.round(performance.now() - started));
  }

  /** GET /payments/{id}: whether the processor holds the payment, and with which requestedAt. */
  async lookup(correlationId: string): Promise<LookupOutcome> {
    return lookupOutcome(await this.transport.get(`/payments/${encodeURIComponent(correlationId)}`));
  }

  async health(): Promise<HealthOutcome> {
    return healthOutcome(await this.transport.get('/payments/service-health'));
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

/**
 * The settlement rule's input. Only a request never written is surely not recorded without a
 * status; once written, anything short of a known status may have been recorded (the processor
 * does not cancel its work when the client leaves).
 */
function payOutcome(result: Exchanged, latencyMs: number): PayOutcome {
  if ('error' in result) {
    if (!result.written) return { kind: 'rejected', latencyMs, status: 0, reason: result.error };
    return { kind: 'unknown', latencyMs, reason: result.error, timedOut: result.timedOut };
  }
  const status = result.status;
  if (status >= 200 && status < 300) return { kind: 'recorded', latencyMs };
  if (status === 422) return { kind: 'duplicate', latencyMs };
  // The reference processor answers 500 before inserting; 429 and 400 mean it refused the call.
  if (status === 500 || status === 429 || status === 400) return { kind: 'rejected', latencyMs, status, reason: `HTTP ${status}` };
  return { kind: 'unknown', latencyMs, reason: `unexpected HTTP ${status}`, timedOut: false };
}

function lookupOutcome(result: Exchanged): LookupOutcome {
  if ('error' in result) return { kind: 'unknown', reason: result.error };
  if (result.status === 404) return { kind: 'absent' };
  if (result.status !== 200) return { kind: 'unknown', reason: `HTTP ${result.status}` };
  const record = parseJson(result.body) as { requestedAt?: unknown; amount?: unknown } | null;
  const requestedAtMs = typeof record?.requestedAt === 'string' ? Date.parse(record.requestedAt) : NaN;
  if (!Number.isFinite(requestedAtMs) || typeof record?.amount !== 'number') return { kind: 'unknown', reason: 'unexpected lookup body' };
  return { kind: 'found', requestedAtMs, cents: Math.round(record.amount * 100) };
}

function healthOutcome(result: Exchanged): HealthOutcome {
  if ('error' in result) return { kind: 'unavailable', reason: result.error };
  if (result.status === 429) return { kind: 'rate-limited' };
  if (result.status !== 200) return { kind: 'unavailable', reason: `HTTP ${result.status}` };
  const report = parseJson(result.body) as { failing?: unknown; minResponseTime?: unknown } | null;
  if (typeof report?.failing !== 'boolean' || typeof report.minResponseTime !== 'number') return { kind: 'unavailable', reason: 'unexpected health body' };
  return { kind: 'health', failing: report.failing, minResponseTime: report.minResponseTime };
}

/** The parsed JSON, or null when it is not JSON (the callers then see no expected field). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** An error's code (ECONNRESET...), else its message. */
export function errorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}
