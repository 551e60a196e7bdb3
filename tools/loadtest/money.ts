/**
 * Exact money arithmetic. Amounts are integer cents; fees (a percentage with
 * basis-point precision of an amount in cents) are integer "micros"
 * (1e-6 of the currency unit = 1e-4 cent), so nothing is ever rounded until
 * an explicit rounding step (bonus / fine).
 */
export const MICROS_PER_CENT = 10_000;
export const MICROS_PER_UNIT = 1_000_000;

/** Decimal currency amount (as reported in JSON) to integer cents. */
export function toCents(amount: number): number {
  if (!Number.isFinite(amount)) throw new RangeError(`not a finite amount: ${amount}`);
  return Math.round(amount * 100);
}

/** Rate (0.05) to basis points (500). */
export function toBps(rate: number): number {
  return Math.round(rate * 10_000);
}

export function centsToMicros(cents: number): number {
  return cents * MICROS_PER_CENT;
}

/** Exact fee in micros for an amount in cents at `bps` basis points. */
export function feeMicros(amountCents: number, bps: number): number {
  const v = amountCents * bps; // cents * bps / 10000 cents = cents * bps micros
  if (!Number.isSafeInteger(v)) throw new RangeError('amount too large for exact arithmetic');
  return v;
}

/** Exact decimal rendering of micros, trimmed to at least `minDecimals` digits. */
export function formatMicros(micros: number, minDecimals = 2): string {
  if (!Number.isSafeInteger(micros)) throw new RangeError(`micros must be a safe integer: ${micros}`);
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_UNIT);
  let frac = String(abs % MICROS_PER_UNIT).padStart(6, '0');
  while (frac.length > minDecimals && frac.endsWith('0')) frac = frac.slice(0, -1);
  return frac.length > 0 ? `${sign}${whole}.${frac}` : `${sign}${whole}`;
}

export function formatCents(cents: number): string {
  return formatMicros(centsToMicros(cents), 2);
}

/** Micros as a JSON number (nearest double of the exact decimal). */
export function microsToNumber(micros: number): number {
  return Number(formatMicros(micros, 0));
}
