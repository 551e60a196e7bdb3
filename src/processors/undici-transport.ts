// Bun resolves the bare specifier 'undici' to a built-in stub that sends nothing: load the package itself.
import { Pool, errors } from 'undici/index.js';
import { errorCode, type Exchanged, type Transport, type TransportOptions } from './client.ts';

/**
 * Processor calls over undici's `Pool` (PROCESSOR_CLIENT=undici), with a pool for payments and
 * one for lookups and health checks, as RawTransport. undici's headersTimeout starts when the
 * request is dispatched to a connected socket, so it too counts the timeout from the write. It
 * cannot tell whether a failed request was written: only errors that can only happen before
 * sending count as never written. Its queue has no deadline (the caller bounds its calls in
 * flight to `connections`, so nothing queues).
 */
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Errors raised before a request could have reached the processor. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CLOSED']);

export class UndiciTransport implements Transport {
  private readonly payments: Pool;
  private readonly lookups: Pool;

  constructor(url: string, options: TransportOptions) {
    const pool = (connections: number) =>
      new Pool(url, {
        connections,
        pipelining: 1,
        keepAliveTimeout: options.keepAliveTimeoutMs,
        connectTimeout: options.connectTimeoutMs,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
    this.payments = pool(options.connections);
    this.lookups = pool(options.lookupConnections);
  }

  async postPayment(json: string): Promise<Exchanged> {
    try {
      const response = await this.payments.request({ method: 'POST', path: '/payments', headers: JSON_HEADERS, body: json });
      // The status decides; the body is drained only so the connection can be reused.
      await response.body.dump().catch(() => undefined);
      return { status: response.statusCode, body: '' };
    } catch (error) {
      return failure(error);
    }
  }

  async get(path: string): Promise<Exchanged> {
    try {
      const response = await this.lookups.request({ method: 'GET', path });
      return { status: response.statusCode, body: await response.body.text() };
    } catch (error) {
      return failure(error);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.payments.close(), this.lookups.close()]);
  }
}

function failure(error: unknown): Exchanged {
  const timedOut = error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError;
  const code = timedOut ? 'timeout' : errorCode(error);
  return { error: code, written: !NOT_SENT_CODES.has(code), timedOut };
}
