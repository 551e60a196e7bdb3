import net from 'node:net';
import { errorCode, type Exchanged } from './client.ts';
import { ResponseParser } from './response-parser.ts';

/**
 * One keep-alive HTTP/1.1 socket carrying one exchange at a time (no pipelining: a slow answer
 * stalls only its own socket), over node:net so it runs on Node and Bun alike.
 *
 * The life of an exchange on a connection, and how each way out is reported:
 *
 *   new Connection ──connect──▶ written ─────answer────▶ {status, body}; the socket goes back to
 *        │                       ▲  │                   the pool, or is closed (`Connection:
 *        │ connectTimeoutMs,     │  │                   close`, Keep-Alive hint, extra bytes…)
 *        │ refused, …            │  │ timeoutMs after the write, or reset, close, bad bytes
 *        ▼                       │  ▼
 *   {error, written: false}:     │ {error, written: true, timedOut}: maybe recorded
 *   never sent                   │
 *        idle connection ──start─┘
 *
 * A pay whose status and headers arrived is answered by that status even if its body then breaks
 * (Transport.postPayment). After a failure the socket is destroyed: the server may still answer,
 * and that answer must not be read as the next request's. Bytes arriving with nothing in flight
 * cannot be matched to a request: they destroy the socket too.
 */
export interface ConnectionSettings {
  host: string;
  port: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** The pool a connection reports to. */
export interface ConnectionOwner {
  /** The connection finished its exchange and may carry another. */
  release(conn: Connection): void;
  /** The connection is gone (called once). */
  closed(conn: Connection): void;
}

/** One request and the promise of its report. */
export class Exchange {
  /** Set when the bytes were handed to a connected socket: from then on the processor may act on them. */
  written = false;
  done = false;
  /** While queued: the caller's patience; once written: the answer's timeout. */
  timer: ReturnType<typeof setTimeout> | null = null;
  conn: Connection | null = null;
  /** While queued: performance.now() past which it is not sent. */
  deadline = 0;

  constructor(
    readonly bytes: Buffer,
    /** Whether the answer's body is wanted (lookup, health) or only drained (pay). */
    readonly keepBody: boolean,
    private readonly report: (result: Exchanged) => void,
  ) {}

  /** Reports the result, once: a timer or socket event after that changes nothing. */
  finish(result: Exchanged): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.report(result);
  }
}

function onAnswerTimeout(exchange: Exchange): void {
  exchange.timer = null;
  exchange.conn?.fail('timeout', true);
}

export class Connection {
  idleSince = 0;
  private readonly socket: net.Socket;
  private readonly parser = new ResponseParser();
  private exchange: Exchange | null;
  private connected = false;
  private closed = false;
  private connectTimer: ReturnType<typeof setTimeout> | null;
  /** Longest idle time after which this socket is not reused (lowered by the server's Keep-Alive hint). */
  private keepAliveMs: number;

  constructor(
    private readonly owner: ConnectionOwner,
    private readonly settings: ConnectionSettings,
    first: Exchange,
  ) {
    this.keepAliveMs = settings.keepAliveTimeoutMs;
    this.exchange = first;
    first.conn = this;
    const socket = net.connect({ host: settings.host, port: settings.port });
    this.socket = socket;
    // Written exchanges hold ref'd timers; an idle socket must not keep the process alive.
    socket.unref();
    socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.fail('connect timeout'), settings.connectTimeoutMs);
    socket.on('connect', () => this.onConnect());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (error: Error) => this.fail(errorCode(error)));
    socket.on('close', () => this.onClose());
  }

  /** Whether this idle socket may carry a new request now. */
  reusable(now: number): boolean {
    return !this.closed && !this.socket.destroyed && !this.socket.readableEnded && now - this.idleSince < this.keepAliveMs;
  }

  /** Sends `exchange` on this connected, idle socket. */
  start(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.conn = this;
    this.write(exchange);
  }

  /** Ends the exchange in flight (if any) as failed, and the socket with it. */
  fail(code: string, timedOut = false): void {
    const exchange = this.exchange;
    this.exchange = null;
    if (exchange !== null) exchange.finish(this.failure(exchange, code, timedOut));
    this.destroy();
  }

  destroy(): void {
    this.clearConnectTimer();
    if (!this.socket.destroyed) this.socket.destroy();
    this.onClose();
  }

  private write(exchange: Exchange): void {
    exchange.written = true;
    this.parser.begin(exchange.keepBody);
    this.socket.write(exchange.bytes);
    exchange.timer = setTimeout(onAnswerTimeout, this.settings.timeoutMs, exchange);
  }

  private failure(exchange: Exchange, code: string, timedOut: boolean): Exchanged {
    // A pay is decided by its status once that arrived (Transport.postPayment).
    if (exchange.written && !exchange.keepBody && this.parser.status !== 0) return { status: this.parser.status, body: '' };
    return { error: code, written: exchange.written, timedOut };
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }

  private onConnect(): void {
    this.connected = true;
    this.clearConnectTimer();
    this.write(this.exchange!);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const exchange = this.exchange;
    this.exchange = null;
    // 'close' without 'end' or 'error' (should not happen): still maybe recorded once written.
    if (exchange !== null) exchange.finish(this.failure(exchange, 'socket closed', false));
    this.owner.closed(this);
  }

  private onEnd(): void {
    if (this.exchange === null) {
      this.destroy(); // closed while idle: the server's keep-alive ran out
      return;
    }
    if (!this.connected) {
      this.fail('connection closed before connect');
      return;
    }
    if (this.parser.end() === 'complete') this.complete();
    else this.fail(this.parser.error);
  }

  private onData(chunk: Buffer): void {
    if (this.exchange === null) {
      this.destroy();
      return;
    }
    const parse = this.parser.feed(chunk);
    if (parse === 'complete') this.complete();
    else if (parse === 'failed') this.fail(this.parser.error);
  }

  private complete(): void {
    const exchange = this.exchange!;
    this.exchange = null;
    const parser = this.parser;
    // Read before release(): the next exchange on this socket starts the parser anew.
    const result = { status: parser.status, body: parser.body };
    if (parser.keepAliveSeconds >= 0) this.keepAliveMs = Math.min(this.keepAliveMs, parser.keepAliveSeconds * 1000 - 1000);
    if (parser.reusable && this.keepAliveMs > 0) this.owner.release(this);
    else this.destroy();
    exchange.finish(result);
  }
}
