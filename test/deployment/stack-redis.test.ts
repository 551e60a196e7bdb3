import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetGateways } from '../../deploy/topology.ts';
import { findBinary, type StackInfo } from '../../tools/stack.ts';
import { freePort, spawnChild, type Child } from '../support/process.ts';
import { expectConsistent, expectEachSettledOnce, sendPayments } from '../support/scenario.ts';
import { startSimulator, type Simulator } from '../support/simulator.ts';
import { asGateway, isAlive, recorded, settled, viaLoadBalancer, viaSocket } from './support.ts';

/**
 * `npm run stack -- --redis --hosts 3`: HAProxy in front of three gateway hosts sharing a local
 * redis-server with append-only persistence, against a simulator started here. Skipped without
 * HAProxy or redis-server (.ci/system-packages installs both).
 */
const HOOK_TIMEOUT_MS = 60_000;
const HOSTS = 3;

describe.skipIf(findBinary('haproxy') === null || findBinary('redis-server') === null)(`native stack --redis --hosts ${HOSTS}`, () => {
  let simulator: Simulator;
  let stack: Child;
  let info: StackInfo;
  let runDir: string;

  beforeAll(async () => {
    simulator = await startSimulator();
    runDir = mkdtempSync(join(tmpdir(), 'stack-redis-test-'));
    // Redis on a port of the range these tests may use (6390-6399), away from other suites' servers.
    const args = ['--redis', '--hosts', String(HOSTS), '--redis-port', '6399', '--port', String(freePort()), '--run-dir', runDir, '--no-cgroups'];
    stack = spawnChild(
      [process.execPath, 'tools/stack.ts', ...args],
      { DEFAULT_PROCESSOR_URL: simulator.default.url, FALLBACK_PROCESSOR_URL: simulator.fallback.url },
      'stack',
    );
    await stack.waitFor(/^stack: ready on (\S+)/m, 30_000);
    info = JSON.parse(readFileSync(join(runDir, 'stack.json'), 'utf8'));
  }, HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.stop('SIGKILL' as NodeJS.Signals).catch(() => {});
    for (const service of info?.services ?? []) if (isAlive(service.pid)) process.kill(service.pid, 'SIGKILL');
    await simulator?.stop();
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  }, HOOK_TIMEOUT_MS);

  test('payments through the load balancer are settled by every host; each host and the balancer answer the processors summary; Redis persists', async () => {
    const lb = viaLoadBalancer(info.url);
    const hosts = fleetGateways(HOSTS).map((gateway) => viaSocket(gateway.name, info.services.find((s) => s.name === gateway.name)!.socket!));
    const accepted = await sendPayments(asGateway(lb), 300, '19.90', 30);
    expect(accepted).toHaveLength(300);
    await recorded(lb, 300);
    await Promise.all(hosts.map((host) => settled(host)));
    for (const host of hosts) expect((await host.health()).queues.settled).toBeGreaterThan(0);
    await expectEachSettledOnce(simulator, accepted);
    const summary = await expectConsistent(asGateway(lb), simulator);
    for (const host of hosts) expect(await host.summary()).toEqual(summary);
    // Append-only persistence is on, in the run directory.
    expect(readdirSync(join(runDir, 'redis')).join(' ')).toContain('appendonly');
  }, 60_000);
});
