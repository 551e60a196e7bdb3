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
  private readonly base: string;
  private readonly unix: string | undefined;

  constructor(
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    this.unix = address.startsWith('unix:') ? address.slice('unix:'.length) : undefined;
    this.base = this.unix ? 'http://peer' : address;
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

  private async request(method: string, path: string): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, { method, unix: this.unix, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new Error(`peer ${this.address} unreachable (${error instanceof Error ? error.message : String(error)})`);
    }
    if (response.status !== 200) throw new Error(`peer ${this.address} answered HTTP ${response.status}`);
    return response.json();
  }
}
