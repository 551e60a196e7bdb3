import { setTimeout as sleep } from 'node:timers/promises';
import { decodeUuid } from '../queue/uuid.ts';
import type { PaymentRing } from '../queue/payment-ring.ts';
import { Counter, type Signals } from '../health/signals.ts';
import type { LedgerReader, Totals, Window } from '../ledger/ledger.ts';
import { RedisLink, type LinkStatus } from './redis-link.ts';
import { ACCEPT, CLAIM, CLAIMED_FIELDS, FOLD, GROUP, KEYS, PURGE, RECLAIM, RENEW, SUMMARY, TRIM, type StreamReply } from './scripts.ts';

/**
 * The HTTP thread's side of fleet mode (REDIS_URL): accepts payments into the fleet's stream,
 * feeds this host's share of it into the in-process ring (the workers settle from there as in
 * the embedded mode, and write their attempts and outcomes to Redis themselves: fleet-log.ts),
 * takes over the pending payments of hosts that died, takes back its own that it does not hold,
 * answers the fleet's summary and purge, and applies a purge made through another host.
 *
 *   POST /payments ─ ACCEPT (HEXISTS ids, XADD, HSET ids) ─▶ 202
 *   stream ─ XREADGROUP (this host's consumer) ─▶ ring ─▶ workers ─ LOG (attempt; settled + XACK)
 *   dead host's pending entries ─ CLAIM (lease expired, idle) ─▶ ring (in doubt at their last call's processor)
 *   own pending entries not held here ─ RECLAIM (idle) ─▶ ring (a read whose reply was lost; a restart)
 *
 * Fencing: this process writes as its consumer with a lease epoch (INCR at start). When a renewal
 * finds the lease lapsed (this process was paused or cut off: others may have taken over some of
 * its payments), Redis gives it a new epoch, so records written under the old one are refused;
 * the host forgets every copy it holds (a local purge) and takes back from Redis what is still its
 * own. `held` is the set of entries pushed into the ring since, so that no entry is pushed twice.
 */
/** A host's liveness lease (on Redis's clock), renewed every LEASE_RENEW_MS; its pending payments are taken over once it lapses. */
const LEASE_MS = 3000;
const LEASE_RENEW_MS = 1000;
/** No renewal by any host for this long: Redis was out of reach for all; no take-over for a lease period after. */
const OUTAGE_GAP_MS = LEASE_MS - LEASE_RENEW_MS;
/** How often this host compares its pending entries with what it holds. */
const RECLAIM_MS = 1000;
/** An own pending entry not held here is taken back once idle this long (a read's reply may still be on its way before). */
const RECLAIM_IDLE_MS = 2000;
/** Deliveries after which an entry is reported as poison (in /health and the log): something keeps failing on it. */
const POISON_DELIVERIES = 5;
const PENDING_PAGE = 1000;
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
  /** Command timeout (ms): see RedisLink. */
  timeoutMs: number;
  /** Replicas that must hold an accepted payment before its 202 (0: none), and how long to wait for them. */
  waitReplicas: number;
  waitTimeoutMs: number;
  /** Settled ids are remembered one to two horizons, ms edges of windows one (see FOLD). */
  horizonMs: number;
  /** This host's consumer name in the group (unique in the fleet). */
  consumer: string;
  ring: PaymentRing;
  /** Purges (of the fleet, or of the copies this host holds) and this process's lease epoch go to the workers through it. */
  signals: Signals;
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
  /** Another process runs as this host's consumer now: this one takes and writes nothing more. */
  private fenced = false;
  private epoch = 0;
  private purgedAt = 0;
  /** Stream entries pushed into the ring under the current epoch (pruned once no longer pending here). */
  private readonly held = new Set<string>();
  private readonly poison = new Map<string, number>();
  private readonly counts = { fed: 0, claimed: 0, reclaimed: 0 };
  private errorsLogged = 0;

  constructor(private readonly options: FleetHostOptions) {
    this.link = new RedisLink(options.url, options.timeoutMs);
    this.reader = new RedisLink(options.url, options.timeoutMs);
  }

  /** Connects (waiting for Redis if it is not up yet), takes a lease epoch and back its own pending payments, then feeds and watches. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.ensureGroup();
        this.purgedAt = Number((await this.link.send('GET', [KEYS.purgedAt])) ?? 0);
        this.epoch = Number(await this.link.send('INCR', [KEYS.epoch(this.options.consumer)]));
        this.options.signals.setCount(Counter.FleetEpoch, this.epoch);
        await this.renewLease(false);
        await this.reclaimOwn(0);
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
    setInterval(() => this.reclaimOwn(RECLAIM_IDLE_MS).catch((error) => this.report('reclaim', error)), RECLAIM_MS);
    setInterval(() => this.watchPurge().catch(() => undefined), PURGE_POLL_MS);
    setInterval(() => this.trim().catch(() => undefined), TRIM_MS);
  }

  /**
   * Queues a payment for the fleet: true when accepted now, false when some host accepted it
   * before. Rejects while Redis is unreachable, and when fewer than `waitReplicas` replicas hold it
   * within `waitTimeoutMs` (a repeat waits too: the first accept may not be replicated yet).
   */
  async accept(id: string, cents: number, acceptedAt: number): Promise<boolean> {
    const keys = [KEYS.ids, KEYS.stream, KEYS.purgedAt, KEYS.done, KEYS.donePrev];
    const queued = (await this.link.eval(ACCEPT, keys, [id, String(cents), String(acceptedAt)])) === 1;
    if (this.options.waitReplicas > 0) await this.link.replicated(this.options.waitReplicas, this.options.waitTimeoutMs);
    return queued;
  }

  async totals(window: Window): Promise<Totals> {
    const keys = [KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.foldedBelow];
    const reply = (await this.link.eval(SUMMARY, keys, [String(window.from ?? ''), String(window.to ?? '')])) as number[];
    const cents = (high: number, low: number) => BigInt(high) * 1_000_000_000n + BigInt(low);
    return [
      { count: reply[0]!, cents: cents(reply[1]!, reply[2]!) },
      { count: reply[3]!, cents: cents(reply[4]!, reply[5]!) },
    ];
  }

  /** Forgets the fleet's payments; the other hosts apply it within PURGE_POLL_MS. */
  async purge(): Promise<void> {
    const keys = [KEYS.ids, KEYS.attempts, KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.stream, KEYS.purgedAt, KEYS.done, KEYS.donePrev, KEYS.foldedBelow];
    const at = Number(await this.link.eval(PURGE, keys, [GROUP, String(Date.now())]));
    this.applyPurge(at);
  }

  status(): LinkStatus & { consumer: string; epoch: number; fenced: boolean; fed: number; claimed: number; reclaimed: number; poison: string[] } {
    return {
      ...this.link.status(),
      consumer: this.options.consumer,
      epoch: this.epoch,
      fenced: this.fenced,
      ...this.counts,
      poison: [...this.poison.keys()].slice(0, 10),
    };
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

  private get ringRoom(): number {
    return this.options.ring.capacity - RING_MARGIN - this.options.ring.size;
  }

  /** Moves new stream entries into the ring as it has room. */
  private async feed(): Promise<void> {
    while (this.feeding && !this.fenced) {
      const room = this.ringRoom;
      if (room <= 0) {
        await sleep(5);
        continue;
      }
      let entries: [string, string[] | null][];
      try {
        const args = ['GROUP', GROUP, this.options.consumer, 'COUNT', String(Math.min(room, READ_BATCH)), 'BLOCK', String(READ_BLOCK_MS)];
        const reply = (await this.reader.send('XREADGROUP', [...args, 'STREAMS', KEYS.stream, '>'], READ_BLOCK_MS + this.options.timeoutMs)) as StreamReply;
        entries = reply?.[KEYS.stream] ?? [];
      } catch (error) {
        if (!this.feeding) return;
        // A Redis that lost its data has no group any more: recreate it.
        if (String(error).includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
        else await sleep(100);
        continue;
      }
      for (const [entryId, fields] of entries) {
        if (fields) await this.push(entryId, fieldOf(fields, 'c'), fieldOf(fields, 'a'), fieldOf(fields, 't'), '');
        this.counts.fed++;
      }
    }
  }

  /**
   * Pushes one payment into the ring, unless this process holds its entry already; with a
   * recorded call ("p:requestedAt") it starts in doubt at that processor. Dated after the last
   * local purge: a copy forgotten by one (see renewLease) must not hide the one pushed after it.
   */
  private async push(entryId: string, id: string, cents: string, acceptedAt: string, lastAttempt: string): Promise<void> {
    if (this.held.has(entryId)) return;
    if (!decodeUuid(this.encoder.encode(id), 0, this.words, 0)) {
      this.report(`stream entry ${entryId} with a malformed correlationId "${id}" skipped`, null);
      return;
    }
    this.held.add(entryId);
    const [processor, requestedAt] = lastAttempt === '' ? [-1, 0] : lastAttempt.split(':').map(Number);
    const at = Math.max(Number(acceptedAt), this.options.signals.purgedAt + 1);
    while (!this.options.ring.tryPush(this.words, 0, Number(cents), at, processor, requestedAt)) await sleep(1);
  }

  /** Pushes what CLAIM or RECLAIM returned; reports entries delivered POISON_DELIVERIES times or more. */
  private async pushClaimed(claimed: (string | number)[]): Promise<number> {
    for (let i = 0; i < claimed.length; i += CLAIMED_FIELDS) {
      const [entryId, id, cents, acceptedAt, lastAttempt, deliveries] = claimed.slice(i, i + CLAIMED_FIELDS).map(String) as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      if (Number(deliveries) >= POISON_DELIVERIES && !this.poison.has(entryId)) {
        this.poison.set(entryId, Number(deliveries));
        this.options.log(`fleet: payment ${id} (stream entry ${entryId}) delivered ${deliveries} times without being settled`);
      }
      await this.push(entryId, id, cents, acceptedAt, lastAttempt);
    }
    return claimed.length / CLAIMED_FIELDS;
  }

  /** `held`: false for the first lease of this process (none to have lapsed). */
  private async renewLease(held = true): Promise<void> {
    if (this.fenced) return;
    const keys = [KEYS.alivePrefix + this.options.consumer, KEYS.epoch(this.options.consumer), KEYS.beat, KEYS.claimableAt];
    const args = [String(this.epoch), String(LEASE_MS), String(OUTAGE_GAP_MS), held ? '1' : '0'];
    const epoch = Number(await this.link.eval(RENEW, keys, args));
    if (epoch === this.epoch) return;
    if (epoch === 0) {
      this.fenced = true;
      this.forgetHeld();
      this.options.log(`fleet: another process runs as ${this.options.consumer} now; this one stops taking payments`);
      return;
    }
    // The lease had lapsed: forget every copy held (records under the old epoch are refused now), then take back what is still ours.
    this.forgetHeld();
    this.epoch = epoch;
    this.options.signals.setCount(Counter.FleetEpoch, epoch);
    this.options.log(`fleet: lease of ${this.options.consumer} had lapsed; took epoch ${epoch}, taking back what is still ours`);
    await this.reclaimOwn(0);
  }

  /** The workers drop every payment they hold (a local purge), and this host holds no entry any more. */
  private forgetHeld(): void {
    const signals = this.options.signals;
    signals.purge(Math.max(Date.now(), signals.purgedAt + 1));
    this.held.clear();
  }

  /** Takes over pending payments of hosts whose lease lapsed (as many as the ring has room for). */
  private async claim(): Promise<void> {
    const room = this.ringRoom;
    if (room <= 0 || !this.feeding || this.fenced) return;
    const keys = [KEYS.stream, KEYS.attempts, KEYS.claimableAt, KEYS.alivePrefix + this.options.consumer];
    const args = [GROUP, this.options.consumer, String(LEASE_MS), String(Math.min(room, READ_BATCH)), KEYS.alivePrefix, String(this.epoch)];
    const claimed = await this.pushClaimed((await this.link.eval(CLAIM, keys, args)) as string[]);
    if (claimed === 0) return;
    this.counts.claimed += claimed;
    this.options.log(`fleet: took over ${claimed} pending payments of hosts whose lease lapsed`);
  }

  /**
   * Self-reclaim: lists the entries pending at this host's consumer, forgets held ones that are
   * not any more (settled, dropped, purged, taken over), and takes back those it does not hold,
   * idle `minIdleMs` or more: a read whose reply was lost, or the previous process of this host.
   */
  private async reclaimOwn(minIdleMs: number): Promise<void> {
    if (this.fenced || !this.feeding) return;
    const pending = new Map<string, number>();
    for (let from = '-'; ; ) {
      const page = (await this.link.send('XPENDING', [KEYS.stream, GROUP, from, '+', String(PENDING_PAGE), this.options.consumer])) as [
        string,
        string,
        number,
        number,
      ][];
      for (const [entryId, , idleMs] of page) pending.set(entryId, idleMs);
      if (page.length < PENDING_PAGE) break;
      from = `(${page[page.length - 1]![0]}`;
    }
    for (const entryId of this.held) if (!pending.has(entryId)) this.held.delete(entryId);
    for (const entryId of this.poison.keys()) if (!pending.has(entryId)) this.poison.delete(entryId);
    const missing: string[] = [];
    for (const [entryId, idleMs] of pending) if (!this.held.has(entryId) && idleMs >= minIdleMs) missing.push(entryId);
    const room = this.ringRoom;
    if (missing.length === 0 || room <= 0) return;
    const keys = [KEYS.stream, KEYS.attempts, KEYS.epoch(this.options.consumer), KEYS.alivePrefix + this.options.consumer];
    const args = [GROUP, this.options.consumer, String(this.epoch), String(minIdleMs), ...missing.slice(0, Math.min(room, READ_BATCH))];
    const reclaimed = await this.pushClaimed((await this.link.eval(RECLAIM, keys, args)) as string[]);
    this.counts.reclaimed += reclaimed;
    if (reclaimed > 0) this.options.log(`fleet: took back ${reclaimed} of this host's pending payments that it did not hold`);
  }

  /** Cuts acknowledged entries off the stream, and folds what is older than the horizon (see FOLD). */
  private async trim(): Promise<void> {
    await this.link.eval(TRIM, [KEYS.stream], [GROUP]);
    await this.link.eval(FOLD, [KEYS.done, KEYS.donePrev, KEYS.entries, KEYS.rotatedAt, KEYS.foldedBelow], [String(this.options.horizonMs)]);
  }

  private async watchPurge(): Promise<void> {
    const at = Number((await this.link.send('GET', [KEYS.purgedAt])) ?? 0);
    if (at > this.purgedAt) this.applyPurge(at);
  }

  private applyPurge(at: number): void {
    if (at <= this.purgedAt) return;
    this.purgedAt = at;
    const signals = this.options.signals;
    signals.purge(Math.max(at, signals.purgedAt));
  }

  private report(what: string, error: unknown): void {
    if (this.errorsLogged++ < 20) this.options.log(`fleet: ${what}${error ? `: ${error instanceof Error ? error.message : String(error)}` : ''}`);
  }
}

function fieldOf(fields: string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return '';
}
