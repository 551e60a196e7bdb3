/**
 * Pre-built HTTP/1.1 request bytes. The payment request has a fixed length
 * (UUIDs are always 36 chars), so each virtual user owns one buffer and only
 * the 36 UUID bytes are rewritten before every send.
 */
import { UUID_LENGTH, writeUuidV4 } from './uuid.ts';

const encoder = new TextEncoder();

export interface RequestSpec {
  method: string;
  path: string;
  /** Value of the Host header, e.g. "127.0.0.1:9999". */
  host: string;
  headers?: Record<string, string>;
  body?: string | null;
}

export function buildRequest(spec: RequestSpec): Uint8Array {
  const body = spec.body ?? null;
  const bodyBytes = body === null ? null : encoder.encode(body);
  let head = `${spec.method} ${spec.path} HTTP/1.1\r\nHost: ${spec.host}\r\n`;
  const headers = spec.headers ?? {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`invalid header ${name}`);
    head += `${name}: ${value}\r\n`;
  }
  if (bodyBytes !== null) {
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      head += 'Content-Type: application/json\r\n';
    }
    head += `Content-Length: ${bodyBytes.length}\r\n`;
  } else if (spec.method === 'POST' || spec.method === 'PUT') {
    head += 'Content-Length: 0\r\n';
  }
  head += '\r\n';
  const headBytes = encoder.encode(head);
  if (bodyBytes === null) return headBytes;
  const out = new Uint8Array(headBytes.length + bodyBytes.length);
  out.set(headBytes, 0);
  out.set(bodyBytes, headBytes.length);
  return out;
}

/** Formats an amount with exactly two decimals from integer cents ("19.90"). */
export function centsToDecimal(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100);
  const frac = abs % 100;
  return `${sign}${whole}.${frac < 10 ? '0' : ''}${frac}`;
}

const UUID_PLACEHOLDER = '00000000-0000-4000-8000-000000000000';

/** A POST /payments request whose correlationId is refreshed in place. */
export class PaymentRequest {
  readonly bytes: Uint8Array;
  private readonly uuidOffset: number;

  constructor(host: string, amountCents: number, path = '/payments') {
    const body = `{"correlationId":"${UUID_PLACEHOLDER}","amount":${centsToDecimal(amountCents)}}`;
    this.bytes = buildRequest({ method: 'POST', path, host, body });
    const marker = encoder.encode(UUID_PLACEHOLDER);
    const offset = indexOf(this.bytes, marker);
    if (offset < 0 || marker.length !== UUID_LENGTH) throw new Error('uuid placeholder not found');
    this.uuidOffset = offset;
  }

  /** Writes a fresh UUID into the request and returns the bytes to send. */
  next(): Uint8Array {
    writeUuidV4(this.bytes, this.uuidOffset);
    return this.bytes;
  }

  /** The correlationId currently in the buffer (for tests / debugging). */
  currentId(): string {
    return new TextDecoder().decode(this.bytes.subarray(this.uuidOffset, this.uuidOffset + UUID_LENGTH));
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
