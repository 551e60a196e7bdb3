import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { expectConsistent, expectEachSettledOnce } from '../support/scenario.ts';
import { rssMb } from './lib/raw-http.ts';

/**
 * Overload: more payments than the gateway will hold, both processors failing.
 *
 * What bounds a backlog: the ring (QUEUE_CAPACITY) only bounds a burst, since the workers drain it
 * continuously into their own memory. It does fill when one worker thread cannot keep pace with
 * a burst of 256 concurrent callers (PAYMENT_WORKERS=1, QUEUE_CAPACITY=64: thousands of 503s
 * here), but how many depends on thread scheduling, so the tests assert the outcome (every
 * answer 202 or 503 + Retry-After + JSON, nothing lost, refused ids accepted on retry), not a
 * count. The hard bound on payments held in memory is the ledger reservation: a payment is
 * refused with 503 once LEDGER_CAPACITY − 2 × MAX_INFLIGHT_PER_PROCESSOR are settled or held.
 */
let simulator: Simulator;
let gateway: GatewayProcess | undefined;

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
});

afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await Promise.all([simulator.default.setFailure(false), simulator.fallback.setFailure(false)]);
  await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
}, 30_000);

afterAll(async () => {
  await simulator?.stop();
});

interface Outcome {
  id: string;
  status: number;
  retryAfter: string | null;
  error: string | null;
}

/** Sends `ids` with `concurrency` requests in flight; records each answer. */
async function burst(gw: GatewayProcess, ids: string[], concurrency: number, amount = '1.00'): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      const response = await gw.pay(id, amount);
      const text = await response.text();
      let error: string | null = null;
      try {
        const body = JSON.parse(text) as { error?: unknown };
        if (typeof body.error === 'string') error = body.error;
      } catch {
        error = null;
      }
      outcomes.push({ id, status: response.status, retryAfter: response.headers.get('retry-after'), error });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return outcomes;
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

/** Samples a process's RSS every 100 ms; `stop()` returns the peak. */
function sampleRss(pid: number): { stop(): number } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // process gone: the test will say so
    }
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

function expectRefusalsWellFormed(outcomes: Outcome[]): void {
  const malformed = outcomes.filter(
    (o) => o.status !== 202 && (o.status !== 503 || !/^\d+$/.test(o.retryAfter ?? '') || Number(o.retryAfter) < 1 || o.error === null),
  );
  expect(malformed.slice(0, 5)).toEqual([]);
}

describe('overload', () => {
  test('a 20,000-request burst against QUEUE_CAPACITY=64 and one worker, processors down: 202 or 503 + Retry-After, nothing lost, memory bounded', async () => {
    const gw = (gateway = await startGateway({
      ...gatewayEnvFor(simulator),
      QUEUE_CAPACITY: '64',
      PAYMENT_WORKERS: '1',
      MAX_HOLD_MS: '60000',
    }));
    const pid = gw.child.proc.pid;
    const baseline = rssMb(pid);
    const rss = sampleRss(pid);
    await Promise.all([simulator.default.setFailure(true), simulator.fallback.setFailure(true)]);
    const ids = Array.from({ length: 20_000 }, () => crypto.randomUUID());
    const started = Date.now();
    const outcomes = await burst(gw, ids, 256);
    const burstMs = Date.now() - started;
    const afterBurst = rssMb(pid);
    const statuses = countBy(outcomes, (o) => String(o.status));
    const reasons = countBy(
      outcomes.filter((o) => o.status === 503),
      (o) => o.error ?? 'none',
    );
    expect(outcomes.length).toBe(ids.length);
    expectRefusalsWellFormed(outcomes);
    const held = await gw.health();

    // Recovery: everything accepted settles, once.
    await Promise.all([simulator.default.setFailure(false), simulator.fallback.setFailure(false)]);
    await gw.settled(60_000);
    const accepted = outcomes.filter((o) => o.status === 202).map((o) => o.id);
    const first = await expectConsistent(gw, simulator);
    expect(first.default.totalRequests + first.fallback.totalRequests).toBe(accepted.length);

    // A caller that honours Retry-After gets every refused payment in (the 503 did not mark the
    // id as accepted: a retry is queued, not waved through as a duplicate).
    let refused = outcomes.filter((o) => o.status === 503).map((o) => o.id);
    let rounds = 0;
    while (refused.length > 0 && rounds < 20) {
      rounds++;
      await Bun.sleep(1000);
      const retried = await burst(gw, refused, 64);
      expectRefusalsWellFormed(retried);
      accepted.push(...retried.filter((o) => o.status === 202).map((o) => o.id));
      refused = retried.filter((o) => o.status === 503).map((o) => o.id);
    }
    expect(refused.length).toBe(0);
    await gw.settled(60_000);
    const peak = rss.stop();
    await Bun.sleep(2000);
    const settledRss = rssMb(pid);

    console.log(
      `overload (ring 64, 1 worker): burst of 20000 in ${burstMs} ms → ${JSON.stringify(statuses)}, 503 reasons ${JSON.stringify(reasons)}; ` +
        `held ${held.queues.failed} + ring ${held.queues.pending}; all ${accepted.length} settled after ${rounds} retry round(s); ` +
        `RSS baseline ${baseline.toFixed(0)} MB, after burst ${afterBurst.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, settled ${settledRss.toFixed(0)} MB`,
    );
    expect(accepted.length).toBe(ids.length);
    expect(new Set(accepted).size).toBe(ids.length);
    const totals = await expectConsistent(gw, simulator);
    expect(totals.default.totalRequests + totals.fallback.totalRequests).toBe(ids.length);
    expect(totals.default.totalAmount + totals.fallback.totalAmount).toBe(ids.length);
    await expectEachSettledOnce(simulator, accepted);
    expect(gw.child.proc.exitCode).toBeNull();
    expect(settledRss).toBeLessThan(300);
  }, 120_000);

  test('LEDGER_CAPACITY bounds what is held: past capacity − reserve, 503 + Retry-After; every accepted payment is recorded', async () => {
    const capacity = 4096;
    const reserve = 2 * 700; // 2 × MAX_INFLIGHT_PER_PROCESSOR (default: PROCESSOR_CONCURRENCY 700 for one instance)
    const gw = (gateway = await startGateway({
      ...gatewayEnvFor(simulator),
      LEDGER_CAPACITY: String(capacity),
      MAX_HOLD_MS: '60000',
    }));
    await Promise.all([simulator.default.setFailure(true), simulator.fallback.setFailure(true)]);
    const ids = Array.from({ length: 10_000 }, () => crypto.randomUUID());
    const outcomes = await burst(gw, ids, 128, '2.50');
    expectRefusalsWellFormed(outcomes);
    const accepted = outcomes.filter((o) => o.status === 202).map((o) => o.id);
    const ledgerRefusals = outcomes.filter((o) => o.status === 503 && /ledger/i.test(o.error ?? '')).length;
    console.log(
      `overload (LEDGER_CAPACITY ${capacity}): ${accepted.length} accepted, ${outcomes.length - accepted.length} refused (${ledgerRefusals} for the ledger)`,
    );
    // Never more accepted than the ledger can record; the bound is capacity − reserve (a few
    // over are tolerated: the HTTP thread reads the workers' counters without a lock).
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted.length).toBeLessThanOrEqual(capacity - reserve + 64);
    expect(ledgerRefusals).toBeGreaterThan(0);

    await Promise.all([simulator.default.setFailure(false), simulator.fallback.setFailure(false)]);
    await gw.settled(60_000);
    const totals = await expectConsistent(gw, simulator);
    expect(totals.default.totalRequests + totals.fallback.totalRequests).toBe(accepted.length);
    await expectEachSettledOnce(simulator, accepted);
    expect(gw.child.output()).not.toContain('LEDGER FULL');

    // A purge gives the capacity back at once (no restart): the next runs are accepted whole.
    const purged = await fetch(`${gw.url}/purge-payments`, { method: 'POST' });
    expect(purged.status).toBe(200);
    await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
    const forgotten = await expectConsistent(gw, simulator);
    expect(forgotten.default.totalRequests + forgotten.fallback.totalRequests).toBe(0);
    const fresh = crypto.randomUUID();
    expect((await gw.pay(fresh, '4.00')).status).toBe(202);
    await gw.settled();
    const after = await expectConsistent(gw, simulator);
    expect(after.default.totalRequests + after.fallback.totalRequests).toBe(1);
  }, 120_000);

  test('ten purge-then-run cycles of a third of LEDGER_CAPACITY each: no 503, each run counted alone', async () => {
    const capacity = 3000;
    const gw = (gateway = await startGateway({ ...gatewayEnvFor(simulator), LEDGER_CAPACITY: String(capacity) }));
    for (let cycle = 0; cycle < 10; cycle++) {
      const ids = Array.from({ length: 1000 }, () => crypto.randomUUID());
      const outcomes = await burst(gw, ids, 32, '1.00');
      expect(outcomes.filter((o) => o.status !== 202).map((o) => `${o.status} ${o.error}`)).toEqual([]);
      await gw.settled(30_000);
      const totals = await expectConsistent(gw, simulator);
      expect(totals.default.totalRequests + totals.fallback.totalRequests).toBe(ids.length);
      expect((await fetch(`${gw.url}/purge-payments`, { method: 'POST' })).status).toBe(200);
      await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
    }
  }, 120_000);
});
