/** Formats exact cents as a JSON number with at most two decimals: 1990n → "19.9", 39800n → "398". */
export function centsToJsonNumber(cents: bigint): string {
  const negative = cents < 0n;
  const magnitude = negative ? -cents : cents;
  const whole = magnitude / 100n;
  const fraction = Number(magnitude % 100n);
  const sign = negative ? '-' : '';
  if (fraction === 0) return `${sign}${whole}`;
  const digits = fraction < 10 ? `0${fraction}` : fraction % 10 === 0 ? `${fraction / 10}` : `${fraction}`;
  return `${sign}${whole}.${digits}`;
}

/** Cents as the decimal text a processor expects for `amount`: 1990 → "19.90". */
export function centsToAmountText(cents: number): string {
  const fraction = cents % 100;
  return `${(cents - fraction) / 100}.${fraction < 10 ? '0' : ''}${fraction}`;
}
