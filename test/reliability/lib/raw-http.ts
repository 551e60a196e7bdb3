import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';

/** One HTTP exchange over a raw TCP socket, for what fetch will not send (bad framing, chunks). */
export interface RawResponse {
  /** null when the server closed the connection without answering. */
  status: number | null;
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes `parts` (with `gapMs` between them) and reads until the server closes the connection or
 * `timeoutMs` passes; parses the first response. Send `Connection: close` to get a prompt close.
 */
export function rawExchange(port: number, parts: (string | Uint8Array)[], options: { gapMs?: number; timeoutMs?: number } = {}): Promise<RawResponse> {
  const { gapMs = 0, timeoutMs = 10_000 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(Buffer.concat(received)));
    };
    const timer = setTimeout(() => {
      if (parseResponse(Buffer.concat(received)).status === null) {
        finished = true;
        socket.destroy();
        reject(new Error(`no answer within ${timeoutMs} ms`));
      } else finish();
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (complete(Buffer.concat(received))) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => undefined);
    socket.on('connect', async () => {
      for (const part of parts) {
        if (finished || socket.destroyed) return;
        socket.write(part);
        if (gapMs > 0) await Bun.sleep(gapMs);
      }
    });
  });
}

function headerEnd(data: Buffer): number {
  return data.indexOf('\r\n\r\n');
}

/** A full response with a Content-Length body has arrived (no need to wait for the close). */
function complete(data: Buffer): boolean {
  const end = headerEnd(data);
  if (end < 0) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(data.subarray(0, end).toString('latin1'));
  return length !== null && data.length >= end + 4 + Number(length[1]);
}

export function parseResponse(data: Buffer): RawResponse {
  const end = headerEnd(data);
  if (end < 0) return { status: null, headers: {}, body: '' };
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = data.subarray(end + 4);
  if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status: status ? Number(status[1]) : null, headers, body: body.toString('utf8') };
}

/** A request with a chunked body split at random points (given as chunk sizes). */
export function chunkedRequest(path: string, headers: Record<string, string>, body: Uint8Array, sizes: number[]): Uint8Array {
  const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  let at = 0;
  for (const size of sizes) {
    if (at >= body.length) break;
    const piece = body.subarray(at, Math.min(body.length, at + Math.max(1, size)));
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), Buffer.from(piece), Buffer.from('\r\n', 'latin1'));
    at += piece.length;
  }
  if (at < body.length) {
    const rest = body.subarray(at);
    parts.push(Buffer.from(`${rest.length.toString(16)}\r\n`, 'latin1'), Buffer.from(rest), Buffer.from('\r\n', 'latin1'));
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
  return Buffer.concat(parts);
}

/** Resident memory of a process, in MB (Linux). */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

/** Opens a TCP connection and resolves once connected. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Sends several requests back to back on one connection (HTTP/1.1 pipelining) and parses the
 * responses in order. The last request should carry `Connection: close`.
 */
export function pipelinedExchange(port: number, requests: Uint8Array[], timeoutMs = 15_000): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`pipelined exchange not closed within ${timeoutMs} ms; ${splitResponses(Buffer.concat(received)).length} of ${requests.length} answered`),
      );
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(splitResponses(Buffer.concat(received)));
    });
    socket.on('connect', () => socket.write(Buffer.concat(requests.map((r) => Buffer.from(r)))));
  });
}

function splitResponses(data: Buffer): RawResponse[] {
  const responses: RawResponse[] = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return responses;
    const head = rest.subarray(0, end).toString('latin1');
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const total = end + 4 + (length ? Number(length[1]) : 0);
    if (rest.length < total) return responses;
    responses.push(parseResponse(rest.subarray(0, total)));
    rest = rest.subarray(total);
  }
}

/** One POST /payments request with a Content-Length body, as bytes. */
export function paymentRequest(body: Uint8Array, contentType: string | null, close = false): Uint8Array {
  const head = `POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\n${contentType === null ? '' : `Content-Type: ${contentType}\r\n`}Content-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
}
