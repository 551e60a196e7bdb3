/**
 * Raw keep-alive HTTP/1.1 client over Bun TCP sockets.
 *
 * One HttpConnection = one socket with at most one request in flight. The
 * socket is opened lazily, reused while the server keeps it alive, and
 * reopened after a close, an error or a timeout. Latency is measured from
 * just before the first byte of the request is written to the moment the
 * last byte of the response has been parsed (connection setup excluded, as
 * in k6's http_req_duration); the timeout budget covers connecting too.
 */
import type { Socket } from 'bun';
import { DONE, ERROR, ResponseParser } from './response-parser.ts';

export const OUTCOME_RESPONSE = 0;
export const OUTCOME_TIMEOUT = 1;
export const OUTCOME_ERROR = 2;
export type Outcome = typeof OUTCOME_RESPONSE | typeof OUTCOME_TIMEOUT | typeof OUTCOME_ERROR;

export interface HttpResult {
  outcome: Outcome;
  /** HTTP status, 0 when no response. */
  status: number;
  /**
   * Milliseconds from first write to complete response; equals the timeout
   * for timeouts; -1 when the request was never written (connect failure).
   */
  latencyMs: number;
  /** Response body when requested, otherwise null. */
  body: Uint8Array | null;
  error: string | null;
}

export type ResultCallback = (result: HttpResult) => void;

export interface Endpoint {
  hostname: string;
  port: number;
  /** Host header value. */
  host: string;
}

/** Parses "http://host:port/..." into an endpoint (http only). */
export function parseEndpoint(url: string): Endpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid URL: ${url}`);
  }
  if (u.protocol !== 'http:') throw new Error(`only http:// URLs are supported: ${url}`);
  let hostname = u.hostname;
  if (hostname.startsWith('[') && hostname.endsWith(']')) hostname = hostname.slice(1, -1);
  // avoid resolver work and ::1-vs-127.0.0.1 surprises
  if (hostname === 'localhost') hostname = '127.0.0.1';
  const port = u.port === '' ? 80 : Number.parseInt(u.port, 10);
  return { hostname, port, host: u.host };
}

interface SocketCtx {
  conn: HttpConnection;
  /** Connect attempt this socket belongs to (stale attempts are dropped). */
  attempt: number;
}

const handlers = {
  binaryType: 'uint8array' as const,
  open(socket: Socket<SocketCtx>): void {
    socket.data.conn.onOpen(socket);
  },
  data(socket: Socket<SocketCtx>, data: Uint8Array): void {
    socket.data.conn.onData(socket, data);
  },
  drain(socket: Socket<SocketCtx>): void {
    socket.data.conn.onDrain(socket);
  },
  close(socket: Socket<SocketCtx>, error?: Error): void {
    socket.data.conn.onClose(socket, error);
  },
  end(socket: Socket<SocketCtx>): void {
    socket.data.conn.onEnd(socket);
  },
  error(socket: Socket<SocketCtx>, error: Error): void {
    // a handler threw (a bug) or the transport failed: never leave a request hanging
    socket.data.conn.onClose(socket, error);
    socket.terminate();
  },
  connectError(socket: Socket<SocketCtx>, error: Error): void {
    socket.data.conn.onConnectError(socket.data.attempt, error);
  },
};

let connectionsOpened = 0;
/** Total sockets opened by all HttpConnections in this process. */
export function totalConnectionsOpened(): number {
  return connectionsOpened;
}

export class HttpConnection {
  readonly endpoint: Endpoint;
  /** Sockets opened by this connection over its lifetime. */
  opened = 0;

  private socket: Socket<SocketCtx> | null = null;
  private connecting = false;
  private attempt = 0;
  private readonly parser = new ResponseParser();

  // current request
  private busy = false;
  private req: Uint8Array | null = null;
  private written = 0;
  private wantBody = false;
  private cb: ResultCallback | null = null;
  private startMs = -1;
  private timeoutMs = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly onTimeoutBound = (): void => this.onTimeout();

  constructor(endpoint: Endpoint) {
    this.endpoint = endpoint;
  }

  get inFlight(): boolean {
    return this.busy;
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  /**
   * Sends `req` (complete request bytes, not modified until the callback
   * runs) and calls `cb` exactly once with the outcome.
   */
  send(req: Uint8Array, wantBody: boolean, timeoutMs: number, cb: ResultCallback): void {
    if (this.busy) throw new Error('HttpConnection: request already in flight');
    this.busy = true;
    this.req = req;
    this.written = 0;
    this.wantBody = wantBody;
    this.cb = cb;
    this.startMs = -1;
    this.timeoutMs = timeoutMs;
    this.parser.reset(wantBody);
    this.timer = setTimeout(this.onTimeoutBound, timeoutMs);
    if (this.socket !== null) {
      this.writeMore(this.socket);
    } else if (!this.connecting) {
      this.connect();
    }
  }

  /** Promise flavour of send(), for non-hot-path callers. */
  request(req: Uint8Array, wantBody: boolean, timeoutMs: number): Promise<HttpResult> {
    return new Promise((resolve) => this.send(req, wantBody, timeoutMs, resolve));
  }

  /** Closes the socket; an in-flight request fails with an error. */
  close(): void {
    const s = this.socket;
    this.socket = null;
    if (s !== null) s.end();
    if (this.busy) this.finish(OUTCOME_ERROR, 0, 'connection closed by client');
  }

  private connect(): void {
    this.connecting = true;
    const attempt = ++this.attempt;
    Bun.connect<SocketCtx>({
      hostname: this.endpoint.hostname,
      port: this.endpoint.port,
      data: { conn: this, attempt },
      socket: handlers,
    }).then(
      () => undefined,
      (err: unknown) => this.onConnectError(attempt, err instanceof Error ? err : new Error(String(err))),
    );
  }

  onOpen(socket: Socket<SocketCtx>): void {
    if (!this.connecting || socket.data.attempt !== this.attempt) {
      // stale attempt (its request timed out while connecting): drop it
      socket.end();
      return;
    }
    this.connecting = false;
    this.socket = socket;
    this.opened++;
    connectionsOpened++;
    socket.setNoDelay(true);
    if (this.busy && this.written === 0) this.writeMore(socket);
  }

  onConnectError(attempt: number, error: Error): void {
    if (!this.connecting || attempt !== this.attempt) return;
    this.connecting = false;
    if (this.busy) this.finish(OUTCOME_ERROR, 0, `connect failed: ${describeError(error)}`);
  }

  private writeMore(socket: Socket<SocketCtx>): void {
    const req = this.req;
    if (req === null) return;
    if (this.written === 0) this.startMs = performance.now();
    const n = socket.write(req, this.written, req.length - this.written);
    if (n < 0) {
      this.dropSocket(socket);
      this.finish(OUTCOME_ERROR, 0, 'write on closed socket');
      return;
    }
    this.written += n;
    // remaining bytes (if any) are sent from onDrain
  }

  onDrain(socket: Socket<SocketCtx>): void {
    if (socket !== this.socket || !this.busy || this.req === null) return;
    if (this.written < this.req.length) this.writeMore(socket);
  }

  onData(socket: Socket<SocketCtx>, data: Uint8Array): void {
    if (socket !== this.socket) return;
    if (!this.busy) {
      // unsolicited bytes on an idle keep-alive connection: not HTTP we understand
      this.dropSocket(socket);
      return;
    }
    const r = this.parser.feed(data);
    if (r === DONE) {
      const status = this.parser.status;
      if (!this.parser.keepAlive || this.parser.trailingGarbage) this.dropSocket(socket);
      this.finish(OUTCOME_RESPONSE, status, null);
    } else if (r === ERROR) {
      this.dropSocket(socket);
      this.finish(OUTCOME_ERROR, this.parser.status, `bad response: ${this.parser.error ?? '?'}`);
    }
  }

  onEnd(socket: Socket<SocketCtx>): void {
    // peer sent FIN; with allowHalfOpen=false the close event follows
    this.onClose(socket, undefined);
  }

  onClose(socket: Socket<SocketCtx>, error: Error | undefined): void {
    if (socket !== this.socket) return;
    this.socket = null;
    if (!this.busy) return;
    if (this.parser.finishOnClose() === DONE) {
      this.finish(OUTCOME_RESPONSE, this.parser.status, null);
    } else {
      const why = error !== undefined ? describeError(error) : (this.parser.error ?? 'connection closed');
      this.finish(OUTCOME_ERROR, this.parser.status, why);
    }
  }

  private onTimeout(): void {
    this.timer = null;
    if (!this.busy) return;
    // close and reopen on the next request
    if (this.socket !== null) {
      const s = this.socket;
      this.socket = null;
      s.terminate();
    }
    this.connecting = false;
    this.attempt++; // a connect still in progress is now stale
    this.finish(OUTCOME_TIMEOUT, 0, `no response within ${this.timeoutMs} ms`);
  }

  private dropSocket(socket: Socket<SocketCtx>): void {
    if (this.socket === socket) this.socket = null;
    socket.end();
  }

  private finish(outcome: Outcome, status: number, error: string | null): void {
    const now = performance.now();
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    let latencyMs: number;
    if (outcome === OUTCOME_TIMEOUT) latencyMs = this.timeoutMs;
    else if (this.startMs < 0) latencyMs = -1;
    else latencyMs = now - this.startMs;
    const body = outcome === OUTCOME_RESPONSE && this.wantBody ? this.parser.body() : null;
    const cb = this.cb;
    this.busy = false;
    this.req = null;
    this.cb = null;
    if (cb !== null) cb({ outcome, status, latencyMs, body, error });
  }
}

function describeError(error: Error): string {
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}

/**
 * A small pool of keep-alive connections for occasional control traffic
 * (summaries, purges, admin calls). Not used on the payment hot path.
 */
export class ConnectionPool {
  readonly endpoint: Endpoint;
  private readonly idle: HttpConnection[] = [];
  private readonly all = new Set<HttpConnection>();

  constructor(endpoint: Endpoint) {
    this.endpoint = endpoint;
  }

  async request(req: Uint8Array, wantBody: boolean, timeoutMs: number): Promise<HttpResult> {
    const conn = this.idle.pop() ?? new HttpConnection(this.endpoint);
    this.all.add(conn);
    const result = await conn.request(req, wantBody, timeoutMs);
    this.idle.push(conn);
    return result;
  }

  close(): void {
    for (const c of this.all) c.close();
    this.all.clear();
    this.idle.length = 0;
  }
}
