import { setTimeout as sleep } from 'node:timers/promises';
import { decodeUuid } from '../queue/uuid.ts';
import type { PaymentRing } from '../queue/payment-ring.ts';
import type { LedgerReader, Totals, Window } from '../ledger/ledger.ts';
import { RedisLink, type LinkStatus } from './redis-link.ts';
import { ACCEPT, CLAIM, GROUP, KEYS, PURGE, SUMMARY, TRIM, type StreamReply } from './scripts.ts';

/**
 * The HTTP thread's side of fleet mode (REDIS_URL): accepts payments into the fleet's stream,
 * feeds this host's share of it into the in-process ring (the workers settle from there as in
 * the embedded mode, and write their attempts and outcomes to Redis themselves: fleet-log.ts),
 * takes over the pending payments of hosts that died, answers the fleet's summary and purge,
 * and applies a purge made through another host.
 *
 *   POST /payments ─ ACCEPT (HEXISTS ids, XADD, HSET ids) ─▶ 202
 *   stream ─ XREADGROUP (this host's consumer) ─▶ ring ─▶ workers ─ LOG (attempt; settled + XACK)
 *   dead host's pending entries ─ CLAIM (lease expired, idle) ─▶ ring (in doubt at their last call's processor)
 */
/** A host's liveness lease, renewed every LEASE_RENEW_MS; its pending payments are taken over once it lapses. */
const LEASE_MS = 3000;
const LEASE_RENEW_MS = 1000;
/** How often another host's purge is looked for. */
const PURGE_POLL_MS = 200;
/** How often acknowledged entries are cut off the stream. */
const TRIM_MS = 5000;
/** Longest XREADGROUP wait, so that a stop or a ring with room again is noticed. */
const READ_BLOCK_MS = 200;
const READ_BATCH = 512;
/** Ring slots left free: each worker may hold a claimed slot not yet released. */
const RING_MARGIN = 16;

export interface FleetHostOptions {
  url: string;
  /** This host's consumer name in the group (unique in the fleet). */
  consumer: string;
  ring: PaymentRing;
  /** Makes this host's workers forget what they hold that was accepted up to `at` (a purge). */
  purgeLocal(at: number): void;
  log(line: string): void;
}

export class FleetHost implements LedgerReader {
  /** Commands; a second connection blocks in XREADGROUP. */
  private readonly link: RedisLink;
  private readonly reader: RedisLink;
  private readonly words = new Uint32Array(4);
  private readonly encoder = new TextEncoder();
  /** Draining: no new entries are taken; what this host holds is settled or left pending for another. */
  private feeding = true;
  private purgedAt = 0;
  private readonly counts = { fed: 0, claimed: 0 };
  private errorsLogged = 0;

  constructor(private readonly options: FleetHostOptions) {
    this.link = new RedisLink(options.url);
    this.reader = new RedisLink(options.url);
  }

  /** Connects (waiting for Redis if it is not up yet), takes back this host's own pending payments, then feeds and watches. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.ensureGroup();
        this.purgedAt = Number((await this.link.send('GET', [KEYS.purgedAt])) ?? 0);
        await this.renewLease();
        break;
      } catch (error) {
        this.report('redis not reachable at start, retrying', error);
        await sleep(500);
      }
    }
    void this.feed();
    // While Redis is unreachable these fail; the link reconnects on the next one.
    const renewAndClaim = () =>
      this.renewLease()
        .then(() => this.claim())
        .catch((error) => this.report('lease/claim', error));
    setInterval(renewAndClaim, LEASE_RENEW_MS);
    setInterval(() => this.watchPurge().catch(() => undefined), PURGE_POLL_MS);
    setInterval(() => this.link.eval(TRIM, [KEYS.stream], [GROUP]).catch(() => undefined), TRIM_MS);
  }

  /** Queues a payment for the fleet: true when accepted now, false when some host accepted it before. Rejects while Redis is unreachable. */
  async accept(id: string, cents: number, acceptedAt: number): Promise<boolean> {
    return (await this.link.eval(ACCEPT, [KEYS.ids, KEYS.stream, KEYS.purgedAt], [id, String(cents), String(acceptedAt)])) === 1;
  }

  async totals(window: Window): Promise<Totals> {
    const keys = [KEYS.entries, ...KEYS.levels, KEYS.total];
    const reply = (await this.link.eval(SUMMARY, keys, [String(window.from ?? ''), String(window.to ?? '')])) as number[];
    const cents = (high: number, low: number) => BigInt(high) * 1_000_000_000n + BigInt(low);
    return [
      { count: reply[0]!, cents: cents(reply[1]!, reply[2]!) },
      { count: reply[3]!, cents: cents(reply[4]!, reply[5]!) },
    ];
  }

  /** Forgets the fleet's payments; the other hosts apply it within PURGE_POLL_MS. */
  async purge(): Promise<void> {
    const keys = [KEYS.ids, KEYS.attempts, KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.stream, KEYS.purgedAt];
    const at = Number(await this.link.eval(PURGE, keys, [GROUP, String(Date.now())]));
    this.applyPurge(at);
  }

  status(): LinkStatus & { consumer: string; fed: number; claimed: number } {
    return { ...this.link.status(), consumer: this.options.consumer, ...this.counts };
  }

  /** Takes no more payments from the stream (shutdown): the rest stays there for the other hosts. */
  stopFeeding(): void {
    this.feeding = false;
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.link.send('XGROUP', ['CREATE', KEYS.stream, GROUP, '0', 'MKSTREAM']);
    } catch (error) {
      if (!String(error).includes('BUSYGROUP')) throw error;
    }
  }

  /**
   * Moves stream entries into the ring as it has room. First this host's own pending entries
   * (delivered to it before a restart: id 0), then new ones ('>').
   */
  private async feed(): Promise<void> {
    let ownPending = true;
    let from = '0';
    while (this.feeding) {
      const room = this.options.ring.capacity - RING_MARGIN - this.options.ring.size;
      if (room <= 0) {
        await sleep(5);
        continue;
      }
      let entries: [string, string[] | null][];
      let attempts: (string | null)[] | null = null;
      try {
        const args = ['GROUP', GROUP, this.options.consumer, 'COUNT', String(Math.min(room, READ_BATCH))];
        if (!ownPending) args.push('BLOCK', String(READ_BLOCK_MS));
        const reply = (await this.reader.send('XREADGROUP', [...args, 'STREAMS', KEYS.stream, ownPending ? from : '>'])) as StreamReply;
        entries = reply?.[KEYS.stream] ?? [];
        // Own pending entries were delivered before a restart: their calls may have left.
        if (ownPending) attempts = await this.lastAttempts(entries.map(([, fields]) => (fields ? fieldOf(fields, 'c') : '')));
      } catch (error) {
        if (!this.feeding) return;
        // A Redis that lost its data has no group any more: recreate it.
        if (String(error).includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
        else await sleep(100);
        continue;
      }
      if (ownPending && entries.length === 0) {
        ownPending = false;
        continue;
      }
      for (let i = 0; i < entries.length; i++) {
        const [entryId, fields] = entries[i]!;
        if (ownPending) from = entryId;
        // A pending entry deleted meanwhile (a purge) comes back without fields: nothing to settle.
        if (!fields) continue;
        await this.push(fieldOf(fields, 'c'), fieldOf(fields, 'a'), fieldOf(fields, 't'), attempts?.[i] ?? '');
        this.counts.fed++;
      }
    }
  }

  private async lastAttempts(ids: string[]): Promise<(string | null)[]> {
    if (ids.length === 0) return [];
    return (await this.link.send('HMGET', [KEYS.attempts, ...ids])) as (string | null)[];
  }

  /** Pushes one payment into the ring; with a recorded call ("p:requestedAt") it starts in doubt at that processor. */
  private async push(id: string, cents: string, acceptedAt: string, lastAttempt: string): Promise<void> {
    if (!decodeUuid(this.encoder.encode(id), 0, this.words, 0)) {
      this.report(`stream entry with a malformed correlationId "${id}" skipped`, null);
      return;
    }
    const [processor, requestedAt] = lastAttempt === '' ? [-1, 0] : lastAttempt.split(':').map(Number);
    while (!this.options.ring.tryPush(this.words, 0, Number(cents), Number(acceptedAt), processor, requestedAt)) await sleep(1);
  }

  private async renewLease(): Promise<void> {
    await this.link.send('SET', [KEYS.alivePrefix + this.options.consumer, '1', 'PX', String(LEASE_MS)]);
  }

  /** Takes over pending payments of hosts whose lease lapsed (as many as the ring has room for). */
  private async claim(): Promise<void> {
    const room = this.options.ring.capacity - RING_MARGIN - this.options.ring.size;
    if (room <= 0 || !this.feeding) return;
    const args = [GROUP, this.options.consumer, String(LEASE_MS), String(Math.min(room, READ_BATCH)), KEYS.alivePrefix];
    const claimed = (await this.link.eval(CLAIM, [KEYS.stream, KEYS.attempts], args)) as string[];
    if (claimed.length === 0) return;
    for (let i = 0; i < claimed.length; i += 5) await this.push(claimed[i + 1]!, claimed[i + 2]!, claimed[i + 3]!, claimed[i + 4]!);
    this.counts.claimed += claimed.length / 5;
    this.options.log(`fleet: took over ${claimed.length / 5} pending payments of hosts whose lease lapsed`);
  }

  private async watchPurge(): Promise<void> {
    const at = Number((await this.link.send('GET', [KEYS.purgedAt])) ?? 0);
    if (at > this.purgedAt) this.applyPurge(at);
  }

  private applyPurge(at: number): void {
    if (at <= this.purgedAt) return;
    this.purgedAt = at;
    this.options.purgeLocal(at);
  }

  private report(what: string, error: unknown): void {
    if (this.errorsLogged++ < 20) this.options.log(`fleet: ${what}${error ? `: ${error instanceof Error ? error.message : String(error)}` : ''}`);
  }
}

function fieldOf(fields: string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return '';
}
