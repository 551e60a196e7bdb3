// Bun resolves the bare specifier 'undici' to a stub that sends nothing: load the package itself.
import { Pool } from 'undici/index.js';
import { DEFAULT, FALLBACK, type Totals, type Window } from './ledger.ts';

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

export class PeerClient {
  private readonly pool: Pool;

  constructor(
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    const socketPath = address.startsWith('unix:') ? address.slice('unix:'.length) : undefined;
    this.pool = socketPath ? new Pool('http://peer', { socketPath, connections: 4 }) : new Pool(address, { connections: 4 });
  }

  async totals(window: Window): Promise<Totals> {
    const query = `from=${window.from ?? ''}&to=${window.to ?? ''}`;
    return totalsFromWire((await this.request('GET', `/internal/totals?${query}`)) as WireTotals);
  }

  async purge(): Promise<void> {
    await this.request('POST', '/internal/purge');
  }

  async health(): Promise<WireHealth> {
    return (await this.request('GET', '/internal/health')) as WireHealth;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async request(method: 'GET' | 'POST', path: string): Promise<unknown> {
    let status: number;
    let text: string;
    try {
      const response = await this.pool.request({ method, path, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw new Error(`peer ${this.address} unreachable (${error instanceof Error ? error.message : String(error)})`);
    }
    if (status !== 200) throw new Error(`peer ${this.address} answered HTTP ${status}`);
    return JSON.parse(text);
  }
}
