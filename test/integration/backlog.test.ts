import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { expectConsistent, expectEachSettledOnce, sendPayments } from '../support/scenario.ts';

/**
 * A backlog (both processors down, payments held) stays in the ring, a fixed buffer: each worker
 * takes at most MAX_INFLIGHT_PER_PROCESSOR of it, so memory does not grow with the backlog, and a
 * full ring refuses with 503 instead.
 */
const WORKERS = 2;
const MAX_INFLIGHT = 32;
const QUEUE_CAPACITY = 512;
/** The producer keeps this many ring slots free (src/http/routes.ts, RING_MARGIN). */
const RING_MARGIN = 16;

/** CPU time (user + system) a process has used, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

let simulator: Simulator;
let gateway: GatewayProcess;

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
  gateway = await startGateway({
    ...gatewayEnvFor(simulator),
    PAYMENT_WORKERS: String(WORKERS),
    MAX_INFLIGHT_PER_PROCESSOR: String(MAX_INFLIGHT),
    QUEUE_CAPACITY: String(QUEUE_CAPACITY),
    MAX_HOLD_MS: '60000',
  });
});

afterAll(async () => {
  await gateway?.stop();
  await simulator?.stop();
});

describe('a backlog while both processors fail', () => {
  test('waits in the ring, not in the workers; a full ring answers 503; all accepted settle once after recovery', async () => {
    await Promise.all([simulator.default.setFailure(true), simulator.fallback.setFailure(true)]);
    const sent = 1000;
    const accepted = await sendPayments(gateway, sent, '2.50', 20);
    // Both processors down: nothing can leave, so the ring and the workers hold everything accepted.
    // Calls in flight when the failures began (at most MAX_INFLIGHT per processor) come back to
    // waiting on top of the bound.
    const held = WORKERS * MAX_INFLIGHT;
    const slack = 2 * MAX_INFLIGHT;
    expect(accepted.length).toBeLessThan(sent);
    expect(accepted.length).toBeGreaterThanOrEqual(QUEUE_CAPACITY - RING_MARGIN);
    expect(accepted.length).toBeLessThanOrEqual(QUEUE_CAPACITY - RING_MARGIN + held + slack);
    // Holding a full backlog is waiting, not spinning: the workers tick, they do not poll the ring.
    const pid = gateway.child.proc.pid;
    const cpuBefore = cpuMs(pid);
    await Bun.sleep(2000);
    expect(cpuMs(pid) - cpuBefore).toBeLessThan(600);
    const stuck = await gateway.health();
    expect(stuck.queues.failed).toBeLessThanOrEqual(held + slack);
    expect(stuck.queues.pending).toBeGreaterThanOrEqual(accepted.length - held - slack);
    const inflight = stuck.processors.default.inflight + stuck.processors.fallback.inflight;
    expect(stuck.queues.pending + stuck.queues.failed + inflight).toBe(accepted.length);

    // Probes free a slot now and then; a few more tries must meet the full ring.
    let full: Response | null = null;
    for (let i = 0; i < 10 && full === null; i++) {
      const id = crypto.randomUUID();
      const response = await gateway.pay(id, '2.50');
      if (response.status === 503) full = response;
      else if (response.status === 202) accepted.push(id);
    }
    expect(full).not.toBeNull();
    expect(full!.headers.get('retry-after')).not.toBeNull();
    expect(typeof ((await full!.json()) as { error: string }).error).toBe('string');

    await Promise.all([simulator.default.setFailure(false), simulator.fallback.setFailure(false)]);
    await gateway.settled();
    const summary = await expectConsistent(gateway, simulator);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(accepted.length);
    expect(summary.default.totalAmount + summary.fallback.totalAmount).toBe(accepted.length * 2.5);
    await expectEachSettledOnce(simulator, accepted);
  });
});
