import { describe, expect, test } from 'bun:test';
import { DONE, ERROR, NEED_MORE, ResponseParser } from '../tools/loadtest/response-parser.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Feeds `raw` split into pieces of `size` bytes; returns the last result and the parser. */
function feedIn(raw: string, size: number, wantBody = true): { result: number; p: ResponseParser; doneAt: number } {
  const bytes = enc.encode(raw);
  const p = new ResponseParser();
  p.reset(wantBody);
  let result: number = NEED_MORE;
  let doneAt = -1;
  for (let i = 0; i < bytes.length; i += size) {
    result = p.feed(bytes.subarray(i, Math.min(bytes.length, i + size)));
    if (result !== NEED_MORE) {
      doneAt = Math.min(bytes.length, i + size);
      break;
    }
  }
  return { result, p, doneAt };
}

const SPLITS = [1, 2, 3, 5, 7, 64, 100_000];

describe('ResponseParser', () => {
  test('Content-Length body, any split', () => {
    const raw = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"a":1,"b":2}';
    for (const size of SPLITS) {
      const { result, p } = feedIn(raw, size);
      expect(result).toBe(DONE);
      expect(p.status).toBe(200);
      expect(p.keepAlive).toBe(true);
      expect(dec.decode(p.body())).toBe('{"a":1,"b":2}');
      expect(p.trailingGarbage).toBe(false);
    }
  });

  test('202 with Content-Length: 0 completes at the end of the head', () => {
    const raw = 'HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nDate: x\r\n\r\n';
    for (const size of SPLITS) {
      const { result, p, doneAt } = feedIn(raw, size, false);
      expect(result).toBe(DONE);
      expect(p.status).toBe(202);
      expect(doneAt).toBe(raw.length); // not before the blank line
    }
  });

  test('chunked body with extensions and trailers, any split', () => {
    const raw =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '5;ext=1\r\nhello\r\n' + '1\r\n \r\n' + 'A\r\n0123456789\r\n' + '0\r\nX-Trailer: yes\r\n\r\n';
    for (const size of SPLITS) {
      const { result, p } = feedIn(raw, size);
      expect(result).toBe(DONE);
      expect(dec.decode(p.body())).toBe('hello 0123456789');
      expect(p.keepAlive).toBe(true);
    }
  });

  test('chunked with empty body and Transfer-Encoding list', () => {
    const { result, p } = feedIn('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 4);
    expect(result).toBe(DONE);
    expect(p.body().length).toBe(0);
  });

  test('body delimited by close', () => {
    const raw = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body';
    const { result, p } = feedIn(raw, 3);
    expect(result).toBe(NEED_MORE);
    expect(p.finishOnClose()).toBe(DONE);
    expect(p.keepAlive).toBe(false);
    expect(dec.decode(p.body())).toBe('some body');
  });

  test('close before the end is an error', () => {
    const { p } = feedIn('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 100);
    expect(p.finishOnClose()).toBe(ERROR);
    const p2 = new ResponseParser();
    p2.reset(false);
    expect(p2.finishOnClose()).toBe(ERROR);
  });

  test('Connection: close and HTTP/1.0 keep-alive rules', () => {
    expect(feedIn('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', 100).p.keepAlive).toBe(false);
    expect(feedIn('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', 100).p.keepAlive).toBe(false);
    expect(feedIn('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n', 100).p.keepAlive).toBe(true);
  });

  test('1xx interim responses are skipped', () => {
    const raw = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok';
    for (const size of SPLITS) {
      const { result, p } = feedIn(raw, size);
      expect(result).toBe(DONE);
      expect(p.status).toBe(201);
      expect(dec.decode(p.body())).toBe('ok');
    }
  });

  test('204 and 304 have no body even with Content-Length', () => {
    for (const status of [204, 304]) {
      const { result, p } = feedIn(`HTTP/1.1 ${status} X\r\nContent-Length: 5\r\n\r\n`, 100);
      expect(result).toBe(DONE);
      expect(p.status).toBe(status);
    }
  });

  test('bytes after the response are flagged', () => {
    const { p } = feedIn('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxEXTRA', 100_000);
    expect(p.done).toBe(true);
    expect(p.trailingGarbage).toBe(true);
  });

  test('malformed responses are errors', () => {
    for (const raw of [
      'HTTX/1.1 200 OK\r\n\r\n',
      'HTTP/1.1 2x0 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY',
    ]) {
      expect(feedIn(raw, 100_000).result).toBe(ERROR);
    }
  });

  test('reset allows reuse for the next response', () => {
    const p = new ResponseParser();
    for (let i = 0; i < 3; i++) {
      p.reset(true);
      expect(p.feed(enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${i}`))).toBe(DONE);
      expect(dec.decode(p.body())).toBe(String(i));
    }
  });
});
