import { errorCode, type Exchanged, type Transport, type TransportOptions } from '../src/processors/client.ts';

/**
 * Processor calls over the runtime's global fetch, for comparison only (bench/processor-clients.ts).
 * Keep-alive is automatic in Bun; the timeout is AbortSignal.timeout, which counts from the call.
 * Limits: `connections` and `lookupConnections` cannot be applied (Bun's fetch pools per process,
 * not per client), and whether a request was written before a connection error cannot be
 * observed, so only errors that can only happen while connecting count as never written.
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
const CLOSED: Exchanged = { error: 'client closed', written: false, timedOut: false };

export class FetchTransport implements Transport {
  private readonly origin: string;
  private closed = false;

  constructor(
    url: string,
    private readonly options: TransportOptions,
  ) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`processor URL must be http(s)://, got ${url}`);
    this.origin = parsed.origin;
  }

  async postPayment(json: string): Promise<Exchanged> {
    if (this.closed) return CLOSED;
    try {
      const response = await fetch(`${this.origin}/payments`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: json,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      // The status decides; the body is drained only so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
      return { status: response.status, body: '' };
    } catch (error) {
      return failure(error);
    }
  }

  async get(path: string): Promise<Exchanged> {
    if (this.closed) return CLOSED;
    try {
      const response = await fetch(`${this.origin}${path}`, { signal: AbortSignal.timeout(this.options.timeoutMs) });
      return { status: response.status, body: await response.text() };
    } catch (error) {
      return failure(error);
    }
  }

  /** Later calls are rejected unsent; fetch's pooled sockets belong to the runtime and age out. */
  async close(): Promise<void> {
    this.closed = true;
  }
}

function failure(error: unknown): Exchanged {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return { error: 'timeout', written: true, timedOut: true };
  // Bun nests the socket's code in `cause`.
  const code = errorCode(error instanceof Error && !('code' in error) && error.cause !== undefined ? error.cause : error);
  return { error: code, written: !NOT_SENT_CODES.has(code), timedOut: false };
}
