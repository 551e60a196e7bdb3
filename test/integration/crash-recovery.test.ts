import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { freePort } from '../support/process.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { expectConsistent, expectEachSettledOnce, iso } from '../support/scenario.ts';

/**
 * A 202 is a promise: kill -9 the gateway while payments are queued, in flight and in doubt,
 * start it again on the same journal, and every payment that got a 2xx settles exactly once.
 */
let simulator: Simulator;
const gateways: GatewayProcess[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
});

afterAll(async () => {
  for (const gateway of gateways) await gateway.stop();
  await simulator?.stop();
});

/** Posts payments as fast as `lanes` clients can until told to stop; keeps the ids that got a 2xx. */
function keepPaying(gateway: GatewayProcess, lanes: number) {
  const accepted: string[] = [];
  let running = true;
  const lane = async () => {
    while (running) {
      const id = crypto.randomUUID();
      try {
        const response = await gateway.pay(id, '19.90');
        await response.arrayBuffer();
        if (response.ok) accepted.push(id);
      } catch {
        return; // the gateway died under us: this payment got no 2xx
      }
      await Bun.sleep(5);
    }
  };
  const done = Promise.all(Array.from({ length: lanes }, lane));
  return { accepted, stop: async () => ((running = false), await done) };
}

describe('crash recovery', () => {
  test('kill -9 under load, restart on the same journal: every accepted payment settled exactly once', async () => {
    const journal = mkdtempSync(join(tmpdir(), 'crash-journal-'));
    const port = String(freePort());
    const env = {
      ...gatewayEnvFor(simulator),
      PORT: port,
      JOURNAL_DIR: journal,
      PROCESSOR_TIMEOUT_MS: '400',
      MAX_HOLD_MS: '60000',
    };
    const t0 = Date.now();
    // Slower than the client timeout: at the crash, payments are queued, in flight and in doubt.
    await simulator.default.setDelay(700);
    const first = await startGateway(env);
    gateways.push(first);
    const load = keepPaying(first, 20);
    await Bun.sleep(1500);
    const before = await first.health();
    expect(before.queues.inDoubt + before.queues.failed + before.queues.pending).toBeGreaterThan(0);
    first.child.proc.kill('SIGKILL');
    await first.child.proc.exited;
    await load.stop();
    expect(load.accepted.length).toBeGreaterThan(50);

    await simulator.default.setDelay(0);
    const second = await startGateway(env);
    gateways.push(second);
    const replay = (await second.health()).journal.replay;
    expect(replay.records).toBeGreaterThan(0);
    expect(replay.requeued).toBeGreaterThan(0);
    await second.settled();
    // Calls of the first process still sleeping in the processor land up to 700 ms later; the
    // restarted gateway's lookups settle them as its own.
    await Bun.sleep(800);
    await second.settled();

    const placed = await expectEachSettledOnce(simulator, load.accepted);
    expect(placed.onFallback).toBe(0);
    const summary = await expectConsistent(second, simulator, [
      [iso(t0), iso(t0 + 1000)],
      [iso(t0 + 1000), iso(Date.now())],
    ]);
    // Payments the killed process journaled but never answered are settled too: no more than that.
    expect(summary.default.totalRequests).toBeGreaterThanOrEqual(load.accepted.length);
    expect(summary.default.totalRequests).toBeLessThanOrEqual(load.accepted.length + 20);
    console.log(`crash test: ${load.accepted.length} accepted before kill -9; replay ${JSON.stringify(replay)}`);
  });
});
