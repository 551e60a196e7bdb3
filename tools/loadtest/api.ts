/**
 * Thin clients for the gateway's control endpoints and the processors' admin
 * API, on top of the raw HTTP client (pooled keep-alive connections).
 */
import { buildRequest } from './request-builder.ts';
import { ConnectionPool, type Endpoint, type HttpResult, OUTCOME_RESPONSE, parseEndpoint } from './http-client.ts';

const decoder = new TextDecoder();

export interface Totals {
  totalRequests: number;
  totalAmount: number;
}

export interface GatewaySummary {
  default: Totals;
  fallback: Totals;
}

export interface ProcessorSummary extends Totals {
  totalFee: number | null;
  feePerTransaction: number | null;
}

export interface CallResult<T> {
  http: HttpResult;
  /** Parsed and validated payload, or null (see `problem`). */
  value: T | null;
  problem: string | null;
}

export function isOk(r: HttpResult): boolean {
  return r.outcome === OUTCOME_RESPONSE && r.status >= 200 && r.status < 300;
}

export function describeHttp(r: HttpResult): string {
  if (r.outcome === OUTCOME_RESPONSE) return `HTTP ${r.status}`;
  return r.error ?? 'no response';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function parseTotals(v: unknown): Totals | null {
  if (!isRecord(v)) return null;
  const totalRequests = num(v.totalRequests);
  const totalAmount = num(v.totalAmount);
  if (totalRequests === null || totalAmount === null) return null;
  return { totalRequests, totalAmount };
}

export function parseGatewaySummary(v: unknown): GatewaySummary | null {
  if (!isRecord(v)) return null;
  const d = parseTotals(v.default);
  const f = parseTotals(v.fallback);
  return d === null || f === null ? null : { default: d, fallback: f };
}

export function parseProcessorSummary(v: unknown): ProcessorSummary | null {
  const t = parseTotals(v);
  if (t === null || !isRecord(v)) return null;
  return { ...t, totalFee: num(v.totalFee), feePerTransaction: num(v.feePerTransaction) };
}

function parseJson(body: Uint8Array | null): unknown {
  if (body === null || body.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(body)) as unknown;
  } catch {
    return undefined;
  }
}

async function call<T>(pool: ConnectionPool, req: Uint8Array, timeoutMs: number, parse: ((v: unknown) => T | null) | null): Promise<CallResult<T>> {
  const http = await pool.request(req, parse !== null, timeoutMs);
  if (!isOk(http)) return { http, value: null, problem: describeHttp(http) };
  if (parse === null) return { http, value: null, problem: null };
  const value = parse(parseJson(http.body));
  return { http, value, problem: value === null ? 'unexpected response body' : null };
}

export class GatewayApi {
  readonly endpoint: Endpoint;
  readonly timeoutMs: number;
  private readonly pool: ConnectionPool;

  constructor(url: string, timeoutMs = 5000) {
    this.timeoutMs = timeoutMs;
    this.endpoint = parseEndpoint(url);
    this.pool = new ConnectionPool(this.endpoint);
  }

  purge(): Promise<CallResult<null>> {
    const req = buildRequest({ method: 'POST', path: '/purge-payments', host: this.endpoint.host });
    return call<null>(this.pool, req, this.timeoutMs, null);
  }

  summary(fromIso: string, toIso: string, timeoutMs = this.timeoutMs): Promise<CallResult<GatewaySummary>> {
    const path = `/payments-summary?from=${fromIso}&to=${toIso}`;
    const req = buildRequest({ method: 'GET', path, host: this.endpoint.host });
    return call(this.pool, req, timeoutMs, parseGatewaySummary);
  }

  close(): void {
    this.pool.close();
  }
}

export class ProcessorAdmin {
  readonly name: 'default' | 'fallback';
  readonly endpoint: Endpoint;
  readonly timeoutMs: number;
  private readonly pool: ConnectionPool;
  private readonly headers: Record<string, string>;

  constructor(name: 'default' | 'fallback', url: string, token: string, timeoutMs = 5000) {
    this.name = name;
    this.timeoutMs = timeoutMs;
    this.endpoint = parseEndpoint(url);
    this.pool = new ConnectionPool(this.endpoint);
    this.headers = { 'X-Rinha-Token': token };
  }

  private req(method: string, path: string, body: string | null = null): Uint8Array {
    return buildRequest({ method, path, host: this.endpoint.host, headers: this.headers, body });
  }

  purge(): Promise<CallResult<null>> {
    return call<null>(this.pool, this.req('POST', '/admin/purge-payments'), this.timeoutMs, null);
  }

  setDelay(delayMs: number): Promise<CallResult<null>> {
    const body = JSON.stringify({ delay: delayMs });
    return call<null>(this.pool, this.req('PUT', '/admin/configurations/delay', body), this.timeoutMs, null);
  }

  /** Simulator extension (a real processor's fee is out of reach): fee as a fraction. */
  setFee(bps: number): Promise<CallResult<null>> {
    const body = JSON.stringify({ fee: bps / 10_000 });
    return call<null>(this.pool, this.req('PUT', '/admin/configurations/fee', body), this.timeoutMs, null);
  }

  setFailure(failure: boolean): Promise<CallResult<null>> {
    const body = JSON.stringify({ failure });
    return call<null>(this.pool, this.req('PUT', '/admin/configurations/failure', body), this.timeoutMs, null);
  }

  summary(fromIso: string, toIso: string): Promise<CallResult<ProcessorSummary>> {
    const path = `/admin/payments-summary?from=${fromIso}&to=${toIso}`;
    return call(this.pool, this.req('GET', path), this.timeoutMs, parseProcessorSummary);
  }

  close(): void {
    this.pool.close();
  }
}
