import { centsToAmountText } from '../ledger/money.ts';
import type { HealthOutcome, LookupOutcome, PayOutcome, ProcessorClientOptions } from './client.ts';

/**
 * The processor client of client.ts over the runtime's global fetch, for comparison only (bench/
 * processor-clients.ts). Keep-alive is automatic in Bun; the timeout is AbortSignal.timeout.
 * Limits: `connections` cannot be applied (Bun's fetch pools per process, not per client), and
 * whether a request was written before a connection error cannot be observed, so only errors that
 * can only happen while connecting count as 'rejected'.
 */
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Error codes (Bun and Node/undici spellings) that can only happen before anything was sent. */
const NOT_SENT_CODES = new Set([
  'ConnectionRefused',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'FailedToOpenSocket',
]);

export class FetchProcessorClient {
  private readonly origin: string;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly options: ProcessorClientOptions,
  ) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`processor URL must be http(s)://, got ${url}`);
    this.origin = parsed.origin;
  }

  async pay(correlationId: string, cents: number, requestedAtMs: number): Promise<PayOutcome> {
    const body = `{"correlationId":${JSON.stringify(correlationId)},"amount":${centsToAmountText(cents)},"requestedAt":"${new Date(requestedAtMs).toISOString()}"}`;
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    if (this.closed) return { kind: 'rejected', latencyMs: 0, status: 0, reason: 'client closed' };
    let status: number;
    try {
      const response = await fetch(`${this.origin}/payments`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      status = response.status;
      // The status decides; the body is drained only so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
    } catch (error) {
      const code = errorCode(error);
      if (NOT_SENT_CODES.has(code)) return { kind: 'rejected', latencyMs: latency(), status: 0, reason: code };
      return { kind: 'unknown', latencyMs: latency(), reason: code };
    }
    if (status >= 200 && status < 300) return { kind: 'recorded', latencyMs: latency() };
    if (status === 422) return { kind: 'duplicate', latencyMs: latency() };
    if (status === 500 || status === 429 || status === 400) return { kind: 'rejected', latencyMs: latency(), status, reason: `HTTP ${status}` };
    return { kind: 'unknown', latencyMs: latency(), reason: `unexpected HTTP ${status}` };
  }

  async lookup(correlationId: string): Promise<LookupOutcome> {
    try {
      const response = await fetch(`${this.origin}/payments/${encodeURIComponent(correlationId)}`, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const text = await response.text();
      if (response.status === 404) return { kind: 'absent' };
      if (response.status !== 200) return { kind: 'unknown', reason: `HTTP ${response.status}` };
      const record = JSON.parse(text) as { requestedAt?: unknown; amount?: unknown } | null;
      const requestedAtMs = typeof record?.requestedAt === 'string' ? Date.parse(record.requestedAt) : NaN;
      if (!Number.isFinite(requestedAtMs) || typeof record?.amount !== 'number') return { kind: 'unknown', reason: 'unexpected lookup body' };
      return { kind: 'found', requestedAtMs, cents: Math.round(record.amount * 100) };
    } catch (error) {
      return { kind: 'unknown', reason: errorCode(error) };
    }
  }

  async health(): Promise<HealthOutcome> {
    try {
      const response = await fetch(`${this.origin}/payments/service-health`, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const text = await response.text();
      if (response.status === 429) return { kind: 'rate-limited' };
      if (response.status !== 200) return { kind: 'unavailable', reason: `HTTP ${response.status}` };
      const report = JSON.parse(text) as { failing?: unknown; minResponseTime?: unknown } | null;
      if (typeof report?.failing !== 'boolean' || typeof report.minResponseTime !== 'number') {
        return { kind: 'unavailable', reason: 'unexpected health body' };
      }
      return { kind: 'health', failing: report.failing, minResponseTime: report.minResponseTime };
    } catch (error) {
      return { kind: 'unavailable', reason: errorCode(error) };
    }
  }

  /** Later calls are rejected unsent; fetch's pooled sockets belong to the runtime and age out. */
  async close(): Promise<void> {
    this.closed = true;
  }
}

function errorCode(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timeout';
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  if (error instanceof Error && error.cause && typeof error.cause === 'object' && 'code' in error.cause && typeof error.cause.code === 'string') return error.cause.code;
  return error instanceof Error ? error.message : String(error);
}
