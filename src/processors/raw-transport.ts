import type { Exchanged, Transport, TransportOptions } from './client.ts';
import { Pool } from './pool.ts';

/**
 * Processor calls over raw keep-alive HTTP/1.1 sockets (pool.ts, connection.ts): about half
 * undici's CPU per call (bench/processor-clients.ts). Payments and lookups (with health checks)
 * have pools of their own, so a lookup is sent at once even while every payment connection
 * waits on a slow processor.
 *
 * Nothing is ever sent twice: a request is written once, on one socket, or never.
 */
export class RawTransport implements Transport {
  private readonly payments: Pool;
  private readonly lookups: Pool;
  /** "POST /payments HTTP/1.1 ... Content-Length: " (the length and body follow). */
  private readonly paymentHead: Buffer;
  /** What follows "GET <path> HTTP/1.1". */
  private readonly getTail: string;

  constructor(url: string, options: TransportOptions) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:') throw new Error(`processor URL must be http://, got ${url}`);
    if ((parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search !== '' || parsed.username !== '') {
      throw new Error(`processor URL must be an origin (http://host:port), got ${url}`);
    }
    const settings = {
      host: parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname,
      port: parsed.port === '' ? 80 : Number(parsed.port),
      timeoutMs: options.timeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs,
    };
    this.payments = new Pool(settings, options.connections);
    this.lookups = new Pool(settings, options.lookupConnections);
    this.paymentHead = Buffer.from(`POST /payments HTTP/1.1\r\nHost: ${parsed.host}\r\nContent-Type: application/json\r\nContent-Length: `, 'latin1');
    this.getTail = `\r\nHost: ${parsed.host}\r\nAccept: application/json\r\n\r\n`;
  }

  postPayment(json: string): Promise<Exchanged> {
    const bodyLength = Buffer.byteLength(json);
    const lengthText = `${bodyLength}\r\n\r\n`;
    const head = this.paymentHead;
    const bytes = Buffer.allocUnsafe(head.length + lengthText.length + bodyLength);
    head.copy(bytes, 0);
    bytes.write(lengthText, head.length, 'latin1');
    bytes.write(json, head.length + lengthText.length, 'utf8');
    return this.payments.request(bytes, false);
  }

  get(path: string): Promise<Exchanged> {
    return this.lookups.request(Buffer.from(`GET ${path} HTTP/1.1${this.getTail}`, 'latin1'), true);
  }

  async close(): Promise<void> {
    await Promise.all([this.payments.close(), this.lookups.close()]);
  }
}
