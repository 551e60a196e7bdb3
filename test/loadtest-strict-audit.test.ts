/** The strict auditor against in-process fakes of the gateway and both processors. */
import { afterAll, describe, expect, test } from 'bun:test';
import { GatewayApi, ProcessorAdmin } from '../tools/loadtest/api.ts';
import { StrictAuditor, type StrictDifference } from '../tools/loadtest/strict-auditor.ts';

const servers: Array<{ stop: (force?: boolean) => unknown }> = [];
afterAll(() => {
  for (const s of servers) s.stop(true);
});

/**
 * Each audit's three queries share their window's `to`: every fake holds its answer until all
 * three queries of that window have arrived, so an auditor querying one after the other would
 * never finish (unless `together` is false). `lyingUntilLagMs`: the gateway counts one default
 * payment too many in windows ending later than now − this.
 */
function fakes(lyingUntilLagMs: number, together = true) {
  const arrivals = new Map<string, { count: number; release: () => void; all: Promise<void> }>();
  const barrier = (to: string): Promise<void> => {
    let entry = arrivals.get(to);
    if (entry === undefined) {
      let release = () => {};
      const all = new Promise<void>((r) => (release = r));
      entry = { count: 0, release, all };
      arrivals.set(to, entry);
    }
    if (++entry.count === 3) entry.release();
    return entry.all;
  };
  const serve = (answer: (to: string) => unknown) => {
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      async fetch(req) {
        const to = new URL(req.url).searchParams.get('to') ?? '';
        if (together) await barrier(to);
        return Response.json(answer(to));
      },
    });
    servers.push(server);
    return `http://127.0.0.1:${server.port}`;
  };
  const totals = (n: number) => ({ totalRequests: n, totalAmount: n * 19.9 });
  const gateway = serve((to) => ({
    default: totals(Date.parse(to) > Date.now() - lyingUntilLagMs ? 4 : 3),
    fallback: totals(1),
  }));
  const def = serve(() => ({ ...totals(3), totalFee: 0, feePerTransaction: 0.05 }));
  const fb = serve(() => ({ ...totals(1), totalFee: 0, feePerTransaction: 0.15 }));
  return {
    gateway: new GatewayApi(gateway),
    processors: { default: new ProcessorAdmin('default', def, '123'), fallback: new ProcessorAdmin('fallback', fb, '123') },
  };
}

describe('StrictAuditor', () => {
  test("compares every lag at each audit, counts and reports the differing ones with both sides' counts", async () => {
    const { gateway, processors } = fakes(1800);
    const found: StrictDifference[] = [];
    const auditor = new StrictAuditor(gateway, processors, [1500, 2000], 60_000, performance.now(), 5000, (d) => found.push(d));
    for (let i = 0; i < 7; i++) {
      auditor.tick();
      await Bun.sleep(0);
    }
    const [short, long] = await auditor.stop();
    // a tick while the same lag's audit is running is skipped, not stacked
    expect(short?.compared).toBe(7 - (short?.skipped ?? 0));
    expect(short?.differences).toBe(short?.compared);
    expect(short?.failed).toBe(0);
    expect(short?.firstDifferences.length).toBe(Math.min(5, short?.compared ?? 0));
    expect(short?.firstDifferences[0]).toMatchObject({ lagMs: 1500, gateway: { default: 4, fallback: 1 }, processors: { default: 3, fallback: 1 } });
    expect(long).toMatchObject({ lagMs: 2000, differences: 0, failed: 0, firstDifferences: [] });
    expect(long?.compared).toBeGreaterThan(0);
    expect(found).toEqual(short?.firstDifferences ?? []);
    gateway.close();
    processors.default.close();
    processors.fallback.close();
  });

  test('an audit that cannot get a summary counts as failed, not compared', async () => {
    const { processors } = fakes(0, false);
    const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    const closedPort = listener.port;
    listener.stop(true);
    const gateway = new GatewayApi(`http://127.0.0.1:${closedPort}`);
    const auditor = new StrictAuditor(gateway, processors, [1500], 60_000, performance.now(), 1000);
    auditor.tick();
    const [lag] = await auditor.stop();
    expect(lag).toMatchObject({ compared: 0, differences: 0, failed: 1 });
    gateway.close();
    processors.default.close();
    processors.fallback.close();
  });
});
