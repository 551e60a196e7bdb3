import { addTotals, type LedgerReader, type Totals, type Window } from './ledger.ts';
import type { PeerClient } from './peer-client.ts';

/**
 * The ledger of the whole deployment: this instance's entries plus every peer's, asked over the
 * peers' internal routes at query time. Each instance records only what its own workers settled,
 * so the sum counts every payment once. No peer answer, no number: a partial sum would be wrong,
 * and an error (503) is better than a wrong summary.
 */
export class ClusterLedger implements LedgerReader {
  constructor(
    private readonly local: LedgerReader,
    private readonly peers: readonly PeerClient[],
    /** How long a peer's purge may take: it answers once its calls in flight have ended. */
    private readonly purgePatienceMs: number,
  ) {}

  async totals(window: Window): Promise<Totals> {
    const parts = await Promise.all([this.local.totals(window), ...this.peers.map((peer) => peer.totals(window))]);
    return parts.reduce((sum, part) => addTotals(sum, part));
  }

  async purge(): Promise<void> {
    const results = await Promise.allSettled([this.local.purge(), ...this.peers.map((peer) => peer.purge(this.purgePatienceMs))]);
    const failures = results
      .filter((result) => result.status === 'rejected')
      .map((result) => String((result as PromiseRejectedResult).reason?.message ?? result));
    if (failures.length > 0) throw new Error(failures.join('; '));
  }
}
