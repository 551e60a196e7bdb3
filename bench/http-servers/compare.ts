/**
 * Sends the same raw HTTP/1.1 requests to two gateways and prints where their answers differ
 * (status, content-type, allow, retry-after, body; Date and server banners are ignored).
 *   bun bench/http-servers/compare.ts http://127.0.0.1:A http://127.0.0.1:B
 */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes `request` (one or more pipelined requests) on a fresh connection and reads `count`
 * answers, each up to its Content-Length (none for a HEAD request: pass `head`).
 */
export function rawAll(url: string, request: string | Uint8Array, count: number, head = false, timeoutMs = 5000): Promise<RawAnswer[]> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const answers: RawAnswer[] = [];
    let data: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${answers.length} of ${count} answers within ${timeoutMs} ms; then got ${JSON.stringify(data.toString())}`));
    }, timeoutMs);
    const tryParse = () => {
      for (;;) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [statusLine, ...lines] = data.subarray(0, end).toString().split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = head ? 0 : Number(headers['content-length'] ?? 0);
        if (data.length < end + 4 + length) return;
        answers.push({ status: Number(statusLine!.split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length).toString() });
        data = data.subarray(end + 4 + length);
        if (answers.length === count) {
          clearTimeout(timer);
          socket.destroy();
          resolve(answers);
          return;
        }
      }
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk as Buffer]);
      tryParse();
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`connection closed after ${answers.length} of ${count} answers; then got ${JSON.stringify(data.toString())}`));
    });
    socket.write(request);
  });
}

/** One request on a fresh connection. */
export async function raw(url: string, request: string, timeoutMs = 5000): Promise<RawAnswer> {
  return (await rawAll(url, request, 1, request.startsWith('HEAD '), timeoutMs))[0]!;
}

export function request(method: string, path: string, headers: Record<string, string> = {}, body?: string): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [key, value] of Object.entries(headers)) lines.push(`${key}: ${value}`);
  if (body !== undefined && !Object.keys(headers).some((key) => key.toLowerCase() === 'transfer-encoding'))
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

const JSON_TYPE = { 'Content-Type': 'application/json' };
const payment = () => `{"correlationId":"${crypto.randomUUID()}","amount":19.90}`;

/** The route table's cases: [name, raw request]. Payments get a fresh id per call. */
export function cases(maxBodyBytes = 4096): [string, () => string][] {
  return [
    ['valid payment', () => request('POST', '/payments', JSON_TYPE, payment())],
    ['valid payment, no content-type', () => request('POST', '/payments', {}, payment())],
    ['valid payment, content-type with charset', () => request('POST', '/payments', { 'Content-Type': 'Application/JSON; charset=utf-8' }, payment())],
    [
      'valid payment, chunked body',
      () => {
        const body = payment();
        const half = body.length >> 1;
        const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;
        return request(
          'POST',
          '/payments',
          { ...JSON_TYPE, 'Transfer-Encoding': 'chunked' },
          `${chunk(body.slice(0, half))}${chunk(body.slice(half))}0\r\n\r\n`,
        );
      },
    ],
    ['bad JSON', () => request('POST', '/payments', JSON_TYPE, '{"correlationId":')],
    ['missing amount', () => request('POST', '/payments', JSON_TYPE, `{"correlationId":"${crypto.randomUUID()}"}`)],
    ['empty body', () => request('POST', '/payments', JSON_TYPE, '')],
    ['text/plain', () => request('POST', '/payments', { 'Content-Type': 'text/plain' }, payment())],
    ['content-type application/jsonx', () => request('POST', '/payments', { 'Content-Type': 'application/jsonx' }, payment())],
    ['content-type text/json', () => request('POST', '/payments', { 'Content-Type': 'text/json' }, payment())],
    ['content-type empty', () => request('POST', '/payments', { 'Content-Type': '' }, payment())],
    ['content-type with space before parameters', () => request('POST', '/payments', { 'Content-Type': 'Application/Json ; charset="utf-8"' }, payment())],
    [
      'body over the limit',
      () => request('POST', '/payments', JSON_TYPE, `{"correlationId":"${crypto.randomUUID()}","amount":19.90,"pad":"${'x'.repeat(maxBodyBytes)}"}`),
    ],
    [
      'body over the limit, chunked',
      () =>
        request(
          'POST',
          '/payments',
          { ...JSON_TYPE, 'Transfer-Encoding': 'chunked' },
          `${(maxBodyBytes + 10).toString(16)}\r\n${'x'.repeat(maxBodyBytes + 10)}\r\n0\r\n\r\n`,
        ),
    ],
    [
      'declared length over the limit',
      () => `POST /payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${maxBodyBytes + 1}\r\n\r\n`,
    ],
    ['GET /payments', () => request('GET', '/payments')],
    ['PUT /payments', () => request('PUT', '/payments', JSON_TYPE, payment())],
    ['DELETE /payments-summary', () => request('DELETE', '/payments-summary')],
    ['GET /purge-payments', () => request('GET', '/purge-payments')],
    ['POST /health', () => request('POST', '/health', {}, '')],
    ['HEAD /health', () => request('HEAD', '/health')],
    ['HEAD /payments-summary', () => request('HEAD', '/payments-summary')],
    ['HEAD /payments', () => request('HEAD', '/payments')],
    ['HEAD /nowhere', () => request('HEAD', '/nowhere')],
    ['OPTIONS /payments', () => request('OPTIONS', '/payments')],
    ['POST /internal/totals', () => request('POST', '/internal/totals', {}, '')],
    ['GET /internal/purge', () => request('GET', '/internal/purge')],
    ['GET /nowhere', () => request('GET', '/nowhere')],
    ['GET /', () => request('GET', '/')],
    ['GET /payments/', () => request('GET', '/payments/')],
    ['POST /payments/x', () => request('POST', '/payments/x', JSON_TYPE, payment())],
    ['POST /payments/', () => request('POST', '/payments/', JSON_TYPE, payment())],
    ['POST /PAYMENTS', () => request('POST', '/PAYMENTS', JSON_TYPE, payment())],
    ['POST /%70ayments', () => request('POST', '/%70ayments', JSON_TYPE, payment())],
    ['POST /payments;x', () => request('POST', '/payments;x', JSON_TYPE, payment())],
    ['POST /x/../payments', () => request('POST', '/x/../payments', JSON_TYPE, payment())],
    ['GET /x/../payments', () => request('GET', '/x/../payments')],
    ['GET //payments', () => request('GET', '//payments')],
    ['POST /payments?x=1', () => request('POST', '/payments?x=1', JSON_TYPE, payment())],
    ['GET /health?x=1', () => request('GET', '/health?x=1')],
    ['GET /favicon.ico', () => request('GET', '/favicon.ico')],
    ['PATCH /internal/purge', () => request('PATCH', '/internal/purge', {}, '')],
    ['summary, everything', () => request('GET', '/payments-summary')],
    ['summary, window', () => request('GET', '/payments-summary?from=2020-07-10T12:34:56.000Z&to=2020-07-10T12:35:56.000Z')],
    ['summary, encoded window', () => request('GET', '/payments-summary?from=2020-07-10T12%3A34%3A56.000Z&to=2020-07-10T12%3A35%3A56.000Z')],
    ['summary, bad from', () => request('GET', '/payments-summary?from=yesterday&to=2020-07-10T12:35:56.000Z')],
    ['summary, reversed', () => request('GET', '/payments-summary?from=2020-07-10T12:35:56.000Z&to=2020-07-10T12:34:56.000Z')],
    ['health', () => request('GET', '/health')],
    ['internal totals', () => request('GET', '/internal/totals?from=0&to=1')],
    ['internal totals, bad', () => request('GET', '/internal/totals?from=x')],
    ['internal health', () => request('GET', '/internal/health')],
  ];
}

/**
 * What must be equal between two gateways: status, the headers the adapters set, and the body, with
 * what legitimately differs between two instances masked (live counters and timings, the journal's
 * directory).
 */
export function comparable(name: string, answer: RawAnswer): string {
  const live = /health|summary/.test(name) && answer.status === 200;
  const body = live ? answer.body.replace(/"dir":"[^"]*"/, '"dir":"D"').replace(/\d+(\.\d+)?/g, 'N') : answer.body;
  const keep = ['content-type', 'allow', 'retry-after'].map((key) => `${key}=${answer.headers[key] ?? '-'}`).join(' ');
  return `${answer.status} ${keep} ${body}`;
}

if (import.meta.main) {
  const [a, b] = process.argv.slice(2);
  if (!a || !b) throw new Error('usage: bun bench/http-servers/compare.ts URL_A URL_B');
  let differences = 0;
  for (const [name, build] of cases()) {
    const results = await Promise.all(
      [a, b].map((url) =>
        raw(url, build()).then(
          (answer) => comparable(name, answer),
          (error: Error) => `error: ${error.message}`,
        ),
      ),
    );
    const same = results[0] === results[1];
    if (!same) differences++;
    console.log(`${same ? 'same' : 'DIFF'}  ${name}\n  A: ${results[0]}${same ? '' : `\n  B: ${results[1]}`}`);
  }
  console.log(`${differences} difference(s)`);
}
