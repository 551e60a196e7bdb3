import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { startSimulator, type SimFault, type Simulator } from '../support/simulator.ts';
import { expectConsistent, expectEachSettledOnce, iso } from '../support/scenario.ts';
import { freePort } from '../support/process.ts';
import { startFaultProxy } from './lib/fault-proxy.ts';

/**
 * Each class of processor fault against a real gateway and the simulator, both real processes.
 * The simulator applies faults AFTER it recorded the payment, so the gateway sees a broken answer
 * for a payment that IS recorded: the "in doubt" case. Each scenario streams payments with the
 * fault on default only, then on both processors, clears it, waits for settlement, and asserts:
 * nothing lost, nothing paid twice, the gateway's summary equal to the processors' own (whole
 * history and two windows).
 */
let simulator: Simulator;
let gateway: GatewayProcess | undefined;

const ENV = {
  PROCESSOR_TIMEOUT_MS: '500',
  MAX_HOLD_MS: '300',
  PROBE_INTERVAL_MS: '100',
  HEALTH_INTERVAL_MS: '1000',
  DOUBT_RELEASE_MS: '3000',
};
const PHASE_MS = 1000;
const RATE = 100;

export const faultReport: string[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
});

afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await Promise.all([simulator.default, simulator.fallback].flatMap((p) => [p.setFault('none'), p.setFailure(false), p.setDelay(0)]));
  await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
}, 30_000);

afterAll(async () => {
  await simulator?.stop();
  if (faultReport.length > 0)
    console.log(
      [
        'processor faults:',
        '| fault | payments | on default | on fallback | lost | paid twice | gateway crashed |',
        '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
        ...faultReport,
      ].join('\n'),
    );
});

async function start(env: Record<string, string> = {}): Promise<GatewayProcess> {
  gateway = await startGateway({ DEFAULT_PROCESSOR_URL: simulator.default.url, FALLBACK_PROCESSOR_URL: simulator.fallback.url, ...ENV, ...env });
  return gateway;
}

/** Sends payments at a steady pace; every one must be answered 202 whatever the processors do. */
async function streamPayments(gw: GatewayProcess, durationMs: number, perSecond: number, amount: string): Promise<string[]> {
  const accepted: string[] = [];
  const refused: string[] = [];
  const inflight: Promise<void>[] = [];
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    const id = crypto.randomUUID();
    inflight.push(
      gw.pay(id, amount).then(async (response) => {
        const text = await response.text();
        if (response.status === 202) accepted.push(id);
        else refused.push(`${response.status} ${text}`);
      }),
    );
    await Bun.sleep(1000 / perSecond);
  }
  await Promise.all(inflight);
  expect(refused.slice(0, 5)).toEqual([]);
  return accepted;
}

/** Settles, then checks the invariants; returns where the payments ended. */
async function verify(name: string, gw: GatewayProcess, accepted: string[], t0: number, split: number): Promise<{ onDefault: number; onFallback: number }> {
  await gw.settled(30_000);
  expect(gw.child.proc.exitCode).toBeNull();
  const summary = await expectConsistent(gw, simulator, [
    [iso(t0), iso(split)],
    [iso(split), iso(Date.now())],
  ]);
  expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(accepted.length);
  const placed = await expectEachSettledOnce(simulator, accepted);
  const crashed = /crashed|internal error/i.test(gw.child.output());
  expect(crashed).toBe(false);
  faultReport.push(`| ${name} | ${accepted.length} | ${placed.onDefault} | ${placed.onFallback} | 0 | 0 | no |`);
  return placed;
}

describe('processor faults', () => {
  const faults: [SimFault, string][] = [
    ['reset', 'connection reset before any answer byte'],
    ['garbage', '200 with a non-JSON body'],
    ['status-503', 'unexpected status 503'],
    ['hang', 'no answer at all (PROCESSOR_TIMEOUT_MS=500)'],
  ];

  for (const [fault, what] of faults) {
    test(`${fault}: ${what}, on default then on both: every payment settled once, summary equal`, async () => {
      const gw = await start();
      const t0 = Date.now();
      await simulator.default.setFault(fault);
      const first = await streamPayments(gw, PHASE_MS, RATE, '12.34');
      const split = Date.now();
      await simulator.fallback.setFault(fault);
      const second = await streamPayments(gw, PHASE_MS, RATE, '0.01');
      const during = await gw.health();
      await Promise.all([simulator.default.setFault('none'), simulator.fallback.setFault('none')]);
      const accepted = [...first, ...second];
      if (fault !== 'garbage') {
        // The fault really bit: calls failed, timed out (slow, not failed: counted apart) or were left in doubt.
        const bitten = during.processors.default.failedCalls + during.processors.fallback.failedCalls + during.queues.timedOutCalls + during.queues.inDoubt;
        expect(bitten).toBeGreaterThan(0);
      }
      await verify(`${fault} (${what})`, gw, accepted, t0, split);
    }, 45_000);
  }

  test('connection refused: default points at a closed port; everything settles on fallback', async () => {
    const gw = await start({ DEFAULT_PROCESSOR_URL: `http://127.0.0.1:${freePort()}` });
    const t0 = Date.now();
    const accepted = await streamPayments(gw, 2 * PHASE_MS, RATE, '5.00');
    const split = Date.now();
    const placed = await verify('connection refused (default on a closed port)', gw, accepted, t0, split);
    expect(placed).toEqual({ onDefault: 0, onFallback: accepted.length });
  }, 45_000);

  test('connection refused: fallback points at a closed port while default fails, then recovers; nothing lost', async () => {
    const gw = await start({ FALLBACK_PROCESSOR_URL: `http://127.0.0.1:${freePort()}` });
    const t0 = Date.now();
    await simulator.default.setFailure(true);
    const first = await streamPayments(gw, PHASE_MS, RATE, '1.99');
    const held = await gw.health();
    expect(held.queues.failed).toBeGreaterThan(0);
    await simulator.default.setFailure(false);
    const split = Date.now();
    const second = await streamPayments(gw, PHASE_MS, RATE, '2.01');
    const accepted = [...first, ...second];
    const placed = await verify('connection refused (fallback on a closed port, default failing 1 s)', gw, accepted, t0, split);
    expect(placed).toEqual({ onDefault: accepted.length, onFallback: 0 });
  }, 45_000);

  test('requests lost before reaching default (never recorded, connection reset), health garbage: released after DOUBT_RELEASE_MS, each paid once', async () => {
    const proxy = startFaultProxy(simulator.default.url);
    try {
      const gw = await start({ DEFAULT_PROCESSOR_URL: proxy.url, DOUBT_RELEASE_MS: '1000' });
      const t0 = Date.now();
      proxy.payments = 'drop';
      proxy.health = 'garbage';
      const accepted = await streamPayments(gw, 2 * PHASE_MS, RATE, '4.44');
      const split = Date.now();
      const during = await gw.health();
      expect(during.processors.default.failedCalls).toBeGreaterThan(0);
      await Bun.sleep(1200); // in-doubt payments the lookups do not find are released meanwhile
      proxy.payments = 'forward';
      proxy.health = 'forward';
      const placed = await verify('request lost before the processor + health garbage (proxy)', gw, accepted, t0, split);
      expect(placed.onFallback).toBeGreaterThan(0);
      expect(proxy.counts['payment drop']).toBeGreaterThan(0);
    } finally {
      proxy.stop();
    }
  }, 45_000);

  test('answers lost after default recorded, lookups broken (garbage, 500, reset): nothing in doubt is released elsewhere, each paid once after recovery', async () => {
    const proxy = startFaultProxy(simulator.default.url);
    try {
      // A breaker that never opens sends every payment to default: all of them end in doubt.
      const gw = await start({ DEFAULT_PROCESSOR_URL: proxy.url, DOUBT_RELEASE_MS: '1000', BREAKER_FAILURE_THRESHOLD: '1000' });
      const t0 = Date.now();
      proxy.payments = 'forward-then-reset';
      proxy.lookups = 'garbage';
      const first = await streamPayments(gw, PHASE_MS, RATE, '6.66');
      proxy.lookups = 'status-500';
      const split = Date.now();
      const second = await streamPayments(gw, PHASE_MS, RATE, '6.67');
      proxy.lookups = 'reset';
      await Bun.sleep(1200); // past DOUBT_RELEASE_MS with lookups that never say "absent"
      const during = await gw.health();
      expect(during.queues.inDoubt).toBeGreaterThan(0);
      proxy.payments = 'forward';
      proxy.lookups = 'forward';
      const accepted = [...first, ...second];
      const placed = await verify('answer lost after the insert + lookups broken (proxy, breaker off)', gw, accepted, t0, split);
      expect(placed).toEqual({ onDefault: accepted.length, onFallback: 0 });
      expect(proxy.counts['payment forward-then-reset']).toBeGreaterThan(0);
    } finally {
      proxy.stop();
    }
  }, 45_000);

  test('hang with a processor delay beyond the timeout: in-doubt payments are found, not sent elsewhere', async () => {
    // The insert happens 700 ms after the call, 200 ms after the gateway gave up (500 ms); the
    // gateway must keep the payment in doubt until its lookups find it.
    const gw = await start();
    const t0 = Date.now();
    await simulator.default.setDelay(700);
    await simulator.default.setFault('hang');
    const accepted = await streamPayments(gw, 2 * PHASE_MS, RATE, '9.99');
    const split = Date.now();
    await Bun.sleep(800);
    await Promise.all([simulator.default.setFault('none'), simulator.default.setDelay(0)]);
    await verify('hang + 700 ms delay (insert lands after the client timeout)', gw, accepted, t0, split);
  }, 45_000);
});
