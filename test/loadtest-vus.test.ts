import { afterAll, describe, expect, test } from 'bun:test';
import { parseEndpoint } from '../tools/loadtest/http-client.ts';
import { Metrics } from '../tools/loadtest/metrics.ts';
import { LoadGenerator } from '../tools/loadtest/virtual-users.ts';

let delayMs = 0;
const ids = new Set<string>();
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  async fetch(req) {
    const body = (await req.json()) as { correlationId: string; amount: number };
    ids.add(body.correlationId);
    if (delayMs > 0) await Bun.sleep(delayMs);
    return new Response(null, { status: 202 });
  },
});
afterAll(() => server.stop(true));

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await Bun.sleep(5);
}

describe('LoadGenerator', () => {
  test('linear ramp target', () => {
    expect(LoadGenerator.targetVus(0, 500, 60_000)).toBe(1);
    expect(LoadGenerator.targetVus(30_000, 500, 60_000)).toBe(251);
    expect(LoadGenerator.targetVus(59_999, 500, 60_000)).toBe(500);
    expect(LoadGenerator.targetVus(120_000, 500, 60_000)).toBe(500);
    expect(LoadGenerator.targetVus(10, 1, 60_000)).toBe(1);
  });

  test('ramps to N VUs, one keep-alive connection each, unique ids, stop waits for in-flight', async () => {
    ids.clear();
    delayMs = 0;
    const metrics = new Metrics();
    const gen = new LoadGenerator(
      { endpoint: parseEndpoint(`http://127.0.0.1:${server.port}`), vus: 4, durationMs: 400, thinkMs: 20, timeoutMs: 1000, amountCents: 1990 },
      metrics,
    );
    gen.start(metrics.t0);
    await waitFor(() => gen.activeVus === 4 && metrics.payment.ok > 4);
    delayMs = 150; // requests now in flight will still be answered
    await waitFor(() => gen.inFlight > 0);
    await gen.stop();
    expect(gen.inFlight).toBe(0);
    expect(gen.activeVus).toBe(4);
    expect(gen.connectionsOpened).toBe(4);
    expect(metrics.payment.ok).toBeGreaterThan(4);
    expect(metrics.payment.ok).toBe(ids.size);
    expect(metrics.payment.failed + metrics.payment.timeouts).toBe(0);
    const after = metrics.payment.total;
    await Bun.sleep(100);
    expect(metrics.payment.total).toBe(after); // nothing is sent after stop()
    gen.close();
  });

  test('timeouts are counted with the timeout as latency', async () => {
    delayMs = 300;
    const metrics = new Metrics();
    const gen = new LoadGenerator(
      { endpoint: parseEndpoint(`http://127.0.0.1:${server.port}`), vus: 2, durationMs: 150, thinkMs: 10, timeoutMs: 100, amountCents: 1990 },
      metrics,
    );
    gen.start(metrics.t0);
    await waitFor(() => metrics.payment.timeouts > 0);
    await gen.stop();
    expect(metrics.payment.ok).toBe(0);
    expect(metrics.all.maxRecordedUs).toBe(100_000);
    gen.close();
    delayMs = 0;
  });

  test('the settlement sampler gets the ids of the accepted payments it wants', async () => {
    ids.clear();
    delayMs = 0;
    const tracked: string[] = [];
    let offered = 0;
    const metrics = new Metrics();
    const sampler = {
      wants: () => ++offered % 2 === 0,
      track: (id: string, acceptedAt: number) => {
        expect(acceptedAt).toBeGreaterThanOrEqual(metrics.t0);
        tracked.push(id);
      },
    };
    const gen = new LoadGenerator(
      { endpoint: parseEndpoint(`http://127.0.0.1:${server.port}`), vus: 2, durationMs: 50, thinkMs: 5, timeoutMs: 1000, amountCents: 1990, sampler },
      metrics,
    );
    gen.start(metrics.t0);
    await waitFor(() => tracked.length >= 3);
    await gen.stop();
    gen.close();
    expect(offered).toBe(metrics.payment.ok);
    expect(tracked.length).toBe(Math.floor(offered / 2));
    for (const id of tracked) expect(ids.has(id)).toBe(true);
  });
});
