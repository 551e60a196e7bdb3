/**
 * Minimal incremental HTTP/1.x response parser for a client that has exactly
 * one request in flight per connection (no pipelining).
 *
 * Handles: status line, Content-Length bodies, chunked bodies (extensions and
 * trailers), bodies delimited by connection close, 1xx interim responses,
 * bodiless statuses (204/304, responses to HEAD), Connection: close /
 * keep-alive and HTTP/1.0 defaults, and any split of the bytes across reads.
 * Body bytes are only retained when the caller asks for them.
 */
import { Buffer } from 'node:buffer';

export const NEED_MORE = 0;
export const DONE = 1;
export const ERROR = 2;
export type FeedResult = typeof NEED_MORE | typeof DONE | typeof ERROR;

const S_HEAD = 0;
const S_BODY_LENGTH = 1;
const S_CHUNK_SIZE = 2;
const S_CHUNK_DATA = 3;
const S_CHUNK_DATA_CRLF = 4;
const S_TRAILER = 5;
const S_BODY_CLOSE = 6;
const S_DONE = 7;
const S_ERROR = 8;

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_LINE_BYTES = 8 * 1024;
const CR = 13;
const LF = 10;

/** Index of the first "\r\n\r\n" at or after `from`, or -1. */
function findHeadEnd(buf: Uint8Array, from: number): number {
  const last = buf.length - 3;
  for (let i = from; i < last; i++) {
    if (buf[i] === CR && buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) return i;
  }
  return -1;
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export class ResponseParser {
  status = 0;
  /** Whether the connection may be reused after this response. */
  keepAlive = true;
  /** Bytes received after the end of the response (protocol violation for us). */
  trailingGarbage = false;
  error: string | null = null;

  private state = S_HEAD;
  private wantBody = false;
  private isHead = false;
  private headPending: Uint8Array | null = null;
  private remaining = 0;
  private line = '';
  private crlfSeenCr = false;
  private bodyParts: Uint8Array[] = [];

  /** Prepare for a new response. */
  reset(wantBody: boolean, isHeadRequest = false): void {
    this.status = 0;
    this.keepAlive = true;
    this.trailingGarbage = false;
    this.error = null;
    this.state = S_HEAD;
    this.wantBody = wantBody;
    this.isHead = isHeadRequest;
    this.headPending = null;
    this.remaining = 0;
    this.line = '';
    this.crlfSeenCr = false;
    if (this.bodyParts.length !== 0) this.bodyParts = [];
  }

  get done(): boolean {
    return this.state === S_DONE;
  }

  /** True once a status line and headers have been received. */
  get headersReceived(): boolean {
    return this.state !== S_HEAD && this.state !== S_ERROR;
  }

  /** The collected body (only when reset(wantBody=true)). */
  body(): Uint8Array {
    const parts = this.bodyParts;
    if (parts.length === 1) return parts[0] ?? new Uint8Array(0);
    let total = 0;
    for (const p of parts) total += p.length;
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  private fail(message: string): FeedResult {
    this.state = S_ERROR;
    this.error = message;
    return ERROR;
  }

  private keep(chunk: Uint8Array, start: number, end: number): void {
    if (this.wantBody && end > start) this.bodyParts.push(chunk.slice(start, end));
  }

  /** Keeps the body bytes still owed (of a Content-Length body or of a chunk) that `chunk` holds from `pos`; returns where they end. */
  private takeRemaining(chunk: Uint8Array, pos: number): number {
    const n = Math.min(this.remaining, chunk.length - pos);
    this.keep(chunk, pos, pos + n);
    this.remaining -= n;
    return pos + n;
  }

  /** Feed received bytes. */
  feed(input: Uint8Array): FeedResult {
    let chunk = input;
    let pos = 0;
    const len0 = chunk.length;
    if (this.state === S_ERROR) return ERROR;
    if (this.state === S_DONE) {
      if (len0 > 0) this.trailingGarbage = true;
      return DONE;
    }
    while (true) {
      switch (this.state) {
        case S_HEAD: {
          let searchFrom = pos;
          if (this.headPending !== null) {
            const pendingLen = this.headPending.length;
            chunk = concatBytes(this.headPending, chunk.subarray(pos));
            this.headPending = null;
            pos = 0;
            // the terminator may straddle the old/new boundary
            searchFrom = pendingLen > 3 ? pendingLen - 3 : 0;
          }
          const end = findHeadEnd(chunk, searchFrom);
          if (end < 0) {
            if (chunk.length - pos > MAX_HEAD_BYTES) return this.fail('response head too large');
            this.headPending = chunk.slice(pos);
            return NEED_MORE;
          }
          if (end - pos > MAX_HEAD_BYTES) return this.fail('response head too large');
          const r = this.parseHead(chunk, pos, end);
          if (r === ERROR) return ERROR;
          pos = end + 4;
          break; // state now set by parseHead
        }
        case S_BODY_LENGTH: {
          if (pos === chunk.length) return NEED_MORE;
          pos = this.takeRemaining(chunk, pos);
          if (this.remaining === 0) this.state = S_DONE;
          break;
        }
        case S_CHUNK_SIZE:
        case S_TRAILER: {
          // read one line
          let nl = -1;
          for (let i = pos; i < chunk.length; i++) {
            if (chunk[i] === LF) {
              nl = i;
              break;
            }
          }
          const stop = nl < 0 ? chunk.length : nl;
          if (stop > pos) this.line += Buffer.from(chunk.buffer, chunk.byteOffset + pos, stop - pos).toString('latin1');
          if (this.line.length > MAX_LINE_BYTES) return this.fail('chunk line too long');
          if (nl < 0) return NEED_MORE;
          pos = nl + 1;
          let text = this.line;
          this.line = '';
          if (text.endsWith('\r')) text = text.slice(0, -1);
          if (this.state === S_TRAILER) {
            if (text.length === 0) this.state = S_DONE;
            break;
          }
          const semi = text.indexOf(';');
          const hex = (semi >= 0 ? text.slice(0, semi) : text).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return this.fail(`invalid chunk size line "${text}"`);
          const size = Number.parseInt(hex, 16);
          if (size === 0) {
            this.state = S_TRAILER;
          } else {
            this.remaining = size;
            this.state = S_CHUNK_DATA;
          }
          break;
        }
        case S_CHUNK_DATA: {
          if (pos === chunk.length) return NEED_MORE;
          pos = this.takeRemaining(chunk, pos);
          if (this.remaining === 0) {
            this.state = S_CHUNK_DATA_CRLF;
            this.crlfSeenCr = false;
          }
          break;
        }
        case S_CHUNK_DATA_CRLF: {
          if (pos >= chunk.length) return NEED_MORE;
          const b = chunk[pos];
          if (b === CR && !this.crlfSeenCr) {
            this.crlfSeenCr = true;
            pos++;
          } else if (b === LF) {
            pos++;
            this.state = S_CHUNK_SIZE;
          } else {
            return this.fail('missing CRLF after chunk data');
          }
          break;
        }
        case S_BODY_CLOSE: {
          this.keep(chunk, pos, chunk.length);
          return NEED_MORE;
        }
        case S_DONE: {
          if (pos < chunk.length) this.trailingGarbage = true;
          return DONE;
        }
        default:
          return ERROR;
      }
    }
  }

  /**
   * The peer closed the connection. Returns DONE when that completes the
   * response (close-delimited body), ERROR otherwise.
   */
  finishOnClose(): FeedResult {
    if (this.state === S_DONE) return DONE;
    if (this.state === S_BODY_CLOSE) {
      this.state = S_DONE;
      this.keepAlive = false;
      return DONE;
    }
    if (this.state === S_ERROR) return ERROR;
    return this.fail(this.state === S_HEAD ? 'connection closed before response' : 'connection closed mid-body');
  }

  private parseHead(chunk: Uint8Array, start: number, end: number): FeedResult {
    const head = Buffer.from(chunk.buffer, chunk.byteOffset + start, end - start).toString('latin1');
    const firstEol = head.indexOf('\r\n');
    const statusLine = firstEol < 0 ? head : head.slice(0, firstEol);
    // "HTTP/1.1 202 Accepted"
    if (statusLine.length < 12 || !statusLine.startsWith('HTTP/1.') || statusLine.charCodeAt(8) !== 32) {
      return this.fail(`invalid status line "${statusLine.slice(0, 80)}"`);
    }
    const minor = statusLine.charCodeAt(7) - 48;
    const statusText = statusLine.slice(9, 12);
    if (!/^[0-9]{3}$/.test(statusText) || (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)) {
      return this.fail(`invalid status code in "${statusLine.slice(0, 80)}"`);
    }
    const status = Number.parseInt(statusText, 10);
    let keepAlive = minor >= 1;
    let contentLength = -1;
    let transferEncoding: string | null = null;

    let lineStart = firstEol < 0 ? head.length : firstEol + 2;
    while (lineStart < head.length) {
      let eol = head.indexOf('\r\n', lineStart);
      if (eol < 0) eol = head.length;
      const colon = head.indexOf(':', lineStart);
      if (colon < 0 || colon > eol) return this.fail('malformed header line');
      const nameLen = colon - lineStart;
      if (nameLen === 14 || nameLen === 17 || nameLen === 10) {
        const name = head.slice(lineStart, colon).toLowerCase();
        if (name === 'content-length') {
          const v = head.slice(colon + 1, eol).trim();
          if (!/^[0-9]{1,15}$/.test(v)) return this.fail(`invalid content-length "${v}"`);
          const n = Number.parseInt(v, 10);
          if (contentLength >= 0 && contentLength !== n) return this.fail('conflicting content-length');
          contentLength = n;
        } else if (name === 'transfer-encoding') {
          const v = head
            .slice(colon + 1, eol)
            .trim()
            .toLowerCase();
          transferEncoding = transferEncoding === null ? v : `${transferEncoding}, ${v}`;
        } else if (name === 'connection') {
          const v = head.slice(colon + 1, eol).toLowerCase();
          for (const token of v.split(',')) {
            const t = token.trim();
            if (t === 'close') keepAlive = false;
            else if (t === 'keep-alive' && minor === 0) keepAlive = true;
          }
        }
      }
      lineStart = eol + 2;
    }

    if (status >= 100 && status < 200) {
      if (status === 101) return this.fail('unexpected 101 Switching Protocols');
      // interim response: wait for the final one
      this.state = S_HEAD;
      return DONE;
    }
    this.status = status;
    this.keepAlive = keepAlive;
    if (this.isHead || status === 204 || status === 304) {
      this.state = S_DONE;
    } else if (transferEncoding !== null) {
      const codings = transferEncoding.split(',');
      const lastCoding = (codings[codings.length - 1] ?? '').trim();
      if (lastCoding === 'chunked') {
        this.state = S_CHUNK_SIZE;
        this.line = '';
      } else {
        this.state = S_BODY_CLOSE;
        this.keepAlive = false;
      }
    } else if (contentLength >= 0) {
      this.remaining = contentLength;
      this.state = contentLength === 0 ? S_DONE : S_BODY_LENGTH;
    } else {
      this.state = S_BODY_CLOSE;
      this.keepAlive = false;
    }
    return DONE;
  }
}
