import { DEFAULT, FALLBACK } from '../domain/processors.ts';

export interface ProcessorTotals {
  count: number;
  /** Exact sum of amounts in cents. */
  cents: bigint;
}

export type Totals = [ProcessorTotals, ProcessorTotals];

/** Inclusive window on `requestedAt`, epoch ms; null bound = open. */
export interface Window {
  from: number | null;
  to: number | null;
}

/**
 * What the summary endpoint needs from wherever settled payments are recorded: totals for a
 * window, and forgetting everything. A deployment-wide ledger implements the same interface.
 */
export interface LedgerReader {
  totals(window: Window): Promise<Totals>;
  purge(): Promise<void>;
}

export function emptyTotals(): Totals {
  return [
    { count: 0, cents: 0n },
    { count: 0, cents: 0n },
  ];
}

export function addTotals(into: Totals, other: Totals): Totals {
  for (const p of [DEFAULT, FALLBACK]) {
    into[p].count += other[p].count;
    into[p].cents += other[p].cents;
  }
  return into;
}
