import { describe, expect, test } from 'bun:test';
import { DEFAULTS, HELP, LONG_DEFAULTS, UsageError, parseOptions } from '../tools/loadtest/options.ts';
import { PaymentRequest, buildRequest, centsToDecimal } from '../tools/loadtest/request-builder.ts';

describe('options', () => {
  test('defaults', () => {
    const o = parseOptions([]);
    expect(o.url).toBe('http://127.0.0.1:9999');
    expect(o.vus).toBe(500);
    expect(o.durationSec).toBe(60);
    expect(o.amountCents).toBe(1990);
    expect(o.timeoutMs).toBe(1500);
    expect(o.admin).toBe(true);
    expect(o.schedule).toBe('reference');
    expect(o.outDir).toBeNull();
    // The contract takes the final totals right after the last request: no settle pause unless asked (diagnosis).
    expect(o.settleSec).toBe(0);
    expect(DEFAULTS.settleSec).toBe(0);
    expect(parseOptions(['--settle', '10']).settleSec).toBe(10);
    expect(parseOptions(['--no-admin', '--settle', '3']).settleSec).toBe(3);
  });

  test('values in both --opt value and --opt=value forms', () => {
    const o = parseOptions([
      '--vus',
      '5',
      '--duration=3',
      '--no-admin',
      '--schedule',
      'random',
      '--seed',
      '77',
      '--url',
      'http://localhost:1234/',
      '--amount',
      '10.5',
      '--out',
      'x/y',
      '--timeout',
      '0.25',
      '--settle',
      '0',
    ]);
    expect(o.vus).toBe(5);
    expect(o.durationSec).toBe(3);
    expect(o.admin).toBe(false);
    expect(o.schedule).toBe('random');
    expect(o.seed).toBe(77);
    expect(o.url).toBe('http://localhost:1234');
    expect(o.amountCents).toBe(1050);
    expect(o.outDir).toBe('x/y');
    expect(o.timeoutMs).toBe(250);
    expect(o.settleSec).toBe(0);
  });

  test('new options: fees, strict auditor, settlement sampling, compare', () => {
    const o = parseOptions(['--fees', '7/10', '--audit-every', '100', '--audit-lags', '1500,2000,3000', '--settlement-sample', '0.5']);
    expect(o.fees).toEqual({ default: 700, fallback: 1000 });
    expect(o.auditEveryMs).toBe(100);
    expect(o.auditLagsMs).toEqual([1500, 2000, 3000]);
    expect(o.settlementSample).toBe(0.5);
    expect(parseOptions(['--fees=5.5/15.25']).fees).toEqual({ default: 550, fallback: 1525 });
    const d = parseOptions([]);
    expect(d.fees).toEqual({ default: 500, fallback: 1500 });
    expect(d.auditEveryMs).toBe(0);
    expect(d.settlementSample).toBe(0.05);
    expect(d.compareUrl).toBeNull();
    // compare is latency only: no admin, no settle wait unless asked
    const c = parseOptions(['--compare', 'http://127.0.0.1:19001', '--rounds', '2']);
    expect(c).toMatchObject({ compareUrl: 'http://127.0.0.1:19001', rounds: 2, admin: false, settleSec: 0 });
  });

  test('--schedule long brings its own defaults; given values win', () => {
    expect(parseOptions(['--schedule', 'long'])).toMatchObject({ schedule: 'long', ...LONG_DEFAULTS });
    expect(parseOptions(['--vus', '50', '--schedule', 'long', '--step', '2', '--duration', '14'])).toMatchObject({ vus: 50, stepSec: 2, durationSec: 14 });
    expect(parseOptions([]).vus).toBe(DEFAULTS.vus);
  });

  test('usage errors', () => {
    for (const argv of [
      ['--bogus'],
      ['--vus'],
      ['--vus', '0'],
      ['--vus', '1.5'],
      ['--duration', 'abc'],
      ['--schedule', 'chaos'],
      ['--amount', '1.234'],
      ['--url', 'https://127.0.0.1'],
      ['--url', 'http://127.0.0.1:9999/payments'],
      ['--no-admin=1'],
      ['positional'],
      ['--fees', '5'],
      ['--fees', '5/15/20'],
      ['--fees', '5.001/15'],
      ['--audit-lags', '1500,abc'],
      ['--audit-lags', '1500,1500'],
      ['--settlement-sample', '1.5'],
      ['--compare', 'ftp://x'],
      ['--schedule', 'long', '--duration', '60'],
    ]) {
      expect(() => parseOptions(argv)).toThrow(UsageError);
    }
  });

  test('help mentions every option', () => {
    expect(parseOptions(['--help']).help).toBe(true);
    expect(parseOptions(['-h']).help).toBe(true);
    for (const opt of [
      '--url',
      '--default-url',
      '--fallback-url',
      '--token',
      '--no-admin',
      '--vus',
      '--duration',
      '--amount',
      '--timeout',
      '--think',
      '--schedule',
      '--seed',
      '--step',
      '--fees',
      '--audit-interval',
      '--audit-every',
      '--audit-lags',
      '--settlement-sample',
      '--settle',
      '--compare',
      '--rounds',
      '--out',
      '--help',
    ]) {
      expect(HELP).toContain(opt);
    }
  });
});

describe('request builder', () => {
  test('payment request: valid HTTP, fresh v4 UUID each time, fixed length', () => {
    const p = new PaymentRequest('127.0.0.1:9999', 1990);
    const text1 = new TextDecoder().decode(p.next());
    const id1 = p.currentId();
    const text2 = new TextDecoder().decode(p.next());
    const id2 = p.currentId();
    expect(id1).not.toBe(id2);
    for (const id of [id1, id2]) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(text1.length).toBe(text2.length);
    const [head, body] = text2.split('\r\n\r\n') as [string, string];
    expect(head.startsWith('POST /payments HTTP/1.1\r\nHost: 127.0.0.1:9999\r\n')).toBe(true);
    expect(head).toContain(`Content-Length: ${body.length}`);
    expect(JSON.parse(body)).toEqual({ correlationId: id2, amount: 19.9 });
    expect(body).toContain('"amount":19.90');
  });

  test('UUIDs are unique over many draws', () => {
    const p = new PaymentRequest('h', 100);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      p.next();
      seen.add(p.currentId());
    }
    expect(seen.size).toBe(5000);
  });

  test('generic requests', () => {
    const get = new TextDecoder().decode(buildRequest({ method: 'GET', path: '/x?a=1', host: 'h:1' }));
    expect(get).toBe('GET /x?a=1 HTTP/1.1\r\nHost: h:1\r\n\r\n');
    const put = new TextDecoder().decode(buildRequest({ method: 'PUT', path: '/p', host: 'h', headers: { 'X-Rinha-Token': '123' }, body: '{"delay":5}' }));
    expect(put).toBe('PUT /p HTTP/1.1\r\nHost: h\r\nX-Rinha-Token: 123\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"delay":5}');
    expect(centsToDecimal(1990)).toBe('19.90');
    expect(centsToDecimal(5)).toBe('0.05');
    expect(centsToDecimal(100000)).toBe('1000.00');
  });
});
