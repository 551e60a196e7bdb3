import type { RedisClient } from 'bun';

/**
 * One connection to the fleet's Redis (Bun's built-in client, which pipelines concurrent
 * commands on one socket). Commands fail at once while Redis is unreachable instead of waiting in
 * an offline queue: a payment must get a 503 then, never a 202 whose write is still pending.
 *
 * Bun's client has no command timeout and no TCP keepalive, so the link adds them: every command
 * (and every connection attempt) races a timer of `timeoutMs`; one that loses closes the
 * connection, as a silent peer (a hung Redis, a dead link) would never answer on it again, and
 * every other command waiting on it fails with it. The hosts' traffic (lease renewal every second,
 * the reader's blocking read every 200 ms) is the keepalive: a dead connection is found within a
 * timeout. Reconnection is attempted when a command finds the link closed, at most once per
 * backoff period (doubling from RECONNECT_MIN_MS to RECONNECT_MAX_MS, with jitter, so hosts do
 * not reconnect in step).
 */
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 500;
/** The error rate /health reads is over this window (two halves, so it slides). */
const ERROR_WINDOW_MS = 2000;
/** At least this share of commands failing in the window: the link is failing. */
const FAILING_ERROR_RATE = 0.1;
export const DEFAULT_COMMAND_TIMEOUT_MS = 500;

export interface LinkStatus {
  connected: boolean;
  /** Connected, but at least FAILING_ERROR_RATE of its recent commands failed (error replies, timeouts). */
  failing: boolean;
  /** Why the last command failed, while it is not connected or failing. */
  lastError: string | null;
  /** Epoch ms since when it is unreachable, or null. */
  downSince: number | null;
}

export class RedisLink {
  private client: RedisClient;
  private connecting: Promise<void> | null = null;
  private nextAttemptAt = 0;
  private consecutiveFailures = 0;
  private lastError: string | null = null;
  private downSince: number | null = null;
  private readonly shas = new Map<string, string>();
  private waitInFlight: Promise<void> | null = null;
  private waitNext: Promise<void> | null = null;
  /** Commands that succeeded and failed in the current and the previous half window. */
  private readonly window = { startedAt: 0, ok: 0, errors: 0, previousOk: 0, previousErrors: 0 };

  constructor(
    private readonly url: string,
    private readonly timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ) {
    this.client = this.newClient();
  }

  private newClient(): RedisClient {
    // The global rather than an import of 'bun': the Node build (tools/build-node.ts) bundles this
    // module too, and must load without Bun as long as REDIS_URL is not set.
    if (typeof Bun === 'undefined') throw new Error('fleet mode (REDIS_URL) needs the Bun runtime: its built-in RedisClient');
    return new Bun.RedisClient(this.url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: this.timeoutMs });
  }

  /** Resolves once connected; rejects while Redis cannot be reached (tried again once per backoff period). */
  connect(): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    if (this.connecting) return this.connecting;
    const now = Date.now();
    if (now < this.nextAttemptAt) return Promise.reject(new Error(`redis unreachable: ${this.lastError ?? 'connecting'}`));
    // A fresh client per attempt: a client whose connection failed keeps failing on some versions.
    this.client.close();
    const client = this.newClient();
    this.client = client;
    this.connecting = this.withTimeout(client, client.connect(), 'connect').then(
      () => {
        this.connecting = null;
        this.consecutiveFailures = 0;
        this.lastError = null;
        this.downSince = null;
      },
      (error: unknown) => {
        this.connecting = null;
        throw this.unreachable(error);
      },
    );
    return this.connecting;
  }

  /** One command; rejects when Redis cannot be reached, does not answer within the timeout, or answers an error. */
  async send(command: string, args: string[], timeoutMs = this.timeoutMs): Promise<unknown> {
    if (!this.client.connected) await this.connect();
    const client = this.client;
    try {
      const reply = await this.withTimeout(client, client.send(command, args), command, timeoutMs);
      this.count(true);
      return reply;
    } catch (error) {
      this.count(false);
      if (!client.connected) throw this.unreachable(error);
      this.lastError = error instanceof Error ? error.message : String(error);
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

  /**
   * Resolves once `replicas` replicas acknowledged every write this connection made before the
   * call (WAIT); rejects when fewer did within `timeoutMs`. WAIT blocks the connection while it
   * waits, so one is in flight at a time: callers that come while one is in flight (it may have
   * been sent before their write) share the next, sent when it ends.
   */
  replicated(replicas: number, timeoutMs: number): Promise<void> {
    if (this.waitInFlight === null) {
      const wait = this.send('WAIT', [String(replicas), String(timeoutMs)], timeoutMs + this.timeoutMs).then((acked) => {
        if (Number(acked) < replicas) throw new Error(`written, but acknowledged by ${acked} of ${replicas} replicas within ${timeoutMs} ms`);
      });
      this.waitInFlight = wait;
      const done = () => {
        this.waitInFlight = null;
      };
      wait.then(done, done);
      return wait;
    }
    this.waitNext ??= this.waitInFlight
      .catch(() => undefined)
      .then(() => {
        this.waitNext = null;
        return this.replicated(replicas, timeoutMs);
      });
    return this.waitNext;
  }

  /** `pending`, or a rejection after `timeoutMs` that also closes the connection (no reply will come on it in order any more). */
  private withTimeout<T>(client: RedisClient, pending: Promise<T>, what: string, timeoutMs = this.timeoutMs): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        client.close();
        reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    return Promise.race([pending, expired]).finally(() => clearTimeout(timer));
  }

  private unreachable(error: unknown): Error {
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = message;
    this.downSince ??= Date.now();
    const backoff = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.consecutiveFailures++);
    this.nextAttemptAt = Date.now() + backoff * (0.5 + Math.random() / 2);
    return new Error(`redis unreachable: ${message}`);
  }

  private count(ok: boolean): void {
    const window = this.window;
    const now = Date.now();
    if (now - window.startedAt >= ERROR_WINDOW_MS / 2) {
      const stale = now - window.startedAt >= ERROR_WINDOW_MS;
      window.previousOk = stale ? 0 : window.ok;
      window.previousErrors = stale ? 0 : window.errors;
      window.ok = 0;
      window.errors = 0;
      window.startedAt = now;
    }
    if (ok) window.ok++;
    else window.errors++;
  }

  status(): LinkStatus {
    const connected = this.client.connected;
    const window = this.window;
    const fresh = Date.now() - window.startedAt < ERROR_WINDOW_MS;
    const errors = fresh ? window.errors + window.previousErrors : 0;
    const total = fresh ? errors + window.ok + window.previousOk : 0;
    const failing = connected && errors > 0 && errors >= total * FAILING_ERROR_RATE;
    return {
      connected,
      failing,
      lastError: connected && !failing ? null : this.lastError,
      downSince: connected ? null : this.downSince,
    };
  }

  close(): void {
    this.client.close();
  }
}
