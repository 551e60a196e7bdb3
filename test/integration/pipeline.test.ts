import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { expectConsistent, expectEachSettledOnce, iso, sendPayments } from '../support/scenario.ts';

/** The whole pipeline of one instance, against the simulator, both as real processes. */
let simulator: Simulator;
let gateway: GatewayProcess;

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
  gateway = await startGateway({
    ...gatewayEnvFor(simulator),
    // Short enough for the failure cases, long enough that a burst waits for a busy default.
    MAX_HOLD_MS: '1500',
  });
});

afterAll(async () => {
  await gateway?.stop();
  await simulator?.stop();
});

async function reset(): Promise<void> {
  await Promise.all([simulator.default.setFailure(false), simulator.fallback.setFailure(false), simulator.default.setDelay(0), simulator.fallback.setDelay(0)]);
  await gateway.settled();
  const purged = await fetch(`${gateway.url}/purge-payments`, { method: 'POST' });
  expect(purged.status).toBe(200);
  await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
}

describe('one gateway instance with the simulator', () => {
  test('a burst of 2,000 payments all settle on default and the summary matches the processors exactly', async () => {
    await reset();
    const start = Date.now();
    const accepted = await sendPayments(gateway, 2000, '19.90');
    expect(accepted.length).toBe(2000);
    await gateway.settled();
    const middle = iso(start + (Date.now() - start) / 2);
    const summary = await expectConsistent(gateway, simulator, [
      [iso(start), middle],
      [middle, iso(Date.now())],
      [middle, undefined],
    ]);
    expect(summary.default).toEqual({ totalRequests: 2000, totalAmount: 39800 });
    expect(summary.fallback).toEqual({ totalRequests: 0, totalAmount: 0 });
    expect(await expectEachSettledOnce(simulator, accepted)).toEqual({ onDefault: 2000, onFallback: 0 });
  });

  test('the same correlationId sent again is accepted once and paid once', async () => {
    await reset();
    const id = crypto.randomUUID();
    const responses = await Promise.all(Array.from({ length: 5 }, () => gateway.pay(id, '10.00')));
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    expect((await gateway.pay(id.toUpperCase(), '10.00')).status).toBe(202);
    await gateway.settled();
    const summary = await expectConsistent(gateway, simulator);
    expect(summary.default).toEqual({ totalRequests: 1, totalAmount: 10 });
  });

  test('with default failing, payments settle on fallback and none is lost', async () => {
    await reset();
    await simulator.default.setFailure(true);
    const accepted = await sendPayments(gateway, 300, '5.55');
    await gateway.settled();
    const summary = await expectConsistent(gateway, simulator);
    expect(summary.fallback.totalRequests).toBe(300);
    expect(summary.fallback.totalAmount).toBe(1665);
    expect(summary.default.totalRequests).toBe(0);
    await expectEachSettledOnce(simulator, accepted);
    const health = await gateway.health();
    expect(health.processors.default.failing).toBe(true);
  });

  test('with both failing for a few seconds, every payment settles after recovery, none twice', async () => {
    await reset();
    await Promise.all([simulator.default.setFailure(true), simulator.fallback.setFailure(true)]);
    const accepted = await sendPayments(gateway, 400, '1.01');
    await Bun.sleep(2000);
    const stuck = await gateway.health();
    expect(stuck.queues.pending + stuck.queues.failed).toBeGreaterThan(0);
    expect((await simulator.default.summary()).totalRequests + (await simulator.fallback.summary()).totalRequests).toBe(0);
    await Promise.all([simulator.default.setFailure(false), simulator.fallback.setFailure(false)]);
    await gateway.settled();
    const summary = await expectConsistent(gateway, simulator);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(400);
    await expectEachSettledOnce(simulator, accepted);
  });

  test('bad input gets a 4xx with a JSON error and queues nothing', async () => {
    await reset();
    const cases: [string, string, number][] = [
      ['{"correlationId":"nope","amount":1}', 'application/json', 400],
      ['{"correlationId":"4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3","amount":1.234}', 'application/json', 400],
      ['{"correlationId":"4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3","amount":0}', 'application/json', 400],
      ['not json', 'application/json', 400],
      ['{"correlationId":"4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3","amount":1}', 'text/plain', 415],
      [`{"correlationId":"4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3","amount":1,"pad":"${'x'.repeat(10_000)}"}`, 'application/json', 413],
    ];
    for (const [body, type, status] of cases) {
      const response = await fetch(`${gateway.url}/payments`, { method: 'POST', headers: { 'content-type': type }, body });
      expect(response.status).toBe(status);
      expect(typeof ((await response.json()) as { error: string }).error).toBe('string');
    }
    const badWindow = await fetch(`${gateway.url}/payments-summary?from=yesterday`);
    expect(badWindow.status).toBe(400);
    const reversed = await fetch(`${gateway.url}/payments-summary?from=2020-01-02T00:00:00.000Z&to=2020-01-01T00:00:00.000Z`);
    expect(reversed.status).toBe(400);
    expect((await fetch(`${gateway.url}/nowhere`)).status).toBe(404);
    expect((await fetch(`${gateway.url}/payments`)).status).toBe(405);
    await gateway.settled();
    const health = await gateway.health();
    expect(health.queues.settled).toBeGreaterThan(0); // earlier tests settled payments...
    expect((await simulator.default.summary()).totalRequests).toBe(0); // ...but nothing from these
  });

  test('a payment leaves the process and is recorded by the processor with its exact amount', async () => {
    await reset();
    const id = crypto.randomUUID();
    expect((await gateway.pay(id, '3.00')).status).toBe(202);
    await gateway.settled();
    expect(await simulator.default.getPayment(id)).toMatchObject({ correlationId: id, amount: 3 });
  });
});
