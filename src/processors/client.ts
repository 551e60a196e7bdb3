// Bun resolves the bare specifier 'undici' to a built-in stub that sends nothing: load the package itself.
import { Pool, errors } from 'undici/index.js';
import { centsToAmountText } from '../ledger/money.ts';

/**
 * HTTP client of one payment processor over pooled keep-alive connections. It reports what
 * happened and nothing more: which processor to call, and what to do about an outcome, is the
 * settlement policy's business.
 */
export type PayOutcome =
  /** 2xx: recorded by this call. */
  | { kind: 'recorded'; latencyMs: number }
  /** 422: the processor already held this correlationId before this call. */
  | { kind: 'duplicate'; latencyMs: number }
  /** Definitely not recorded (500, 429, refused connection...): safe to send anywhere later. */
  | { kind: 'rejected'; latencyMs: number; status: number; reason: string }
  /** Maybe recorded (timeout, connection lost after sending, unexpected answer). */
  | { kind: 'unknown'; latencyMs: number; reason: string };

export type LookupOutcome =
  | { kind: 'found'; requestedAtMs: number; cents: number }
  | { kind: 'absent' }
  | { kind: 'unknown'; reason: string };

export type HealthOutcome =
  | { kind: 'health'; failing: boolean; minResponseTime: number }
  | { kind: 'rate-limited' }
  | { kind: 'unavailable'; reason: string };

/** What settlement needs from a processor client, whichever transport implements it. */
export interface ProcessorApi {
  pay(correlationId: string, cents: number, requestedAtMs: number): Promise<PayOutcome>;
  lookup(correlationId: string): Promise<LookupOutcome>;
  health(): Promise<HealthOutcome>;
  close(): Promise<void>;
}

export interface ProcessorClientOptions {
  connections: number;
  timeoutMs: number;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Errors raised before a request could have reached the processor. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export class ProcessorClient implements ProcessorApi {
  private readonly pool: Pool;

  constructor(
    readonly url: string,
    private readonly options: ProcessorClientOptions,
  ) {
    this.pool = new Pool(url, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: Math.min(options.timeoutMs, 2000),
    });
  }

  async pay(correlationId: string, cents: number, requestedAtMs: number): Promise<PayOutcome> {
    const body = `{"correlationId":"${correlationId}","amount":${centsToAmountText(cents)},"requestedAt":"${new Date(requestedAtMs).toISOString()}"}`;
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      const response = await this.pool.request({
        method: 'POST',
        path: '/payments',
        headers: JSON_HEADERS,
        body,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
      const status = response.statusCode;
      // The status decides; the body is drained only so the connection can be reused.
      await response.body.dump().catch(() => undefined);
      if (status >= 200 && status < 300) return { kind: 'recorded', latencyMs: latency() };
      if (status === 422) return { kind: 'duplicate', latencyMs: latency() };
      // The reference processor answers 500 before inserting; 429 and 400 mean it refused the call.
      if (status === 500 || status === 429 || status === 400) return { kind: 'rejected', latencyMs: latency(), status, reason: `HTTP ${status}` };
      return { kind: 'unknown', latencyMs: latency(), reason: `unexpected HTTP ${status}` };
    } catch (error) {
      const code = errorCode(error);
      if (NOT_SENT_CODES.has(code)) return { kind: 'rejected', latencyMs: latency(), status: 0, reason: code };
      return { kind: 'unknown', latencyMs: latency(), reason: code };
    }
  }

  /** GET /payments/{id}: whether the processor holds the payment, and with which requestedAt. */
  async lookup(correlationId: string): Promise<LookupOutcome> {
    try {
      const response = await this.pool.request({
        method: 'GET',
        path: `/payments/${correlationId}`,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
      if (response.statusCode === 404) {
        await response.body.dump();
        return { kind: 'absent' };
      }
      const text = await response.body.text();
      if (response.statusCode !== 200) return { kind: 'unknown', reason: `HTTP ${response.statusCode}` };
      const record = JSON.parse(text) as { requestedAt?: unknown; amount?: unknown };
      const requestedAtMs = typeof record.requestedAt === 'string' ? Date.parse(record.requestedAt) : NaN;
      if (!Number.isFinite(requestedAtMs) || typeof record.amount !== 'number') return { kind: 'unknown', reason: 'unexpected lookup body' };
      return { kind: 'found', requestedAtMs, cents: Math.round(record.amount * 100) };
    } catch (error) {
      return { kind: 'unknown', reason: errorCode(error) };
    }
  }

  async health(): Promise<HealthOutcome> {
    try {
      const response = await this.pool.request({
        method: 'GET',
        path: '/payments/service-health',
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
      const text = await response.body.text();
      if (response.statusCode === 429) return { kind: 'rate-limited' };
      if (response.statusCode !== 200) return { kind: 'unavailable', reason: `HTTP ${response.statusCode}` };
      const report = JSON.parse(text) as { failing?: unknown; minResponseTime?: unknown };
      if (typeof report.failing !== 'boolean' || typeof report.minResponseTime !== 'number') {
        return { kind: 'unavailable', reason: 'unexpected health body' };
      }
      return { kind: 'health', failing: report.failing, minResponseTime: report.minResponseTime };
    } catch (error) {
      return { kind: 'unavailable', reason: errorCode(error) };
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function errorCode(error: unknown): string {
  if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError) return 'timeout';
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}
