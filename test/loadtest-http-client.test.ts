import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Socket, TCPSocketListener } from 'bun';
import { ConnectionPool, HttpConnection, OUTCOME_ERROR, OUTCOME_RESPONSE, OUTCOME_TIMEOUT, parseEndpoint } from '../tools/loadtest/http-client.ts';
import { buildRequest } from '../tools/loadtest/request-builder.ts';

const dec = new TextDecoder();

// ---- a real Bun.serve server ---------------------------------------------------
let server: ReturnType<typeof Bun.serve>;
let serveCount = 0;

beforeAll(() => {
  server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      serveCount++;
      const url = new URL(req.url);
      if (url.pathname === '/payments') {
        await req.text();
        return new Response(null, { status: 202 });
      }
      if (url.pathname === '/text') return new Response('hello world');
      if (url.pathname === '/chunked') {
        const parts = ['alpha-', 'beta-', 'x'.repeat(20_000), '-omega'];
        const stream = new ReadableStream<Uint8Array>({
          async pull(controller) {
            const next = parts.shift();
            if (next === undefined) {
              controller.close();
              return;
            }
            await Bun.sleep(1);
            controller.enqueue(new TextEncoder().encode(next));
          },
        });
        return new Response(stream);
      }
      if (url.pathname === '/close') return new Response('bye', { headers: { Connection: 'close' } });
      if (url.pathname === '/error') return new Response('nope', { status: 500 });
      if (url.pathname === '/slow') {
        await Bun.sleep(300);
        return new Response('late');
      }
      return new Response('not found', { status: 404 });
    },
  });
});

afterAll(() => {
  server.stop(true);
});

const ep = (): ReturnType<typeof parseEndpoint> => parseEndpoint(`http://127.0.0.1:${server.port}`);
const get = (path: string, host = 'x'): Uint8Array => buildRequest({ method: 'GET', path, host });

describe('HttpConnection against Bun.serve', () => {
  test('keep-alive: many requests reuse one socket', async () => {
    const conn = new HttpConnection(ep());
    const before = serveCount;
    for (let i = 0; i < 20; i++) {
      const body = JSON.stringify({ correlationId: crypto.randomUUID(), amount: 19.9 });
      const r = await conn.request(buildRequest({ method: 'POST', path: '/payments', host: 'x', body }), false, 2000);
      expect(r.outcome).toBe(OUTCOME_RESPONSE);
      expect(r.status).toBe(202);
      expect(r.body).toBeNull();
      expect(r.latencyMs).toBeGreaterThan(0);
    }
    expect(serveCount - before).toBe(20);
    expect(conn.opened).toBe(1);
    conn.close();
  });

  test('Content-Length body is returned when asked for', async () => {
    const conn = new HttpConnection(ep());
    const r = await conn.request(get('/text'), true, 2000);
    expect(r.status).toBe(200);
    expect(dec.decode(r.body ?? new Uint8Array())).toBe('hello world');
    const e = await conn.request(get('/error'), true, 2000);
    expect(e.outcome).toBe(OUTCOME_RESPONSE);
    expect(e.status).toBe(500);
    expect(conn.opened).toBe(1);
    conn.close();
  });

  test('chunked body from a streaming response', async () => {
    const conn = new HttpConnection(ep());
    for (let i = 0; i < 3; i++) {
      const r = await conn.request(get('/chunked'), true, 3000);
      expect(r.outcome).toBe(OUTCOME_RESPONSE);
      expect(dec.decode(r.body ?? new Uint8Array())).toBe(`alpha-beta-${'x'.repeat(20_000)}-omega`);
    }
    expect(conn.opened).toBe(1);
    conn.close();
  });

  test('Connection: close makes the next request reconnect', async () => {
    const conn = new HttpConnection(ep());
    const a = await conn.request(get('/close'), true, 2000);
    expect(dec.decode(a.body ?? new Uint8Array())).toBe('bye');
    const b = await conn.request(get('/text'), true, 2000);
    expect(b.status).toBe(200);
    expect(conn.opened).toBe(2);
    conn.close();
  });

  test('timeout: counted with the timeout as latency, socket replaced', async () => {
    const conn = new HttpConnection(ep());
    const r = await conn.request(get('/slow'), true, 100);
    expect(r.outcome).toBe(OUTCOME_TIMEOUT);
    expect(r.latencyMs).toBe(100);
    expect(r.status).toBe(0);
    const ok = await conn.request(get('/text'), true, 2000);
    expect(ok.status).toBe(200);
    expect(dec.decode(ok.body ?? new Uint8Array())).toBe('hello world'); // not the late "late" body
    expect(conn.opened).toBe(2);
    conn.close();
  });

  test('pool reuses idle connections', async () => {
    const pool = new ConnectionPool(ep());
    const results = await Promise.all([pool.request(get('/text'), true, 2000), pool.request(get('/text'), true, 2000)]);
    for (const r of results) expect(r.status).toBe(200);
    const again = await pool.request(get('/text'), true, 2000);
    expect(again.status).toBe(200);
    pool.close();
  });
});

// ---- a raw TCP server sending hand-made responses ----------------------------------
interface RawCtx {
  buf: string;
}
type Script = (socket: Socket<RawCtx>, request: string, index: number) => void;

function rawServer(script: Script): { listener: TCPSocketListener<RawCtx>; accepted: () => number } {
  let accepted = 0;
  let index = 0;
  const listener = Bun.listen<RawCtx>({
    hostname: '127.0.0.1',
    port: 0,
    data: { buf: '' },
    socket: {
      open(socket) {
        accepted++;
        socket.data = { buf: '' };
      },
      data(socket, data) {
        socket.data.buf += dec.decode(data);
        let end = socket.data.buf.indexOf('\r\n\r\n');
        while (end >= 0) {
          const head = socket.data.buf.slice(0, end);
          const m = /content-length: (\d+)/i.exec(head);
          const len = m?.[1] !== undefined ? Number(m[1]) : 0;
          if (socket.data.buf.length < end + 4 + len) return;
          const request = socket.data.buf.slice(0, end + 4 + len);
          socket.data.buf = socket.data.buf.slice(end + 4 + len);
          script(socket, request, index++);
          end = socket.data.buf.indexOf('\r\n\r\n');
        }
      },
    },
  });
  return { listener, accepted: () => accepted };
}

function writeSlowly(socket: Socket<RawCtx>, text: string, piece: number): void {
  const bytes = new TextEncoder().encode(text);
  let i = 0;
  const tick = (): void => {
    if (i >= bytes.length) return;
    socket.write(bytes.subarray(i, i + piece));
    i += piece;
    setTimeout(tick, 1);
  };
  tick();
}

describe('HttpConnection against hand-made responses', () => {
  test('chunked response trickled in small pieces, with extensions and trailers', async () => {
    const body = '7;name=value\r\nchunked\r\n1\r\n-\r\n4\r\nbody\r\n0\r\nTrailer: x\r\n\r\n';
    const srv = rawServer((s) => writeSlowly(s, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, 3));
    const conn = new HttpConnection(parseEndpoint(`http://127.0.0.1:${srv.listener.port}`));
    for (let i = 0; i < 3; i++) {
      const r = await conn.request(get('/'), true, 3000);
      expect(r.outcome).toBe(OUTCOME_RESPONSE);
      expect(dec.decode(r.body ?? new Uint8Array())).toBe('chunked-body');
    }
    expect(srv.accepted()).toBe(1);
    conn.close();
    srv.listener.stop(true);
  });

  test('Content-Length split across writes; 100-continue; 204', async () => {
    const responses = [
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
    ];
    const srv = rawServer((s, _req, i) => writeSlowly(s, responses[i % responses.length] ?? '', 4));
    const conn = new HttpConnection(parseEndpoint(`http://127.0.0.1:${srv.listener.port}`));
    const a = await conn.request(get('/'), true, 3000);
    expect(dec.decode(a.body ?? new Uint8Array())).toBe('0123456789');
    const b = await conn.request(get('/'), true, 3000);
    expect(b.status).toBe(202);
    const c = await conn.request(get('/'), true, 3000);
    expect(c.status).toBe(204);
    expect(srv.accepted()).toBe(1);
    conn.close();
    srv.listener.stop(true);
  });

  test('body delimited by connection close', async () => {
    const srv = rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
      s.end();
    });
    const conn = new HttpConnection(parseEndpoint(`http://127.0.0.1:${srv.listener.port}`));
    const r = await conn.request(get('/'), true, 3000);
    expect(r.outcome).toBe(OUTCOME_RESPONSE);
    expect(dec.decode(r.body ?? new Uint8Array())).toBe('until the end');
    const r2 = await conn.request(get('/'), true, 3000);
    expect(r2.outcome).toBe(OUTCOME_RESPONSE);
    expect(srv.accepted()).toBe(2);
    conn.close();
    srv.listener.stop(true);
  });

  test('server closing mid-response is an error; idle close is recovered', async () => {
    const srv = rawServer((s, _req, i) => {
      if (i === 0) {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        s.end();
      } else {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        s.end(); // closes the idle keep-alive connection right after answering
      }
    });
    const conn = new HttpConnection(parseEndpoint(`http://127.0.0.1:${srv.listener.port}`));
    const a = await conn.request(get('/'), true, 3000);
    expect(a.outcome).toBe(OUTCOME_ERROR);
    expect(a.latencyMs).toBeGreaterThan(0);
    const b = await conn.request(get('/'), true, 3000);
    expect(b.status).toBe(200);
    await Bun.sleep(50); // let the FIN arrive
    const c = await conn.request(get('/'), true, 3000);
    expect(c.status).toBe(200);
    expect(srv.accepted()).toBe(3);
    conn.close();
    srv.listener.stop(true);
  });

  test('server that never answers: timeout then reconnect', async () => {
    let answer = false;
    const srv = rawServer((s) => {
      if (answer) s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    const conn = new HttpConnection(parseEndpoint(`http://127.0.0.1:${srv.listener.port}`));
    const r = await conn.request(get('/'), false, 150);
    expect(r.outcome).toBe(OUTCOME_TIMEOUT);
    expect(r.latencyMs).toBe(150);
    answer = true;
    const ok = await conn.request(get('/'), false, 2000);
    expect(ok.status).toBe(200);
    expect(srv.accepted()).toBe(2);
    conn.close();
    srv.listener.stop(true);
  });

  test('garbage response is a protocol error and the socket is dropped', async () => {
    const srv = rawServer((s, _req, i) => {
      s.write(i === 0 ? 'SSH-2.0-OpenSSH\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    const conn = new HttpConnection(parseEndpoint(`http://127.0.0.1:${srv.listener.port}`));
    const a = await conn.request(get('/'), false, 2000);
    expect(a.outcome).toBe(OUTCOME_ERROR);
    expect(a.error ?? '').toContain('bad response');
    const b = await conn.request(get('/'), false, 2000);
    expect(b.status).toBe(200);
    expect(conn.opened).toBe(2);
    conn.close();
    srv.listener.stop(true);
  });

  test('connection refused: error outcome, no latency sample', async () => {
    const srv = rawServer(() => undefined);
    const port = srv.listener.port;
    srv.listener.stop(true);
    const conn = new HttpConnection(parseEndpoint(`http://127.0.0.1:${port}`));
    const r = await conn.request(get('/'), false, 2000);
    expect(r.outcome).toBe(OUTCOME_ERROR);
    expect(r.latencyMs).toBe(-1);
    expect(r.error ?? '').toContain('connect failed');
    expect(conn.inFlight).toBe(false);
  });
});
