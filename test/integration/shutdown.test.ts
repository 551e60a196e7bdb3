import { afterAll, beforeAll, expect, test } from 'bun:test';
import { startGateway } from '../support/gateway.ts';
import { startSimulator, type Simulator } from '../support/simulator.ts';
import { expectEachSettledOnce, sendPayments } from '../support/scenario.ts';

let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator();
});

afterAll(async () => {
  await simulator?.stop();
});

test('SIGTERM: stops accepting, settles what is queued and in flight, exits 0', async () => {
  await simulator.default.setDelay(400);
  const gateway = await startGateway({
    DEFAULT_PROCESSOR_URL: simulator.default.url,
    FALLBACK_PROCESSOR_URL: simulator.fallback.url,
    MAX_INFLIGHT_PER_PROCESSOR: '16',
  });
  const accepted = await sendPayments(gateway, 100, '2.50');
  expect(accepted.length).toBe(100);
  const code = await gateway.stop();
  expect(code).toBe(0);
  expect(gateway.child.output()).toContain('every accepted payment is settled');
  await expectEachSettledOnce(simulator, accepted);
  await expect(fetch(`${gateway.url}/health`)).rejects.toThrow();
  await simulator.default.setDelay(0);
});
