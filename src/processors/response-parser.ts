/**
 * HTTP/1.1 response parser, fed the bytes of one connection: no sockets, no timers.
 *
 *   begin(keepBody) ─▶ feed(bytes) … feed(bytes) ─▶ 'complete' ─▶ begin(…) for the next request
 *                          │                  └──▶ 'failed' (`error` says why; the connection is unusable)
 *                          └──▶ 'more' (wait for bytes; end() when the server closes its side)
 *
 * Status line, headers, Content-Length, chunked (with trailers) and read-until-close bodies, 1xx
 * interim answers skipped, `Connection: close`, HTTP/1.0, `Keep-Alive: timeout=N`. Anything else
 * fails. After 'complete', `reusable` says whether the connection may carry another request: not
 * when the server asked to close, the body ran until close, or bytes followed the answer unasked
 * (they cannot belong to a request not yet sent).
 */
export type Parse = 'more' | 'complete' | 'failed';

const MAX_HEAD_BYTES = 16 * 1024;
const MAX_KEPT_BODY_BYTES = 1024 * 1024;
const MAX_CHUNK_LINE_BYTES = 1024;
const CRLF = 0x0a0d; // "\r\n" read as little-endian uint16
const EMPTY = Buffer.alloc(0);
const NOT_YET = -1;
const TOO_LONG = -2;

const enum Phase {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
}

export class ResponseParser {
  /** The final status, once its status line and headers arrived; 0 before. */
  status = 0;
  /** The body, after 'complete' (empty unless begin() asked to keep it). */
  body = '';
  /** After 'complete': whether the connection may carry another request. */
  reusable = false;
  /** The server's `Keep-Alive: timeout=N` in seconds, from the last answer; -1 when it gave none. */
  keepAliveSeconds = -1;
  /** After 'failed': why. */
  error = '';

  private keepBody = false;
  private pending: Buffer = EMPTY;
  private phase = Phase.Head;
  private remaining = 0;
  private closeAfter = false;
  private bodyParts: Buffer[] = [];
  private bodyBytes = 0;

  /** Expects the answer to a request just sent; `keepBody`: whether its body is wanted or only drained. */
  begin(keepBody: boolean): void {
    this.keepBody = keepBody;
    this.status = 0;
    this.body = '';
    this.reusable = false;
    this.error = '';
    this.pending = EMPTY;
    this.phase = Phase.Head;
    this.remaining = 0;
    this.closeAfter = false;
    this.bodyParts = [];
    this.bodyBytes = 0;
  }

  /** Consumes bytes of the answer. */
  feed(chunk: Buffer): Parse {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    return this.parse();
  }

  /** The server closed its side: that ends a body read until close, and fails anything else. */
  end(): Parse {
    if (this.phase === Phase.UntilClose) return this.complete(false);
    return this.fail('connection closed by the processor');
  }

  private fail(error: string): 'failed' {
    this.error = error;
    return 'failed';
  }

  private parse(): Parse {
    let buf = this.pending;
    let at = 0;
    for (;;) {
      switch (this.phase) {
        case Phase.Head: {
          const end = this.findEnd(buf, at, '\r\n\r\n', MAX_HEAD_BYTES);
          if (end === TOO_LONG) return this.fail('response head too large');
          if (end === NOT_YET) return 'more';
          const error = this.parseHead(buf.toString('latin1', at, end));
          if (error !== null) return this.fail(error);
          at = end + 4;
          // No body (Content-Length: 0, 204, 304): complete now, more bytes may never come.
          if ((this.phase as Phase) === Phase.Length && this.remaining === 0) return this.complete(at < buf.length);
          break;
        }
        case Phase.Length:
        case Phase.ChunkData: {
          at = this.takeRemaining(buf, at);
          if (at < 0) return this.fail('response body too large');
          if (this.remaining > 0) {
            this.pending = EMPTY;
            return 'more';
          }
          if (this.phase === Phase.Length) return this.complete(at < buf.length);
          this.phase = Phase.ChunkEnd;
          break;
        }
        case Phase.UntilClose: {
          if (at < buf.length && !this.keep(buf, at, buf.length)) return this.fail('response body too large');
          this.pending = EMPTY;
          return 'more';
        }
        case Phase.ChunkSize: {
          const end = this.findEnd(buf, at, '\r\n', MAX_CHUNK_LINE_BYTES);
          if (end === TOO_LONG) return this.fail('bad chunk size line');
          if (end === NOT_YET) return 'more';
          const size = parseChunkSize(buf.toString('latin1', at, end));
          if (size < 0) return this.fail('bad chunk size line');
          at = end + 2;
          if (size === 0) {
            this.phase = Phase.Trailers;
          } else {
            this.remaining = size;
            this.phase = Phase.ChunkData;
          }
          break;
        }
        case Phase.ChunkEnd: {
          if (buf.length - at < 2) {
            this.pending = buf.subarray(at);
            return 'more';
          }
          if (buf.readUInt16LE(at) !== CRLF) return this.fail('bad chunk end');
          at += 2;
          this.phase = Phase.ChunkSize;
          break;
        }
        case Phase.Trailers: {
          const end = this.findEnd(buf, at, '\r\n', MAX_HEAD_BYTES);
          if (end === TOO_LONG) return this.fail('trailers too large');
          if (end === NOT_YET) return 'more';
          const empty = end === at;
          at = end + 2;
          if (empty) return this.complete(at < buf.length);
          break;
        }
      }
      if (at >= buf.length) {
        this.pending = EMPTY;
        return 'more';
      }
      // Go on with what is left (a head followed by its body in the same chunk).
      buf = this.pending = buf.subarray(at);
      at = 0;
    }
  }

  /**
   * Where `terminator` (of the head or of a line) starts in `buf` from `at`; NOT_YET when it has
   * not arrived (what there is waits for more bytes), TOO_LONG when what precedes it passes `max`.
   */
  private findEnd(buf: Buffer, at: number, terminator: string, max: number): number {
    const end = buf.indexOf(terminator, at, 'latin1');
    if ((end < 0 ? buf.length : end) - at > max) return TOO_LONG;
    if (end < 0) this.pending = buf.subarray(at);
    return end;
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
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
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
    this.keepAliveSeconds = keepAliveSeconds;
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
      }
    } else if (contentLength >= 0) {
      this.phase = Phase.Length;
      this.remaining = contentLength;
    } else {
      this.phase = Phase.UntilClose;
    }
    return null;
  }

  /** Keeps body bytes when the body is wanted; false once it is too large. */
  private keep(buf: Buffer, from: number, to: number): boolean {
    if (!this.keepBody) return true;
    this.bodyBytes += to - from;
    if (this.bodyBytes > MAX_KEPT_BODY_BYTES) return false;
    // Copy: `buf` may be a pooled chunk the runtime reuses.
    this.bodyParts.push(Buffer.from(buf.subarray(from, to)));
    return true;
  }

  /** The answer is complete. `extraBytes`: more bytes followed it, unasked. */
  private complete(extraBytes: boolean): 'complete' {
    const parts = this.bodyParts;
    if (parts.length > 0) this.body = parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8');
    this.reusable = !this.closeAfter && !extraBytes && this.phase !== Phase.UntilClose;
    this.pending = EMPTY;
    this.phase = Phase.Head;
    this.bodyParts = [];
    this.bodyBytes = 0;
    return 'complete';
  }
}

/** Chunk-size line ("1a3f" or "1a3f;ext=1"): the size, or -1. */
function parseChunkSize(line: string): number {
  const semicolon = line.indexOf(';');
  const hex = (semicolon < 0 ? line : line.slice(0, semicolon)).trim();
  if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) return -1;
  return parseInt(hex, 16);
}
