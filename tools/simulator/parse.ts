import type { StoredPayment } from './payment-store.ts';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A zone is required: without one Date.parse would use the machine's local time.
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Canonical (lower-case) UUID, or null. */
export function parseUuid(value: unknown): string | null {
  return typeof value === 'string' && UUID.test(value) ? value.toLowerCase() : null;
}

/** Epoch ms of an ISO-8601 timestamp with a zone, or null. */
export function parseIsoTimestamp(value: unknown): number | null {
  if (typeof value !== 'string' || !ISO.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/** The JSON object in a body, or null when the body is not a JSON object. */
export function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * A fee: a fraction from 0 to 1 in whole basis points (0.05, 0.0725), or null. Whole basis points
 * keep totalFee exact (see feeBps).
 */
export function parseFee(fee: unknown): number | null {
  if (typeof fee !== 'number' || !(fee >= 0 && fee <= 1)) return null;
  return Math.abs(fee * 10_000 - feeBps(fee)) < 1e-6 ? fee : null;
}

/** The fee in basis points, an integer. */
export function feeBps(fee: number): number {
  return Math.round(fee * 10_000);
}

/** Body of POST /payments. */
export function parsePaymentBody(text: string): Parsed<StoredPayment> {
  const body = parseJsonObject(text);
  if (!body) return { ok: false, message: 'body must be a JSON object' };
  const correlationId = parseUuid(body.correlationId);
  if (!correlationId) return { ok: false, message: 'correlationId must be a UUID' };
  const amount = body.amount;
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0) {
    return { ok: false, message: 'amount must be a positive number' };
  }
  const requestedAtMs = parseIsoTimestamp(body.requestedAt);
  if (requestedAtMs === null) return { ok: false, message: 'requestedAt must be an ISO-8601 timestamp' };
  return { ok: true, value: { correlationId, amountCents: Math.round(amount * 100), requestedAtMs } };
}
