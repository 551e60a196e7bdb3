import type { Rng } from './prng.ts';
import { generateBody, validAmount, type IdSource } from './gen.ts';
import { contentTypeAccepted, expectedPayment, expectedSummaryStatus, type PaymentVerdict } from './oracle.ts';

/**
 * HTTP-level fuzz cases for a real gateway: payment bodies over three transports and many content
 * types, oversize bodies, summary windows, unknown routes and methods, and broken HTTP framing.
 * Every case carries the status the contract calls for, computed by the oracle.
 */
export const MAX_BODY_BYTES = 4096; // the gateway's default, which the fuzz runs with

export type Transport = 'fetch' | 'stream' | 'raw-chunked';

export type HttpCase =
  | {
      kind: 'payment';
      label: string;
      transport: Transport;
      contentType: string | null;
      body: Uint8Array;
      /** Chunk sizes for the chunked transports. */
      chunks: number[];
      expect: 202 | 400 | 413 | 415;
      verdict: PaymentVerdict;
      /** Bun answers bodies over 1 MiB itself, with an empty 413. */
      jsonOptional?: boolean;
      intended?: string;
      constructedId?: string;
      constructedCents?: bigint;
    }
  | { kind: 'summary'; label: string; query: string; expect: 200 | 400 }
  | { kind: 'route'; label: string; method: string; path: string; body?: string; expect: 404 | 405; allow?: string }
  | { kind: 'framing'; label: string; request: string; throwawayId: string };

const GOOD_TYPES = [
  'application/json',
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=UTF-8',
  'APPLICATION/JSON',
  'Application/Json; charset="utf-8"',
];
const BAD_TYPES = [
  'text/plain',
  'text/plain;charset=UTF-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'text/json',
  'application/octet-stream',
  '*/*',
  'application',
  'json',
  'application/jso',
  'text/html',
];

export const KNOWN_ROUTES: Record<string, string> = {
  '/payments': 'POST',
  '/payments-summary': 'GET',
  '/purge-payments': 'POST',
  '/health': 'GET',
  '/internal/totals': 'GET',
  '/internal/purge': 'POST',
  '/internal/health': 'GET',
};
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
const ODD_PATHS = [
  '/',
  '/payment',
  '/payments/',
  '/payments/123',
  '/Payments',
  '/PAYMENTS',
  '/payments-summary/',
  '/payments-summary/x',
  '/health/',
  '/admin/payments-summary',
  '/internal',
  '/internal/',
  '/%70ayments',
  '/payments%2F',
  '/payments;x',
  '/payments%00',
  '/favicon.ico',
  '/purge-payments/',
  '/internal/purge/x',
];

function expectedPaymentStatus(contentType: string | null, body: Uint8Array, verdict: PaymentVerdict): 202 | 400 | 413 | 415 {
  if (!contentTypeAccepted(contentType)) return 415;
  if (body.length > MAX_BODY_BYTES) return 413;
  return verdict.ok ? 202 : 400;
}

function randomChunks(rng: Rng, length: number): number[] {
  const count = rng.range(1, 6);
  return Array.from({ length: count }, () => rng.range(1, Math.max(1, Math.ceil(length / count) * 2)));
}

export function paymentCase(
  rng: Rng,
  label: string,
  body: Uint8Array,
  extra: Partial<Extract<HttpCase, { kind: 'payment' }>> = {},
): Extract<HttpCase, { kind: 'payment' }> {
  const transport =
    extra.transport ??
    rng.weighted<Transport>([
      [8, 'fetch'],
      [1, 'stream'],
      [1, 'raw-chunked'],
    ]);
  const contentType =
    extra.contentType !== undefined
      ? extra.contentType
      : rng.weighted<() => string | null>([
          [85, () => rng.pick(GOOD_TYPES)],
          [10, () => rng.pick(BAD_TYPES)],
          [5, () => null],
        ])();
  const verdict = expectedPayment(body);
  return {
    kind: 'payment',
    label,
    transport,
    contentType,
    body,
    chunks: randomChunks(rng, body.length),
    expect: expectedPaymentStatus(contentType, body, verdict),
    verdict,
    ...extra,
  };
}

function paddedBody(id: string, amount: string, size: number): Uint8Array {
  const head = `{"correlationId":"${id}","amount":${amount},"pad":"`;
  const tail = '"}';
  return new TextEncoder().encode(head + 'x'.repeat(Math.max(0, size - head.length - tail.length)) + tail);
}

/* ---------------------------------------------------------------- summary windows */

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function validTimestamp(rng: Rng): string {
  const ms = Date.UTC(2000, 0, 1) + rng.int(100 * 365 * 86_400_000);
  const offset = rng.chance(0.7) ? 0 : rng.range(-23 * 4, 23 * 4) * 15 + (rng.chance(0.1) ? rng.range(0, 14) : 0);
  const local = new Date(ms + offset * 60_000).toISOString().slice(0, 19);
  const fraction = rng.weighted<() => string>([
    [6, () => `.${pad(ms % 1000, 3)}`],
    [2, () => ''],
    [2, () => `.${Array.from({ length: rng.range(1, 9) }, () => rng.int(10)).join('')}`],
  ])();
  const zone = offset === 0 && rng.chance(0.9) ? 'Z' : `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${local}${fraction}${zone}`;
}

function invalidTimestamp(rng: Rng): string {
  const valid = validTimestamp(rng);
  return rng.pick([
    () => valid.replace(/^(\d{4})-\d{2}/, '$1-13'),
    () => valid.replace(/^(\d{4})-\d{2}/, '$1-00'),
    () => valid.replace(/^(\d{4}-\d{2})-\d{2}/, '$1-32'),
    () => valid.replace(/^(\d{4}-\d{2})-\d{2}/, '$1-00'),
    () => valid.replace(/^\d{4}-\d{2}-\d{2}/, '2023-02-29'),
    () => valid.replace(/^\d{4}-\d{2}-\d{2}/, '2100-02-29'),
    () => valid.replace(/^\d{4}-\d{2}-\d{2}/, '2021-04-31'),
    () => valid.replace(/T\d{2}/, 'T24'),
    () => valid.replace(/T(\d{2}):\d{2}/, 'T$1:60'),
    () => valid.replace(/T(\d{2}:\d{2}):\d{2}/, 'T$1:60'),
    () => valid.replace(/(Z|[+-]\d{2}:\d{2})$/, ''),
    () => valid.replace(/Z$/, 'z').replace(/[+-]\d{2}:\d{2}$/, 'z'),
    () => valid.replace('T', ' '),
    () => valid.replace('T', 't'),
    () => `${valid}x`,
    () => valid.replace(/(Z|[+-]\d{2}:\d{2})$/, '+24:00'),
    () => valid.replace(/(Z|[+-]\d{2}:\d{2})$/, '+05:60'),
    () => valid.replace(/(Z|[+-]\d{2}:\d{2})$/, '+0500'),
    () => valid.replace(/(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, '.1234567890Z'),
    () => valid.replace(/(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, '.Z'),
    () => valid.slice(0, 10),
    () => valid.slice(0, rng.int(valid.length)),
    () => String(Date.now()),
    () => 'now',
    () => 'yesterday',
    () => valid.replace(/\d/, '٣'),
    () => `${valid.slice(0, 5)}${rng.pick(['1', 'a', '-'])}${valid.slice(6)}`,
    () => `+${valid}`,
    () => `0${valid}`,
  ])();
}

function encode(rng: Rng, value: string): string {
  // Sometimes raw (a '+' then reads as a space, as a careless client would send it).
  return rng.chance(0.85) ? encodeURIComponent(value) : value.replace(/[&#% ]/g, encodeURIComponent);
}

export function summaryCase(rng: Rng): Extract<HttpCase, { kind: 'summary' }> {
  const shape = rng.weighted<string>([
    [5, 'window'],
    [2, 'reversed'],
    [1, 'equal'],
    [3, 'bad bound'],
    [1, 'one bound'],
    [1, 'none'],
    [1, 'empty'],
    [1, 'duplicated'],
  ]);
  let from = validTimestamp(rng);
  let to = validTimestamp(rng);
  const ordered = () => {
    // Compare through Date only for generation; the expectation comes from the oracle.
    if (Date.parse(from) > Date.parse(to)) [from, to] = [to, from];
  };
  let query: string;
  switch (shape) {
    case 'window':
      ordered();
      query = `from=${encode(rng, from)}&to=${encode(rng, to)}`;
      break;
    case 'reversed':
      ordered();
      query = `from=${encode(rng, to)}&to=${encode(rng, from)}`;
      break;
    case 'equal':
      query = `from=${encode(rng, from)}&to=${encode(rng, from)}`;
      break;
    case 'bad bound': {
      const bad = invalidTimestamp(rng);
      query = rng.chance(0.5) ? `from=${encode(rng, bad)}&to=${encode(rng, to)}` : `from=${encode(rng, from)}&to=${encode(rng, bad)}`;
      break;
    }
    case 'one bound':
      query = rng.chance(0.5)
        ? `from=${encode(rng, rng.chance(0.7) ? from : invalidTimestamp(rng))}`
        : `to=${encode(rng, rng.chance(0.7) ? to : invalidTimestamp(rng))}`;
      break;
    case 'none':
      query = rng.pick(['', 'x=1', 'fromm=now', 'FROM=now&TO=later']);
      break;
    case 'empty':
      query = rng.pick(['from=&to=', 'from=', 'to=', `from=&to=${encode(rng, to)}`]);
      break;
    default:
      ordered();
      query = `from=${encode(rng, from)}&to=${encode(rng, to)}&from=${encode(rng, invalidTimestamp(rng))}`;
  }
  return {
    kind: 'summary',
    label:
      shape === 'reversed' || shape === 'bad bound'
        ? 'summary: malformed or reversed bounds'
        : 'summary: well-formed, equal, one-sided, duplicated or missing bounds',
    query,
    expect: expectedSummaryStatus(query),
  };
}

/* ---------------------------------------------------------------- routes and framing */

export function routeCase(rng: Rng): Extract<HttpCase, { kind: 'route' }> {
  if (rng.chance(0.5)) {
    const path = rng.pick(Object.keys(KNOWN_ROUTES));
    const allow = KNOWN_ROUTES[path];
    const method = rng.pick(METHODS.filter((m) => m !== allow && !(allow === 'GET' && m === 'HEAD')));
    return {
      kind: 'route',
      label: 'wrong method on a known path',
      method,
      path: rng.chance(0.2) ? `${path}?x=1` : path,
      expect: 405,
      allow,
      body: method === 'GET' ? undefined : '{}',
    };
  }
  const path = rng.chance(0.6)
    ? rng.pick(ODD_PATHS)
    : rng.chance(0.05)
      ? `/${'a'.repeat(3000)}`
      : `/${Array.from({ length: rng.range(1, 3) }, () => Array.from({ length: rng.range(1, 12) }, () => 'abcdefghijklmnopqrstuvwxyz0123456789-_~'[rng.int(39)]).join('')).join('/')}`;
  const method = rng.pick(METHODS);
  return {
    kind: 'route',
    label: 'unknown path',
    method,
    path,
    expect: 404,
    body: method === 'GET' ? undefined : `{"correlationId":"${rng.uuid()}","amount":1}`,
  };
}

export function framingCase(rng: Rng): Extract<HttpCase, { kind: 'framing' }> {
  const id = rng.uuid();
  const body = `{"correlationId":"${id}","amount":1.23}`;
  const head = (extra: string) => `POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}Connection: close\r\n\r\n`;
  const request = rng.pick([
    () => `${head('Transfer-Encoding: chunked\r\n')}zz\r\n${body}\r\n0\r\n\r\n`,
    () => `${head(`Content-Length: 5\r\nTransfer-Encoding: chunked\r\n`)}${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    () => `${head(`Content-Length: ${body.length}\r\nContent-Length: 3\r\n`)}${body}`,
    () => `${head('Content-Length: -1\r\n')}${body}`,
    () => `${head('Content-Length: 99999999999999999999\r\n')}${body}`,
    () => `${head('Transfer-Encoding: gzip, chunked\r\n')}${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    () => `${head('Broken header line\r\n')}${body}`,
    () => `${head(`X-Big: ${'a'.repeat(20_000)}\r\nContent-Length: ${body.length}\r\n`)}${body}`,
    () => `POST /payments HTTP/1.1 extra\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    () => `P@ST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    () => `POST /payments HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    () => `\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03${body}`,
  ])();
  return { kind: 'framing', label: 'broken HTTP framing (raw socket)', request, throwawayId: id };
}

/* ---------------------------------------------------------------- the mix */

export function generateHttpCases(rng: Rng, ids: IdSource, count: number): HttpCase[] {
  const cases: HttpCase[] = [];
  // Fixed boundary cases first.
  const boundary = (size: number, id: string) => paddedBody(id, validAmount(rng, 123n), size);
  const edgeId = ids.next(rng);
  cases.push(
    paymentCase(rng, 'body of exactly MAX_BODY_BYTES (valid)', paddedBody(edgeId.id, validAmount(rng, edgeId.cents), MAX_BODY_BYTES), {
      contentType: 'application/json',
      transport: 'fetch',
      intended: 'valid',
      constructedId: edgeId.id,
      constructedCents: edgeId.cents,
    }),
  );
  cases.push(paymentCase(rng, 'oversize body', boundary(MAX_BODY_BYTES + 1, rng.uuid()), { contentType: 'application/json', transport: 'fetch' }));
  cases.push(paymentCase(rng, 'oversize body', boundary(MAX_BODY_BYTES + 1, rng.uuid()), { contentType: 'application/json', transport: 'stream' }));
  cases.push(paymentCase(rng, 'oversize body', boundary(MAX_BODY_BYTES + 1, rng.uuid()), { contentType: 'application/json', transport: 'raw-chunked' }));
  cases.push(
    paymentCase(rng, 'oversize body', boundary(2 * 1024 * 1024, rng.uuid()), { contentType: 'application/json', transport: 'fetch', jsonOptional: true }),
  );
  while (cases.length < count) {
    const kind = rng.weighted<string>([
      [78, 'payment'],
      [3, 'oversize'],
      [10, 'summary'],
      [7, 'route'],
      [2, 'framing'],
    ]);
    if (kind === 'payment') {
      const generated = generateBody(rng, ids);
      const c = paymentCase(rng, generated.label, generated.body, {
        intended: generated.intended,
        constructedId: generated.id,
        constructedCents: generated.cents,
      });
      if (!contentTypeAccepted(c.contentType)) c.label = 'wrong content type';
      cases.push(c);
    } else if (kind === 'oversize') {
      const size = rng.range(MAX_BODY_BYTES + 1, 5 * MAX_BODY_BYTES);
      cases.push(paymentCase(rng, 'oversize body', rng.chance(0.8) ? boundary(size, rng.uuid()) : new Uint8Array(size).fill(rng.pick([32, 123, 48]))));
    } else if (kind === 'summary') cases.push(summaryCase(rng));
    else if (kind === 'route') cases.push(routeCase(rng));
    else cases.push(framingCase(rng));
  }
  return cases;
}
