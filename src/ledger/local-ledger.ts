import type { LedgerReader, Totals, Window } from './ledger.ts';
import type { SharedLedger } from './shared-ledger.ts';

/** The ledger of this instance alone (a deployment with one instance, or one peer's share). */
export class LocalLedger implements LedgerReader {
  constructor(
    private readonly ledger: SharedLedger,
    private readonly onPurge: () => void,
  ) {}

  async totals(window: Window): Promise<Totals> {
    return this.ledger.totals(window);
  }

  async purge(): Promise<void> {
    this.onPurge();
  }
}
