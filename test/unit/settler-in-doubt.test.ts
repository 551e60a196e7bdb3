import { expect, test } from 'bun:test';
import { loadConfig } from '../../src/config/env.ts';
import { Counter, Signals } from '../../src/health/signals.ts';
import { SharedLedger } from '../../src/ledger/shared-ledger.ts';
import type { LookupOutcome, PayOutcome, ProcessorApi } from '../../src/processors/client.ts';
import { PaymentRing } from '../../src/queue/payment-ring.ts';
import { SettlementPolicy } from '../../src/settlement/policy.ts';
import { Settler } from '../../src/settlement/settler.ts';

/**
 * Many payments in doubt while a processor's lookups fail: none is sent twice, each pump costs
 * what is due (not the whole list), and clearing them costs each one constant work.
 */
const PAYMENTS = 10_000;

/**
 * A processor that already holds every payment (422) and answers lookups for the ids `answers`
 * accepts (its last hex digit), failing the others.
 */
function holdingProcessor(requestedAts: Map<string, number>, answers: { digits: string }, calls: string[]): ProcessorApi {
  return {
    pay: async (id, _cents, requestedAt) => {
      calls.push(id);
      requestedAts.set(id, requestedAt);
      return { kind: 'duplicate', latencyMs: 1 } satisfies PayOutcome;
    },
    lookup: async (id): Promise<LookupOutcome> =>
      answers.digits.includes(id.at(-1)!) ? { kind: 'found', requestedAtMs: requestedAts.get(id)!, cents: 1990 } : { kind: 'unknown', reason: 'HTTP 503' },
    health: async () => ({ kind: 'health', failing: false, minResponseTime: 0 }),
    close: async () => {},
  };
}

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

test(`${PAYMENTS} payments in doubt while lookups fail: nothing sent twice, then all cleared within 50 ms of CPU`, async () => {
  const config = loadConfig({ JOURNAL_DIR: 'off', MAX_INFLIGHT_PER_PROCESSOR: String(PAYMENTS), QUEUE_CAPACITY: String(1 << 14), PAYMENT_WORKERS: '1' });
  const ring = PaymentRing.create(1 << 14);
  const signals = Signals.create();
  const ledger = SharedLedger.create(1 << 14);
  const policy = new SettlementPolicy(signals, config, () => {});
  const requestedAts = new Map<string, number>();
  const answers = { digits: '' };
  const calls: string[] = [];
  const processor = holdingProcessor(requestedAts, answers, calls);
  const settler = new Settler(ring, ledger, signals, policy, [processor, processor], config, () => {});
  // Last hex digit 0 for the first half, 1 for the second.
  for (let n = 0; n < PAYMENTS; n++) expect(ring.tryPush(Uint32Array.of(7, 7, 7, n < PAYMENTS / 2 ? n << 4 : (n << 4) | 1), 0, 1990, Date.now())).toBe(true);

  // As the payment worker does: a pump now and then, and one after each answer.
  const pumpFor = async (until: () => boolean) => {
    while (!until()) {
      settler.pump();
      await Bun.sleep(1);
    }
  };
  await pumpFor(() => signals.count(Counter.InDoubt) === PAYMENTS);
  // Lookups fail for a while: every payment is looked up again and again, and never sent again.
  const failingUntil = Date.now() + 400;
  await pumpFor(() => Date.now() >= failingUntil);
  expect(calls.length).toBe(PAYMENTS);
  expect(signals.count(Counter.InDoubt)).toBe(PAYMENTS);

  // The later half is answered first, while the lookups of the earlier half still fail; then those too.
  answers.digits = '1';
  const before = cpuMs();
  await pumpFor(() => signals.count(Counter.InDoubt) === PAYMENTS / 2);
  expect(calls.length).toBe(PAYMENTS);
  answers.digits = '01';
  await pumpFor(() => settler.unsettled === 0);
  const spent = cpuMs() - before;
  console.log(`cleared ${PAYMENTS} in doubt with ${spent.toFixed(1)} ms of CPU`);
  expect(signals.count(Counter.InDoubt)).toBe(0);
  expect(calls.length).toBe(PAYMENTS);
  const [byDefault, byFallback] = ledger.totals({ from: null, to: null });
  expect(byDefault.count + byFallback.count).toBe(PAYMENTS);
  expect(byDefault.cents + byFallback.cents).toBe(BigInt(PAYMENTS * 1990));
  expect(spent).toBeLessThan(50);
}, 60_000);

test('a worker holds at most its share of the ring in doubt: past it, the backlog stays in the ring until lookups answer again', async () => {
  const config = loadConfig({ JOURNAL_DIR: 'off', QUEUE_CAPACITY: '64', PAYMENT_WORKERS: '1' });
  const ring = PaymentRing.create(64);
  const signals = Signals.create();
  const ledger = SharedLedger.create(1 << 12);
  const policy = new SettlementPolicy(signals, config, () => {});
  const requestedAts = new Map<string, number>();
  const answers = { digits: '' };
  const calls: string[] = [];
  const processor = holdingProcessor(requestedAts, answers, calls);
  const settler = new Settler(ring, ledger, signals, policy, [processor, processor], config, () => {});
  const push = (from: number, to: number) => {
    for (let n = from; n < to; n++) expect(ring.tryPush(Uint32Array.of(9, 9, 9, n << 4), 0, 1990, Date.now())).toBe(true);
  };
  const pumpFor = async (until: () => boolean) => {
    while (!until()) {
      settler.pump();
      await Bun.sleep(1);
    }
  };
  push(0, 60);
  await pumpFor(() => signals.count(Counter.InDoubt) === 60);
  push(60, 70);
  const failingUntil = Date.now() + 250;
  await pumpFor(() => Date.now() >= failingUntil);
  expect(signals.count(Counter.InDoubt)).toBe(64);
  expect(settler.waitingFull).toBe(true);
  expect(ring.size).toBe(6);
  expect(calls.length).toBe(64);

  answers.digits = '0';
  await pumpFor(() => settler.unsettled === 0 && ring.size === 0);
  expect(calls.length).toBe(70);
  const [byDefault, byFallback] = ledger.totals({ from: null, to: null });
  expect(byDefault.count + byFallback.count).toBe(70);
}, 30_000);
