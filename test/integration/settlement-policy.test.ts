import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { startSimulator, type Simulator } from '../support/simulator.ts';
import { audit, defaultShare, drainTime, expectConsistent, expectEachSettledOnce, iso, restoreProcessors, streamPayments } from '../support/scenario.ts';

/**
 * The settlement policy under the contract's processor conditions, gateway and simulator as real
 * processes. Every scenario asserts: every 2xx payment settled exactly once, the summary equal to
 * the processors' own over several windows (during the fault too), and the fee-optimal outcome.
 * Each prints the share on default and the time from recovery to an empty queue.
 */
let simulator: Simulator;
let gateway: GatewayProcess | undefined;
/** Longest processor delay a scenario used: calls the gateway gave up on may still land that late. */
let lingerMs = 0;

const BASE_ENV = { HEALTH_INTERVAL_MS: '1000', PROBE_INTERVAL_MS: '100', PROCESSOR_TIMEOUT_MS: '4000' };

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
});

afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await restoreProcessors(simulator, lingerMs);
  lingerMs = 0;
}, 30_000);

afterAll(async () => {
  await simulator?.stop();
});

async function start(env: Record<string, string>): Promise<GatewayProcess> {
  gateway = await startGateway({ DEFAULT_PROCESSOR_URL: simulator.default.url, FALLBACK_PROCESSOR_URL: simulator.fallback.url, ...BASE_ENV, ...env });
  return gateway;
}

function report(name: string, share: string, drainMs: number | null): void {
  console.log(`scenario ${name}: ${share} on default${drainMs === null ? '' : `, queue empty ${drainMs} ms after recovery`}`);
}

describe('settlement policy', () => {
  test('1. default 100 ms slower: everything still on default', async () => {
    const gw = await start({ MAX_HOLD_MS: '1000' });
    const t0 = Date.now();
    await simulator.default.setDelay(100);
    const accepted = await streamPayments(gw, 3000, 100);
    await audit(gw, simulator);
    await gw.settled();
    const summary = await expectConsistent(gw, simulator, [
      [iso(t0), iso(t0 + 1500)],
      [iso(t0 + 1500), iso(Date.now())],
    ]);
    expect(summary.fallback.totalRequests).toBe(0);
    expect(summary.default.totalRequests).toBe(accepted.length);
    expect((await expectEachSettledOnce(simulator, accepted)).onFallback).toBe(0);
    report('1 (default +100 ms)', defaultShare(summary), null);
  });

  test('2a. default failing for a while, long hold: everything waits and ends on default', async () => {
    const gw = await start({ MAX_HOLD_MS: '60000' });
    const t0 = Date.now();
    await simulator.default.setFailure(true);
    const accepted = await streamPayments(gw, 3000, 100);
    await audit(gw, simulator);
    const held = await gw.health();
    expect(held.queues.failed).toBeGreaterThan(0);
    await simulator.default.setFailure(false);
    const drainMs = await drainTime(gw, Date.now());
    const summary = await expectConsistent(gw, simulator, [
      [iso(t0), iso(t0 + 3000)],
      [iso(t0 + 3000), iso(Date.now())],
    ]);
    expect(summary.fallback.totalRequests).toBe(0);
    expect(summary.default.totalRequests).toBe(accepted.length);
    await expectEachSettledOnce(simulator, accepted);
    report('2a (default failing, MAX_HOLD_MS=60000)', defaultShare(summary), drainMs);
  });

  test('2b. default failing, short hold: payments go to fallback after the hold', async () => {
    const gw = await start({ MAX_HOLD_MS: '300' });
    const t0 = Date.now();
    await simulator.default.setFailure(true);
    const accepted = await streamPayments(gw, 3000, 100);
    await Bun.sleep(500);
    await audit(gw, simulator);
    await simulator.default.setFailure(false);
    const drainMs = await drainTime(gw, Date.now());
    const summary = await expectConsistent(gw, simulator, [
      [iso(t0), iso(t0 + 1500)],
      [iso(t0 + 1500), iso(Date.now())],
    ]);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(accepted.length);
    // All but the payments that happened to be probes of default went to fallback.
    expect(summary.fallback.totalRequests).toBeGreaterThan(accepted.length * 0.8);
    await expectEachSettledOnce(simulator, accepted);
    report('2b (default failing, MAX_HOLD_MS=300)', defaultShare(summary), drainMs);
  });

  test('3. both failing with 1-2 s delays, then both fine: all settle after recovery, none twice', async () => {
    const gw = await start({ MAX_HOLD_MS: '300' });
    const t0 = Date.now();
    lingerMs = 1600;
    await Promise.all([
      simulator.default.setFailure(true),
      simulator.fallback.setFailure(true),
      simulator.default.setDelay(1500),
      simulator.fallback.setDelay(1000),
    ]);
    const accepted = await streamPayments(gw, 3000, 100);
    await audit(gw, simulator);
    await Promise.all([
      simulator.default.setFailure(false),
      simulator.fallback.setFailure(false),
      simulator.default.setDelay(0),
      simulator.fallback.setDelay(0),
    ]);
    const recovered = Date.now();
    const drainMs = await drainTime(gw, recovered);
    const summary = await expectConsistent(gw, simulator, [
      [iso(t0), iso(recovered)],
      [iso(recovered), iso(Date.now())],
    ]);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(accepted.length);
    await expectEachSettledOnce(simulator, accepted);
    report('3 (both failing with delays)', defaultShare(summary), drainMs);
  });

  test('4. default slower than the client timeout: in-doubt payments are never paid twice, none lost', async () => {
    // A hold above default's 2.5 s, so default stays preferred to fallback and its calls time out.
    const gw = await start({ MAX_HOLD_MS: '5000', PROCESSOR_TIMEOUT_MS: '800' });
    const t0 = Date.now();
    lingerMs = 2600;
    await simulator.default.setDelay(2500);
    const accepted = await streamPayments(gw, 3000, 50);
    const during = await gw.health();
    expect(during.queues.inDoubt).toBeGreaterThan(0);
    await simulator.default.setDelay(0);
    const recovered = Date.now();
    const drainMs = await drainTime(gw, recovered);
    const summary = await expectConsistent(gw, simulator, [
      [iso(t0), iso(t0 + 1000)],
      [iso(t0 + 1000), iso(recovered)],
      [iso(recovered), iso(Date.now())],
    ]);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(accepted.length);
    const placed = await expectEachSettledOnce(simulator, accepted);
    expect(placed.onDefault).toBeGreaterThan(0);
    report('4 (default beyond the timeout)', defaultShare(summary), drainMs);
  });

  test('5. fallback at 5 s delay and default healthy: nothing goes to fallback', async () => {
    const gw = await start({ MAX_HOLD_MS: '300' });
    lingerMs = 5100;
    await simulator.fallback.setDelay(5000);
    const accepted = await streamPayments(gw, 2000, 100);
    await audit(gw, simulator);
    await gw.settled();
    const summary = await expectConsistent(gw, simulator);
    expect(summary.fallback.totalRequests).toBe(0);
    expect(summary.default.totalRequests).toBe(accepted.length);
    report('5 (fallback 5 s, default fine)', defaultShare(summary), null);
  });

  test('6. service-health answering 429 (someone else polls): no crash, decisions continue', async () => {
    // A simulator of its own with the real 5 s window, whose window and queue someone else holds.
    const busy = await startSimulator({ healthWindowMs: 5000 });
    try {
      const holders = Array.from({ length: 3 }, () => fetch(`${busy.default.url}/payments/service-health`).then((r) => r.status));
      await Bun.sleep(50);
      const gw = await startGateway({ DEFAULT_PROCESSOR_URL: busy.default.url, FALLBACK_PROCESSOR_URL: busy.fallback.url, ...BASE_ENV, MAX_HOLD_MS: '300' });
      gateway = gw;
      await busy.default.setFailure(true);
      const accepted = await streamPayments(gw, 2500, 100);
      await busy.default.setFailure(false);
      await gw.settled();
      const health = await gw.health();
      expect(health.processors.default.healthRateLimited).toBeGreaterThan(0);
      const summary = await expectConsistent(gw, busy);
      expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(accepted.length);
      await expectEachSettledOnce(busy, accepted);
      expect(gw.child.proc.exitCode).toBeNull();
      await gw.stop();
      gateway = undefined;
      expect(await Promise.all(holders)).toEqual([200, 200, 200]);
      report('6 (health 429)', defaultShare(summary), null);
    } finally {
      await busy.stop();
    }
  }, 30_000);
});
