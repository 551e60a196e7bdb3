import net from 'node:net';
import { centsToAmountText } from '../ledger/money.ts';
import type { HealthOutcome, LookupOutcome, PayOutcome, ProcessorApi, ProcessorClientOptions } from './client.ts';

/**
 * The processor client of client.ts (same API, same outcomes) over raw keep-alive HTTP/1.1
 * sockets (node:net, so it runs on Node and Bun alike).
 *
 * - Up to `connections` sockets, ONE exchange in flight per socket (no pipelining: a slow answer
 *   stalls only its own socket). Idle sockets are reused last-in first-out, so the hot ones stay
 *   warm and the rest age out; more requests than sockets wait in a FIFO queue.
 * - Nothing is ever sent twice. A request counts as sent once its bytes were handed to a connected
 *   socket; from then on any failure without a status (timeout, reset, the server closing an
 *   idle-looking socket just as we wrote to it) is 'unknown' (maybe recorded). Only a request that
 *   was never written (the connect failed or timed out, or it timed out in the queue) is 'rejected'.
 * - A failure after the status line and headers arrived is decided by the status, as client.ts
 *   does (it drains the body of a pay and ignores errors there).
 * - The per-request timeout runs from the call: past it the socket is destroyed (the server may
 *   still answer; that answer must not be read as the next request's).
 * - Responses: status line, headers, Content-Length, chunked (with trailers) and read-until-close
 *   bodies, 1xx interim answers skipped, `Connection: close`, HTTP/1.0, `Keep-Alive: timeout=N`.
 *   Anything else, or bytes arriving when no request is in flight, destroys the socket.
 */
export interface RawProcessorClientOptions extends ProcessorClientOptions {
  /**
   * An idle socket is not reused after this long (default 4000 ms, below the common 5 s server
   * keep-alive), nor beyond a server's `Keep-Alive: timeout=N` hint minus one second: a socket the
   * server is about to close would turn a POST into an 'unknown' outcome.
   */
  keepAliveTimeoutMs?: number;
  /** Connect timeout, default min(timeoutMs, 2000) as client.ts; a connect that times out sent nothing. */
  connectTimeoutMs?: number;
}

/** What the transport reports for one exchange. */
type Exchanged =
  | { ok: true; status: number; body: string }
  /** `status` is 0 unless the status line and headers had arrived. */
  | { ok: false; sent: boolean; status: number; code: string };

const MAX_HEAD_BYTES = 16 * 1024;
const MAX_KEPT_BODY_BYTES = 1024 * 1024;
const MAX_CHUNK_LINE_BYTES = 1024;
const CRLF = 0x0a0d; // "\r\n" read as little-endian uint16
const EMPTY = Buffer.alloc(0);

const enum Phase {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
}

class Exchange {
  /** Set when the bytes were handed to a connected socket: from then on the processor may act on it. */
  written = false;
  done = false;
  timer: ReturnType<typeof setTimeout> | null = null;
  conn: Connection | null = null;

  constructor(
    /** performance.now() past which the request is never written (it would only time out). */
    readonly deadline: number,
    readonly bytes: Buffer,
    /** Whether the response body is wanted (lookup, health) or only drained (pay). */
    readonly keepBody: boolean,
    readonly resolve: (result: Exchanged) => void,
  ) {}
}

/** Ends an exchange that was never written, at or past its deadline. */
function expire(exchange: Exchange): void {
  if (exchange.done) return;
  exchange.done = true;
  if (exchange.timer !== null) clearTimeout(exchange.timer);
  exchange.resolve({ ok: false, sent: false, status: 0, code: 'timeout' });
}

function onExchangeTimeout(exchange: Exchange): void {
  exchange.timer = null;
  if (exchange.done) return;
  if (exchange.conn === null) {
    // Still queued: never written anywhere. The pool skips done exchanges when dequeuing.
    exchange.done = true;
    exchange.resolve({ ok: false, sent: false, status: 0, code: 'timeout' });
  } else {
    exchange.conn.fail(exchange.written ? 'timeout' : 'connect timeout');
  }
}

class Connection {
  readonly socket: net.Socket;
  connected = false;
  exchange: Exchange | null = null;
  idleSince = 0;
  /** Longest idle time after which this socket is not reused. */
  keepAliveMs: number;
  private connectTimer: ReturnType<typeof setTimeout> | null;
  private closed = false;

  // Response parser state, for the exchange in flight.
  private pending: Buffer = EMPTY;
  private phase = Phase.Head;
  private remaining = 0;
  private status = 0;
  private closeAfter = false;
  private bodyParts: Buffer[] = [];
  private bodyBytes = 0;

  constructor(
    private readonly pool: RawPool,
    first: Exchange,
  ) {
    this.keepAliveMs = pool.keepAliveMs;
    this.exchange = first;
    first.conn = this;
    const socket = net.connect({ host: pool.host, port: pool.port });
    this.socket = socket;
    // In-flight exchanges hold ref'd timers; an idle socket must not keep the process alive.
    socket.unref();
    socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.fail('connect timeout'), pool.connectTimeoutMs);
    this.connectTimer.unref?.();
    socket.on('connect', () => this.onConnect());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (error: Error) => this.fail(errorCode(error)));
    socket.on('close', () => this.onClose());
  }

  /** Whether an idle socket may carry a new request now. */
  reusable(now: number): boolean {
    return !this.closed && !this.socket.destroyed && !this.socket.readableEnded && now - this.idleSince < this.keepAliveMs;
  }

  /** Sends `exchange` on this connected, idle socket. */
  start(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.conn = this;
    this.write(exchange);
  }

  private write(exchange: Exchange): void {
    exchange.written = true;
    this.socket.write(exchange.bytes);
  }

  private onConnect(): void {
    this.connected = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    const exchange = this.exchange;
    if (exchange !== null && performance.now() < exchange.deadline) {
      this.write(exchange);
      return;
    }
    // Connected too late: the request is not sent (its timer is due); the socket serves others.
    this.exchange = null;
    if (exchange !== null) expire(exchange);
    this.pool.release(this);
  }

  /** Ends the exchange in flight (if any) as failed, and the socket with it. */
  fail(code: string): void {
    const exchange = this.exchange;
    this.exchange = null;
    if (exchange !== null && !exchange.done) {
      exchange.done = true;
      if (exchange.timer !== null) clearTimeout(exchange.timer);
      exchange.resolve({ ok: false, sent: exchange.written, status: this.phase === Phase.Head ? 0 : this.status, code });
    }
    this.destroy();
  }

  destroy(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    if (!this.socket.destroyed) this.socket.destroy();
    this.onClose();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const exchange = this.exchange;
    if (exchange !== null) {
      // 'close' without 'end' or 'error' (should not happen): still maybe recorded once written.
      this.exchange = null;
      if (!exchange.done) {
        exchange.done = true;
        if (exchange.timer !== null) clearTimeout(exchange.timer);
        exchange.resolve({ ok: false, sent: exchange.written, status: this.phase === Phase.Head ? 0 : this.status, code: 'socket closed' });
      }
    }
    this.pool.closed(this);
  }

  private onEnd(): void {
    if (this.exchange !== null && this.phase === Phase.UntilClose) {
      this.complete(true);
      return;
    }
    // The server closed: mid-answer, before any answer (maybe recorded), or while idle.
    this.fail(this.connected ? 'connection closed by the processor' : 'connection closed before connect');
  }

  private onData(chunk: Buffer): void {
    if (this.exchange === null) {
      // Nothing asked: whatever this is cannot be matched to a request, so the socket is unusable.
      this.destroy();
      return;
    }
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const error = this.parse();
    if (error !== null) this.fail(error);
  }

  /**
   * Keeps the body bytes still owed (`remaining`, of a Content-Length body or of a chunk) that
   * `buf` holds from `at`; returns where they end, or -1 when the body passes the size limit.
   */
  private takeRemaining(buf: Buffer, at: number): number {
    const take = Math.min(this.remaining, buf.length - at);
    if (take > 0 && !this.keep(buf, at, at + take)) return -1;
    this.remaining -= take;
    return at + take;
  }

  /** Consumes `pending`; returns a protocol error, or null. Completes the exchange when its response ends. */
  private parse(): string | null {
    let buf = this.pending;
    let at = 0;
    for (;;) {
      switch (this.phase) {
        case Phase.Head: {
          const end = buf.indexOf('\r\n\r\n', at, 'latin1');
          if (end < 0) {
            if (buf.length - at > MAX_HEAD_BYTES) return 'response head too large';
            this.pending = buf.subarray(at);
            return null;
          }
          if (end - at > MAX_HEAD_BYTES) return 'response head too large';
          const error = this.parseHead(buf.toString('latin1', at, end));
          if (error !== null) return error;
          at = end + 4;
          // No body (Content-Length: 0, 204, 304): complete now, more bytes may never come.
          if ((this.phase as Phase) === Phase.Length && this.remaining === 0) return this.complete(at < buf.length);
          break;
        }
        case Phase.Length: {
          at = this.takeRemaining(buf, at);
          if (at < 0) return 'response body too large';
          if (this.remaining > 0) {
            this.pending = EMPTY;
            return null;
          }
          return this.complete(at < buf.length);
        }
        case Phase.UntilClose: {
          if (at < buf.length && !this.keep(buf, at, buf.length)) return 'response body too large';
          this.pending = EMPTY;
          return null;
        }
        case Phase.ChunkSize: {
          const end = buf.indexOf('\r\n', at, 'latin1');
          if (end < 0) {
            if (buf.length - at > MAX_CHUNK_LINE_BYTES) return 'bad chunk size line';
            this.pending = buf.subarray(at);
            return null;
          }
          const size = parseChunkSize(buf.toString('latin1', at, end));
          if (size < 0) return 'bad chunk size line';
          at = end + 2;
          if (size === 0) {
            this.phase = Phase.Trailers;
          } else {
            this.remaining = size;
            this.phase = Phase.ChunkData;
          }
          break;
        }
        case Phase.ChunkData: {
          at = this.takeRemaining(buf, at);
          if (at < 0) return 'response body too large';
          if (this.remaining > 0) {
            this.pending = EMPTY;
            return null;
          }
          this.phase = Phase.ChunkEnd;
          break;
        }
        case Phase.ChunkEnd: {
          if (buf.length - at < 2) {
            this.pending = buf.subarray(at);
            return null;
          }
          if (buf.readUInt16LE(at) !== CRLF) return 'bad chunk end';
          at += 2;
          this.phase = Phase.ChunkSize;
          break;
        }
        case Phase.Trailers: {
          const end = buf.indexOf('\r\n', at, 'latin1');
          if (end < 0) {
            if (buf.length - at > MAX_HEAD_BYTES) return 'trailers too large';
            this.pending = buf.subarray(at);
            return null;
          }
          const empty = end === at;
          at = end + 2;
          if (empty) return this.complete(at < buf.length);
          break;
        }
      }
      if (this.exchange === null) return null;
      if (at >= buf.length) {
        this.pending = EMPTY;
        return null;
      }
      // Loop on with what is left (a head followed by its body in the same chunk).
      buf = this.pending = buf.subarray(at);
      at = 0;
    }
  }

  /** Parses a status line and headers (without the final CRLF CRLF); sets the body phase. */
  private parseHead(head: string): string | null {
    const lines = head.split('\r\n');
    const statusLine = lines[0]!;
    // "HTTP/1.1 200 OK": version, space, three digits, then a space or the end.
    if (!/^HTTP\/1\.[01] \d{3}(?: |$)/.test(statusLine)) return 'bad status line';
    const http10 = statusLine.charCodeAt(7) === 0x30;
    const status = Number(statusLine.slice(9, 12));
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    let close = http10;
    let keepAliveSeconds = -1;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      // No name, or an obsolete folded continuation line: not a response we can trust.
      if (colon <= 0 || line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09) return 'bad header line';
      const name = line.slice(0, colon).toLowerCase();
      if (name !== 'content-length' && name !== 'transfer-encoding' && name !== 'connection' && name !== 'keep-alive') continue;
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value)) return 'bad content-length';
        const length = Number(value);
        if (contentLength >= 0 && contentLength !== length) return 'conflicting content-length';
        contentLength = length;
      } else if (name === 'transfer-encoding') {
        transferEncoding = true;
        const codings = value.split(',');
        chunked = codings[codings.length - 1]!.trim() === 'chunked';
      } else if (name === 'connection') {
        for (const token of value.split(',')) {
          const t = token.trim();
          if (t === 'close') close = true;
          else if (t === 'keep-alive' && http10) close = false;
        }
      } else {
        const match = /(?:^|[,;\s])timeout\s*=\s*(\d+)/.exec(value);
        if (match) keepAliveSeconds = Number(match[1]);
      }
    }
    if (status < 200 && status !== 101) {
      // Interim answer (100 Continue, 103 Early Hints): the real one follows.
      if (status < 100) return 'bad status';
      return null;
    }
    if (status === 101) return 'unexpected protocol switch';
    this.status = status;
    this.closeAfter = close;
    if (keepAliveSeconds >= 0) {
      this.keepAliveMs = Math.min(this.keepAliveMs, keepAliveSeconds * 1000 - 1000);
      if (this.keepAliveMs <= 0) this.closeAfter = true;
    }
    if (status === 204 || status === 304) {
      this.phase = Phase.Length;
      this.remaining = 0;
    } else if (transferEncoding) {
      // Transfer-Encoding wins over Content-Length; a message with both is suspect: not reused.
      if (contentLength >= 0) this.closeAfter = true;
      if (chunked) {
        this.phase = Phase.ChunkSize;
      } else {
        this.phase = Phase.UntilClose;
        this.closeAfter = true;
      }
    } else if (contentLength >= 0) {
      this.phase = Phase.Length;
      this.remaining = contentLength;
    } else {
      this.phase = Phase.UntilClose;
      this.closeAfter = true;
    }
    return null;
  }

  /** Keeps body bytes when the caller wants the body; false once it is too large. */
  private keep(buf: Buffer, from: number, to: number): boolean {
    if (!this.exchange!.keepBody) return true;
    this.bodyBytes += to - from;
    if (this.bodyBytes > MAX_KEPT_BODY_BYTES) return false;
    // Copy: `buf` may be a pooled chunk reused by the runtime.
    this.bodyParts.push(Buffer.from(buf.subarray(from, to)));
    return true;
  }

  /** The response is complete. `extraBytes`: more bytes followed it, unasked. */
  private complete(extraBytes: boolean): null {
    const exchange = this.exchange!;
    this.exchange = null;
    const status = this.status;
    const body = exchange.keepBody ? (this.bodyParts.length === 1 ? this.bodyParts[0]!.toString('utf8') : Buffer.concat(this.bodyParts).toString('utf8')) : '';
    const reusable = !this.closeAfter && !extraBytes && this.phase !== Phase.UntilClose;
    this.pending = EMPTY;
    this.phase = Phase.Head;
    this.remaining = 0;
    this.status = 0;
    this.closeAfter = false;
    this.bodyParts = [];
    this.bodyBytes = 0;
    if (!exchange.done) {
      exchange.done = true;
      if (exchange.timer !== null) clearTimeout(exchange.timer);
    }
    if (reusable) this.pool.release(this);
    else this.destroy();
    exchange.resolve({ ok: true, status, body });
    return null;
  }
}

/** Chunk-size line ("1a3f" or "1a3f;ext=1"): the size, or -1. */
function parseChunkSize(line: string): number {
  const semicolon = line.indexOf(';');
  const hex = (semicolon < 0 ? line : line.slice(0, semicolon)).trim();
  if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) return -1;
  return parseInt(hex, 16);
}

class RawPool {
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
  readonly keepAliveMs: number;
  readonly connectTimeoutMs: number;
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private queue: Exchange[] = [];
  private queueHead = 0;
  private closing = false;
  private drained: (() => void) | null = null;

  constructor(
    url: string,
    private readonly max: number,
    readonly timeoutMs: number,
    keepAliveMs: number,
    connectTimeoutMs: number,
  ) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:') throw new Error(`processor URL must be http://, got ${url}`);
    if ((parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search !== '' || parsed.username !== '') {
      throw new Error(`processor URL must be an origin (http://host:port), got ${url}`);
    }
    if (!(max >= 1)) throw new Error(`connections must be >= 1, got ${max}`);
    if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be > 0, got ${timeoutMs}`);
    this.host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
    this.port = parsed.port === '' ? 80 : Number(parsed.port);
    this.hostHeader = parsed.host;
    this.keepAliveMs = keepAliveMs;
    this.connectTimeoutMs = connectTimeoutMs;
  }

  exchange(bytes: Buffer, keepBody: boolean): Promise<Exchanged> {
    if (this.closing) return Promise.resolve({ ok: false, sent: false, status: 0, code: 'client closed' });
    return new Promise((resolve) => {
      const exchange = new Exchange(performance.now() + this.timeoutMs, bytes, keepBody, resolve);
      exchange.timer = setTimeout(onExchangeTimeout, this.timeoutMs, exchange);
      this.dispatch(exchange);
    });
  }

  private dispatch(exchange: Exchange): void {
    const now = performance.now();
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (conn.reusable(now)) {
        conn.start(exchange);
        return;
      }
      conn.destroy();
    }
    if (this.all.size < this.max) {
      this.all.add(new Connection(this, exchange));
      return;
    }
    this.queue.push(exchange);
  }

  /** The oldest queued exchange still worth sending; those past their deadline end unsent. */
  private dequeue(): Exchange | null {
    const now = performance.now();
    while (this.queueHead < this.queue.length) {
      const exchange = this.queue[this.queueHead++]!;
      if (!exchange.done && now >= exchange.deadline) expire(exchange);
      if (!exchange.done) {
        if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.queueHead);
          this.queueHead = 0;
        }
        return exchange;
      }
    }
    this.queue = [];
    this.queueHead = 0;
    return null;
  }

  /** A connection finished its exchange cleanly: next queued exchange, or idle. */
  release(conn: Connection): void {
    const next = this.dequeue();
    if (next !== null) {
      conn.start(next);
      return;
    }
    if (this.closing) {
      conn.destroy();
      return;
    }
    conn.idleSince = performance.now();
    this.idle.push(conn);
  }

  /** A connection is gone (called once per connection). */
  closed(conn: Connection): void {
    this.all.delete(conn);
    const index = this.idle.indexOf(conn);
    if (index >= 0) this.idle.splice(index, 1);
    if (this.all.size < this.max) {
      const next = this.dequeue();
      if (next !== null) this.all.add(new Connection(this, next));
    }
    if (this.closing && this.all.size === 0 && this.drained !== null) {
      this.drained();
      this.drained = null;
    }
  }

  /** Lets queued and in-flight exchanges finish, then closes every socket. */
  close(): Promise<void> {
    this.closing = true;
    for (const conn of this.idle.splice(0)) conn.destroy();
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.drained;
      this.drained = () => {
        previous?.();
        resolve();
      };
    });
  }
}

export class RawProcessorClient implements ProcessorApi {
  private readonly pool: RawPool;
  /** "POST /payments HTTP/1.1 ... Content-Length: " (the length and body follow). */
  private readonly payHead: Buffer;
  private readonly healthRequest: Buffer;
  private readonly lookupHead: string;

  constructor(
    readonly url: string,
    options: RawProcessorClientOptions,
  ) {
    this.pool = new RawPool(
      url,
      options.connections,
      options.timeoutMs,
      options.keepAliveTimeoutMs ?? 4000,
      options.connectTimeoutMs ?? Math.min(options.timeoutMs, 2000),
    );
    const host = this.pool.hostHeader;
    this.payHead = Buffer.from(`POST /payments HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: `, 'latin1');
    this.healthRequest = Buffer.from(`GET /payments/service-health HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\n\r\n`, 'latin1');
    this.lookupHead = `\r\nHost: ${host}\r\nAccept: application/json\r\n\r\n`;
  }

  async pay(correlationId: string, cents: number, requestedAtMs: number): Promise<PayOutcome> {
    const body = `{"correlationId":${JSON.stringify(correlationId)},"amount":${centsToAmountText(cents)},"requestedAt":"${new Date(requestedAtMs).toISOString()}"}`;
    const bodyLength = Buffer.byteLength(body);
    const lengthText = `${bodyLength}\r\n\r\n`;
    const head = this.payHead;
    const bytes = Buffer.allocUnsafe(head.length + lengthText.length + bodyLength);
    head.copy(bytes, 0);
    bytes.write(lengthText, head.length, 'latin1');
    bytes.write(body, head.length + lengthText.length, 'utf8');

    const started = performance.now();
    const result = await this.pool.exchange(bytes, false);
    const latencyMs = Math.round(performance.now() - started);
    // Once the status arrived, it decides (a body cut short afterwards changes nothing).
    const status = result.status;
    if (status !== 0) {
      if (status >= 200 && status < 300) return { kind: 'recorded', latencyMs };
      if (status === 422) return { kind: 'duplicate', latencyMs };
      // The reference processor answers 500 before inserting; 429 and 400 mean it refused the call.
      if (status === 500 || status === 429 || status === 400) return { kind: 'rejected', latencyMs, status, reason: `HTTP ${status}` };
      return { kind: 'unknown', latencyMs, reason: `unexpected HTTP ${status}` };
    }
    if (result.ok) return { kind: 'unknown', latencyMs, reason: 'no status' }; // not reachable: ok implies a status
    if (!result.sent) return { kind: 'rejected', latencyMs, status: 0, reason: result.code };
    return { kind: 'unknown', latencyMs, reason: result.code };
  }

  /** GET /payments/{id}: whether the processor holds the payment, and with which requestedAt. */
  async lookup(correlationId: string): Promise<LookupOutcome> {
    const request = Buffer.from(`GET /payments/${encodeURIComponent(correlationId)} HTTP/1.1${this.lookupHead}`, 'latin1');
    const result = await this.pool.exchange(request, true);
    if (!result.ok) return { kind: 'unknown', reason: result.code };
    if (result.status === 404) return { kind: 'absent' };
    if (result.status !== 200) return { kind: 'unknown', reason: `HTTP ${result.status}` };
    let record: { requestedAt?: unknown; amount?: unknown } | null;
    try {
      record = JSON.parse(result.body) as typeof record;
    } catch {
      return { kind: 'unknown', reason: 'unexpected lookup body' };
    }
    const requestedAtMs = typeof record?.requestedAt === 'string' ? Date.parse(record.requestedAt) : NaN;
    if (!Number.isFinite(requestedAtMs) || typeof record?.amount !== 'number') return { kind: 'unknown', reason: 'unexpected lookup body' };
    return { kind: 'found', requestedAtMs, cents: Math.round(record.amount * 100) };
  }

  async health(): Promise<HealthOutcome> {
    const result = await this.pool.exchange(this.healthRequest, true);
    if (!result.ok) return { kind: 'unavailable', reason: result.code };
    if (result.status === 429) return { kind: 'rate-limited' };
    if (result.status !== 200) return { kind: 'unavailable', reason: `HTTP ${result.status}` };
    let report: { failing?: unknown; minResponseTime?: unknown } | null;
    try {
      report = JSON.parse(result.body) as typeof report;
    } catch {
      return { kind: 'unavailable', reason: 'unexpected health body' };
    }
    if (typeof report?.failing !== 'boolean' || typeof report.minResponseTime !== 'number') {
      return { kind: 'unavailable', reason: 'unexpected health body' };
    }
    return { kind: 'health', failing: report.failing, minResponseTime: report.minResponseTime };
  }

  /** Lets calls in flight finish, then closes every socket; later calls are rejected unsent. */
  close(): Promise<void> {
    return this.pool.close();
  }
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}
