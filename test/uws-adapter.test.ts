import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cases, comparable, raw, rawAll, request, type RawAnswer } from '../bench/http-servers/compare.ts';
import { startGateway, type GatewayProcess } from './support/gateway.ts';
import { spawnChild } from './support/process.ts';
import { expectConsistent, expectEachSettledOnce, sendPayments } from './support/scenario.ts';
import { startSimulator, type Simulator } from './support/simulator.ts';

/**
 * The Node entry (uWebSockets.js, src/http/uws-adapter.ts) built by tools/build-node.ts and run as
 * a real `node dist/node/main-node.js` process: it answers the route table as the Bun entry does
 * (compared request by request with a real Bun gateway), and its payments settle.
 */
const ROOT = resolve(import.meta.dir, '..');
const JSON_TYPE = { 'Content-Type': 'application/json' };
const payment = () => `{"correlationId":"${crypto.randomUUID()}","amount":19.90}`;

let nodeSimulator: Simulator;
let bunSimulator: Simulator;
let node: GatewayProcess;
let bun: GatewayProcess;

/** support/gateway.ts startGateway, with the built Node entry as the command. */
const startNodeGateway = (env: Record<string, string>) => startGateway(env, ['node', join(ROOT, 'dist/node/main-node.js')]);

const processorEnv = (simulator: Simulator) => ({
  DEFAULT_PROCESSOR_URL: simulator.default.url,
  FALLBACK_PROCESSOR_URL: simulator.fallback.url,
  HEALTH_INTERVAL_MS: '1000',
});

beforeAll(async () => {
  const build = Bun.spawn([process.execPath, join(ROOT, 'tools/build-node.ts')], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
  const [code, out, err] = await Promise.all([build.exited, new Response(build.stdout).text(), new Response(build.stderr).text()]);
  if (code !== 0) throw new Error(`tools/build-node.ts failed (${code}):\n${out}${err}`);
  // One simulator per gateway, so each side's processor records are its own.
  [nodeSimulator, bunSimulator] = await Promise.all([startSimulator({ healthWindowMs: 1000 }), startSimulator({ healthWindowMs: 1000 })]);
  [node, bun] = await Promise.all([startNodeGateway(processorEnv(nodeSimulator)), startGateway(processorEnv(bunSimulator))]);
}, 120_000);

afterAll(async () => {
  await Promise.all([node?.stop(), bun?.stop()]);
  await Promise.all([nodeSimulator?.stop(), bunSimulator?.stop()]);
});

const expectJsonError = (answer: RawAnswer, status: number, pattern: RegExp) => {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/json');
  expect(JSON.parse(answer.body).error).toMatch(pattern);
};

describe('the Node/uWS gateway answers the route table', () => {
  test('it runs the native uWebSockets.js binary, not the package fallback', () => {
    expect(node.child.output()).toContain('uWebSockets.js on Node');
    expect(node.child.output()).not.toContain('FALLBACK');
  });

  test('202 for a valid payment (with or without a declared content type, in one chunk or chunked)', async () => {
    for (const headers of [JSON_TYPE, {}, { 'Content-Type': 'application/json; charset=utf-8' }, { 'Content-Type': 'Application/JSON ; charset="utf-8"' }]) {
      const answer = await raw(node.url, request('POST', '/payments', headers, payment()));
      expect(answer.status).toBe(202);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(JSON.parse(answer.body)).toEqual({ message: 'payment accepted' });
    }
    const body = payment();
    const chunked = `${(20).toString(16)}\r\n${body.slice(0, 20)}\r\n${(body.length - 20).toString(16)}\r\n${body.slice(20)}\r\n0\r\n\r\n`;
    expect((await raw(node.url, request('POST', '/payments', { ...JSON_TYPE, 'Transfer-Encoding': 'chunked' }, chunked))).status).toBe(202);
  });

  test('400 JSON for bad input, 415 for another content type, 413 JSON over MAX_BODY_BYTES', async () => {
    expectJsonError(await raw(node.url, request('POST', '/payments', JSON_TYPE, '{"correlationId":')), 400, /invalid JSON/);
    expectJsonError(await raw(node.url, request('POST', '/payments', JSON_TYPE, `{"correlationId":"${crypto.randomUUID()}"}`)), 400, /amount is required/);
    expectJsonError(await raw(node.url, request('POST', '/payments', JSON_TYPE, '{"correlationId":"nope","amount":1}')), 400, /correlationId/);
    expectJsonError(await raw(node.url, request('POST', '/payments', JSON_TYPE, '')), 400, /empty body/);
    for (const type of ['text/plain', 'application/jsonx', 'text/json', '']) {
      expectJsonError(await raw(node.url, request('POST', '/payments', { 'Content-Type': type }, payment())), 415, /application\/json/);
    }
    const big = `{"pad":"${'x'.repeat(5000)}"}`;
    expectJsonError(await raw(node.url, request('POST', '/payments', JSON_TYPE, big)), 413, /larger than 4096 bytes/);
    // Refused from the declared length alone, before any body byte arrives.
    expectJsonError(
      await raw(node.url, 'POST /payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4097\r\n\r\n'),
      413,
      /larger than 4096/,
    );
    // Chunked: no declared length, refused while accumulating.
    const chunked = `${(5000).toString(16)}\r\n${'x'.repeat(5000)}\r\n0\r\n\r\n`;
    expectJsonError(await raw(node.url, request('POST', '/payments', { ...JSON_TYPE, 'Transfer-Encoding': 'chunked' }, chunked)), 413, /larger than 4096/);
  });

  test('405 with Allow for a known path and another method, 404 elsewhere', async () => {
    const methods: [string, string, string][] = [
      ['GET', '/payments', 'POST'],
      ['PUT', '/payments', 'POST'],
      ['POST', '/payments-summary', 'GET'],
      ['GET', '/purge-payments', 'POST'],
      ['DELETE', '/health', 'GET'],
      ['POST', '/internal/totals', 'GET'],
      ['GET', '/internal/purge', 'POST'],
      ['POST', '/internal/health', 'GET'],
    ];
    for (const [method, path, allowed] of methods) {
      const answer = await raw(node.url, request(method, path, {}, method === 'GET' ? undefined : ''));
      expectJsonError(answer, 405, new RegExp(`^${method} is not allowed on ${path}; use ${allowed}$`));
      expect(answer.headers.allow).toBe(allowed);
    }
    expectJsonError(await raw(node.url, request('GET', '/nowhere')), 404, /^no route for GET \/nowhere$/);
    expectJsonError(await raw(node.url, request('GET', '/')), 404, /^no route for GET \/$/);
    expectJsonError(await raw(node.url, request('POST', '/payments/extra', JSON_TYPE, payment())), 404, /^no route for POST \/payments\/extra$/);
    // The path as URL normalises it, as Bun reports it; a route reached only by normalising is not taken.
    expectJsonError(await raw(node.url, request('POST', '/x/../payments', JSON_TYPE, payment())), 404, /^no route for POST \/payments$/);
    expectJsonError(await raw(node.url, request('GET', '/x/../payments')), 405, /^GET is not allowed on \/payments; use POST$/);
  });

  test('summary 200 (all, a window) and 400 (bad or reversed bounds); health 200', async () => {
    for (const query of ['', '?from=2020-07-10T12:34:56.000Z&to=2020-07-10T12:35:56.000Z', '?from=2020-07-10T12%3A34%3A56.000Z']) {
      const answer = await raw(node.url, request('GET', `/payments-summary${query}`));
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toBe('application/json');
      expect(Object.keys(JSON.parse(answer.body))).toEqual(['default', 'fallback']);
    }
    expectJsonError(
      await raw(node.url, request('GET', '/payments-summary?from=yesterday&to=2020-07-10T12:35:56.000Z')),
      400,
      /from must be an ISO-8601 timestamp/,
    );
    expectJsonError(
      await raw(node.url, request('GET', '/payments-summary?from=2020-07-10T12:35:56.000Z&to=2020-07-10T12:34:56.000Z')),
      400,
      /from must not be later than to/,
    );
    const health = await raw(node.url, request('GET', '/health'));
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'healthy', queues: { pending: expect.any(Number) } });
  });

  test('HEAD on a GET route: the GET headers and length, no body (as Bun answers)', async () => {
    const [head, get] = await rawAll(node.url, request('HEAD', '/internal/totals') + request('GET', '/internal/totals'), 2, true);
    expect(head!.status).toBe(200);
    expect(head!.body).toBe('');
    expect(Number(head!.headers['content-length'])).toBeGreaterThan(0);
    // Read as a HEAD answer, the GET that follows on the same connection parses from its own status line.
    expect(get!.status).toBe(200);
  });

  test('every case answers exactly as the Bun gateway does (status, content-type, allow, retry-after, body)', async () => {
    // Not compared: internal health (whether a service-health report has arrived yet is timing), and
    // a declared over-limit length with no body sent (asserted above; Bun has been seen to wait for the body).
    const skip = new Set(['internal health', 'declared length over the limit']);
    const differences: string[] = [];
    for (const [name, build] of cases()) {
      if (skip.has(name)) continue;
      const text = build();
      const [ours, theirs] = await Promise.all([raw(node.url, text), raw(bun.url, text)]);
      if (comparable(name, ours) !== comparable(name, theirs))
        differences.push(`${name}\n  node: ${comparable(name, ours)}\n  bun:  ${comparable(name, theirs)}`);
    }
    expect(differences).toEqual([]);
  });

  test('keep-alive: early refusals (415, 413) leave the connection usable for the next requests', async () => {
    const pipelined = [
      request('POST', '/payments', { 'Content-Type': 'text/plain' }, payment()),
      request('POST', '/payments', JSON_TYPE, `{"pad":"${'x'.repeat(5000)}"}`),
      request('POST', '/payments', JSON_TYPE, payment()),
      request('GET', '/payments'),
      request('POST', '/payments', JSON_TYPE, payment()),
    ].join('');
    const answers = await rawAll(node.url, pipelined, 5);
    expect(answers.map((a) => a.status)).toEqual([415, 413, 202, 405, 202]);
  });

  test('a body in several packets is accumulated; a client leaving mid-body is forgotten', async () => {
    const { connect } = await import('node:net');
    const port = Number(new URL(node.url).port);
    const body = `{"correlationId":"${crypto.randomUUID()}","amount":19.90,"pad":"${'y'.repeat(3800)}"}`;
    const head = `POST /payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let out = '';
      socket.on('data', (data) => {
        out += data;
        if (out.endsWith('}')) {
          socket.destroy();
          resolve(out);
        }
      });
      socket.on('error', reject);
      socket.write(head + body.slice(0, 100));
      setTimeout(() => socket.write(body.slice(100, 2000)), 30);
      setTimeout(() => socket.write(body.slice(2000)), 60);
    });
    expect(answer).toStartWith('HTTP/1.1 202 Accepted\r\n');
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.write(head + body.slice(0, 100));
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 50);
    });
    await Bun.sleep(50);
    expect((await raw(node.url, request('GET', '/health'))).status).toBe(200);
  });
});

describe('the Node/uWS gateway settles payments', () => {
  test('payments sent to it are paid on default, once each, and its summary matches the processors', async () => {
    await node.settled();
    expect((await fetch(`${node.url}/purge-payments`, { method: 'POST' })).status).toBe(200);
    await Promise.all([nodeSimulator.default.purge(), nodeSimulator.fallback.purge()]);
    const accepted = await sendPayments(node, 300, '19.90');
    expect(accepted.length).toBe(300);
    await node.settled();
    const summary = await expectConsistent(node, nodeSimulator);
    expect(summary.default).toEqual({ totalRequests: 300, totalAmount: 5970 });
    expect(await expectEachSettledOnce(nodeSimulator, accepted)).toEqual({ onDefault: 300, onFallback: 0 });
  });
});

describe('other Node/uWS instances', () => {
  test('503 with Retry-After when the queue is full', async () => {
    // QUEUE_CAPACITY 16 is all margin (routes.ts keeps 16 slots free): every payment is refused.
    const full = await startNodeGateway({ ...processorEnv(nodeSimulator), QUEUE_CAPACITY: '16', HEALTH_POLL: 'false' });
    try {
      const answer = await raw(full.url, request('POST', '/payments', JSON_TYPE, payment()));
      expectJsonError(answer, 503, /queue is full/);
      expect(answer.headers['retry-after']).toBe('1');
    } finally {
      await full.stop();
    }
  });

  test('listens on a unix socket (SOCKET_PATH), refuses a port already taken, stops cleanly on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-node-sock-'));
    const socketPath = join(dir, 'gateway.sock');
    const child = spawnChild(
      ['node', join(ROOT, 'dist/node/main-node.js')],
      { ...processorEnv(nodeSimulator), SOCKET_PATH: socketPath, JOURNAL_DIR: 'off', HEALTH_POLL: 'false' },
      'node gateway on a socket',
    );
    await child.waitFor(/gateway listening on \//);
    const response = await fetch('http://localhost/payments', { method: 'POST', headers: JSON_TYPE, body: payment(), unix: socketPath });
    expect(response.status).toBe(202);
    expect(await child.stop()).toBe(0);
    expect(child.output()).toMatch(/stopped; every accepted payment is settled|stopped with/);

    const taken = spawnChild(
      ['node', join(ROOT, 'dist/node/main-node.js')],
      { ...processorEnv(nodeSimulator), HOST: '127.0.0.1', PORT: new URL(node.url).port, JOURNAL_DIR: 'off', HEALTH_POLL: 'false' },
      'node gateway on a taken port',
    );
    expect(await taken.proc.exited).not.toBe(0);
    expect(taken.output()).toContain('could not listen on 127.0.0.1:');
  });
});
