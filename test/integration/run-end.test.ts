import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { expectConsistent, iso, restoreProcessors, sendPayments } from '../support/scenario.ts';

/**
 * The end of a run as the contract scores it: the processors' totals over [start − 10 s, now],
 * taken right after the last request returns, with no pause for settlement; and the purge that
 * starts the next run. The gateway and the simulator run as real processes.
 */
let simulator: Simulator;
let gateway: GatewayProcess | null = null;
/** Longest processor delay a case used: calls given up on may still land that late. */
let lingerMs = 0;

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
});

afterEach(async () => {
  await gateway?.stop();
  gateway = null;
  await restoreProcessors(simulator, lingerMs);
  lingerMs = 0;
}, 30_000);

afterAll(async () => {
  await simulator?.stop();
});

async function processorsCount(from: string, to: string): Promise<number> {
  const [atDefault, atFallback] = await Promise.all([simulator.default.summary(from, to), simulator.fallback.summary(from, to)]);
  return atDefault.totalRequests + atFallback.totalRequests;
}

describe('the end of a run', () => {
  test("fast processors: the run's last second of payments is counted at a cutoff taken right after the last request", async () => {
    gateway = await startGateway(gatewayEnvFor(simulator));
    const startedAt = Date.now();
    // One second of load, as the last second of a run; each request answered before the cutoff.
    const accepted: { id: string; at: number }[] = [];
    const end = startedAt + 1000;
    while (Date.now() < end) {
      const ids = await sendPayments(gateway, 20, '19.90', 20);
      const at = Date.now();
      for (const id of ids) accepted.push({ id, at });
      await Bun.sleep(10);
    }
    const cutoff = Date.now();
    const counted = await processorsCount(iso(startedAt - 10_000), iso(cutoff));
    // Dated at its send, a payment settled by a fast processor is inside the window at once. (When
    // every payment was dated 3.75 s ahead, none of this second's were: counted was 0.)
    const answeredBefore = (ms: number) => accepted.filter((p) => p.at <= cutoff - ms).length;
    expect(accepted.length).toBeGreaterThan(100);
    expect(counted).toBeGreaterThanOrEqual(answeredBefore(50));
    expect(counted).toBeLessThanOrEqual(accepted.length);
    // Nothing was dated after the cutoff: a summary without bounds holds no more than the window did, once all settled.
    await gateway.settled(10_000);
    expect(await processorsCount(iso(startedAt - 10_000), iso(cutoff))).toBe(accepted.length);
    await expectConsistent(gateway, simulator, [[iso(startedAt - 10_000), iso(cutoff)]]);
  }, 30_000);

  test('a purge while calls are in flight: the gateway and the processors, purged after it, both hold nothing', async () => {
    lingerMs = 1500;
    gateway = await startGateway(gatewayEnvFor(simulator));
    await simulator.default.setDelay(1000);
    const before = await sendPayments(gateway, 60, '19.90', 20);
    expect(before.length).toBe(60);
    // Calls are on their way to a processor that records them only after its 1 s delay.
    await Bun.sleep(200);
    const purgeStarted = Date.now();
    const purge = await fetch(`${gateway.url}/purge-payments`, { method: 'POST' });
    expect(purge.status).toBe(200);
    // As a load test does: the processors are purged after the gateway answered.
    await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
    // The calls of the purged payments ended before the gateway answered: nothing lands afterwards.
    await simulator.default.setDelay(0);
    await Bun.sleep(1500);
    expect(await processorsCount(iso(purgeStarted - 60_000), iso(Date.now() + 60_000))).toBe(0);
    await expectConsistent(gateway, simulator);
    // The next run starts from both sides equal.
    const after = await sendPayments(gateway, 30);
    await gateway.settled(10_000);
    const whole = await expectConsistent(gateway, simulator);
    expect(whole.default.totalRequests + whole.fallback.totalRequests).toBe(after.length);
  }, 30_000);
});
