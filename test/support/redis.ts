import { RedisClient } from 'bun';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-redis-'));
  let port = 0;
  for (let candidate = 6390; candidate <= 6399 && port === 0; candidate++) if (await portFree(candidate)) port = candidate;
  if (port === 0) throw new Error('no free port in 6390-6399 for redis-server');
  let child: Child;
  const launch = async () => {
    child = spawnChild(
      [REDIS_SERVER!, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir],
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
    async stop() {
      for (const client of clients) client.close();
      await child.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
