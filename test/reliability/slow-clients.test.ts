import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Socket } from 'node:net';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { expectConsistent, expectEachSettledOnce } from '../support/scenario.ts';
import { openSocket, rawExchange, rssMb } from './lib/raw-http.ts';

/**
 * Slowloris-style clients: many connections that send their request a byte at a time, or never
 * finish it, or send nothing at all. Normal clients meanwhile must still get their 202s (each
 * within a generous 5 s), and every accepted payment must settle once.
 */
let simulator: Simulator;
let gateway: GatewayProcess;
let port: number;

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
  gateway = await startGateway({
    ...gatewayEnvFor(simulator),
  });
  port = Number(new URL(gateway.url).port);
});

afterAll(async () => {
  await gateway?.stop();
  await simulator?.stop();
});

const NORMAL_PAYMENTS = 600;
const GENEROUS_MS = 5000;

function paymentBody(id: string, amount = '7.77'): string {
  return `{"correlationId":"${id}","amount":${amount}}`;
}

describe('slow clients', () => {
  test('200 stalled or byte-at-a-time connections do not keep normal clients from their 202s', async () => {
    const stalled: Socket[] = [];
    let closedByServer = 0;
    const watch = (socket: Socket) => {
      socket.on('error', () => undefined);
      socket.on('close', () => closedByServer++);
      stalled.push(socket);
    };
    const longBody = paymentBody(crypto.randomUUID()).padEnd(200, ' ');
    const scripts: string[] = [];
    for (let i = 0; i < 200; i++) {
      const socket = await openSocket(port);
      watch(socket);
      switch (i % 4) {
        case 0: // connects and says nothing
          scripts.push('');
          break;
        case 1: // request head, one byte at a time, never finished
          scripts.push('POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: ' + 'a'.repeat(200));
          break;
        case 2: // complete head, then the declared body one byte at a time
          socket.write(`POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${longBody.length + 100}\r\n\r\n`);
          scripts.push(longBody);
          break;
        case 3: // chunked body, one 1-byte chunk at a time, never terminated
          socket.write('POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
          scripts.push(longBody);
          break;
      }
    }
    let step = 0;
    const drip = setInterval(() => {
      for (let i = 0; i < stalled.length; i++) {
        const script = scripts[i];
        const socket = stalled[i];
        if (socket.destroyed || step >= script.length) continue;
        socket.write(i % 4 === 3 ? `1\r\n${script[step]}\r\n` : script[step]);
      }
      step++;
    }, 250);

    // Slow but complete: a valid payment sent in pieces over about 2 s, must be accepted.
    const slowIds = Array.from({ length: 20 }, () => crypto.randomUUID());
    const slowComplete = slowIds.map((id) => {
      const body = paymentBody(id, '3.33');
      const head = `POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      const whole = head + body;
      const cut = (k: number) => Math.floor((whole.length * k) / 8);
      const parts = Array.from({ length: 8 }, (_, k) => whole.slice(cut(k), cut(k + 1)));
      return rawExchange(port, parts, { gapMs: 250, timeoutMs: 15_000 });
    });

    // Normal clients, 10 at a time.
    const normalIds: string[] = [];
    const slowest: number[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const lane = async () => {
      while (next < NORMAL_PAYMENTS) {
        next++;
        const id = crypto.randomUUID();
        const started = performance.now();
        const response = await gateway.pay(id, '19.90');
        await response.arrayBuffer();
        slowest.push(performance.now() - started);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status === 202) normalIds.push(id);
        await Bun.sleep(5);
      }
    };
    await Promise.all(Array.from({ length: 10 }, lane));
    const summaryStarted = performance.now();
    const summary = await fetch(`${gateway.url}/payments-summary`);
    const summaryMs = performance.now() - summaryStarted;
    const slowAnswers = await Promise.all(slowComplete);
    clearInterval(drip);
    const closedDuringRun = closedByServer;
    for (const socket of stalled) socket.destroy();

    const worst = Math.max(...slowest);
    console.log(
      `slow clients: ${NORMAL_PAYMENTS} normal payments while 200 connections stalled; worst normal request ${worst.toFixed(1)} ms, ` +
        `summary ${summaryMs.toFixed(1)} ms, ${closedDuringRun} stalled connections closed by the server during the run`,
    );
    expect([...statuses]).toEqual([[202, NORMAL_PAYMENTS]]);
    expect(worst).toBeLessThan(GENEROUS_MS);
    expect(summary.status).toBe(200);
    expect(summaryMs).toBeLessThan(GENEROUS_MS);
    expect(slowAnswers.map((a) => a.status)).toEqual(slowIds.map(() => 202));

    await gateway.settled();
    const accepted = [...normalIds, ...slowIds];
    const totals = await expectConsistent(gateway, simulator);
    expect(totals.default.totalRequests + totals.fallback.totalRequests).toBe(accepted.length);
    await expectEachSettledOnce(simulator, accepted);
    expect(gateway.child.proc.exitCode).toBeNull();
  }, 60_000);

  test('a chunked body is refused with 413 as soon as it passes MAX_BODY_BYTES, not read on to the end', async () => {
    // BUG (src/http/bun-adapter.ts, POST /payments): without a Content-Length, the handler awaits
    // request.bytes(), i.e. the whole body, up to Bun's maxRequestBodySize of 1 MiB, and only then
    // compares it with MAX_BODY_BYTES (4096). A client that sends 8 KiB and keeps the body open
    // gets no answer at all, and each such connection holds up to 1 MiB of gateway memory.
    const head = 'POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunk = `2000\r\n${' '.repeat(0x2000)}\r\n`;
    let answer: Awaited<ReturnType<typeof rawExchange>> | string;
    try {
      answer = await rawExchange(port, [head, chunk], { timeoutMs: 3000 });
    } catch (error) {
      answer = String(error);
    }
    expect(typeof answer === 'string' ? answer : answer.status).toBe(413);
  }, 10_000);

  test('150 unfinished ~1 MB chunked uploads do not cost the gateway ~1 MB of memory each', async () => {
    // Same bug, measured: today the gateway's RSS grows by about the sum of the bodies (~140 MB
    // here; the whole deployment has 350 MB). After a fix that stops reading at MAX_BODY_BYTES,
    // the growth is a few MB.
    const before = rssMb(gateway.child.proc.pid);
    const sockets: Socket[] = [];
    const piece = Buffer.alloc(64 * 1024, 32);
    for (let i = 0; i < 150; i++) {
      const socket = await openSocket(port);
      socket.on('error', () => undefined);
      sockets.push(socket);
      socket.write('POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      for (let k = 0; k < 15; k++) socket.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
    }
    await Bun.sleep(1500);
    const during = rssMb(gateway.child.proc.pid);
    for (const socket of sockets) socket.destroy();
    console.log(`unfinished chunked uploads: gateway RSS ${before.toFixed(0)} MB before, ${during.toFixed(0)} MB with 150 × 960 KB pending`);
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
    expect(during - before).toBeLessThan(64);
  }, 20_000);
});
