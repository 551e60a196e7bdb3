import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { StackCgroups, cgroupsUnavailable } from '../../deploy/cgroup.ts';
import { topology } from '../../deploy/topology.ts';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { sendPayments } from '../support/scenario.ts';

/**
 * When both processors come back after failing, the workers settle the hundreds of payments they
 * held (and the backlog behind them) at once. That burst must not block the HTTP thread: measured
 * by the gateway itself (its event-loop delay histogram in /metrics), not by this client.
 *
 * As root, the gateway runs in a cgroup with a gateway's CPU quota of the deployment (0.65 CPU):
 * a release that burns the quota gets the whole process throttled, HTTP thread included (before
 * workers were paced: 1-3 turns over 20 ms in each of 3 runs). The group gets a large cpu.shares,
 * so that other processes on the machine (the simulator, other tests) do not delay it instead.
 */
const QUOTA = topology.gateways[0]!.limits;
let simulator: Simulator;
let gateway: GatewayProcess;
let groups: StackCgroups | null = null;

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
  let command: string[] | undefined;
  if (cgroupsUnavailable() === null) {
    groups = StackCgroups.create(QUOTA, [{ name: 'gateway', limits: QUOTA }], `release-stalls-${process.pid}`);
    const cpu = groups.dirs('gateway').find((dir) => dir.includes('/cpu/'))!;
    writeFileSync(`${cpu}/../cpu.shares`, '16384');
    command = groups.wrapCommand('gateway', [process.execPath, 'src/gateway/main.ts']);
  }
  gateway = await startGateway(gatewayEnvFor(simulator), command);
});

afterAll(async () => {
  await gateway?.stop();
  await simulator?.stop();
  for (let attempt = 0; groups !== null && groups.remove().length > 0 && attempt < 50; attempt++) await Bun.sleep(20);
});

/** Periods in which the gateway's group was throttled (its CPU quota used up), 0 without a group. */
function throttledPeriods(): number {
  if (groups === null) return 0;
  const cpu = groups.dirs('gateway').find((dir) => dir.includes('/cpu/'))!;
  return Number(/^nr_throttled (\d+)$/m.exec(readFileSync(`${cpu}/cpu.stat`, 'utf8'))?.[1]);
}

/** Samples of the HTTP thread's event-loop delay over `ms`, and all of them. */
async function loopDelay(ms: number): Promise<{ over: number; samples: number }> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const bucket = (le: string) => Number(new RegExp(`^gateway_event_loop_delay_ms_bucket\\{le="${le.replace('+', '\\+')}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  const samples = bucket('+Inf');
  return { over: samples - bucket(String(ms)), samples };
}

describe('releasing held payments', () => {
  test('does not block the HTTP thread for more than 20 ms', async () => {
    // Warm: the settling code is compiled already, as in a deployment that ran before the outage.
    await sendPayments(gateway, 400);
    await gateway.settled();
    for (const processor of [simulator.default, simulator.fallback]) {
      await processor.setFailure(true);
      await processor.setDelay(1500);
    }
    await sendPayments(gateway, 6000, '19.90', 20);
    await Bun.sleep(2000);
    const held = (await gateway.health()).queues;
    // Workers hold what they took (up to the in-flight bound each), the rest waits in the ring.
    expect(held.waiting).toBeGreaterThanOrEqual(1000);
    expect(held.pending + held.waiting).toBeGreaterThanOrEqual(5900); // a probe or two may be in flight
    const before = await loopDelay(20);
    const logBefore = gateway.child.output().length;
    const throttledBefore = throttledPeriods();

    for (const processor of [simulator.default, simulator.fallback]) {
      await processor.setDelay(0);
      await processor.setFailure(false);
    }
    // Payments keep coming while the held ones settle: the HTTP thread has work all along.
    const trickle = sendPayments(gateway, 400, '19.90', 4);
    await gateway.settled(60_000);
    await trickle;
    const after = await loopDelay(20);

    expect(after.samples - before.samples).toBeGreaterThan(20);
    // The gateway's log names what ran in each stall: part of the failure message.
    const stalls =
      gateway.child
        .output()
        .slice(logBefore)
        .match(/^.*stall: .*$/gm) ?? [];
    const throttled = throttledPeriods() - throttledBefore;
    expect({ turnsOver20ms: after.over - before.over, stalls, throttled }).toEqual({ turnsOver20ms: 0, stalls, throttled });
    expect((await gateway.health()).queues.settled).toBe(6800);
  }, 90_000);
});
