import { RedisClient } from 'bun';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { spawnChild, type Child } from './process.ts';

/** The redis-server binary, or null when it is not installed (tests that need it are skipped). */
export const REDIS_SERVER = Bun.which('redis-server');

/**
 * A real redis-server with append-only persistence in a directory of its own, on a free port of
 * 6390-6399 (the range these tests may use). `restart` kills it with SIGKILL (as a crash would)
 * and starts it again on the same data.
 */
export interface RedisServer {
  url: string;
  port: number;
  client(): RedisClient;
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: Redis keeps its connections open and answers nothing meanwhile (a hung server). */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } });
    socket.end();
    return false;
  } catch {
    return true;
  }
}

/** `replicaOf`: the port of a primary this one replicates (asynchronously, as Redis does). */
export async function startRedis(options: { replicaOf?: number } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-redis-'));
  let port = 0;
  for (let candidate = 6390; candidate <= 6399 && port === 0; candidate++) if (await portFree(candidate)) port = candidate;
  if (port === 0) throw new Error('no free port in 6390-6399 for redis-server');
  let child: Child;
  const launch = async () => {
    child = spawnChild(
      [
        REDIS_SERVER!,
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir],
        // A replica syncs at once (not after the default 5 s gathering delay).
        ...['--repl-diskless-sync-delay', '0'],
        ...(options.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(options.replicaOf)]),
      ],
      {},
      'redis-server',
    );
    await child.waitFor(/Ready to accept connections/);
  };
  await launch();
  const clients: RedisClient[] = [];
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client() {
      const client = new RedisClient(`redis://127.0.0.1:${port}`);
      clients.push(client);
      return client;
    },
    async kill() {
      await child.stop('SIGKILL');
    },
    async restart() {
      await launch();
    },
    pause() {
      child.proc.kill('SIGSTOP');
    },
    resume() {
      child.proc.kill('SIGCONT');
    },
    async stop() {
      child.proc.kill('SIGCONT');
      for (const client of clients) client.close();
      await child.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP proxy in front of Redis, for network faults: `cutReplies(ms)` drops every byte Redis sends
 * to the proxy's clients for that long, then breaks the connections that lost some (replies lost
 * on the way, as behind a flapping link); requests still reach Redis, so it carries out commands
 * whose replies never arrive.
 */
export interface RedisProxy {
  url: string;
  port: number;
  cutReplies(ms: number): void;
  /** Sends new connections to another Redis and breaks the current ones (a failover behind one address). */
  retarget(target: RedisServer): void;
  stop(): void;
}

export async function startRedisProxy(first: RedisServer): Promise<RedisProxy> {
  let target = first;
  let cutUntil = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket; lost: boolean }>();
  const server = createServer((client) => {
    const pair = { client, upstream: connect(target.port, '127.0.0.1'), lost: false };
    pairs.add(pair);
    pair.upstream.on('data', (bytes) => {
      if (Date.now() < cutUntil) pair.lost = true;
      else client.write(bytes);
    });
    client.on('data', (bytes) => pair.upstream.write(bytes));
    const close = () => {
      client.destroy();
      pair.upstream.destroy();
      pairs.delete(pair);
    };
    client.on('close', close).on('error', close);
    pair.upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    cutReplies(ms) {
      cutUntil = Date.now() + ms;
      // A TCP connection cannot lose bytes and go on: one that lost some breaks when the cut ends.
      setTimeout(() => {
        for (const pair of pairs) if (pair.lost) pair.client.destroy();
      }, ms);
    },
    retarget(next) {
      target = next;
      for (const pair of pairs) pair.client.destroy();
    },
    stop() {
      server.close();
      for (const pair of pairs) pair.client.destroy();
    },
  };
}

/** Every payment in the fleet's stream is acknowledged (settled or dropped) and no live host holds one. */
export async function fleetSettled(redis: RedisServer, live: { settled(): Promise<void> }[], timeoutMs = 60_000): Promise<void> {
  const client = redis.client();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [group] = (await client.send('XINFO', ['GROUPS', '{gw}:stream'])) as { pending: number; lag: number | null }[];
    if (group && group.pending === 0 && group.lag === 0) break;
    if (Date.now() > deadline) throw new Error(`fleet not settled: ${JSON.stringify(group)}`);
    await Bun.sleep(100);
  }
  for (const gateway of live) await gateway.settled();
}
