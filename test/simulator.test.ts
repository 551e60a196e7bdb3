import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import net from 'node:net';
import { resolve } from 'node:path';
import { startProcessor } from '../tools/simulator/processor.ts';
import { startSimulator, type SimProcessor, type Simulator } from './support/simulator.ts';

// Short health window so the rate-limit test runs in seconds. Timing assertions
// are lower bounds (minus timer slack) or orderings only: the box may be noisy.
const WINDOW_MS = 1000;
const SLACK_MS = 50;
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ healthWindowMs: WINDOW_MS });
});
afterAll(async () => {
  await sim?.stop();
});
beforeEach(async () => {
  for (const [p, fee] of [
    [sim.default, 0.05],
    [sim.fallback, 0.15],
  ] as const) {
    await Promise.all([p.setDelay(0), p.setFailure(false), p.setFault('none'), p.setFee(fee), p.purge()]);
  }
});

type Payment = { correlationId: string; amount: number; requestedAt: string };
const newPayment = (amount = 19.9, requestedAt = new Date().toISOString()): Payment => ({
  correlationId: crypto.randomUUID(),
  amount,
  requestedAt,
});
const post = (p: SimProcessor, body: unknown, init: RequestInit = {}) =>
  fetch(`${p.url}/payments`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
const admin = (p: SimProcessor, method: string, path: string, token?: string, body?: unknown) =>
  fetch(p.url + path, {
    method,
    headers: token === undefined ? {} : { 'X-Rinha-Token': token },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await Bun.sleep(50);
  }
}
async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work;
  return { value, ms: performance.now() - start };
}

describe('POST /payments', () => {
  test('answers 200 and records the payment', async () => {
    const p = newPayment(19.9, '2025-07-10T12:34:56Z');
    const res = await post(sim.default, p);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: 'payment processed successfully' });
    expect(await sim.default.getPayment(p.correlationId)).toEqual({
      correlationId: p.correlationId,
      amount: 19.9,
      requestedAt: '2025-07-10T12:34:56.000Z',
    });
    expect(await sim.fallback.getPayment(p.correlationId)).toBeNull();
  });

  test('a duplicate correlationId gets 422 and stays recorded once', async () => {
    const p = newPayment();
    expect((await post(sim.default, p)).status).toBe(200);
    expect((await post(sim.default, { ...p, amount: 50 })).status).toBe(422);
    expect(await sim.default.summary()).toMatchObject({ totalRequests: 1, totalAmount: 19.9 });
  });

  test('invalid bodies get 400 with a JSON message and record nothing', async () => {
    const good = newPayment();
    const bad: unknown[] = [
      'not json',
      '[1]',
      {},
      { ...good, correlationId: 'abc' },
      { ...good, amount: '19.90' },
      { ...good, amount: -1 },
      { correlationId: good.correlationId, requestedAt: good.requestedAt },
      { ...good, requestedAt: 'yesterday' },
      { ...good, requestedAt: '2025-13-45T00:00:00Z' },
      { ...good, requestedAt: 1752150896000 },
    ];
    for (const body of bad) {
      const res = await post(sim.default, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(typeof ((await res.json()) as { message: unknown }).message).toBe('string');
    }
    expect((await sim.default.summary()).totalRequests).toBe(0);
  });

  test('amounts are kept to 2 decimals and summed exactly', async () => {
    const rounded = newPayment(19.999);
    await post(sim.default, rounded);
    expect((await sim.default.getPayment(rounded.correlationId)).amount).toBe(20);
    await post(sim.default, newPayment(0.1));
    await post(sim.default, newPayment(0.2));
    expect((await sim.default.summary()).totalAmount).toBe(20.3);
  });

  test('a configured failure answers 500 and records nothing', async () => {
    await sim.default.setFailure(true);
    const p = newPayment();
    expect((await post(sim.default, p)).status).toBe(500);
    expect(await sim.default.getPayment(p.correlationId)).toBeNull();
    await sim.default.setFailure(false);
    expect((await post(sim.default, p)).status).toBe(200);
    expect((await sim.default.summary()).totalRequests).toBe(1);
  });

  test('the delay is applied before answering', async () => {
    await sim.default.setDelay(300);
    const { value: res, ms } = await timed(post(sim.default, newPayment()));
    expect(res.status).toBe(200);
    expect(ms).toBeGreaterThanOrEqual(300 - SLACK_MS);
  });

  test('failure is checked after the delay', async () => {
    await sim.default.setDelay(2000);
    await sim.default.setFailure(true);
    const p = newPayment();
    const pending = post(sim.default, p);
    await Bun.sleep(300);
    await sim.default.setFailure(false); // turned off while the request waits: it succeeds
    expect((await pending).status).toBe(200);
    expect(await sim.default.getPayment(p.correlationId)).not.toBeNull();
  }, 20_000);

  test('a client that gives up does not cancel the payment', async () => {
    await sim.default.setDelay(3000);
    const p = newPayment();
    await expect(post(sim.default, p, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    await Bun.sleep(300);
    expect(await sim.default.getPayment(p.correlationId)).toBeNull(); // still in its delay
    await eventually(async () => (await sim.default.getPayment(p.correlationId)) !== null);
    expect((await sim.default.summary()).totalRequests).toBe(1);
  }, 20_000);
});

describe('GET /payments/{id}', () => {
  test('404 for unknown or malformed ids', async () => {
    expect(await sim.default.getPayment(crypto.randomUUID())).toBeNull();
    expect((await fetch(`${sim.default.url}/payments/not-a-uuid`)).status).toBe(404);
  });

  test('prints the amount with 2 decimals and requestedAt with ms', async () => {
    const p = newPayment(19.9, '2025-07-10T12:34:56.7+01:00');
    await post(sim.default, p);
    const text = await (await fetch(`${sim.default.url}/payments/${p.correlationId}`)).text();
    expect(text).toContain('"amount":19.90');
    expect(text).toContain('"requestedAt":"2025-07-10T11:34:56.700Z"');
  });
});

describe('GET /admin/payments-summary', () => {
  const at = (ms: number) => `2025-07-10T12:34:56.${String(ms).padStart(3, '0')}Z`;

  test('from and to are inclusive with ms precision', async () => {
    for (const ms of [100, 200, 300]) expect((await post(sim.default, newPayment(19.9, at(ms)))).status).toBe(200);
    const count = async (from?: string, to?: string) => (await sim.default.summary(from, to)).totalRequests;
    expect(await sim.default.summary(at(100), at(300))).toMatchObject({ totalRequests: 3, totalAmount: 59.7 });
    expect(await count(at(101), at(300))).toBe(2);
    expect(await count(at(100), at(299))).toBe(2);
    expect(await count(at(200), at(200))).toBe(1);
    expect(await count(at(301), at(999))).toBe(0);
    expect(await count(at(200))).toBe(3); // a missing bound means all payments
    expect(await count(undefined, at(100))).toBe(3);
    expect(await count()).toBe(3);
    const bad = await admin(sim.default, 'GET', '/admin/payments-summary?from=x&to=y', '123');
    expect(bad.status).toBe(400);
  });

  test('fee figures per processor', async () => {
    for (const p of [sim.default, sim.fallback]) {
      await post(p, newPayment(100));
      await post(p, newPayment(100));
    }
    expect(await sim.default.summary()).toEqual({ totalRequests: 2, totalAmount: 200, totalFee: 10, feePerTransaction: 0.05 });
    expect(await sim.fallback.summary()).toEqual({ totalRequests: 2, totalAmount: 200, totalFee: 30, feePerTransaction: 0.15 });
    await sim.default.purge();
    for (let i = 0; i < 3; i++) await post(sim.default, newPayment(19.9));
    // round(5970 cents * 0.05) / 100
    expect(await sim.default.summary()).toEqual({ totalRequests: 3, totalAmount: 59.7, totalFee: 2.99, feePerTransaction: 0.05 });
  });

  test("the fee is the processor's own configuration (7%/10% in some runs), changed through the admin API", async () => {
    await sim.default.setFee(0.07);
    await sim.fallback.setFee(0.1);
    for (const p of [sim.default, sim.fallback]) {
      for (let i = 0; i < 3; i++) await post(p, newPayment(19.9));
    }
    // 5970 cents x 700 bps = 417.9 cents -> 4.18; x 1000 bps = 5.97
    expect(await sim.default.summary()).toEqual({ totalRequests: 3, totalAmount: 59.7, totalFee: 4.18, feePerTransaction: 0.07 });
    expect(await sim.fallback.summary()).toEqual({ totalRequests: 3, totalAmount: 59.7, totalFee: 5.97, feePerTransaction: 0.1 });
    const config = await admin(sim.default, 'GET', '/admin/configurations', '123');
    expect(((await config.json()) as { fee: number }).fee).toBe(0.07);
    for (const fee of [-0.01, 1.5, 0.07251, '0.07', null]) {
      const res = await admin(sim.default, 'PUT', '/admin/configurations/fee', '123', { fee });
      expect(res.status, JSON.stringify(fee)).toBe(400);
    }
    expect((await admin(sim.default, 'PUT', '/admin/configurations/fee', 'wrong', { fee: 0.01 })).status).toBe(401);
    expect((await sim.default.summary()).feePerTransaction).toBe(0.07);
  });
});

describe('GET /payments/service-health', () => {
  test('one answer per window, 2 callers queued, the rest 429', async () => {
    const health = sim.fallback; // the only test calling health on this processor: a fresh series
    const start = performance.now();
    const calls = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const res = await fetch(`${health.url}/payments/service-health`);
        return { status: res.status, body: await res.json(), ms: performance.now() - start };
      }),
    );
    calls.sort((a, b) => a.ms - b.ms);
    const statuses = calls.map((c) => c.status);
    // at once: the window's answer and the 429 (in either order); then one per window
    expect(statuses.slice(0, 2).sort()).toEqual([200, 429]);
    expect(statuses.slice(2)).toEqual([200, 200]);
    expect(calls[2]?.ms).toBeGreaterThanOrEqual(WINDOW_MS - SLACK_MS);
    expect(calls[3]?.ms).toBeGreaterThanOrEqual(2 * WINDOW_MS - SLACK_MS);
    expect(calls[3]?.body).toEqual({ failing: false, minResponseTime: 0 });

    // the series goes on: the next caller waits for the next window and sees the current config
    await health.setDelay(250);
    await health.setFailure(true);
    const res = await fetch(`${health.url}/payments/service-health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ failing: true, minResponseTime: 250 });
  }, 20_000);
});

describe('admin', () => {
  test('needs the current token, which can be changed', async () => {
    const p = sim.default;
    for (const token of [undefined, '', 'wrong']) {
      expect((await admin(p, 'GET', '/admin/payments-summary', token)).status).toBe(401);
      expect((await admin(p, 'PUT', '/admin/configurations/failure', token, { failure: true })).status).toBe(401);
      expect((await admin(p, 'POST', '/admin/purge-payments', token)).status).toBe(401);
    }
    expect((await admin(p, 'PUT', '/admin/configurations/token', '123', { token: 'abc' })).status).toBe(200);
    try {
      expect((await admin(p, 'GET', '/admin/payments-summary', '123')).status).toBe(401);
      expect((await admin(p, 'GET', '/admin/payments-summary', 'abc')).status).toBe(200);
      expect((await admin(sim.fallback, 'GET', '/admin/payments-summary', '123')).status).toBe(200); // per processor
    } finally {
      expect((await admin(p, 'PUT', '/admin/configurations/token', 'abc', { token: '123' })).status).toBe(200);
    }
    expect((await admin(p, 'GET', '/admin/configurations', '123')).status).toBe(200);
  });

  test('GET /admin/configurations reflects the settings; bad values get 400', async () => {
    await sim.default.setDelay(120);
    await sim.default.setFailure(true);
    await sim.default.setFault('garbage');
    const res = await admin(sim.default, 'GET', '/admin/configurations', '123');
    expect(await res.json()).toEqual({ delay: 120, failure: true, fault: 'garbage', fee: 0.05 });
    expect((await admin(sim.default, 'PUT', '/admin/configurations/delay', '123', { delay: -5 })).status).toBe(400);
    expect((await admin(sim.default, 'PUT', '/admin/configurations/failure', '123', { failure: 'yes' })).status).toBe(400);
    expect((await admin(sim.default, 'PUT', '/admin/configurations/fault', '123', { fault: 'explode' })).status).toBe(400);
  });

  test('purge clears the payments', async () => {
    const p = newPayment();
    await post(sim.default, p);
    await sim.default.purge();
    expect((await sim.default.summary()).totalRequests).toBe(0);
    expect(await sim.default.getPayment(p.correlationId)).toBeNull();
  });
});

describe('faults (simulator extension): the payment is recorded, the answer is broken', () => {
  test('reset: the connection is closed without any HTTP response', async () => {
    await sim.default.setFault('reset');
    const p = newPayment();
    await expect(post(sim.default, p)).rejects.toThrow();
    await eventually(async () => (await sim.default.getPayment(p.correlationId)) !== null);
    // raw socket: not a single byte comes back
    const url = new URL(sim.default.url);
    const body = JSON.stringify(newPayment());
    const bytes = await new Promise<string>((done, fail) => {
      let got = '';
      const socket = net.connect(Number(url.port), url.hostname, () =>
        socket.write(`POST /payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
      );
      socket.on('data', (d) => (got += d));
      socket.on('error', () => {}); // ECONNRESET is the expected outcome; 'close' follows
      socket.on('close', () => done(got));
      setTimeout(() => fail(new Error('socket not closed')), 10_000);
    });
    expect(bytes).toBe('');
    expect((await sim.default.summary()).totalRequests).toBe(2);
  }, 20_000);

  test('garbage: 200 with a body that is not JSON', async () => {
    await sim.default.setFault('garbage');
    const p = newPayment();
    const res = await post(sim.default, p);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(() => JSON.parse(text)).toThrow();
    expect(await sim.default.getPayment(p.correlationId)).not.toBeNull();
  });

  test('hang: no answer until the client gives up', async () => {
    await sim.default.setFault('hang');
    const p = newPayment();
    await expect(post(sim.default, p, { signal: AbortSignal.timeout(1000) })).rejects.toThrow();
    expect(await sim.default.getPayment(p.correlationId)).not.toBeNull();
    await sim.default.setFault('none');
    expect((await post(sim.default, newPayment())).status).toBe(200); // the server is still fine
  }, 20_000);

  test('status-503', async () => {
    await sim.default.setFault('status-503');
    const p = newPayment();
    expect((await post(sim.default, p)).status).toBe(503);
    expect(await sim.default.getPayment(p.correlationId)).not.toBeNull();
  });

  test('duplicates get the fault too (the answer of the insert step is what breaks)', async () => {
    const p = newPayment();
    expect((await post(sim.default, p)).status).toBe(200);
    await sim.default.setFault('status-503');
    expect((await post(sim.default, p)).status).toBe(503);
    await sim.default.setFault('none');
    expect((await post(sim.default, p)).status).toBe(422);
  });
});

describe('in-process processor', () => {
  test('requests beyond the concurrency limit and its queue get 429', async () => {
    const processor = startProcessor({ name: 'small', port: 0, fee: 0.05, maxConcurrent: 2, maxQueued: 1 });
    try {
      const url = `http://127.0.0.1:${processor.port}`;
      const put = await fetch(`${url}/admin/configurations/delay`, {
        method: 'PUT',
        headers: { 'X-Rinha-Token': '123' },
        body: JSON.stringify({ delay: 500 }),
      });
      expect(put.status).toBe(200);
      const statuses = await Promise.all(
        Array.from({ length: 4 }, () => fetch(`${url}/payments`, { method: 'POST', body: JSON.stringify(newPayment()) }).then((r) => r.status)),
      );
      expect(statuses.sort()).toEqual([200, 200, 200, 429]);
    } finally {
      await processor.stop();
    }
  }, 20_000);
});

describe('tools/simulator/main.ts', () => {
  const main = resolve(import.meta.dir, '../tools/simulator/main.ts');
  const spawnMain = (env: Record<string, string>) =>
    Bun.spawn([process.execPath, main], {
      env: { ...process.env, SIM_DEFAULT_PORT: '0', SIM_FALLBACK_PORT: '0', ...env },
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
    });

  test('rejects an invalid environment with a clear error', async () => {
    const proc = spawnMain({ SIM_DEFAULT_PORT: 'abc', SIM_HEALTH_WINDOW_MS: '-1', SIM_DEFAULT_FEE: '5', SIM_FALLBACK_FEE: 'x' });
    expect(await proc.exited).toBe(2);
    const stderr = await new Response(proc.stderr).text();
    for (const name of ['SIM_DEFAULT_PORT', 'SIM_HEALTH_WINDOW_MS', 'SIM_DEFAULT_FEE', 'SIM_FALLBACK_FEE']) expect(stderr).toContain(name);
  });

  test("SIM_DEFAULT_FEE and SIM_FALLBACK_FEE set each processor's fee", async () => {
    const other = await startSimulator({ fees: { default: 0.07, fallback: 0.1 } });
    try {
      await post(other.default, newPayment(100));
      await post(other.fallback, newPayment(100));
      expect(await other.default.summary()).toEqual({ totalRequests: 1, totalAmount: 100, totalFee: 7, feePerTransaction: 0.07 });
      expect(await other.fallback.summary()).toEqual({ totalRequests: 1, totalAmount: 100, totalFee: 10, feePerTransaction: 0.1 });
    } finally {
      await other.stop();
    }
  });

  test('exits 0 on SIGTERM, and when stdin closes if asked to', async () => {
    for (const stopBy of ['SIGTERM', 'stdin'] as const) {
      const proc = spawnMain({ SIM_EXIT_ON_STDIN_CLOSE: stopBy === 'stdin' ? '1' : '0' });
      const reader = proc.stdout.getReader();
      let out = '';
      while (!out.includes('simulator: ready')) {
        const chunk = await reader.read();
        if (chunk.done) break;
        out += new TextDecoder().decode(chunk.value);
      }
      expect(out).toMatch(/^simulator: default listening on http:\/\/127\.0\.0\.1:\d+$/m);
      expect(out).toMatch(/^simulator: fallback listening on http:\/\/127\.0\.0\.1:\d+$/m);
      if (stopBy === 'SIGTERM') proc.kill('SIGTERM');
      else proc.stdin.end();
      expect(await proc.exited).toBe(0);
    }
  }, 20_000);
});
