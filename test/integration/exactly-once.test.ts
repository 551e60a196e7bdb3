import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { freePort } from '../support/process.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { expectConsistent, expectEachSettledOnce, iso, restoreProcessors, streamPayments } from '../support/scenario.ts';

/**
 * Exactly once across instances and restarts, and reconciled at every instant: the gateway and
 * the simulator as real processes. Each case was a way to pay or count a payment twice, or to
 * disagree with the processors for a moment, on the code before it.
 */
let simulator: Simulator;
const gateways: GatewayProcess[] = [];
const journals: string[] = [];
/** Longest processor delay a case used: calls given up on may still land that late. */
let lingerMs = 0;

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
});

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
  for (const dir of journals.splice(0)) rmSync(dir, { recursive: true, force: true });
  await restoreProcessors(simulator, lingerMs);
  lingerMs = 0;
}, 30_000);

afterAll(async () => {
  await simulator?.stop();
});

async function start(env: Record<string, string>): Promise<GatewayProcess> {
  const gateway = await startGateway({ ...gatewayEnvFor(simulator), ...env });
  gateways.push(gateway);
  return gateway;
}

/** Two instances of one deployment on TCP ports, each the other's peer, on journals that outlive them. */
async function startPair(env: Record<string, string>, dirs?: [string, string]): Promise<[GatewayProcess, GatewayProcess]> {
  const ports = [freePort(), freePort()];
  const journalDirs = dirs ?? [mkdtempSync(join(tmpdir(), 'pair-0-')), mkdtempSync(join(tmpdir(), 'pair-1-'))];
  if (!dirs) journals.push(...journalDirs);
  const one = (index: number) =>
    start({
      ...env,
      PORT: String(ports[index]),
      INSTANCE_INDEX: String(index),
      PEERS: `http://127.0.0.1:${ports[1 - index]}`,
      HEALTH_POLL: index === 0 ? 'true' : 'false',
      JOURNAL_DIR: journalDirs[index]!,
    });
  return Promise.all([one(0), one(1)]) as Promise<[GatewayProcess, GatewayProcess]>;
}

async function untilHealthReports(gateway: GatewayProcess, minResponseMs: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await gateway.health()).processors.default.health.minResponseTime >= minResponseMs) return;
    await Bun.sleep(50);
  }
  throw new Error('no health report');
}

describe('exactly once and reconciled', () => {
  test('a processor slower than the client timeout is slow, not failing: its breaker stays closed and payments stay on default', async () => {
    await simulator.default.setDelay(1200);
    lingerMs = 1300;
    // A hold above default's 1.2 s: default stays preferred to fallback, and its calls time out.
    const gateway = await start({ PROCESSOR_TIMEOUT_MS: '800', MAX_HOLD_MS: '3000' });
    const accepted = await streamPayments(gateway, 1500, 40);
    await gateway.settled(30_000);
    const health = await gateway.health();
    expect(health.queues.timedOutCalls).toBeGreaterThan(0);
    expect(gateway.child.output()).not.toContain('breaker default: open');
    const summary = await expectConsistent(gateway, simulator);
    expect(summary.default.totalRequests).toBe(accepted.length);
    expect((await expectEachSettledOnce(simulator, accepted)).onFallback).toBe(0);
  }, 40_000);

  test('a processor slower than the audit lag: an auditor comparing every 20 ms finds no difference', async () => {
    await simulator.default.setDelay(2000);
    lingerMs = 2100;
    const gateway = await start({ PROCESSOR_TIMEOUT_MS: '6000' });
    await untilHealthReports(gateway, 2000);
    let auditing = true;
    const differences: string[] = [];
    let audits = 0;
    const auditor = (async () => {
      while (auditing) {
        const now = Date.now();
        const [from, to] = [iso(now - 15_000), iso(now - 1500)];
        const [ours, theirs] = await Promise.all([gateway.summary(from, to), simulator.default.summary(from, to)]);
        audits++;
        if (ours.default.totalRequests !== theirs.totalRequests)
          differences.push(`${to}: gateway ${ours.default.totalRequests}, processor ${theirs.totalRequests}`);
        await Bun.sleep(20);
      }
    })();
    const accepted = await streamPayments(gateway, 5000, 150);
    await gateway.settled(30_000);
    await Bun.sleep(2500);
    auditing = false;
    await auditor;
    console.log(`strict auditor: ${audits} audits, ${differences.length} differences, ${accepted.length} payments`);
    expect(differences.slice(0, 5)).toEqual([]);
    const summary = await expectConsistent(gateway, simulator);
    expect(summary.default.totalRequests).toBe(accepted.length);
  }, 60_000);

  test('the same correlationId sent to both instances while answers are lost: paid once, counted once, also after a restart', async () => {
    await simulator.default.setDelay(600);
    lingerMs = 700;
    const env = { PROCESSOR_TIMEOUT_MS: '300' };
    const [a, b] = await startPair(env);
    const ids = Array.from({ length: 200 }, () => crypto.randomUUID());
    const answers = await Promise.all(ids.flatMap((id) => [a.pay(id, '19.90'), b.pay(id, '19.90')]).map((response) => response.then((r) => r.status)));
    expect(answers.every((status) => status === 202)).toBe(true);
    await Promise.all([a.settled(30_000), b.settled(30_000)]);
    await Bun.sleep(700);
    const first = await expectConsistent(a, simulator);
    expect(first.default.totalRequests + first.fallback.totalRequests).toBe(ids.length);
    expect(await b.summary()).toEqual(first);
    await expectEachSettledOnce(simulator, ids);

    // The deployment restarts on its journals: still one count per payment.
    const dirs = journals.slice(-2) as [string, string];
    await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
    const [a2] = await startPair(env, dirs);
    await a2.settled(30_000);
    expect(await expectConsistent(a2, simulator)).toEqual(first);
  }, 60_000);

  test('a forward its owner does not answer in time is a 504 "may have been accepted", not a 503 "not taken": the owner does take it', async () => {
    const [first, second] = await startPair({});
    // Owned by the second instance (its last hex digit is odd).
    const id = `${crypto.randomUUID().slice(0, -1)}1`;
    second.child.proc.kill('SIGSTOP'); // the owner stalls longer than a forward waits
    let status: number;
    let body: unknown;
    try {
      const response = await first.pay(id, '19.90');
      status = response.status;
      body = await response.json();
    } finally {
      second.child.proc.kill('SIGCONT');
    }
    expect(status).toBe(504);
    expect(body).toEqual({ error: expect.stringContaining('may have been accepted; retry with the same correlationId') });
    // It did reach the owner, which accepts and settles it once it runs again.
    await second.settled();
    const once = await expectConsistent(first, simulator);
    expect(once.default.totalRequests + once.fallback.totalRequests).toBe(1);
    // The retry the answer asks for is the same payment: 202, not paid again.
    expect((await first.pay(id, '19.90')).status).toBe(202);
    await second.settled();
    expect(await expectConsistent(first, simulator)).toEqual(once);
    await expectEachSettledOnce(simulator, [id]);

    // An owner that is not there at all (connection refused) did not take it: 503, retry shortly.
    await second.child.stop();
    const refused = await first.pay(`${crypto.randomUUID().slice(0, -1)}3`, '19.90');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
  }, 30_000);

  test('a payment in doubt at a processor that keeps failing is released after DOUBT_RELEASE_MS and settled once elsewhere', async () => {
    // Calls time out (the processor holds them 1 s and then fails them: never recorded), and it keeps failing.
    await simulator.default.setDelay(1000);
    await simulator.default.setFailure(true);
    lingerMs = 1100;
    const gateway = await start({ PROCESSOR_TIMEOUT_MS: '300', DOUBT_RELEASE_MS: '1500', MAX_HOLD_MS: '0', BREAKER_FAILURE_THRESHOLD: '1000' });
    const id = crypto.randomUUID();
    expect((await gateway.pay(id, '19.90')).status).toBe(202);
    await gateway.settled(15_000);
    expect(await simulator.default.getPayment(id)).toBeNull();
    expect(await simulator.fallback.getPayment(id)).not.toBeNull();
    await expectConsistent(gateway, simulator);
  }, 30_000);

  test('a purge forgets what is waiting: nothing accepted before it is counted after it', async () => {
    await simulator.default.setFailure(true);
    await simulator.fallback.setFailure(true);
    const gateway = await start({ MAX_HOLD_MS: '0' });
    const before = await streamPayments(gateway, 500, 100);
    expect(before.length).toBeGreaterThan(0);
    const purged = await fetch(`${gateway.url}/purge-payments`, { method: 'POST' });
    expect(purged.status).toBe(200);
    await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
    const after = crypto.randomUUID();
    expect((await gateway.pay(after, '19.90')).status).toBe(202);
    await Promise.all([simulator.default.setFailure(false), simulator.fallback.setFailure(false)]);
    await gateway.settled(15_000);
    const summary = await expectConsistent(gateway, simulator);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(1);
  }, 30_000);
});
