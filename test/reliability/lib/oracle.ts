/**
 * Independent oracles for the gateway's input rules, written from the README and the contract,
 * not from the gateway's code: what POST /payments must do with a body, and what a summary bound
 * means. They use other means than the gateway does (the platform's JSON.parse for syntax, BigInt
 * decimal arithmetic for amounts, a civil-calendar day count for timestamps), so a shared mistake
 * is unlikely.
 *
 * Two limits of the gateway's parser are not in the README; the oracle models them explicitly
 * (reported to the lead, to document):
 *   - JSON nesting deeper than 32 levels anywhere in the body is refused;
 *   - an amount with more than 64 digits after the decimal point is refused, even when they are
 *     zeros (1.000…0 with 65 zeros is an exact multiple of 0.01).
 */
export const MAX_AMOUNT_CENTS = 1_000_000_000_000n; // README: at most 10,000,000,000
export const PARSER_MAX_DEPTH = 32;
export const PARSER_MAX_FRACTION_DIGITS = 64;

export type PaymentVerdict = { ok: true; id: string; cents: bigint } | { ok: false; why: string };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const JSON_WS = new Set([' ', '\t', '\n', '\r']);
const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const NUMBER_TEXT = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

/** What POST /payments must answer for this body (content type and size aside). */
export function expectedPayment(bytes: Uint8Array): PaymentVerdict {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { ok: false, why: 'not UTF-8' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, why: 'not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, why: 'not an object' };
  if (nestedDeeperThan(text, PARSER_MAX_DEPTH)) return { ok: false, why: 'nested too deeply' };
  const members = topLevelMembers(text);
  const ids = members.filter((m) => m.key === 'correlationId');
  const amounts = members.filter((m) => m.key === 'amount');
  if (ids.length > 1 || amounts.length > 1) return { ok: false, why: 'duplicate key' };
  if (ids.length === 0) return { ok: false, why: 'no correlationId' };
  if (amounts.length === 0) return { ok: false, why: 'no amount' };
  const idRaw = ids[0].raw;
  if (!idRaw.startsWith('"')) return { ok: false, why: 'correlationId not a string' };
  const id = JSON.parse(idRaw) as string;
  if (!UUID_TEXT.test(id)) return { ok: false, why: 'correlationId not a UUID' };
  const cents = amountToCents(amounts[0].raw);
  if (typeof cents === 'string') return { ok: false, why: cents };
  return { ok: true, id: id.toLowerCase(), cents };
}

/** Exact cents of a JSON number text, or why it is not an acceptable amount. */
export function amountToCents(raw: string): bigint | string {
  const match = NUMBER_TEXT.exec(raw);
  if (!match) return 'amount not a number';
  const [, sign, whole, fraction = '', exponentText = '0'] = match;
  if (fraction.length > PARSER_MAX_FRACTION_DIGITS) return 'fraction longer than the parser limit';
  const mantissa = BigInt(whole + fraction);
  if (mantissa === 0n) return 'amount zero';
  if (sign === '-') return 'amount negative';
  // value = mantissa × 10^(exponent − |fraction|); cents = value × 100 = mantissa × 10^power
  const power = BigInt(exponentText) - BigInt(fraction.length) + 2n;
  let cents: bigint;
  if (power >= 0n) {
    if (power > 40n) return 'amount too large';
    cents = mantissa * 10n ** power;
  } else {
    const divisor = -power;
    if (divisor > BigInt(mantissa.toString().length)) return 'amount below a cent';
    const scale = 10n ** divisor;
    if (mantissa % scale !== 0n) return 'amount has sub-cent digits';
    cents = mantissa / scale;
  }
  if (cents > MAX_AMOUNT_CENTS) return 'amount too large';
  return cents;
}

/** True when any value sits more than `limit` levels deep (members of the body are level 1). */
function nestedDeeperThan(text: string, limit: number): boolean {
  let level = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      if (level > limit) return true;
      i = stringEnd(text, i) - 1;
    } else if (c === '{' || c === '[') {
      if (level > limit) return true;
      level++;
    } else if (c === '}' || c === ']') {
      level--;
    } else if (c !== ',' && c !== ':' && !JSON_WS.has(c)) {
      if (level > limit) return true;
    }
  }
  return false;
}

/** Index just past the closing quote of the JSON string opening at `start` (text is valid JSON). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}

function valueEnd(text: string, start: number): number {
  const c = text[start];
  if (c === '"') return stringEnd(text, start);
  if (c === '{' || c === '[') {
    let level = 0;
    for (let i = start; ; i++) {
      const d = text[i];
      if (d === '"') i = stringEnd(text, i) - 1;
      else if (d === '{' || d === '[') level++;
      else if (d === '}' || d === ']') {
        level--;
        if (level === 0) return i + 1;
      }
    }
  }
  let i = start;
  while (i < text.length && !',}] \t\n\r'.includes(text[i])) i++;
  return i;
}

/** The top-level members of a valid JSON object text, keys decoded, values as written. */
function topLevelMembers(text: string): { key: string; raw: string }[] {
  let i = 0;
  const skip = () => {
    while (JSON_WS.has(text[i])) i++;
  };
  skip();
  i++; // '{'
  skip();
  const members: { key: string; raw: string }[] = [];
  if (text[i] === '}') return members;
  for (;;) {
    skip();
    const keyEnd = stringEnd(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = keyEnd;
    skip();
    i++; // ':'
    skip();
    const end = valueEnd(text, i);
    members.push({ key, raw: text.slice(i, end) });
    i = end;
    skip();
    if (text[i++] !== ',') return members;
  }
}

/* ------------------------------------------------------------------------------------------ */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function digitsAt(text: string, at: number, count: number): number | null {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i);
    if (!(c >= 48 && c <= 57)) return null;
    value = value * 10 + (c - 48);
  }
  return value;
}

/**
 * Epoch ms of a summary bound, or null when it is not one: `YYYY-MM-DDTHH:MM:SS[.f{1,9}]` then
 * `Z` or `±HH:MM`, a real calendar date and time. Digits below a millisecond round the bound
 * inwards (requestedAt values are whole ms): `from` up, `to` down.
 */
export function expectedTimestamp(text: string, bound: 'from' | 'to'): number | null {
  const fixed = (at: number, char: string) => text[at] === char;
  if (text.length < 20) return null;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (year === null || month === null || day === null || hour === null || minute === null || second === null) return null;
  if (!fixed(4, '-') || !fixed(7, '-') || !fixed(10, 'T') || !fixed(13, ':') || !fixed(16, ':')) return null;
  let at = 19;
  let fraction = '';
  if (text[at] === '.') {
    at++;
    while (at < text.length && text[at] >= '0' && text[at] <= '9') fraction += text[at++];
    if (fraction.length < 1 || fraction.length > 9) return null;
  }
  let offsetMinutes = 0;
  const zone = text.slice(at);
  if (zone !== 'Z') {
    if (zone.length !== 6 || (zone[0] !== '+' && zone[0] !== '-') || zone[3] !== ':') return null;
    const zh = digitsAt(zone, 1, 2);
    const zm = digitsAt(zone, 4, 2);
    if (zh === null || zm === null || zh > 23 || zm > 59) return null;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  if (month < 1 || month > 12 || day < 1) return null;
  const monthDays = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1];
  if (day > monthDays || hour > 23 || minute > 59 || second > 59) return null;
  let ms = Number((fraction + '000').slice(0, 3));
  if (bound === 'from' && /[1-9]/.test(fraction.slice(3))) ms += 1;
  const days = daysFromCivil(year, month, day);
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms - offsetMinutes * 60_000;
}

/** The status GET /payments-summary must answer for this query string. */
export function expectedSummaryStatus(query: string): 200 | 400 {
  const params = new URLSearchParams(query);
  const from = params.get('from');
  const to = params.get('to');
  const fromMs = from === null || from === '' ? null : expectedTimestamp(from, 'from');
  const toMs = to === null || to === '' ? null : expectedTimestamp(to, 'to');
  if (from && fromMs === null) return 400;
  if (to && toMs === null) return 400;
  if (fromMs !== null && toMs !== null && fromMs > toMs) return 400;
  return 200;
}

/** README: a JSON body, or none declared; any other content type is 415. */
export function contentTypeAccepted(contentType: string | null): boolean {
  if (contentType === null) return true;
  const media = contentType.split(';')[0].trim().toLowerCase();
  return media === 'application/json';
}
