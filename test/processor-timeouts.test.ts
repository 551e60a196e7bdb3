import { afterEach, describe, expect, test } from 'bun:test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProcessorClient } from '../src/processors/create-client.ts';
import type { ProcessorApi, ProcessorClientOptions } from '../src/processors/client.ts';

/**
 * Timeouts and queueing, for both transports through the factory the workers use, against a
 * small processor that behaves as the contract's: a payment's delay runs BEFORE the insert and
 * goes on when the client leaves, a second payment of an id gets 422, and service-health answers
 * once per window, 429 otherwise. The double logs what it did, in order; the tests assert on
 * outcomes and on that log, never on durations.
 */
interface Processor {
  url: string;
  /** Delay of each payment before its insert. */
  delayMs: number;
  /** Destroy the connection instead of answering a payment (after its insert). */
  resetAfterInsert: boolean;
  /** What the processor did, in order: "pay received <id>", "pay recorded <id>", "lookup <id>", "health", "health 429". */
  log: string[];
  stored: Map<string, { amount: number; requestedAt: string }>;
  /** Payments received and not yet answered, and the most there ever were at once. */
  paysInFlight: number;
  maxPaysInFlight: number;
  stop(): Promise<void>;
}

const HEALTH_WINDOW_MS = 5000;

async function startProcessor(): Promise<Processor> {
  let lastHealth = -Infinity;
  const processor: Processor = {
    url: '',
    delayMs: 0,
    resetAfterInsert: false,
    log: [],
    stored: new Map(),
    paysInFlight: 0,
    maxPaysInFlight: 0,
    stop: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const path = req.url ?? '';
      if (req.method === 'POST' && path === '/payments') {
        const payment = JSON.parse(body) as { correlationId: string; amount: number; requestedAt: string };
        processor.log.push(`pay received ${payment.correlationId}`);
        processor.maxPaysInFlight = Math.max(processor.maxPaysInFlight, ++processor.paysInFlight);
        // Not cancelled when the client goes away: the payment is inserted all the same.
        setTimeout(() => {
          processor.paysInFlight--;
          if (processor.stored.has(payment.correlationId)) return answer(res, 422, { message: 'duplicate' });
          processor.stored.set(payment.correlationId, { amount: payment.amount, requestedAt: payment.requestedAt });
          processor.log.push(`pay recorded ${payment.correlationId}`);
          if (processor.resetAfterInsert) req.socket.destroy();
          else answer(res, 200, { message: 'payment processed successfully' });
        }, processor.delayMs);
      } else if (path === '/payments/service-health') {
        const now = performance.now();
        if (now - lastHealth < HEALTH_WINDOW_MS) {
          processor.log.push('health 429');
          return answer(res, 429, {});
        }
        lastHealth = now;
        processor.log.push('health');
        answer(res, 200, { failing: false, minResponseTime: processor.delayMs });
      } else {
        const id = path.slice('/payments/'.length);
        processor.log.push(`lookup ${id}`);
        const record = processor.stored.get(id);
        if (record === undefined) answer(res, 404, {});
        else answer(res, 200, { correlationId: id, ...record });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  processor.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  processor.stop = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return processor;
}

function answer(res: http.ServerResponse, status: number, body: object): void {
  if (res.destroyed) return; // the client left; the work above was done all the same
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function eventually(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await Bun.sleep(10);
  }
}

const REQUESTED_AT = Date.parse('2025-07-10T12:34:56.789Z');
const ids = (count: number) => Array.from({ length: count }, () => crypto.randomUUID());

for (const kind of ['raw', 'undici'] as const) {
  describe(`${kind} transport`, () => {
    let processor: Processor;
    let client: ProcessorApi;
    const start = async (options: ProcessorClientOptions) => {
      processor = await startProcessor();
      client = await createProcessorClient(kind, processor.url, options);
    };
    afterEach(async () => {
      await client.close();
      await processor.stop();
    });

    test('the timeout counts from the write: 6 pays over 2 connections, each answered within the timeout, all recorded; the overflow sent first in, first out', async () => {
      // Each wave of two waits for the one before: the third is written at about 2 delays after
      // the call and answered at 3, past the timeout counted from the call, within it from the write.
      await start({ connections: 2, timeoutMs: 1200 });
      processor.delayMs = 500;
      const sent = ids(6);
      const outcomes = await Promise.all(sent.map((id) => client.pay(id, 1990, REQUESTED_AT)));
      expect(outcomes.map((o) => o.kind)).toEqual(Array(6).fill('recorded'));
      expect(processor.stored.size).toBe(6);
      expect(processor.maxPaysInFlight).toBe(2);
      const received = processor.log.filter((line) => line.startsWith('pay received')).map((line) => line.slice('pay received '.length));
      for (let wave = 0; wave < 3; wave++) expect(new Set(received.slice(2 * wave, 2 * wave + 2))).toEqual(new Set(sent.slice(2 * wave, 2 * wave + 2)));
    });

    test('a lookup and a health check are sent at once while every payment connection carries a slow call', async () => {
      await start({ connections: 2, timeoutMs: 10_000, lookupConnections: 2 });
      processor.delayMs = 3000;
      const [first, second] = ids(2);
      const pays = Promise.all([client.pay(first!, 1990, REQUESTED_AT), client.pay(second!, 1990, REQUESTED_AT)]);
      await eventually(() => processor.paysInFlight === 2);
      // Absent: answered before the payments' inserts, not queued behind them.
      expect(await client.lookup(first!)).toEqual({ kind: 'absent' });
      expect(await client.health()).toEqual({ kind: 'health', failing: false, minResponseTime: 3000 });
      expect(await client.health()).toEqual({ kind: 'rate-limited' });
      expect(processor.log.filter((line) => !line.startsWith('pay received'))[0]).toBe(`lookup ${first}`);
      expect((await pays).map((o) => o.kind)).toEqual(['recorded', 'recorded']);
      expect(await client.lookup(first!)).toEqual({ kind: 'found', requestedAtMs: REQUESTED_AT, cents: 1990 });
    });

    test('no answer within the timeout after the write: unknown and timedOut (slow, not broken); the processor records it later', async () => {
      await start({ connections: 1, timeoutMs: 300 });
      processor.delayMs = 1500;
      const [id] = ids(1);
      expect(await client.pay(id!, 1990, REQUESTED_AT)).toMatchObject({ kind: 'unknown', timedOut: true });
      expect(processor.stored.has(id!)).toBe(false); // still in its delay: the client did not wait it out
      await eventually(() => processor.stored.has(id!));
    });

    test('connection lost after the write: unknown, not timedOut (broken, not slow), although recorded', async () => {
      await start({ connections: 1, timeoutMs: 5000 });
      processor.resetAfterInsert = true;
      const [id] = ids(1);
      expect(await client.pay(id!, 1990, REQUESTED_AT)).toMatchObject({ kind: 'unknown', timedOut: false });
      expect(processor.stored.has(id!)).toBe(true);
    });

    test('422 for a payment already recorded: duplicate, recorded once', async () => {
      await start({ connections: 1, timeoutMs: 5000 });
      const [id] = ids(1);
      expect((await client.pay(id!, 1990, REQUESTED_AT)).kind).toBe('recorded');
      expect((await client.pay(id!, 1990, REQUESTED_AT)).kind).toBe('duplicate');
      expect(processor.stored.size).toBe(1);
    });
  });
}
