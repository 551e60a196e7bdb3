/** Settlement-time sampling against in-process fakes of the processors' public lookup. */
import { afterAll, describe, expect, test } from 'bun:test';
import { SettlementSampler } from '../tools/loadtest/settlement-sampler.ts';

const servers: Array<{ stop: (force?: boolean) => unknown }> = [];
afterAll(() => {
  for (const s of servers) s.stop(true);
});

/** A processor answering GET /payments/{id}: 200 for the ids it holds, 404 otherwise. */
function fakeProcessor() {
  const held = new Set<string>();
  let lookups = 0;
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req) {
      lookups++;
      const id = new URL(req.url).pathname.slice('/payments/'.length);
      return held.has(id) ? Response.json({ correlationId: id, amount: 19.9, requestedAt: new Date().toISOString() }) : new Response(null, { status: 404 });
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, held, lookups: () => lookups };
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await Bun.sleep(5);
}

describe('SettlementSampler', () => {
  test('samples exactly the asked share of the accepted payments', () => {
    const sampler = new SettlementSampler(
      { default: 'http://127.0.0.1:1', fallback: 'http://127.0.0.1:1' },
      0.05,
      () => 0,
      () => '',
    );
    let taken = 0;
    for (let i = 0; i < 1000; i++) if (sampler.wants()) taken++;
    expect(taken).toBe(50);
    sampler.stop();
    expect(sampler.wants()).toBe(false);
  });

  test('times each sample until a processor holds it, per stage; what no processor holds at the cutoff is unsettled', async () => {
    const def = fakeProcessor();
    const fb = fakeProcessor();
    const t0 = performance.now();
    let boundary = Number.POSITIVE_INFINITY;
    const sampler = new SettlementSampler(
      { default: def.url, fallback: fb.url },
      1,
      (at) => (at < boundary ? 0 : 1),
      (step) => `stage ${step}`,
    );
    const [a, b, c, d] = Array.from({ length: 4 }, () => crypto.randomUUID());
    def.held.add(a as string); // settled before the 202 reached us
    sampler.track(a as string, performance.now());
    sampler.track(b as string, performance.now());
    boundary = performance.now();
    sampler.track(c as string, performance.now());
    sampler.track(d as string, performance.now());
    await waitFor(() => sampler.report().settled === 1);
    // b settles on fallback only after it was looked up and missing
    const looked = fb.lookups();
    await waitFor(() => fb.lookups() > looked);
    fb.held.add(b as string);
    // d: paid twice
    def.held.add(d as string);
    fb.held.add(d as string);
    await waitFor(() => sampler.report().settled === 3);
    const report = sampler.stop();
    expect(report).toMatchObject({ fraction: 1, sampled: 4, settled: 3, unsettled: 1, onBoth: 1, lookupErrors: 0 });
    const [first, second] = report.stages;
    expect(first).toMatchObject({ step: 0, label: 'stage 0', sampled: 2, settled: 2, unsettled: 0, onDefault: 1, onFallback: 1, onBoth: 0 });
    expect(second).toMatchObject({ step: 1, label: 'stage 1', sampled: 2, settled: 1, unsettled: 1, onBoth: 1 });
    // b was found later than a: the stage's max is b's time, its p50 a's
    expect(first?.maxMs).toBeGreaterThan(first?.p50Ms ?? Number.POSITIVE_INFINITY);
    expect(first?.maxMs).toBeLessThanOrEqual(performance.now() - t0);
    // after the cutoff nothing more is counted
    def.held.add(c as string);
    expect(sampler.report().unsettled).toBe(1);
  });
});
