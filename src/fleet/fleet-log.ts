import { setTimeout as sleep } from 'node:timers/promises';
import { formatUuid } from '../queue/uuid.ts';
import { RecordKind } from '../journal/record.ts';
import type { SettlementLog } from '../settlement/settler.ts';
import { RedisLink } from './redis-link.ts';
import { GROUP, KEYS, LOG } from './scripts.ts';

/**
 * A payment worker's log in fleet mode: the settler stages attempts and outcomes as it does
 * for the file journal, and `flush` writes them in one LOG script (one round trip) before any
 * call of the pump leaves. An attempt that cannot be written fails the flush, so its call does
 * not leave; an outcome (settled, dropped) is kept and written with the next flush, since the
 * payment stays pending in the stream, unacknowledged, until it is. Records are written as this
 * host's process (consumer and lease epoch): Redis refuses those of payments it does not own
 * (fencing), and `flush` names the payments whose attempts were refused.
 *
 * After a failed write the next one waits (100 ms doubling to 1 s, with jitter): a worker whose
 * Redis is down or answers errors retries at that pace instead of as fast as its pump turns.
 */
const KIND: Partial<Record<RecordKind, string>> = { [RecordKind.Attempt]: 'a', [RecordKind.Settled]: 's', [RecordKind.Dropped]: 'd' };
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 1000;

export class FleetLog implements SettlementLog {
  private readonly link: RedisLink;
  private attempts: string[] = [];
  private outcomes: string[] = [];
  /** The last flush: commands go out in order on one connection, so it ends after every earlier one. */
  private last: Promise<unknown> = Promise.resolve();
  private failures = 0;
  private retryAt = 0;

  constructor(
    url: string,
    timeoutMs: number,
    /** This host's consumer name in the stream's group. */
    private readonly consumer: string,
    /** This process's lease epoch (0 until the host has one: it feeds no payment before). */
    private readonly epoch: () => number,
    /** Replicas that must hold the records before a flush succeeds (0: none), and how long to wait for them. */
    private readonly replication = { replicas: 0, timeoutMs: 0 },
  ) {
    this.link = new RedisLink(url, timeoutMs);
  }

  stage(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number): void {
    const record = [KIND[kind]!, String(processor), formatUuid(id, idIndex), String(cents), String(at)];
    if (kind === RecordKind.Attempt) this.attempts.push(...record);
    else this.outcomes.push(...record);
  }

  /**
   * Nothing staged: nothing to wait for (undefined). Otherwise resolves once Redis holds every
   * record it accepted, with the correlationIds whose attempts it refused (their calls must not leave).
   */
  flush(): Promise<ReadonlySet<string>> | undefined {
    if (this.attempts.length === 0 && this.outcomes.length === 0) return undefined;
    const attempts = this.attempts;
    const outcomes = this.outcomes;
    this.attempts = [];
    this.outcomes = [];
    // The epoch as of now: a flush that waits must not write under an epoch taken after it was staged.
    const written = this.write(String(this.epoch()), [...outcomes, ...attempts]).then(
      (accepted) => {
        this.failures = 0;
        const refused = new Set<string>();
        for (let i = 0; i < attempts.length; i += 5) if (accepted[outcomes.length / 5 + i / 5] !== 1) refused.add(attempts[i + 2]!);
        return refused;
      },
      (error: unknown) => {
        this.outcomes.unshift(...outcomes);
        const backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures++);
        this.retryAt = Date.now() + backoff * (0.5 + Math.random() / 2);
        throw error;
      },
    );
    this.last = written.catch(() => undefined);
    return written;
  }

  private async write(epoch: string, records: string[]): Promise<number[]> {
    const wait = this.retryAt - Date.now();
    if (wait > 0) await sleep(wait);
    const keys = [KEYS.ids, KEYS.attempts, KEYS.stream, KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.epoch(this.consumer), KEYS.done];
    const written = (await this.link.eval(LOG, keys, [GROUP, this.consumer, epoch, ...records])) as number[];
    // Not on enough replicas: the flush fails, so no call leaves on an attempt a failover could lose.
    if (this.replication.replicas > 0) await this.link.replicated(this.replication.replicas, this.replication.timeoutMs);
    return written;
  }

  /** Resolves once every flush started so far has ended (written or failed). */
  idle(): Promise<unknown> {
    return this.last;
  }

  close(): void {
    this.link.close();
  }
}
