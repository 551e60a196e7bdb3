import { Agent, request as httpRequest } from 'node:http';
import { DEFAULT, FALLBACK } from '../domain/processors.ts';
import { type Totals, type Window } from './ledger.ts';

/**
 * Talks to another instance of the deployment over its internal routes, by TCP or unix socket.
 * Totals travel as exact integers (cents as decimal strings), never as formatted amounts.
 */
export interface WireTotals {
  default: { count: number; cents: string };
  fallback: { count: number; cents: string };
}

export interface HealthReport {
  failing: boolean;
  minResponseTime: number;
  /** How long ago the reporting instance received it. */
  ageMs: number;
}

export type WireHealth = { default: HealthReport | null; fallback: HealthReport | null };

export function totalsToWire(totals: Totals): WireTotals {
  return {
    default: { count: totals[DEFAULT].count, cents: totals[DEFAULT].cents.toString() },
    fallback: { count: totals[FALLBACK].count, cents: totals[FALLBACK].cents.toString() },
  };
}

export function totalsFromWire(wire: WireTotals): Totals {
  return [
    { count: wire.default.count, cents: BigInt(wire.default.cents) },
    { count: wire.fallback.count, cents: BigInt(wire.fallback.cents) },
  ];
}

/**
 * A request that may have reached the peer, with no answer (timed out, connection lost after it
 * was made): whatever it asked may have been done. A peer that was never reached (connection
 * refused, no such socket or host) rejects with a plain Error instead.
 */
export class PeerNoAnswer extends Error {}

/** Connection errors that prove the request never reached the peer. */
const NOT_DELIVERED = new Set(['ECONNREFUSED', 'ENOENT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Over node:http (both runtimes have it, and it costs no extra memory per thread, unlike undici's
 * ~26 MB), keep-alive, by TCP or unix socket.
 */
export class PeerClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly socketPath: string | undefined;
  private readonly host: string;
  private readonly port: number | undefined;

  constructor(
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    if (address.startsWith('unix:')) {
      this.socketPath = address.slice('unix:'.length);
      this.host = 'localhost';
    } else {
      const url = new URL(address);
      this.host = url.hostname;
      this.port = Number(url.port || 80);
    }
  }

  async totals(window: Window): Promise<Totals> {
    const query = `from=${window.from ?? ''}&to=${window.to ?? ''}`;
    return totalsFromWire((await this.request('GET', `/internal/totals?${query}`)) as WireTotals);
  }

  /** A peer's purge answers once its calls in flight have ended: it may take up to `patienceMs`. */
  async purge(patienceMs: number): Promise<void> {
    await this.request('POST', '/internal/purge', patienceMs);
  }

  async health(): Promise<WireHealth> {
    return (await this.request('GET', '/internal/health')) as WireHealth;
  }

  /**
   * Hands a payment to this peer, its owner; resolves to the owner's answer. Rejects with
   * PeerNoAnswer when the owner may have accepted it without answering, with an Error when it was
   * never reached.
   */
  async forwardPayment(body: Uint8Array): Promise<{ status: number; body: string; retryAfter?: number }> {
    const answer = await this.exchange('POST', '/internal/payments', body);
    return { status: answer.status, body: answer.text, ...(answer.retryAfter > 0 ? { retryAfter: answer.retryAfter } : {}) };
  }

  close(): void {
    this.agent.destroy();
  }

  /** One of the internal JSON routes: its parsed answer, or a rejection saying why there is none. */
  private async request(method: 'GET' | 'POST', path: string, timeoutMs = this.timeoutMs): Promise<unknown> {
    const answer = await this.exchange(method, path, null, timeoutMs);
    if (answer.status !== 200) throw new Error(`peer ${this.address} answered HTTP ${answer.status}`);
    try {
      return JSON.parse(answer.text);
    } catch {
      throw new Error(`peer ${this.address} answered something that is not JSON`);
    }
  }

  /** One request to this peer; rejects when no whole answer came: PeerNoAnswer unless it never reached the peer. */
  private exchange(
    method: 'GET' | 'POST',
    path: string,
    body: Uint8Array | null,
    timeoutMs = this.timeoutMs,
  ): Promise<{ status: number; text: string; retryAfter: number }> {
    return new Promise((resolve, reject) => {
      const unreachable = (error: NodeJS.ErrnoException) =>
        reject(
          NOT_DELIVERED.has(error.code ?? '')
            ? new Error(`peer ${this.address} unreachable (${error.message})`)
            : new PeerNoAnswer(`no answer from peer ${this.address} (${error.message})`),
        );
      const headers = body === null ? { 'content-length': 0 } : { 'content-type': 'application/json', 'content-length': body.byteLength };
      const call = httpRequest(
        { agent: this.agent, socketPath: this.socketPath, host: this.host, port: this.port, method, path, timeout: timeoutMs, headers },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', unreachable);
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 502,
              text: Buffer.concat(chunks).toString('utf8'),
              retryAfter: Number(response.headers['retry-after']) || 0,
            }),
          );
        },
      );
      call.on('timeout', () => call.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      call.on('error', unreachable);
      if (body === null) call.end();
      else call.end(body);
    });
  }
}
