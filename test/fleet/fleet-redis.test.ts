import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test';
import { RedisClient } from 'bun';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { expectConsistent, expectEachSettledOnce, iso, sendPayments } from '../support/scenario.ts';
import { fleetSettled as settledOnRedis, REDIS_SERVER, startRedis, type RedisServer } from '../support/redis.ts';
import { ACCEPT, FOLD, GROUP, KEYS, LOG, SUMMARY } from '../../src/fleet/scripts.ts';

/**
 * Fleet mode (REDIS_URL): gateway hosts sharing one real redis-server (append-only persistence
 * on) settle against the simulator. Skipped, and shown as skipped, without redis-server.
 */
const withRedis = test.skipIf(REDIS_SERVER === null);

let simulator: Simulator;
let redis: RedisServer | null = null;
let gateways: GatewayProcess[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
});

afterAll(async () => {
  await simulator?.stop();
});

afterEach(async () => {
  for (const gateway of gateways) await gateway.stop();
  gateways = [];
  await redis?.stop();
  redis = null;
  await simulator.default.setFailure(false);
  await simulator.fallback.setFailure(false);
  await simulator.default.setDelay(0);
  await simulator.default.purge();
  await simulator.fallback.purge();
});

async function startFleet(hosts: number, env: Record<string, string> = {}, processors = gatewayEnvFor(simulator)): Promise<GatewayProcess[]> {
  redis ??= await startRedis();
  const started = await Promise.all(
    Array.from({ length: hosts }, (_, index) =>
      startGateway({ ...processors, REDIS_URL: redis!.url, FLEET_SIZE: String(hosts), INSTANCE_INDEX: String(index), ...env }),
    ),
  );
  gateways.push(...started);
  return started;
}

function fleetSettled(live: GatewayProcess[], timeoutMs = 60_000): Promise<void> {
  return settledOnRedis(redis!, live, timeoutMs);
}

withRedis(
  'three hosts on one Redis: payments spread across them, each host answers the fleet summary, equal to the processors',
  async () => {
    const fleet = await startFleet(3);
    const started = Date.now();
    const accepted = (await Promise.all(fleet.map((gateway) => sendPayments(gateway, 60, '19.90', 10)))).flat();
    expect(accepted).toHaveLength(180);
    await fleetSettled(fleet);
    const settledPerHost = await Promise.all(fleet.map(async (gateway) => (await gateway.health()).queues.settled as number));
    // Any host settles any payment: each took part.
    for (const settled of settledPerHost) expect(settled).toBeGreaterThan(0);
    expect(settledPerHost.reduce((a, b) => a + b, 0)).toBe(180);
    await expectEachSettledOnce(simulator, accepted);
    const now = Date.now();
    const windows: [string, string][] = [];
    for (let i = 0; i < 8; i++) {
      const from = started + Math.floor(Math.random() * (now - started));
      windows.push([iso(from), iso(from + Math.floor(Math.random() * (now - from)))]);
    }
    const summaries = await Promise.all(fleet.map((gateway) => expectConsistent(gateway, simulator, windows)));
    for (const summary of summaries) expect(summary).toEqual(summaries[0]!);
    expect(summaries[0]!.default.totalRequests + summaries[0]!.fallback.totalRequests).toBe(180);
    // Acknowledged entries are trimmed off the stream: it holds the backlog, not the history.
    const client = redis!.client();
    const deadline = Date.now() + 20_000;
    while (Number(await client.send('XLEN', [KEYS.stream])) > 0) {
      if (Date.now() > deadline) throw new Error(`stream not trimmed: ${await client.send('XLEN', [KEYS.stream])} entries`);
      await Bun.sleep(200);
    }
  },
  120_000,
);

withRedis(
  'the same correlationId sent to two hosts at once is accepted by both (202) and paid once',
  async () => {
    const [a, b] = await startFleet(2);
    const ids = Array.from({ length: 50 }, () => crypto.randomUUID());
    const answers = await Promise.all(ids.flatMap((id) => [a!.pay(id, '10.00'), b!.pay(id, '10.00')]));
    for (const answer of answers) expect(answer.status).toBe(202);
    // And once more on each, after the first has been settling for a while.
    await Bun.sleep(50);
    for (const id of ids) expect((await b!.pay(id, '10.00')).status).toBe(202);
    await fleetSettled([a!, b!]);
    await expectEachSettledOnce(simulator, ids);
    const summary = await expectConsistent(a!, simulator);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(50);
    expect(await b!.summary()).toEqual(summary);
  },
  60_000,
);

withRedis(
  'kill -9 of a host holding claimed, unsettled payments: the others settle each exactly once',
  async () => {
    await simulator.default.setFailure(true);
    await simulator.fallback.setFailure(true);
    // The doomed host starts alone, so every payment is delivered to it and waits there.
    redis = await startRedis();
    const fleetEnv = (index: number) => ({ ...gatewayEnvFor(simulator), REDIS_URL: redis!.url, FLEET_SIZE: '3', INSTANCE_INDEX: String(index) });
    const doomed = await startGateway(fleetEnv(0));
    gateways.push(doomed);
    const accepted = await sendPayments(doomed, 120, '19.90', 20);
    expect(accepted).toHaveLength(120);
    // Every one was delivered to it and none acknowledged.
    const consumers = (await redis!.client().send('XINFO', ['CONSUMERS', KEYS.stream, GROUP])) as { name: string; pending: number }[];
    expect(consumers.map(({ name, pending }) => ({ name, pending }))).toEqual([{ name: 'host-0', pending: 120 }]);
    const survivors = await Promise.all([1, 2].map((index) => startGateway(fleetEnv(index))));
    gateways.push(...survivors);
    await doomed.child.stop('SIGKILL');
    await simulator.default.setFailure(false);
    await simulator.fallback.setFailure(false);
    await fleetSettled(survivors);
    const claimed = await Promise.all(survivors.map(async (gateway) => (await gateway.health()).redis.claimed as number));
    expect(claimed.reduce((a, b) => a + b, 0)).toBe(120);
    await expectEachSettledOnce(simulator, accepted);
    const summary = await expectConsistent(survivors[0]!, simulator);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(120);
    expect(await survivors[1]!.summary()).toEqual(summary);
  },
  90_000,
);

withRedis(
  'kill -9 of a host with calls in flight: a host that takes them over finds them in doubt, looks them up, counts each once',
  async () => {
    // Default answers after 1.5 s (and records even if the caller is gone): the doomed host's calls are in flight when it dies.
    await simulator.default.setDelay(1500);
    redis = await startRedis();
    const fleetEnv = (index: number) => ({ ...gatewayEnvFor(simulator), REDIS_URL: redis!.url, FLEET_SIZE: '2', INSTANCE_INDEX: String(index) });
    const doomed = await startGateway(fleetEnv(0));
    gateways.push(doomed);
    const accepted = await sendPayments(doomed, 40, '12.34', 20);
    await Bun.sleep(500);
    expect((await doomed.health()).processors.default.inflight).toBe(40);
    await doomed.child.stop('SIGKILL');
    await simulator.default.setDelay(0);
    const survivor = await startGateway(fleetEnv(1));
    gateways.push(survivor);
    await fleetSettled([survivor]);
    await expectEachSettledOnce(simulator, accepted);
    const summary = await expectConsistent(survivor, simulator);
    expect(summary.default.totalRequests).toBe(40);
    expect((await survivor.health()).redis.claimed).toBe(40);
  },
  60_000,
);

withRedis(
  "POST /purge-payments on one host forgets the fleet's payments, for every host",
  async () => {
    const [a, b] = await startFleet(2);
    await sendPayments(a!, 20);
    await fleetSettled([a!, b!]);
    expect((await b!.summary()).default.totalRequests).toBe(20);
    expect((await fetch(`${b!.url}/purge-payments`, { method: 'POST' })).status).toBe(200);
    const empty = { default: { totalRequests: 0, totalAmount: 0 }, fallback: { totalRequests: 0, totalAmount: 0 } };
    expect(await a!.summary()).toEqual(empty);
    expect(await b!.summary()).toEqual(empty);
    await simulator.default.purge();
    const after = await sendPayments(b!, 5);
    await fleetSettled([a!, b!]);
    await expectEachSettledOnce(simulator, after);
    expect((await expectConsistent(a!, simulator)).default.totalRequests).toBe(5);
  },
  60_000,
);

withRedis(
  'Redis restarted mid-run: 503 and /health say so while it is down, nothing accepted is lost, hosts reconnect',
  async () => {
    const fleet = await startFleet(2);
    const accepted: string[] = [];
    const refused: number[] = [];
    let running = true;
    const lane = async (gateway: GatewayProcess) => {
      while (running) {
        const id = crypto.randomUUID();
        const response = await gateway.pay(id, '19.90');
        const body = await response.text();
        if (response.status === 202) accepted.push(id);
        else {
          expect(response.status).toBe(503);
          expect(body).toContain('Redis');
          refused.push(response.status);
        }
        await Bun.sleep(2);
      }
    };
    const lanes = fleet.flatMap((gateway) => [lane(gateway), lane(gateway)]);
    await Bun.sleep(1000);
    await redis!.kill();
    await Bun.sleep(300);
    const health = await fleet[0]!.health();
    expect(health.status).toBe('redis-unreachable');
    expect(health.redis.connected).toBe(false);
    expect(health.redis.lastError).toBeString();
    expect((await fleet[1]!.pay(crypto.randomUUID(), '19.90')).status).toBe(503);
    await redis!.restart();
    const acceptedBefore = accepted.length;
    await Bun.sleep(2000);
    running = false;
    await Promise.all(lanes);
    // Reconnected: payments were accepted again after the restart.
    expect(accepted.length).toBeGreaterThan(acceptedBefore);
    expect(refused.length).toBeGreaterThan(0);
    expect((await fleet[0]!.health()).redis.connected).toBe(true);
    await fleetSettled(fleet);
    await expectEachSettledOnce(simulator, accepted);
    const summary = await expectConsistent(fleet[1]!, simulator);
    expect(summary.default.totalRequests + summary.fallback.totalRequests).toBe(accepted.length);
  },
  90_000,
);

withRedis(
  'one service-health call per interval per processor for the whole fleet, also when the polling host dies',
  async () => {
    const intervalMs = 1000;
    // A counting proxy in front of the simulator: every service-health call and its answer.
    const calls: { processor: string; status: number }[] = [];
    const proxies = (['default', 'fallback'] as const).map((processor) =>
      Bun.serve({
        port: 0,
        hostname: '127.0.0.1',
        async fetch(request) {
          const url = new URL(request.url);
          const target = simulator[processor].url + url.pathname + url.search;
          const response = await fetch(target, { method: request.method, headers: request.headers, body: request.body });
          if (url.pathname === '/payments/service-health') calls.push({ processor, status: response.status });
          return response;
        },
      }),
    );
    try {
      const processors = { ...gatewayEnvFor(simulator), DEFAULT_PROCESSOR_URL: proxies[0]!.url.origin, FALLBACK_PROCESSOR_URL: proxies[1]!.url.origin };
      const started = Date.now();
      const fleet = await startFleet(3, { HEALTH_INTERVAL_MS: String(intervalMs) }, processors);
      await Bun.sleep(3000);
      const holder = Number(((await redis!.client().send('GET', [KEYS.healthGate(0)])) as string | null)?.replace('host-', '') ?? 0);
      const beforeKill = calls.length;
      await fleet[holder]!.child.stop('SIGKILL');
      await Bun.sleep(3000);
      const elapsedMs = Date.now() - started;
      for (const processor of ['default', 'fallback']) {
        const mine = calls.filter((call) => call.processor === processor);
        expect(mine.length).toBeLessThanOrEqual(Math.floor(elapsedMs / intervalMs) + 1);
        expect(mine.filter((call) => call.status === 429)).toEqual([]);
      }
      // Polling went on after the handover.
      expect(calls.length).toBeGreaterThan(beforeKill);
    } finally {
      for (const proxy of proxies) proxy.stop(true);
    }
  },
  60_000,
);

withRedis(
  'summary script: exact for any window over three days of history (ms edges, minute and hour buckets)',
  async () => {
    redis = await startRedis();
    const client = new RedisClient(redis.url);
    try {
      await client.send('XGROUP', ['CREATE', KEYS.stream, GROUP, '0', 'MKSTREAM']);
      const base = Date.UTC(2026, 0, 1);
      const payments = Array.from({ length: 3000 }, (_, i) => ({
        id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        processor: i % 3 === 0 ? 1 : 0,
        // Clustered on bucket edges as well as spread over three days.
        requestedAt: i % 2 === 0 ? base + Math.floor(Math.random() * 3 * 86_400_000) : base + (i % 72) * 3_600_000 + (i % 5) - 2,
        cents: 1 + Math.floor(Math.random() * 1_000_000_000_000),
      }));
      for (const p of payments)
        await client.send('EVAL', [ACCEPT, '5', KEYS.ids, KEYS.stream, KEYS.purgedAt, KEYS.done, KEYS.donePrev, p.id, String(p.cents), '0']);
      // Delivered to one host, which settles them all (as the owner of their entries).
      await client.send('XREADGROUP', ['GROUP', GROUP, 'host-0', 'COUNT', '5000', 'STREAMS', KEYS.stream, '>']);
      await client.send('SET', [KEYS.epoch('host-0'), '1']);
      const logKeys = [KEYS.ids, KEYS.attempts, KEYS.stream, KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.epoch('host-0'), KEYS.done];
      const log = (...record: string[]) => client.send('EVAL', [LOG, String(logKeys.length), ...logKeys, GROUP, 'host-0', '1', ...record]);
      for (const p of payments) expect(await log('s', String(p.processor), p.id, String(p.cents), String(p.requestedAt))).toEqual([1]);
      // A second outcome for a settled payment is refused, not counted again.
      const first = payments[0]!;
      expect(await log('s', '0', first.id, String(first.cents), String(first.requestedAt))).toEqual([0]);
      const summaryKeys = [KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.foldedBelow];
      const check = async (from: number | null, to: number | null) => {
        const reply = (await client.send('EVAL', [SUMMARY, String(summaryKeys.length), ...summaryKeys, String(from ?? ''), String(to ?? '')])) as number[];
        const expected = [0, 1].map((processor) => {
          const inWindow = payments.filter(
            (p) => p.processor === processor && (from === null || to === null || (p.requestedAt >= from && p.requestedAt <= to)),
          );
          return [inWindow.length, inWindow.reduce((sum, p) => sum + BigInt(p.cents), 0n)];
        });
        const got = [0, 1].map((processor) => [reply[processor * 3]!, BigInt(reply[processor * 3 + 1]!) * 1_000_000_000n + BigInt(reply[processor * 3 + 2]!)]);
        expect(got).toEqual(expected);
      };
      await check(null, null);
      for (let i = 0; i < 200; i++) {
        const a = base - 1000 + Math.floor(Math.random() * (3 * 86_400_000 + 2000));
        const b = i % 4 === 0 ? a + Math.floor(Math.random() * 3000) : base + Math.floor(Math.random() * 3 * 86_400_000);
        await check(Math.min(a, b), Math.max(a, b));
      }
      for (const p of payments.slice(0, 20)) await check(p.requestedAt, p.requestedAt);
      await check(Date.UTC(1970, 0, 1), Date.UTC(2100, 0, 1));
    } finally {
      client.close();
    }
  },
  60_000,
);

withRedis(
  "LOG writes a payment's state only for the process that owns its entry now (fencing), per record",
  async () => {
    redis = await startRedis();
    const client = redis.client();
    await client.send('XGROUP', ['CREATE', KEYS.stream, GROUP, '0', 'MKSTREAM']);
    const ids = Array.from({ length: 4 }, () => crypto.randomUUID());
    for (const id of ids) await client.send('EVAL', [ACCEPT, '5', KEYS.ids, KEYS.stream, KEYS.purgedAt, KEYS.done, KEYS.donePrev, id, '1990', '0']);
    await client.send('XREADGROUP', ['GROUP', GROUP, 'host-0', 'COUNT', '4', 'STREAMS', KEYS.stream, '>']);
    await client.send('SET', [KEYS.epoch('host-0'), '2']);
    await client.send('SET', [KEYS.epoch('host-1'), '1']);
    const log = (consumer: string, epoch: string, ...records: string[]) => {
      const keys = [KEYS.ids, KEYS.attempts, KEYS.stream, KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.epoch(consumer), KEYS.done];
      return client.send('EVAL', [LOG, String(keys.length), ...keys, GROUP, consumer, epoch, ...records]);
    };
    // The owner, with its current epoch: written; another consumer, or the owner's previous process: refused.
    expect(await log('host-0', '2', 'a', '0', ids[0]!, '1990', '1000', 'a', '0', ids[1]!, '1990', '1001')).toEqual([1, 1]);
    expect(await log('host-1', '1', 'a', '1', ids[0]!, '1990', '2000', 's', '1', ids[1]!, '1990', '2001')).toEqual([0, 0]);
    expect(await log('host-0', '1', 'a', '1', ids[2]!, '1990', '3000')).toEqual([0]);
    // Every call written is kept, not only the last.
    expect(await log('host-0', '2', 'a', '1', ids[0]!, '1990', '1002')).toEqual([1]);
    expect(await client.send('HGET', [KEYS.attempts, ids[0]!])).toBe('0:1000,1:1002');
    // Taken over by host-1 (as CLAIM does): host-0 may write nothing more for it, host-1 may.
    const [entry] = (await client.send('XPENDING', [KEYS.stream, GROUP, '-', '+', '1', 'host-0'])) as [string][];
    await client.send('XCLAIM', [KEYS.stream, GROUP, 'host-1', '0', entry![0]]);
    expect(await log('host-0', '2', 's', '0', ids[0]!, '1990', '1000')).toEqual([0]);
    // Found at default with host-0's earlier call: the fleet's own call, counted (not dropped as another sender's).
    expect(await log('host-1', '1', 'd', '0', ids[0]!, '1990', '1000')).toEqual([1]);
    expect(await client.send('SISMEMBER', [KEYS.done, ids[0]!])).toBe(1);
    expect(await client.send('HGET', [KEYS.total, 'c0'])).toBe('1');
    // A settled payment: refused to everyone.
    expect(await log('host-1', '1', 'a', '1', ids[0]!, '1990', '4000')).toEqual([0]);
    // Found with a requestedAt nobody in the fleet wrote: dropped, not counted.
    expect(await log('host-0', '2', 'd', '0', ids[1]!, '1990', '999')).toEqual([1]);
    expect(await client.send('SISMEMBER', [KEYS.done, ids[1]!])).toBe(1);
    expect(await client.send('HGET', [KEYS.total, 'c0'])).toBe('1');
  },
  30_000,
);

withRedis(
  'FOLD bounds memory by time: entries older than the horizon leave (their second still counts), settled ids are forgotten after two rotations',
  async () => {
    redis = await startRedis();
    const client = redis.client();
    await client.send('XGROUP', ['CREATE', KEYS.stream, GROUP, '0', 'MKSTREAM']);
    await client.send('SET', [KEYS.epoch('host-0'), '1']);
    const second = Math.floor((Date.now() - 2 * 3_600_000) / 1000) * 1000;
    const recent = Date.now() - 60_000;
    const payments = [
      { id: crypto.randomUUID(), requestedAt: second + 500 },
      { id: crypto.randomUUID(), requestedAt: second + 900 },
      { id: crypto.randomUUID(), requestedAt: recent },
      { id: crypto.randomUUID(), requestedAt: recent + 7 },
    ];
    const accept = (id: string) => client.send('EVAL', [ACCEPT, '5', KEYS.ids, KEYS.stream, KEYS.purgedAt, KEYS.done, KEYS.donePrev, id, '1000', '0']);
    for (const p of payments) expect(await accept(p.id)).toBe(1);
    await client.send('XREADGROUP', ['GROUP', GROUP, 'host-0', 'COUNT', '10', 'STREAMS', KEYS.stream, '>']);
    const logKeys = [KEYS.ids, KEYS.attempts, KEYS.stream, KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.epoch('host-0'), KEYS.done];
    for (const p of payments)
      await client.send('EVAL', [LOG, String(logKeys.length), ...logKeys, GROUP, 'host-0', '1', 's', '0', p.id, '1000', String(p.requestedAt)]);
    const fold = (horizonMs: number) =>
      client.send('EVAL', [FOLD, '5', KEYS.done, KEYS.donePrev, KEYS.entries, KEYS.rotatedAt, KEYS.foldedBelow, String(horizonMs)]);
    const count = async (from: number, to: number) => {
      const keys = [KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.foldedBelow];
      return ((await client.send('EVAL', [SUMMARY, String(keys.length), ...keys, String(from), String(to)])) as number[])[0];
    };
    expect(await count(second + 400, second + 600)).toBe(1);
    expect(await fold(3_600_000)).toBe(0);
    // The two-hour-old entries are folded: a window edge in their second counts the whole second.
    expect(await client.send('ZCARD', [KEYS.entries])).toBe(2);
    expect(await count(second + 400, second + 600)).toBe(2);
    expect(await count(second, recent + 7)).toBe(4);
    // Within the horizon: exact to the millisecond.
    expect(await count(recent + 1, recent + 7)).toBe(1);
    // Settled ids are still known (no second acceptance) through one rotation, forgotten after two.
    await Bun.sleep(5);
    expect(await fold(1)).toBe(1);
    for (const p of payments) expect(await accept(p.id)).toBe(0);
    await Bun.sleep(5);
    expect(await fold(1)).toBe(1);
    expect(await accept(payments[0]!.id)).toBe(1);
    expect(await client.send('EXISTS', [KEYS.done])).toBe(0);
    expect(await client.send('ZCARD', [KEYS.entries])).toBe(0);
  },
  30_000,
);
