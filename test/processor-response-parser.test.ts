import { describe, expect, test } from 'bun:test';
import { ResponseParser, type Parse } from '../src/processors/response-parser.ts';

/** The raw transport's response parser, fed bytes directly: no sockets. */
interface Input {
  pieces: string[];
  keepBody?: boolean;
  /** The server closes after the last piece. */
  end?: boolean;
}

function feedAll(input: Input): { parse: Parse; parser: ResponseParser } {
  const parser = new ResponseParser();
  parser.begin(input.keepBody ?? true);
  let parse: Parse = 'more';
  for (const piece of input.pieces) {
    parse = parser.feed(Buffer.from(piece, 'latin1'));
    if (parse !== 'more') break;
  }
  if (parse === 'more' && input.end) parse = parser.end();
  return { parse, parser };
}

/** Every way of cutting `text` in two, plus one byte at a time. */
function cuts(text: string): string[][] {
  const ways = [[text], text.split('')];
  for (let i = 1; i < text.length; i++) ways.push([text.slice(0, i), text.slice(i)]);
  return ways;
}

const BODY = '{"correlationId":"x","amount":19.9,"requestedAt":"2025-07-10T12:34:56.789Z"}';

describe('complete answers', () => {
  test('Content-Length: the same status and body however the bytes are cut; reusable', () => {
    for (const pieces of cuts(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`)) {
      const { parse, parser } = feedAll({ pieces });
      expect(parse).toBe('complete');
      expect({ status: parser.status, body: parser.body, reusable: parser.reusable }).toEqual({ status: 200, body: BODY, reusable: true });
    }
  });

  test('chunked, with a chunk extension and trailers, however the bytes are cut', () => {
    const text = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10;ext=1\r\n${BODY.slice(0, 16)}\r\n${(BODY.length - 16).toString(16)}\r\n${BODY.slice(16)}\r\n0\r\nX-Trailer: 1\r\n\r\n`;
    for (const pieces of cuts(text)) {
      const { parse, parser } = feedAll({ pieces });
      expect(parse).toBe('complete');
      expect({ status: parser.status, body: parser.body, reusable: parser.reusable }).toEqual({ status: 200, body: BODY, reusable: true });
    }
  });

  test('a body not kept is drained: complete, empty body', () => {
    const { parse, parser } = feedAll({ pieces: [`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`], keepBody: false });
    expect(parse).toBe('complete');
    expect(parser.body).toBe('');
  });

  test('interim 1xx answers are skipped', () => {
    const { parse, parser } = feedAll({
      pieces: [
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n',
        'HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: 2\r\n\r\n{}',
      ],
    });
    expect(parse).toBe('complete');
    expect(parser.status).toBe(422);
  });

  test('204 and Content-Length: 0 complete at the end of the head', () => {
    for (const head of ['HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']) {
      const { parse, parser } = feedAll({ pieces: [head] });
      expect(parse).toBe('complete');
      expect(parser.reusable).toBe(true);
    }
  });

  test('a body read until close completes when the server closes; the connection is not reused', () => {
    for (const head of ['HTTP/1.0 200 OK\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n']) {
      const parser = new ResponseParser();
      parser.begin(true);
      expect(parser.feed(Buffer.from(head + BODY.slice(0, 10)))).toBe('more');
      expect(parser.feed(Buffer.from(BODY.slice(10)))).toBe('more');
      expect(parser.end()).toBe('complete');
      expect({ body: parser.body, reusable: parser.reusable }).toEqual({ body: BODY, reusable: false });
    }
  });

  test('not reusable: Connection: close, HTTP/1.0 by default, Transfer-Encoding with Content-Length, bytes after the answer', () => {
    const answers = [
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}',
      'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 422 Unprocessable Entity\r\n',
    ];
    for (const answer of answers) {
      const { parse, parser } = feedAll({ pieces: [answer] });
      expect(parse).toBe('complete');
      expect(parser.reusable).toBe(false);
    }
    expect(feedAll({ pieces: ['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}'] }).parser.reusable).toBe(true);
  });

  test('Keep-Alive: timeout=N is reported; absent, -1', () => {
    expect(feedAll({ pieces: ['HTTP/1.1 200 OK\r\nKeep-Alive: max=100, timeout=5\r\nContent-Length: 0\r\n\r\n'] }).parser.keepAliveSeconds).toBe(5);
    expect(feedAll({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'] }).parser.keepAliveSeconds).toBe(-1);
  });

  test('one parser, answer after answer: begin() starts anew', () => {
    const parser = new ResponseParser();
    parser.begin(true);
    expect(parser.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'))).toBe('complete');
    parser.begin(true);
    expect(parser.status).toBe(0);
    expect(parser.feed(Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'))).toBe('complete');
    expect({ status: parser.status, body: parser.body }).toEqual({ status: 404, body: '' });
  });
});

describe('failures', () => {
  test.each([
    ['bad status line', ['HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n'], 0],
    ['conflicting content-length', ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'], 0],
    ['bad header line', ['HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}'], 0],
    ['unexpected protocol switch', ['HTTP/1.1 101 Switching Protocols\r\n\r\n'], 0],
    ['response head too large', [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(17 * 1024)}`], 0],
    ['bad chunk size line', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'], 200],
    ['bad chunk end', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX'], 200],
    ['response body too large', [`HTTP/1.1 200 OK\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n${' '.repeat(2 * 1024 * 1024)}`], 200],
  ] as const)('%s (the status, once its head arrived, is kept)', (error, pieces, status) => {
    const { parse, parser } = feedAll({ pieces: [...pieces] });
    expect(parse).toBe('failed');
    expect(parser.error).toBe(error);
    expect(parser.status).toBe(status);
  });

  test('a body not kept has no size limit', () => {
    expect(feedAll({ pieces: [`HTTP/1.1 200 OK\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n${' '.repeat(2 * 1024 * 1024)}`], keepBody: false }).parse).toBe(
      'complete',
    );
  });

  test('the server closing before the answer ends fails it', () => {
    for (const pieces of [[], ['HTTP/1.1 200 OK\r\n'], ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}']]) {
      const { parse, parser } = feedAll({ pieces, end: true });
      expect(parse).toBe('failed');
      expect(parser.error).toBe('connection closed by the processor');
    }
  });
});
