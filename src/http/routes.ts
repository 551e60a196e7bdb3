import { setTimeout as sleep } from 'node:timers/promises';
import type { GatewayConfig } from '../config/env.ts';
import { DEFAULT, FALLBACK, PROCESSORS } from '../domain/processors.ts';
import { type LedgerReader, type Totals } from '../ledger/ledger.ts';
import { totalsToWire, type WireHealth } from '../ledger/peer-client.ts';
import { centsToJsonNumber } from '../domain/money.ts';
import type { SharedLedger } from '../ledger/shared-ledger.ts';
import type { AcceptedIds } from '../queue/id-set.ts';
import type { PaymentRing } from '../queue/payment-ring.ts';
import { Counter, Field, Time, type Signals } from '../health/signals.ts';
import { PeerNoAnswer, type PeerClient } from '../ledger/peer-client.ts';
import { ParsedPayment, parsePayment } from './parse-payment.ts';
import { parseTimestamp } from './timestamp.ts';
import { formatUuid } from '../queue/uuid.ts';
import { HttpCounters, renderMetrics } from './metrics.ts';
import type { StallDetector } from './stall-detector.ts';

/**
 * The gateway's HTTP behaviour, independent of any server: each route takes plain inputs and
 * returns a Reply, and a thin adapter per server (Bun.serve, uWebSockets.js) maps requests and
 * responses. Replies that never change are built once.
 */
/** Where and how an adapter listens. */
export interface Listen {
  port: number;
  hostname: string;
  socketPath: string | null;
  maxBodyBytes: number;
}

/** Every route and its one method; /internal/ is between instances (the load balancer does not forward it). */
export const ROUTE_METHODS: Readonly<Record<string, string>> = {
  '/payments': 'POST',
  '/payments-summary': 'GET',
  '/purge-payments': 'POST',
  '/health': 'GET',
  '/internal/totals': 'GET',
  '/internal/purge': 'POST',
  '/internal/health': 'GET',
  '/internal/payments': 'POST',
  '/metrics': 'GET',
};

export interface Reply {
  status: number;
  body: string;
  /** Seconds, for 503. */
  retryAfter?: number;
  /** When not JSON. */
  contentType?: string;
}

const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const reply = (status: number, body: unknown): Reply => ({ status, body: JSON.stringify(body) });
export const errorReply = (status: number, message: string): Reply => reply(status, { error: message });

/** 202: queued. A correlationId already accepted gets the same 202 (idempotent), and is not queued again. */
export const ACCEPTED: Reply = reply(202, { message: 'payment accepted' });
const QUEUE_FULL: Reply = { ...errorReply(503, 'payment queue is full, retry shortly'), retryAfter: 1 };
const JOURNAL_FAILED: Reply = { ...errorReply(503, 'payment could not be recorded durably, retry shortly'), retryAfter: 1 };
const OWNER_UNREACHABLE: Reply = { ...errorReply(503, 'the instance that owns this correlationId cannot be reached, retry shortly'), retryAfter: 1 };
/** The owner got the payment and did not answer in time: it may hold it, so never a "not taken" 503. */
const OWNER_NO_ANSWER: Reply = errorReply(
  504,
  'the instance that owns this correlationId did not answer in time: the payment may have been accepted; retry with the same correlationId',
);
const REDIS_FAILED: Reply = { ...errorReply(503, 'payment could not be recorded in the fleet store (Redis), retry shortly'), retryAfter: 1 };
const LEDGER_FULL: Reply = { ...errorReply(503, 'ledger capacity reached (LEDGER_CAPACITY); payment not accepted'), retryAfter: 5 };
/** A purge waits for calls in flight up to the processor timeout and this much more, looking every PURGE_POLL_MS. */
export const PURGE_SLACK_MS = 500;
const PURGE_POLL_MS = 5;
export const PURGED: Reply = reply(200, { message: 'payments purged' });
export const BODY_TOO_LARGE = (limit: number): Reply => errorReply(413, `body larger than ${limit} bytes`);
export const UNSUPPORTED_MEDIA_TYPE: Reply = errorReply(415, 'content-type must be application/json');

/** Where accepted payments are made durable before the 202; throws when it cannot. */
export interface AcceptJournal {
  accepted(id: Uint32Array, cents: number, acceptedAt: number): void;
  purge(): void;
  status(): Record<string, unknown>;
}

/** Fleet mode: where a payment is accepted for every host (see src/fleet/fleet-host.ts). */
export interface FleetAccept {
  /** True when queued now, false when some host accepted it before; rejects while the store is unreachable. */
  accept(id: string, cents: number, acceptedAt: number): Promise<boolean>;
  /** `failing`: reachable, but many of its recent commands failed (error replies, timeouts). */
  status(): { connected: boolean; failing: boolean };
}

export interface RouteDeps {
  ring: PaymentRing;
  ledger: SharedLedger;
  ledgerReader: LedgerReader;
  acceptedIds: AcceptedIds;
  signals: Signals;
  config: GatewayConfig;
  journal: AcceptJournal | null;
  /**
   * Every instance of the deployment in order, this one as null: correlationId c belongs to
   * instance ownerOf(c), and only its owner accepts it, so one id is never settled by two instances.
   */
  instances: readonly (PeerClient | null)[];
  /** Fleet mode (REDIS_URL): payments are accepted in Redis, for whichever host settles them; null: embedded. */
  fleet: FleetAccept | null;
  /** The HTTP thread's stall detector: each route counts as a task of its own. */
  stalls: StallDetector;
}

/** The instance that owns a correlationId: its last hex digit modulo the number of instances (the load balancer routes by the same rule). */
export function ownerOf(id: Uint32Array, instances: number): number {
  return (id[3]! & 0xf) % instances;
}

/**
 * Ring slots kept free by the (single) producer so that a push after a successful journal write
 * cannot fail: a consumer may have claimed a slot and not yet released it, at most one per worker.
 */
const RING_MARGIN = 16;

export class GatewayRoutes {
  private readonly parsed = new ParsedPayment();
  private readonly counters = new HttpCounters();
  /** Ledger entries kept free for payments already accepted but not yet settled. */
  private readonly ledgerReserve: number;

  private readonly tasks: { payment: number; forwarded: number; totals: number; metrics: number; health: number };

  constructor(private readonly deps: RouteDeps) {
    this.ledgerReserve = 2 * deps.config.maxInflightPerProcessor;
    const { stalls } = deps;
    this.tasks = {
      payment: stalls.task('POST /payments'),
      forwarded: stalls.task('POST /internal/payments'),
      totals: stalls.task('GET /internal/totals'),
      metrics: stalls.task('GET /metrics', false),
      health: stalls.task('GET /health', false),
    };
  }

  /** POST /payments: accepted here when this instance owns the id, else answered by its owner. */
  acceptPayment(body: Uint8Array): Reply | Promise<Reply> {
    const startedAt = this.deps.stalls.begin(this.tasks.payment);
    const reply = this.acceptOwnedOrForward(body);
    this.deps.stalls.end(this.tasks.payment, startedAt);
    return reply;
  }

  private acceptOwnedOrForward(body: Uint8Array): Reply | Promise<Reply> {
    const parsed = this.parsed;
    const problem = parsePayment(body, parsed);
    if (problem !== null) return this.invalid(problem);
    const { instances, fleet } = this.deps;
    if (fleet !== null) return this.acceptInFleet(parsed, fleet);
    const owner = instances.length > 1 ? instances[ownerOf(parsed.id, instances.length)] : null;
    if (owner) {
      this.counters.forwarded++;
      // A copy: the server may reuse the body's memory once this returns.
      return owner.forwardPayment(body.slice()).catch((error: unknown) => {
        if (error instanceof PeerNoAnswer) {
          this.counters.refused.owner_no_answer++;
          return OWNER_NO_ANSWER;
        }
        this.counters.refused.owner_unreachable++;
        return OWNER_UNREACHABLE;
      });
    }
    return this.acceptParsed(parsed);
  }

  /** POST /internal/payments: a peer forwards the payments this instance owns; accepted here whatever the id. */
  acceptForwarded(body: Uint8Array): Reply {
    const startedAt = this.deps.stalls.begin(this.tasks.forwarded);
    const reply = this.acceptForwardedHere(body);
    this.deps.stalls.end(this.tasks.forwarded, startedAt);
    return reply;
  }

  private acceptForwardedHere(body: Uint8Array): Reply {
    // On Redis no host forwards to another; accepting here past Redis would settle a payment the fleet never counts.
    if (this.deps.fleet !== null) return errorReply(404, 'hosts on Redis do not forward payments: POST /payments');
    const problem = parsePayment(body, this.parsed);
    if (problem !== null) return this.invalid(problem);
    return this.acceptParsed(this.parsed);
  }

  private invalid(problem: string): Reply {
    this.counters.refused.invalid++;
    return errorReply(400, problem);
  }

  private acceptParsed(parsed: ParsedPayment): Reply {
    const { ring, ledger, acceptedIds, signals, journal } = this.deps;
    const counters = this.counters;
    // Refused before memory could run out: the ledger (and, with it, the accepted-id set) has a fixed capacity.
    if (ledger.free - ring.size - signals.count(Counter.Waiting) <= this.ledgerReserve || !acceptedIds.hasRoom) {
      counters.refused.capacity++;
      return LEDGER_FULL;
    }
    if (ring.size >= ring.capacity - RING_MARGIN) {
      counters.refused.queue_full++;
      return QUEUE_FULL;
    }
    if (!acceptedIds.add(parsed.id, 0)) {
      counters.repeated++;
      return ACCEPTED;
    }
    // Strictly after the last purge: what a purge forgets is told apart by acceptance time.
    const acceptedAt = Math.max(Date.now(), signals.purgedAt + 1);
    if (journal !== null) {
      try {
        journal.accepted(parsed.id, parsed.cents, acceptedAt);
      } catch (error) {
        acceptedIds.delete(parsed.id, 0);
        this.journalError(error);
        counters.refused.journal_unwritable++;
        return JOURNAL_FAILED;
      }
    }
    if (!ring.tryPush(parsed.id, 0, parsed.cents, acceptedAt)) throw new Error('ring refused a push within its margin');
    counters.accepted++;
    return ACCEPTED;
  }

  /**
   * Fleet mode: the 202 comes once Redis holds the payment in the fleet's stream and its id in the
   * accepted set (one script, atomic), so no host accepts it again; any host then settles it.
   * Capacity is Redis's: at its memory limit (noeviction) the write fails and the answer is a 503.
   */
  private acceptInFleet(parsed: ParsedPayment, fleet: FleetAccept): Promise<Reply> {
    const counters = this.counters;
    // Strictly after this host's last purge (the accept script also keeps it after the fleet's).
    const acceptedAt = Math.max(Date.now(), this.deps.signals.purgedAt + 1);
    return fleet.accept(formatUuid(parsed.id, 0), parsed.cents, acceptedAt).then(
      (queued) => {
        if (queued) counters.accepted++;
        else counters.repeated++;
        return ACCEPTED;
      },
      () => {
        counters.refused.redis_unavailable++;
        return REDIS_FAILED;
      },
    );
  }

  private journalErrorsLogged = 0;

  /** GET /metrics: this instance's numbers for Prometheus (not forwarded by the public load balancer). */
  metrics(): Reply {
    const { signals, ring, journal, stalls } = this.deps;
    const startedAt = stalls.begin(this.tasks.metrics);
    const body = renderMetrics({ signals, ring, counters: this.counters, journal, stalls });
    stalls.end(this.tasks.metrics, startedAt);
    return { status: 200, body, contentType: METRICS_CONTENT_TYPE };
  }

  private journalError(error: unknown): void {
    this.deps.signals.addCount(Counter.JournalWriteErrors, 1);
    if (this.journalErrorsLogged++ < 10) console.error(`journal write failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  async summary(from: string | null, to: string | null): Promise<Reply> {
    const fromMs = from === null || from === '' ? null : parseTimestamp(from, 'from');
    const toMs = to === null || to === '' ? null : parseTimestamp(to, 'to');
    if (fromMs === null && from) return errorReply(400, `from must be an ISO-8601 timestamp such as 2020-07-10T12:34:56.000Z, got "${from}"`);
    if (toMs === null && to) return errorReply(400, `to must be an ISO-8601 timestamp such as 2020-07-10T12:34:56.000Z, got "${to}"`);
    if (fromMs !== null && toMs !== null && fromMs > toMs) return errorReply(400, 'from must not be later than to');
    // As the processors' own summaries do: with either bound missing, the window is everything.
    const window = fromMs === null || toMs === null ? { from: null, to: null } : { from: fromMs, to: toMs };
    try {
      const totals = await this.deps.ledgerReader.totals(window);
      return { status: 200, body: summaryJson(totals) };
    } catch (error) {
      return errorReply(503, `summary unavailable: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async purge(): Promise<Reply> {
    try {
      await this.deps.ledgerReader.purge();
      return PURGED;
    } catch (error) {
      return errorReply(503, `purge incomplete: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Forgets this instance's records and accepted ids (the deployment-wide purge calls it on each),
   * then resolves once no call is in flight, or after the processor timeout (under load, new
   * payments' calls may keep some in flight). A forgotten payment's call still on its way may be
   * recorded by its processor after the caller has purged the processors too, and be counted
   * nowhere here: the caller purges the processors after this answer, and both sides hold nothing.
   */
  purgeLocal(): Promise<void> {
    // Workers forget what they hold that was accepted up to now (see Settler), the ledger what it recorded.
    this.deps.signals.purge(Math.max(Date.now(), this.deps.signals.purgedAt + 1));
    this.deps.ledger.purge();
    this.deps.acceptedIds.clear();
    this.deps.journal?.purge();
    return this.callsEnded(Date.now() + this.deps.config.processorTimeoutMs + PURGE_SLACK_MS);
  }

  private async callsEnded(deadline: number): Promise<void> {
    const { signals } = this.deps;
    while (signals.get(DEFAULT, Field.Inflight) + signals.get(FALLBACK, Field.Inflight) > 0 && Date.now() < deadline) {
      await sleep(PURGE_POLL_MS);
    }
  }

  health(): Reply {
    const startedAt = this.deps.stalls.begin(this.tasks.health);
    const health = this.healthReply();
    this.deps.stalls.end(this.tasks.health, startedAt);
    return health;
  }

  private healthReply(): Reply {
    const { signals, ring } = this.deps;
    const processors = signals.snapshot() as Record<'default' | 'fallback', { failing: boolean }>;
    const fleet = this.deps.fleet?.status();
    const status =
      fleet && !fleet.connected
        ? 'redis-unreachable'
        : fleet?.failing
          ? 'redis-failing'
          : processors.default.failing && processors.fallback.failing
            ? 'degraded'
            : 'healthy';
    return reply(200, {
      status,
      processors,
      queues: {
        pending: ring.size,
        waiting: signals.count(Counter.Waiting),
        /** The former name of `waiting`, kept for one release. */
        failed: signals.count(Counter.Waiting),
        inDoubt: signals.count(Counter.InDoubt),
        settled: signals.count(Counter.Settled),
        duplicatesDropped: signals.count(Counter.DuplicatesDropped),
        timedOutCalls: signals.count(Counter.TimedOut),
      },
      journal: this.deps.journal?.status() ?? { enabled: false },
      ...(fleet ? { redis: fleet } : {}),
    });
  }

  /** Internal: this instance's own totals (not the deployment's), for a peer's summary. Bounds are epoch ms. */
  internalTotals(from: string | null, to: string | null): Reply {
    const bound = (text: string | null) => (text === null || text === '' ? null : /^-?\d+$/.test(text) ? Number(text) : NaN);
    const fromMs = bound(from);
    const toMs = bound(to);
    if (Number.isNaN(fromMs) || Number.isNaN(toMs)) return errorReply(400, 'from and to must be epoch milliseconds');
    const startedAt = this.deps.stalls.begin(this.tasks.totals);
    const totals = this.deps.ledger.totals({ from: fromMs, to: toMs });
    this.deps.stalls.end(this.tasks.totals, startedAt);
    return reply(200, totalsToWire(totals));
  }

  /** Internal: the service-health reports this instance received, for peers that do not poll. */
  internalHealth(): Reply {
    const { signals } = this.deps;
    const now = signals.now();
    const report = (p: typeof DEFAULT | typeof FALLBACK) => {
      const at = signals.time(p, Time.HealthAt);
      if (at === 0) return null;
      return { failing: signals.get(p, Field.HealthFailing) === 1, minResponseTime: signals.get(p, Field.HealthMinResponseMs), ageMs: Math.round(now - at) };
    };
    const health: WireHealth = { default: report(DEFAULT), fallback: report(FALLBACK) };
    return reply(200, health);
  }

  notFound(method: string, path: string): Reply {
    return errorReply(404, `no route for ${method} ${path}`);
  }

  methodNotAllowed(method: string, path: string, allowed: string): Reply {
    return errorReply(405, `${method} is not allowed on ${path}; use ${allowed}`);
  }
}

export const INTERNAL_PURGED: Reply = reply(200, { message: `purged this instance (${PROCESSORS.join(' and ')} records)` });

export function summaryJson(totals: Totals): string {
  const part = (p: typeof DEFAULT | typeof FALLBACK) => `{"totalRequests":${totals[p].count},"totalAmount":${centsToJsonNumber(totals[p].cents)}}`;
  return `{"default":${part(DEFAULT)},"fallback":${part(FALLBACK)}}`;
}
