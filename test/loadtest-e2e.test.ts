/**
 * End-to-end runs of tools/loadtest/main.ts (as a subprocess) against tiny
 * in-process fakes of the gateway and the two payment processors.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = join(import.meta.dir, '..', 'tools', 'loadtest', 'main.ts');
const outRoot = mkdtempSync(join(tmpdir(), 'loadtest-e2e-'));
const servers: Array<{ stop: (force?: boolean) => unknown }> = [];

afterAll(() => {
  for (const s of servers) s.stop(true);
  rmSync(outRoot, { recursive: true, force: true });
});

/** The gateway and both processors a run talks to. */
const target = (gateway: string, def: { url: string }, fb: { url: string }) => ['--url', gateway, '--default-url', def.url, '--fallback-url', fb.url];

async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], { stdout: 'pipe', stderr: 'pipe' });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

interface Payment {
  correlationId: string;
  requestedAt: number;
  amountCents: number;
}

interface FakeProcessor {
  url: string;
  payments: Payment[];
  failure: boolean;
  delays: number[];
  failures: boolean[];
  fees: number[];
  purges: number;
}

function totals(list: Payment[], from: number, to: number): { totalRequests: number; totalAmount: number } {
  let n = 0;
  let cents = 0;
  for (const p of list) {
    if (p.requestedAt >= from && p.requestedAt <= to) {
      n++;
      cents += p.amountCents;
    }
  }
  return { totalRequests: n, totalAmount: cents / 100 };
}

function window(url: URL): [number, number] {
  const from = url.searchParams.get('from');
  const to = url.searchParams.get('to');
  return [from === null ? 0 : Date.parse(from), to === null ? Number.MAX_SAFE_INTEGER : Date.parse(to)];
}

function fakeProcessor(initialFee: number): FakeProcessor {
  let fee = initialFee;
  const state: FakeProcessor = { url: '', payments: [], failure: false, delays: [], failures: [], fees: [], purges: 0 };
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname.startsWith('/payments/') && req.method === 'GET') {
        const id = url.pathname.slice('/payments/'.length);
        const found = state.payments.find((p) => p.correlationId === id);
        return found ? Response.json({ correlationId: id, amount: found.amountCents / 100 }) : new Response(null, { status: 404 });
      }
      if (req.headers.get('x-rinha-token') !== '123') return new Response('bad token', { status: 401 });
      if (url.pathname === '/admin/configurations/fee' && req.method === 'PUT') {
        const body = (await req.json()) as { fee: number };
        state.fees.push(body.fee);
        fee = body.fee;
        return new Response(null, { status: 204 });
      }
      if (url.pathname === '/admin/purge-payments' && req.method === 'POST') {
        state.payments = [];
        state.purges++;
        return Response.json({ message: 'purged' });
      }
      if (url.pathname === '/admin/configurations/delay' && req.method === 'PUT') {
        const body = (await req.json()) as { delay: number };
        state.delays.push(body.delay);
        return new Response(null, { status: 204 });
      }
      if (url.pathname === '/admin/configurations/failure' && req.method === 'PUT') {
        const body = (await req.json()) as { failure: boolean };
        state.failure = body.failure;
        state.failures.push(body.failure);
        return new Response(null, { status: 204 });
      }
      if (url.pathname === '/admin/payments-summary' && req.method === 'GET') {
        const [from, to] = window(url);
        const t = totals(state.payments, from, to);
        return Response.json({ ...t, totalFee: t.totalAmount * fee, feePerTransaction: fee });
      }
      return new Response('not found', { status: 404 });
    },
  });
  servers.push(server);
  state.url = `http://127.0.0.1:${server.port}`;
  return state;
}

interface GatewayBehaviour {
  /** Answer 500 (after processing!) to every n-th payment; 0 = never. */
  lieStatusEvery: number;
  /** Added to the default count in /payments-summary. */
  summaryExtra: number;
}

function fakeGateway(def: FakeProcessor, fb: FakeProcessor, behaviour: GatewayBehaviour): string {
  let own: Array<Payment & { processor: 'default' | 'fallback' }> = [];
  let count = 0;
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === '/payments' && req.method === 'POST') {
        const body = (await req.json()) as { correlationId: string; amount: number };
        const payment = { correlationId: body.correlationId, requestedAt: Date.now(), amountCents: Math.round(body.amount * 100) };
        const target = !def.failure ? 'default' : !fb.failure ? 'fallback' : null;
        if (target === null) return new Response('unavailable', { status: 503 });
        (target === 'default' ? def : fb).payments.push(payment);
        own.push({ ...payment, processor: target });
        count++;
        if (behaviour.lieStatusEvery > 0 && count % behaviour.lieStatusEvery === 0) {
          return new Response('oops', { status: 500 });
        }
        return new Response(null, { status: 202 });
      }
      if (url.pathname === '/payments-summary') {
        const [from, to] = window(url);
        const d = totals(
          own.filter((p) => p.processor === 'default'),
          from,
          to,
        );
        const f = totals(
          own.filter((p) => p.processor === 'fallback'),
          from,
          to,
        );
        d.totalRequests += behaviour.summaryExtra;
        return Response.json({ default: d, fallback: f });
      }
      if (url.pathname === '/purge-payments') {
        own = [];
        return Response.json({ message: 'purged' });
      }
      return new Response('not found', { status: 404 });
    },
  });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

interface ResultJson {
  requests: { payments: { total: number; ok: number; failed: number }; summaries: { total: number; ok: number } };
  latency: { all: { count: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null } };
  acceptedPayments: number;
  processors: { default: { totalRequests: number; amountCents: number }; fallback: { totalRequests: number; amountCents: number } } | null;
  score: {
    profit: number;
    exact: { profit: string; fine: string };
    fineRate: number;
    bonusRate: number;
    disqualified: boolean;
    lag: number;
    feeShare: { default: number; fallback: number };
    accepted: number;
    recorded: number;
  } | null;
  startedAt: string;
  loadEndedAt: string;
  inconsistencies: Array<{ phase: string; processor: string }>;
  finalDifferences: Array<{ phase: string; processor: string }>;
  lagDatedAfterCutoff: number | null;
  audits: Array<{ phase: string; from: string; to: string }>;
  strictAudits: Array<{ lagMs: number; compared: number; differences: number; firstDifferences: unknown[] }> | null;
  settlement: { sampled: number; settled: number; unsettled: number; onBoth: number; stages: Array<{ step: number; p99Ms: number | null }> } | null;
  schedule: { events: Array<{ step: number; label: string; condition: { default: { delayMs: number } } }> };
  timeline: Array<{ t: number; ok: number }>;
  generator: { cpuPercentOfOneCore: number; connectionsOpened: number };
}

function readResult(dir: string): ResultJson {
  return JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as ResultJson;
}

describe('loadtest main (end to end)', () => {
  test('--help, usage errors and an unreachable target', async () => {
    const help = await runMain(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--no-admin');
    const usage = await runMain(['--vus', 'nope']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--vus');
    const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    const freePort = listener.port;
    listener.stop(true);
    const down = await runMain(['--url', `http://127.0.0.1:${freePort}`, '--no-admin', '--duration', '1']);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('unreachable');
  });

  test('bare server, --no-admin: latency only, JSON and HTML written', async () => {
    let posts = 0;
    const bare = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch(req) {
        if (req.method === 'GET') {
          return Response.json({ default: { totalRequests: 0, totalAmount: 0 }, fallback: { totalRequests: 0, totalAmount: 0 } });
        }
        if (new URL(req.url).pathname === '/payments') posts++;
        return new Response(null, { status: 202 });
      },
    });
    servers.push(bare);
    const out = join(outRoot, 'bare');
    const r = await runMain([
      '--url',
      `http://127.0.0.1:${bare.port}`,
      '--vus',
      '5',
      '--duration',
      '3',
      '--no-admin',
      '--schedule',
      'none',
      '--settle',
      '0',
      '--audit-interval',
      '1',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('LOAD TEST RESULT');
    const res = readResult(out);
    expect(res.requests.payments.ok).toBe(posts);
    expect(res.requests.payments.ok).toBeGreaterThan(3);
    expect(res.requests.payments.failed).toBe(0);
    expect(res.requests.summaries.ok).toBeGreaterThanOrEqual(2); // audits at 1s, 2s (+ final)
    expect(res.latency.all.count).toBe(res.requests.payments.total + res.requests.summaries.total);
    expect(res.latency.all.p99Ms).not.toBeNull();
    expect(res.processors).toBeNull();
    expect(res.score).toBeNull();
    // linear ramp 1 -> 5 over 3 s: VUs start at 0, 0.6, 1.2, 1.8, 2.4 s, one connection each
    expect(res.generator.connectionsOpened).toBe(5);
    expect(res.timeline.length).toBeGreaterThanOrEqual(3);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect((html.match(/<svg /g) ?? []).length).toBe(2);
    expect(html).not.toContain('<script');
  }, 30_000);

  test('honest gateway with admin and the reference schedule: consistent, scored', async () => {
    const def = fakeProcessor(0.05);
    const fb = fakeProcessor(0.15);
    const gw = fakeGateway(def, fb, { lieStatusEvery: 0, summaryExtra: 0 });
    const out = join(outRoot, 'honest');
    const r = await runMain([
      ...target(gw, def, fb),
      '--token',
      '123',
      '--vus',
      '6',
      '--duration',
      '3.5',
      '--step',
      '1',
      '--audit-interval',
      '1',
      '--schedule',
      'reference',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("final summary at the contract's cutoff");
    const res = readResult(out);
    // The contract's end: no settle pause; the final window is [start - 10 s, the cutoff right after the last request].
    const final = res.audits.find((a) => a.phase === 'final');
    expect(Date.parse(final!.from)).toBe(Date.parse(res.startedAt) - 10_000);
    expect(final!.to).toBe(res.loadEndedAt);
    expect(Date.parse(res.loadEndedAt) - Date.parse(res.startedAt)).toBeLessThan(3_500 + 1_500 + 1_000); // load + the last request's timeout + slack
    // setup purged both processors, conditions were driven through the admin API
    expect(def.purges).toBe(1);
    expect(fb.purges).toBe(1);
    expect(def.delays).toContain(100); // step 1: default +100 ms
    expect(def.failures).toContain(true); // step 2: default failing
    expect(res.schedule.events.map((e) => e.step)).toEqual([0, 1, 2, 3]); // no reset for a settle pause
    // default failing for a while => some payments went to the fallback
    expect(fb.payments.length).toBeGreaterThan(0);
    expect(res.processors?.default.totalRequests).toBe(def.payments.length);
    expect(res.processors?.fallback.totalRequests).toBe(fb.payments.length);
    expect(res.processors?.default.amountCents).toBe(def.payments.length * 1990);
    expect(res.inconsistencies).toEqual([]);
    expect(res.audits.filter((a) => a.phase === 'audit').length).toBe(3);
    expect(res.audits.filter((a) => a.phase === 'final').length).toBe(1);
    const s = res.score;
    expect(s).not.toBeNull();
    if (s === null) return;
    expect(s.disqualified).toBe(false);
    expect(s.recorded).toBe(def.payments.length + fb.payments.length);
    // both failing during step 3 => 503s, not accepted and not recorded: no lag
    expect(s.accepted).toBe(s.recorded);
    expect(s.lag).toBe(0);
    expect(res.lagDatedAfterCutoff).toBe(0);
    expect(s.fineRate).toBe(0);
    // profit in exact cents: 19.90 * (0.95 * nDefault + 0.85 * nFallback)
    const profitMicros = def.payments.length * 1990 * 9500 + fb.payments.length * 1990 * 8500;
    expect(Math.round(s.profit * 1e6)).toBe(profitMicros);
  }, 30_000);

  test('lying gateway: inconsistencies (fine) and disqualification', async () => {
    const def = fakeProcessor(0.05);
    const fb = fakeProcessor(0.15);
    const gw = fakeGateway(def, fb, { lieStatusEvery: 4, summaryExtra: 1 });
    const out = join(outRoot, 'liar');
    const r = await runMain([
      ...target(gw, def, fb),
      '--vus',
      '4',
      '--duration',
      '2.5',
      '--audit-interval',
      '1',
      '--settle',
      '0',
      '--schedule',
      'none',
      '--out',
      out,
      '--audit-every',
      '100',
      '--audit-lags',
      '1500,2000',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('INCONSISTENCY');
    // the strict auditor sees it at every audit, on every lag, and prints the first ones
    expect(r.stdout).toContain('STRICT AUDIT DIFFERENCE [lag 1500 ms');
    expect(r.stdout).toMatch(/strict audits 2000 ms +\d+ compared, \d+ differing/);
    const res = readResult(out);
    expect(res.inconsistencies.length).toBeGreaterThanOrEqual(2);
    for (const lag of res.strictAudits ?? []) {
      expect(lag.compared).toBeGreaterThan(0);
      expect(lag.differences).toBe(lag.compared);
      expect(lag.firstDifferences.length).toBeGreaterThan(0);
    }
    expect(res.strictAudits?.map((l) => l.lagMs)).toEqual([1500, 2000]);
    expect(res.finalDifferences.some((i) => i.phase === 'final' && i.processor === 'default')).toBe(true);
    expect(res.inconsistencies.every((i) => i.phase === 'audit')).toBe(true);
    const s = res.score;
    expect(s).not.toBeNull();
    if (s === null) return;
    expect(s.fineRate).toBe(0.35);
    expect(s.disqualified).toBe(true);
    expect(s.recorded).toBeGreaterThan(s.accepted);
    expect(res.requests.payments.failed).toBeGreaterThan(0);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 30_000);

  test("--fees 7/10 sets the processors' fees and prices the profit; settlement sampled; strict audits agree", async () => {
    const def = fakeProcessor(0.05);
    const fb = fakeProcessor(0.15);
    const gw = fakeGateway(def, fb, { lieStatusEvery: 0, summaryExtra: 0 });
    const out = join(outRoot, 'fees');
    const r = await runMain([
      ...target(gw, def, fb),
      '--vus',
      '6',
      '--duration',
      '3.5',
      '--step',
      '1',
      '--audit-interval',
      '1',
      '--settle',
      '0',
      '--fees',
      '7/10',
      '--settlement-sample',
      '0.5',
      '--audit-every',
      '200',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(def.fees).toEqual([0.07]);
    expect(fb.fees).toEqual([0.1]);
    const res = readResult(out);
    const s = res.score;
    expect(s).not.toBeNull();
    if (s === null) return;
    expect(fb.payments.length).toBeGreaterThan(0); // step 2: default failing
    const profitMicros = def.payments.length * 1990 * 9300 + fb.payments.length * 1990 * 9000;
    expect(Math.round(s.profit * 1e6)).toBe(profitMicros);
    const feeDefault = def.payments.length * 1990 * 700;
    expect(s.feeShare.default).toBe(Math.round((feeDefault / (feeDefault + fb.payments.length * 1990 * 1000)) * 10_000) / 10_000);
    // the fake gateway pays before its 202: every sample is found, none on both
    const st = res.settlement;
    expect(st?.sampled).toBe(Math.floor(res.acceptedPayments / 2));
    expect(st?.settled).toBe(st?.sampled);
    expect(st?.onBoth).toBe(0);
    expect(st?.stages.length).toBeGreaterThan(1); // one per step the samples were accepted in
    for (const lag of res.strictAudits ?? []) {
      expect(lag.compared).toBeGreaterThan(0);
      expect(lag.differences).toBe(0);
    }
    expect(r.stdout).toContain('fees 7%/10%');
    expect(r.stdout).toMatch(/settlement +\d+ sampled/);
  }, 30_000);

  test('--schedule long: seeded stages, the slow end kept through a --settle pause (diagnosis), the final window from 60 s before the start', async () => {
    const def = fakeProcessor(0.05);
    const fb = fakeProcessor(0.15);
    const gw = fakeGateway(def, fb, { lieStatusEvery: 0, summaryExtra: 0 });
    const out = join(outRoot, 'long');
    const r = await runMain([
      ...target(gw, def, fb),
      '--schedule',
      'long',
      '--seed',
      '9',
      '--vus',
      '4',
      '--duration',
      '3.5',
      '--step',
      '0.5',
      '--audit-interval',
      '0',
      '--settle',
      '0.2',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('its lag is NOT what the contract counts');
    const res = readResult(out);
    const final = res.audits.find((a) => a.phase === 'final');
    expect(Date.parse(final!.from)).toBe(Date.parse(res.startedAt) - 60_000);
    const events = res.schedule.events;
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5, 6, -1]);
    const last = events[6];
    const settle = events[7];
    expect(settle?.label).toStartWith('kept for settlement: default slow');
    expect(settle?.condition).toEqual(last?.condition as never);
    expect(settle?.condition.default.delayMs).toBeGreaterThanOrEqual(1000);
    expect(def.failures).toContain(true); // the default outage
    expect(fb.failures).toContain(true); // the fallback outage
  }, 30_000);

  test('--compare: alternates two targets and prints both p99s and their ratio', async () => {
    const bare = () => {
      const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response(null, { status: 202 }) });
      servers.push(server);
      return `http://127.0.0.1:${server.port}`;
    };
    const a = bare();
    const b = bare();
    const out = join(outRoot, 'compare');
    const r = await runMain(['--url', a, '--compare', b, '--rounds', '2', '--vus', '3', '--duration', '1', '--audit-interval', '0', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^A http:\/\/127\.0\.0\.1:\d+: p99 [\d.]+ ms over \d+ requests/m);
    expect(r.stdout).toMatch(/^B http:\/\/127\.0\.0\.1:\d+: p99 [\d.]+ ms over \d+ requests/m);
    expect(r.stdout).toMatch(/^ratio B\/A of p99: [\d.]+$/m);
    const c = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as {
      a: { url: string; roundP99sMs: number[]; requests: number };
      b: { url: string; roundP99sMs: number[] };
      runs: Array<{ options: { url: string; admin: boolean } }>;
    };
    expect(c.a.url).toBe(a);
    expect(c.b.url).toBe(b);
    expect(c.a.roundP99sMs.length).toBe(2);
    expect(c.runs.map((run) => run.options.url)).toEqual([a, b, b, a]);
    expect(c.runs.every((run) => !run.options.admin)).toBe(true);
  }, 30_000);
});
