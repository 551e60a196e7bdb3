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
 * payment stays pending in the stream, unacknowledged, until it is.
 */
const KIND: Partial<Record<RecordKind, string>> = { [RecordKind.Attempt]: 'a', [RecordKind.Settled]: 's', [RecordKind.Dropped]: 'd' };

export class FleetLog implements SettlementLog {
  private readonly link: RedisLink;
  private attempts: string[] = [];
  private outcomes: string[] = [];
  /** The last flush: commands go out in order on one connection, so it ends after every earlier one. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(url: string) {
    this.link = new RedisLink(url);
  }

  stage(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number): void {
    const record = [KIND[kind]!, String(processor), formatUuid(id, idIndex), String(cents), String(at)];
    if (kind === RecordKind.Attempt) this.attempts.push(...record);
    else this.outcomes.push(...record);
  }

  /** Nothing staged: nothing to wait for (undefined). Otherwise resolves once Redis holds every record. */
  flush(): Promise<void> | undefined {
    if (this.attempts.length === 0 && this.outcomes.length === 0) return undefined;
    const attempts = this.attempts;
    const outcomes = this.outcomes;
    this.attempts = [];
    this.outcomes = [];
    const keys = [KEYS.ids, KEYS.attempts, KEYS.stream, KEYS.entries, ...KEYS.levels, KEYS.total];
    const written = this.link.eval(LOG, keys, [GROUP, ...outcomes, ...attempts]).then(
      () => undefined,
      (error: unknown) => {
        this.outcomes.unshift(...outcomes);
        throw error;
      },
    );
    this.last = written.catch(() => undefined);
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
