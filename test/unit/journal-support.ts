import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceJournal } from '../../src/journal/instance-journal.ts';
import { SharedLedger } from '../../src/ledger/shared-ledger.ts';
import { IdSet } from '../../src/queue/id-set.ts';
import type { PaymentRing } from '../../src/queue/payment-ring.ts';

/** Helpers for the journal tests: they use only what the gateway uses (InstanceJournal, JournalWriter). */
export const idOf = (n: number) => Uint32Array.of(n, n + 1, n + 2, n + 3);

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

export interface Restarted {
  journal: InstanceJournal;
  ledger: SharedLedger;
  ids: IdSet;
  /** What requeue pushed to the ring: the payments replay found unsettled. */
  requeued: { id: number; cents: number; acceptedAt: number; doubtAt: number; doubtRequestedAt: number }[];
  /** Settled payments in the rebuilt ledger, and their cents. */
  settled: { count: number; cents: bigint };
}

/** Starts an InstanceJournal on `dir` (a restart: it replays), and collects what it rebuilt. */
export async function restart(dir: string, options?: ConstructorParameters<typeof InstanceJournal>[5]): Promise<Restarted> {
  const ledger = SharedLedger.create(1 << 20);
  const ids = new IdSet(16);
  const journal = new InstanceJournal(dir, 0, ledger, ids, () => {}, options);
  const requeued: Restarted['requeued'] = [];
  const ring = {
    tryPush(id: Uint32Array, _index: number, cents: number, acceptedAt: number, doubtAt = -1, doubtRequestedAt = 0) {
      requeued.push({ id: id[0], cents, acceptedAt, doubtAt, doubtRequestedAt });
      return true;
    },
  } as unknown as PaymentRing;
  await journal.requeue(ring);
  requeued.sort((a, b) => a.id - b.id);
  const totals = ledger.totals({ from: null, to: null });
  const settled = { count: totals[0].count + totals[1].count, cents: totals[0].cents + totals[1].cents };
  return { journal, ledger, ids, requeued, settled };
}
