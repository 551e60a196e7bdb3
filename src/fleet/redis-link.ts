import type { RedisClient } from 'bun';

/**
 * One connection to the fleet's Redis (Bun's built-in client, which pipelines concurrent
 * commands on one socket). Commands fail at once while Redis is unreachable instead of waiting in
 * an offline queue: a payment must get a 503 then, never a 202 whose write is still pending. The
 * link reconnects by itself, at most every RECONNECT_MS, when a command finds it closed.
 */
const RECONNECT_MS = 250;

export interface LinkStatus {
  connected: boolean;
  /** Why the last command failed, while it is not connected. */
  lastError: string | null;
  /** Epoch ms since when it is unreachable, or null. */
  downSince: number | null;
}

export class RedisLink {
  private client: RedisClient;
  private connecting: Promise<void> | null = null;
  private lastAttemptAt = 0;
  private lastError: string | null = null;
  private downSince: number | null = null;
  private readonly shas = new Map<string, string>();

  constructor(private readonly url: string) {
    this.client = this.newClient();
  }

  private newClient(): RedisClient {
    // The global rather than an import of 'bun': the Node build (tools/build-node.ts) bundles this
    // module too, and must load without Bun as long as REDIS_URL is not set.
    if (typeof Bun === 'undefined') throw new Error('fleet mode (REDIS_URL) needs the Bun runtime: its built-in RedisClient');
    return new Bun.RedisClient(this.url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 2000 });
  }

  /** Resolves once connected; rejects while Redis cannot be reached (tried again at most every RECONNECT_MS). */
  connect(): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    if (this.connecting) return this.connecting;
    const now = Date.now();
    if (now - this.lastAttemptAt < RECONNECT_MS) return Promise.reject(new Error(`redis unreachable: ${this.lastError ?? 'connecting'}`));
    this.lastAttemptAt = now;
    // A fresh client per attempt: a client whose connection failed keeps failing on some versions.
    this.client.close();
    this.client = this.newClient();
    this.connecting = this.client.connect().then(
      () => {
        this.connecting = null;
        this.lastError = null;
        this.downSince = null;
      },
      (error: unknown) => {
        this.connecting = null;
        throw this.failed(error);
      },
    );
    return this.connecting;
  }

  /** One command; rejects when Redis cannot be reached or answers an error. */
  async send(command: string, args: string[]): Promise<unknown> {
    if (!this.client.connected) await this.connect();
    try {
      return await this.client.send(command, args);
    } catch (error) {
      if (!this.client.connected) throw this.failed(error);
      throw error;
    }
  }

  /** Runs a Lua script by its SHA1, loading it on first use and after a Redis restart (NOSCRIPT). */
  async eval(script: string, keys: string[], args: string[]): Promise<unknown> {
    let sha = this.shas.get(script);
    if (sha === undefined) {
      sha = String(await this.send('SCRIPT', ['LOAD', script]));
      this.shas.set(script, sha);
    }
    try {
      return await this.send('EVALSHA', [sha, String(keys.length), ...keys, ...args]);
    } catch (error) {
      if (!String(error).includes('NOSCRIPT')) throw error;
      return this.send('EVAL', [script, String(keys.length), ...keys, ...args]);
    }
  }

  private failed(error: unknown): Error {
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = message;
    this.downSince ??= Date.now();
    return new Error(`redis unreachable: ${message}`);
  }

  status(): LinkStatus {
    return {
      connected: this.client.connected,
      lastError: this.client.connected ? null : this.lastError,
      downSince: this.client.connected ? null : this.downSince,
    };
  }

  close(): void {
    this.client.close();
  }
}
