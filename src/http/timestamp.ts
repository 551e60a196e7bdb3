/**
 * Strict ISO-8601 UTC-or-offset timestamps for the summary window, e.g. 2020-07-10T12:34:56.000Z.
 * Returns epoch ms, or null when the text is not such a timestamp (including impossible dates
 * like February 30th, which Date.parse would quietly roll over).
 * Sub-millisecond digits are honoured by rounding the bound inwards: requestedAt values are whole
 * milliseconds, so a `from` of .0005 starts at .001 and a `to` of .0005 ends at .000.
 */
const PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

export function parseTimestamp(text: string, bound: 'from' | 'to'): number | null {
  const match = PATTERN.exec(text);
  if (!match) return null;
  const [, year, month, day, hour, minute, second, fraction = '', zone] = match;
  const y = Number(year);
  const mo = Number(month);
  const d = Number(day);
  const h = Number(hour);
  const mi = Number(minute);
  const s = Number(second);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return null;
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const zoneHours = Number(zone.slice(1, 3));
    const zoneMinutes = Number(zone.slice(4, 6));
    if (zoneHours > 23 || zoneMinutes > 59) return null;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  }
  const wholeMs = Number(fraction.padEnd(3, '0').slice(0, 3));
  const hasSubMs = /[1-9]/.test(fraction.slice(3));
  const ms = bound === 'from' && hasSubMs ? wholeMs + 1 : wholeMs;
  // Not Date.UTC: it reads years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  return date.getTime() - offsetMinutes * 60_000;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS[month - 1];
}
