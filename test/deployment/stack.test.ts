import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topology, type LoadBalancerKind } from '../../deploy/topology.ts';
import { cgroupsUnavailable } from '../../deploy/cgroup.ts';
import { findBinary, type StackInfo } from '../../tools/stack.ts';
import { freePort, spawnChild, type Child } from '../support/process.ts';
import { expectConsistent, expectEachSettledOnce, iso, sendPayments } from '../support/scenario.ts';
import { startSimulator, type Simulator } from '../support/simulator.ts';
import { asGateway, isAlive, ownCount, rawStatus, recorded, settled, viaLoadBalancer, viaSocket, type Endpoint } from './support.ts';

/**
 * The whole native topology, as real processes: tools/stack.ts starts two gateway instances on
 * unix sockets and a load balancer in front of them on a free port, against a simulator started
 * here. Once with HAProxy (the default), once with nginx, each when installed
 * (.ci/system-packages installs both).
 */
/** Hooks get 5 s by default: starting (or stopping) five processes on a busy machine can take longer. */
const HOOK_TIMEOUT_MS = 60_000;

for (const lbKind of ['haproxy', 'nginx'] as const) stackSuite(lbKind);

function stackSuite(lbKind: LoadBalancerKind): void {
  let simulator: Simulator;
  let stack: Child;
  let info: StackInfo;
  let runDir: string;
  let port: number;
  let lb: Endpoint;
  let instances: Endpoint[];

  async function resetProcessors(): Promise<void> {
    await Promise.all(topology.gateways.map((_, i) => settled(instances[i]!)));
    expect((await lb.post('/purge-payments')).status).toBe(200);
    await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
  }

  describe.skipIf(findBinary(lbKind) === null)(`native stack: ${lbKind} in front of ${topology.gateways.length} gateways on unix sockets`, () => {
    beforeAll(async () => {
      simulator = await startSimulator();
      runDir = mkdtempSync(join(tmpdir(), 'stack-test-'));
      port = freePort();
      stack = spawnChild(
        [process.execPath, 'tools/stack.ts', '--lb', lbKind, '--port', String(port), '--run-dir', runDir],
        { DEFAULT_PROCESSOR_URL: simulator.default.url, FALLBACK_PROCESSOR_URL: simulator.fallback.url },
        'stack',
      );
      const [, url] = await stack.waitFor(/^stack: ready on (\S+)/m, 30_000);
      info = JSON.parse(readFileSync(join(runDir, 'stack.json'), 'utf8'));
      lb = viaLoadBalancer(url!);
      instances = topology.gateways.map((gateway) => viaSocket(gateway.name, info.services.find((s) => s.name === gateway.name)!.socket!));
    }, HOOK_TIMEOUT_MS);

    afterAll(async () => {
      // The stack's output (every process, prefixed), for when something above failed.
      if (stack) await Bun.write(join(import.meta.dir, '../../.run', `deployment-stack-${lbKind}.log`), stack.output());
      await stack?.stop('SIGKILL' as NodeJS.Signals).catch(() => {});
      // After a SIGKILL of the stack its children would remain: end them by pid.
      for (const service of info?.services ?? []) if (isAlive(service.pid)) process.kill(service.pid, 'SIGKILL');
      await simulator?.stop();
      if (runDir) rmSync(runDir, { recursive: true, force: true });
    }, HOOK_TIMEOUT_MS);

    test('payments through the load balancer reach both instances; every summary (each instance, the load balancer) equals the processors', async () => {
      await resetProcessors();
      const start = Date.now();
      const accepted = await sendPayments(asGateway(lb), 600, '19.90', 40);
      expect(accepted.length).toBe(600);
      await recorded(lb, 600);
      await Promise.all(instances.map((instance) => settled(instance)));
      const settledPerInstance = await Promise.all(instances.map(async (instance) => (await instance.health()).queues.settled as number));
      // Round-robin: both instances settled some of them.
      for (const count of settledPerInstance) expect(count).toBeGreaterThan(0);

      const middle = iso(start + (Date.now() - start) / 2);
      const windows: [string | undefined, string | undefined][] = [
        [iso(start - 1000), middle],
        [middle, iso(Date.now())],
      ];
      const summaries = [];
      for (const endpoint of [lb, ...instances]) summaries.push(await expectConsistent(asGateway(endpoint), simulator, windows));
      for (const summary of summaries) expect(summary).toEqual(summaries[0]!);
      expect(summaries[0]!.default.totalRequests + summaries[0]!.fallback.totalRequests).toBe(600);
      expect((await expectEachSettledOnce(simulator, accepted)).onDefault).toBe(600);
    });

    test('a purge through the load balancer reaches both instances', async () => {
      await resetProcessors();
      expect((await sendPayments(asGateway(lb), 50, '3.00', 10)).length).toBe(50);
      await recorded(lb, 50);
      await Promise.all(instances.map((instance) => settled(instance)));
      expect((await lb.post('/purge-payments')).status).toBe(200);
      const empty = { default: { totalRequests: 0, totalAmount: 0 }, fallback: { totalRequests: 0, totalAmount: 0 } };
      for (const instance of instances) {
        // Each instance's own part, as its peers read it (straight through the socket).
        const own = await (await instance.get('/internal/totals')).json();
        expect(own).toEqual({ default: { count: 0, cents: '0' }, fallback: { count: 0, cents: '0' } });
        expect(await instance.summary()).toEqual(empty);
      }
      expect(await lb.summary()).toEqual(empty);
      await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
    });

    test('/internal/ routes are not reachable through the load balancer, however spelled', async () => {
      await resetProcessors();
      expect((await sendPayments(asGateway(lb), 10, '1.00', 5)).length).toBe(10);
      await recorded(lb, 10);
      await Promise.all(instances.map((instance) => settled(instance)));
      const attempts: [string, string][] = [
        ['GET', '/internal/totals'],
        ['GET', '/internal/health'],
        ['POST', '/internal/purge'],
        ['GET', '/internal/totals?from=&to='],
        ['POST', '/payments/../internal/purge'],
        ['POST', '//internal/purge'],
        ['POST', '/%69nternal/purge'],
        ['POST', '/INTERNAL/purge'],
        ['GET', '/nowhere'],
        ['GET', '/metrics'],
      ];
      for (const [method, target] of attempts) {
        const status = await rawStatus(port, method, target);
        expect({ method, target, denied: status === 403 || status === 404 }).toEqual({ method, target, denied: true });
      }
      // Nothing was purged by those attempts.
      const summary = await lb.summary();
      expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(10);
      // The same routes answer on the sockets (the peers use them).
      for (const instance of instances) {
        expect((await instance.get('/internal/health')).status).toBe(200);
        expect((await instance.get('/metrics')).status).toBe(200);
      }
    });

    test('the same correlationId through the load balancer and on each instance directly: accepted by its owner only, paid once, counted once', async () => {
      await resetProcessors();
      const ids = Array.from({ length: 60 }, () => crypto.randomUUID());
      const senders = [asGateway(lb), ...instances.map((instance) => asGateway(instance))];
      const statuses = await Promise.all(
        ids.flatMap((id) => senders.map((sender) => sender.pay(id, '19.90').then(async (r) => (await r.arrayBuffer(), r.status)))),
      );
      expect(statuses.filter((status) => status !== 202)).toEqual([]);
      await recorded(lb, ids.length);
      await Promise.all(instances.map((instance) => settled(instance)));
      const summary = await expectConsistent(asGateway(lb), simulator);
      expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(ids.length);
      await expectEachSettledOnce(simulator, ids);
    });

    test('one instance killed: the load balancer routes to the other, no settled payment is lost, and the survivor answers 503 rather than a partial summary', async () => {
      await resetProcessors();
      const before = await sendPayments(asGateway(lb), 300, '19.90', 30);
      expect(before.length).toBe(300);
      // Send, wait until every one is settled, then kill: what an instance accepted and had not
      // settled yet is only in its journal until it restarts (the stack does not restart it).
      await recorded(lb, 300);
      await Promise.all(instances.map((instance) => settled(instance)));
      await expectConsistent(asGateway(lb), simulator);

      const [victim, survivor] = [topology.gateways[0]!, instances[1]!];
      const survivorBefore = await ownCount(survivor);
      const pid = info.services.find((s) => s.name === victim.name)!.pid;
      process.kill(pid, 'SIGKILL');
      await stack.waitFor(new RegExp(`${victim.name} exited \\(signal SIGKILL\\)`));
      expect(isAlive(info.pid)).toBe(true); // the stack keeps running

      // New payments: those the survivor owns get a 2xx; those the dead instance owns get a 503
      // with Retry-After, never a 202 the survivor could not keep exactly once (the dead instance
      // may hold the same id in its journal). Owner: last hex digit modulo 2 (gateway-1: even).
      const statuses = { survivorOwned: [] as number[], victimOwned: [] as number[] };
      const after: string[] = [];
      for (let i = 0; i < 100; i++) {
        const id = crypto.randomUUID();
        const response = await lb.pay(id, '19.90');
        await response.arrayBuffer();
        const victimOwns = parseInt(id.at(-1)!, 16) % 2 === 0;
        (victimOwns ? statuses.victimOwned : statuses.survivorOwned).push(response.status);
        if (response.ok) after.push(id);
        if (victimOwns) expect(response.headers.get('retry-after')).not.toBeNull();
      }
      expect(statuses.survivorOwned.filter((status) => status < 200 || status >= 300)).toEqual([]);
      expect(statuses.victimOwned.filter((status) => status !== 503)).toEqual([]);
      // All of them went to the survivor, which settles them.
      const deadline = Date.now() + 30_000;
      while ((await ownCount(survivor)) < survivorBefore + after.length && Date.now() < deadline) await Bun.sleep(50);
      expect(await ownCount(survivor)).toBe(survivorBefore + after.length);
      await settled(survivor);

      // Every payment either instance settled is held by the processors, exactly once.
      await expectEachSettledOnce(simulator, [...before, ...after]);
      const [atDefault, atFallback] = await Promise.all([simulator.default.summary(), simulator.fallback.summary()]);
      expect(atDefault.totalRequests + atFallback.totalRequests).toBe(300 + after.length);

      // The survivor cannot see the dead instance's ledger: no number rather than a wrong one.
      const direct = await survivor.get('/payments-summary');
      expect(direct.status).toBe(503);
      expect(((await direct.json()) as { error: string }).error).toMatch(/unreachable/);
      expect((await lb.get('/payments-summary')).status).toBe(503);
    });

    test('stopping the stack stops every process and removes the sockets and cgroups', async () => {
      const code = await stack.stop('SIGTERM');
      expect(code).toBe(0);
      for (const service of info.services) expect({ name: service.name, alive: isAlive(service.pid) }).toEqual({ name: service.name, alive: false });
      for (const service of info.services) if (service.socket) expect(existsSync(service.socket)).toBe(false);
      expect(existsSync(join(runDir, 'stack.json'))).toBe(false);
      for (const dirs of Object.values(info.cgroups?.dirs ?? {})) for (const dir of dirs) expect(existsSync(dir)).toBe(false);
      // As root with cgroup v1 the stack ran under limits; otherwise it said so and ran without.
      if (cgroupsUnavailable() === null) expect(info.cgroups).not.toBeNull();
    });
  });
}
