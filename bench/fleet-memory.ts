import { startRedis } from '../test/support/redis.ts';
import { ACCEPT, FOLD, GROUP, KEYS, LOG, TRIM } from '../src/fleet/scripts.ts';

/**
 * Bytes Redis keeps per settled payment in fleet mode (`bun bench/fleet-memory.ts`): N payments
 * accepted, delivered, settled through the real scripts, requestedAts spread over the last hour,
 * the stream trimmed; then after two horizons (FOLD with a 1 ms horizon, twice). INFO memory
 * before and after, and MEMORY USAGE of each key. Needs redis-server.
 */
const N = 20_000;
const redis = await startRedis();
const client = redis.client();
const used = async () => Number(/used_memory:(\d+)/.exec(String(await client.send('INFO', ['memory'])))![1]);
const usage = async (keys: string[]) => Object.fromEntries(await Promise.all(keys.map(async (key) => [key, await client.send('MEMORY', ['USAGE', key])])));
try {
  await client.send('XGROUP', ['CREATE', KEYS.stream, GROUP, '0', 'MKSTREAM']);
  await client.send('SET', [KEYS.epoch('host-0'), '1']);
  const base = await used();
  const ids = Array.from({ length: N }, () => crypto.randomUUID());
  const acceptKeys = [KEYS.ids, KEYS.stream, KEYS.purgedAt, KEYS.done, KEYS.donePrev];
  for (const id of ids) await client.send('EVAL', [ACCEPT, String(acceptKeys.length), ...acceptKeys, id, '1990', String(Date.now())]);
  await client.send('XREADGROUP', ['GROUP', GROUP, 'host-0', 'COUNT', String(N), 'STREAMS', KEYS.stream, '>']);
  const logKeys = [KEYS.ids, KEYS.attempts, KEYS.stream, KEYS.entries, ...KEYS.levels, KEYS.total, KEYS.epoch('host-0'), KEYS.done];
  const hourAgo = Date.now() - 3_600_000;
  for (let i = 0; i < N; i += 100) {
    const records = ids.slice(i, i + 100).flatMap((id, j) => ['s', String((i + j) % 2), id, '1990', String(hourAgo + Math.floor(((i + j) * 3_600_000) / N))]);
    await client.send('EVAL', [LOG, String(logKeys.length), ...logKeys, GROUP, 'host-0', '1', ...records]);
  }
  await client.send('EVAL', [TRIM, '1', KEYS.stream, GROUP]);
  const keys = [KEYS.ids, KEYS.done, KEYS.donePrev, KEYS.entries, ...KEYS.levels, KEYS.stream];
  console.log(`within the horizon: ${Math.round(((await used()) - base) / N)} B per payment`, await usage(keys));
  const foldKeys = [KEYS.done, KEYS.donePrev, KEYS.entries, KEYS.rotatedAt, KEYS.foldedBelow];
  for (let i = 0; i < 3; i++) {
    await client.send('EVAL', [FOLD, String(foldKeys.length), ...foldKeys, '1']);
    await Bun.sleep(5);
  }
  console.log(`two horizons later: ${Math.round(((await used()) - base) / N)} B per payment`, await usage(keys));
} finally {
  await redis.stop();
}
