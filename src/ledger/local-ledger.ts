import type { LedgerReader, Totals, Window } from './ledger.ts';
import type { SharedLedger } from './shared-ledger.ts';

/** The ledger of this instance alone (a deployment with one instance, or one peer's share). */
export class LocalLedger implements LedgerReader {
  constructor(
    private readonly ledger: SharedLedger,
    /** Forgets, and resolves once this instance's calls of what it forgot have ended. */
    private readonly onPurge: () => Promise<void>,
  ) {}

  async totals(window: Window): Promise<Totals> {
    return this.ledger.totals(window);
  }

  purge(): Promise<void> {
    return this.onPurge();
  }
}
