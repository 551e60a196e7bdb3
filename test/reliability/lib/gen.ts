import type { Rng } from './prng.ts';
import { MAX_AMOUNT_CENTS, PARSER_MAX_DEPTH } from './oracle.ts';

/**
 * Generators of POST /payments bodies, each built for one input class and carrying what it was
 * built to be (`intended`). The fuzz tests compare `intended` with the independent oracle (a
 * self-check of the generators and the oracle) and the gateway with the oracle. Bodies changed
 * by random byte mutations are `unknown`: only the oracle decides them.
 */
export type Intended = 'valid' | 'invalid' | 'unknown';

export interface BodyCase {
  label: string;
  body: Uint8Array;
  intended: Intended;
  /** For intended-valid bodies: the canonical id and the exact cents it must be queued with. */
  id?: string;
  cents?: bigint;
}

export interface IdSource {
  /** A correlationId for a valid payment and the cents it is always sent with. */
  next(rng: Rng): { id: string; cents: bigint; repeat: boolean };
}

const utf8 = new TextEncoder();

/* ---------------------------------------------------------------- amounts */

/** Spells m × 10^(−q) (m ≥ 0) as a JSON number, in one of many equivalent forms. */
export function spellDecimal(rng: Rng, m: bigint, q: number): string {
  if (m === 0n) {
    const zero = rng.pick(['0', '0.0', '0.00', '0.000000']);
    return rng.chance(0.3) ? `${zero}${rng.pick(['e', 'E'])}${rng.pick(['', '+', '-'])}${rng.range(0, 30)}` : zero;
  }
  // Optional trailing zeros: m·10^z × 10^(−q−z) is the same value.
  const z = rng.weighted([
    [8, 0],
    [3, 1],
    [1, rng.range(2, 8)],
    [0.3, rng.range(9, 40)], // keeps every fraction within the parser's 64-digit limit
  ] as const);
  const digits = m.toString() + '0'.repeat(z);
  const places = q + z;
  const form = rng.weighted([
    [6, 'plain'],
    [3, 'exponent'],
    [1, 'zero-point'],
  ] as const);
  const exponentText = (e: number) => {
    const marker = rng.pick(['e', 'E']);
    const sign = e < 0 ? '-' : rng.pick(['', '+']);
    const pad = rng.chance(0.15) ? '0'.repeat(rng.range(1, 3)) : '';
    return `${marker}${sign}${pad}${Math.abs(e)}`;
  };
  if (form === 'plain') {
    let whole: string;
    let fraction: string;
    if (digits.length > places) {
      whole = digits.slice(0, digits.length - places);
      fraction = digits.slice(digits.length - places);
    } else {
      whole = '0';
      fraction = '0'.repeat(places - digits.length) + digits;
    }
    if (rng.chance(0.5)) fraction = fraction.replace(/0+$/, '');
    return fraction === '' ? whole : `${whole}.${fraction}`;
  }
  if (form === 'exponent') {
    const fractionLength = rng.int(digits.length); // point after the first len−f digits (never empty)
    const whole = digits.slice(0, digits.length - fractionLength);
    const fraction = digits.slice(digits.length - fractionLength);
    const exponent = fractionLength - places;
    const mantissa = fraction === '' ? whole : `${whole}.${fraction}`;
    return exponent === 0 && rng.chance(0.5) ? mantissa : mantissa + exponentText(exponent);
  }
  // 0.000ddd × 10^e
  const leadingZeros = rng.range(0, 5);
  const exponent = leadingZeros + digits.length - places;
  return `0.${'0'.repeat(leadingZeros)}${digits}${exponentText(exponent)}`;
}

export function randomCents(rng: Rng): bigint {
  return rng.weighted([
    [60, () => BigInt(rng.range(1, 99_999))],
    [15, () => BigInt(rng.range(100, 1_000_000))],
    [10, () => 1990n],
    [8, () => BigInt(rng.range(1, 9_999_999)) * BigInt(rng.range(1, 100_000))],
    [3, () => 1n],
    [2, () => MAX_AMOUNT_CENTS],
    [2, () => MAX_AMOUNT_CENTS - BigInt(rng.range(1, 1000))],
  ] as const)();
}

export function validAmount(rng: Rng, cents: bigint): string {
  return spellDecimal(rng, cents, 2);
}

/** Non-zero, with digits below a cent. */
function subCentAmount(rng: Rng): string {
  const extra = rng.range(1, 4);
  let tail = BigInt(rng.range(1, 10 ** extra - 1));
  if (tail % 10n === 0n) tail += 1n;
  const cents = rng.chance(0.3) ? 0n : randomCents(rng) % 1_000_000n;
  return spellDecimal(rng, cents * 10n ** BigInt(extra) + tail, 2 + extra);
}

function tooLargeAmount(rng: Rng): string {
  return rng.pick([
    () => spellDecimal(rng, MAX_AMOUNT_CENTS + BigInt(rng.range(1, 1_000_000)), 2),
    () => spellDecimal(rng, MAX_AMOUNT_CENTS * BigInt(rng.range(2, 1_000_000)), 2),
    () => `1${'0'.repeat(rng.range(13, 400))}`,
    () => `${rng.range(1, 9)}e${rng.range(11, 400)}`,
    () => `1e${'9'.repeat(rng.range(5, 30))}`,
    () => `9${'9'.repeat(rng.range(20, 300))}.99`,
    () => '10000000000.01',
    () => '1e308',
    () => '1.8e308',
  ])();
}

function zeroOrNegativeAmount(rng: Rng): string {
  return rng.pick([
    () => spellDecimal(rng, 0n, 2),
    () => `-${spellDecimal(rng, 0n, 2)}`,
    () => `-${validAmount(rng, randomCents(rng))}`,
    () => '-0',
    () => '-1e-2',
    () => `-${'9'.repeat(rng.range(1, 30))}`,
  ])();
}

const NAN_AND_FRIENDS = ['NaN', 'Infinity', '-Infinity', '+Infinity', 'nan', 'inf', '-inf', 'NAN', 'infinity'];

function nanAmount(rng: Rng): string {
  const word = rng.pick(NAN_AND_FRIENDS);
  return rng.chance(0.5) ? word : JSON.stringify(word);
}

function wrongTypeAmount(rng: Rng, cents: bigint): string {
  const text = validAmount(rng, cents);
  return rng.pick([`"${text}"`, 'null', 'true', 'false', `[${text}]`, `{"value":${text}}`, '""', '"19.90"', '[]', '{}']);
}

/** Number-ish tokens that are not JSON numbers (the body becomes invalid JSON). */
const BAD_NUMBER_TOKENS = [
  '01',
  '00.5',
  '1.',
  '.5',
  '+1',
  '0x1F',
  '1e',
  '1e+',
  '--1',
  '- 1',
  '1_000',
  '1 000',
  '１２',
  '١٢',
  '1.2.3',
  '1e2e3',
  '0b101',
  "'19.90'",
  'Infinity.0',
];

/* ---------------------------------------------------------------- correlation ids */

function escapeSome(rng: Rng, text: string): string {
  let out = '';
  for (const c of text) {
    if (rng.chance(0.2)) {
      const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
      out += `\\u${rng.chance(0.5) ? hex : hex.toUpperCase()}`;
    } else out += c;
  }
  return out;
}

/** A valid spelling of a canonical (lower-case) id, as a JSON string literal. */
function validIdLiteral(rng: Rng, id: string): { literal: string; form: 'lower' | 'upper' | 'mixed' | 'escaped' } {
  const form = rng.weighted([
    [10, 'lower'],
    [2, 'upper'],
    [2, 'mixed'],
    [1, 'escaped'],
  ] as const);
  let text = id;
  if (form === 'upper') text = id.toUpperCase();
  if (form === 'mixed') text = [...id].map((c) => (rng.chance(0.5) ? c.toUpperCase() : c)).join('');
  if (form === 'escaped') return { literal: `"${escapeSome(rng, id)}"`, form };
  return { literal: `"${text}"`, form };
}

function invalidIdLiteral(rng: Rng, id: string): string {
  const plain = id.replace(/-/g, '');
  const swapAt = (s: string, at: number, c: string) => s.slice(0, at) + c + s.slice(at + 1);
  return rng.pick([
    () => `"{${id}}"`,
    () => `"${plain}"`,
    () => `"${plain.toUpperCase()}"`,
    () => `"urn:uuid:${id}"`,
    () => `" ${id}"`,
    () => `"${id} "`,
    () => `"${id.slice(0, 35)}"`,
    () => `"${id}0"`,
    () => `"${swapAt(id, rng.pick([0, 5, 9, 20, 35]), rng.pick(['g', 'G', 'z', 'x', ' ', '.']))}"`,
    () => `"${swapAt(swapAt(id, 8, '0'), 9, '-')}"`,
    () => `"${id.replace(/-/g, '_')}"`,
    () => `"${id.slice(0, 8)}-${id.slice(9, 13)}${id.slice(14)}-0"`,
    () => `"${swapAt(id, 3, '４')}"`,
    () => `"${swapAt(id, 3, 'é')}"`,
    () => `"${id.slice(0, 35)}\\u00e9"`,
    () => `"${id.slice(0, 35)}\\u0000"`,
    () => `"\\u0660${id.slice(1)}"`,
    () => '""',
    () => 'null',
    () => 'true',
    () => '12345',
    () => `["${id}"]`,
    () => `{"id":"${id}"}`,
    () => `"${id}${id}"`,
    () => `"${'0'.repeat(36)}"`,
  ])();
}

/* ---------------------------------------------------------------- other JSON values */

const STRING_PIECES = [
  'a',
  'Z',
  ' ',
  '0',
  'é',
  '中',
  '😀',
  '\\"',
  '\\\\',
  '\\/',
  '\\b',
  '\\f',
  '\\n',
  '\\r',
  '\\t',
  '\\u00e9',
  '\\ud83d\\ude00',
  '\\ud800',
  '\\u0000',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  'amount',
  '"'.slice(1),
];

function jsonString(rng: Rng, maxPieces = 8): string {
  let out = '"';
  const pieces = rng.int(maxPieces + 1);
  for (let i = 0; i < pieces; i++) out += rng.pick(STRING_PIECES);
  return out + '"';
}

const NUMBER_VALUES = ['0', '-0', '1', '-1.5', '1e999', '-1e-999', '2.5E-3', '123456789012345678901234567890', '0.1', '1E+2', '9007199254740993'];

/** A random valid JSON value no deeper than `depthLeft` more levels. */
export function jsonValue(rng: Rng, depthLeft: number): string {
  const kind = depthLeft <= 0 ? rng.int(3) : rng.int(5);
  if (kind === 0) return jsonString(rng);
  if (kind === 1) return rng.pick(NUMBER_VALUES);
  if (kind === 2) return rng.pick(['true', 'false', 'null']);
  const count = rng.int(4);
  if (kind === 3) return `[${Array.from({ length: count }, () => jsonValue(rng, depthLeft - 1)).join(',')}]`;
  return `{${Array.from({ length: count }, () => `${jsonString(rng, 3)}:${jsonValue(rng, depthLeft - 1)}`).join(',')}}`;
}

const EXTRA_KEYS = [
  'note',
  'x',
  '',
  'Amount',
  'AMOUNT',
  'amount ',
  ' amount',
  'correlationid',
  'correlationID',
  'correlation_id',
  'id',
  'requestedAt',
  '__proto__',
  'constructor',
  '💳',
  'ключ',
  'amount\\u0000',
];

function extraKey(rng: Rng): string {
  for (;;) {
    const key = rng.chance(0.7) ? `"${rng.pick(EXTRA_KEYS)}"` : jsonString(rng, 4);
    const name = JSON.parse(key) as string;
    if (name !== 'amount' && name !== 'correlationId') return key;
  }
}

/** Extra members with no string content, so textual corruptions cannot land inside a string. */
function plainExtras(rng: Rng, count: number): Member[] {
  return Array.from({ length: count }, () => ({
    key: `"${rng.pick(['note', 'x', 'id', 'n'])}"`,
    value: rng.pick([...NUMBER_VALUES, 'true', 'false', 'null', '[1,2]', '{}']),
  }));
}

/** Keys whose decoded name is one of ours, spelled differently. */
function spelledKey(rng: Rng, name: 'correlationId' | 'amount'): string {
  return rng.chance(0.85) ? `"${name}"` : `"${escapeSome(rng, name)}"`;
}

/* ---------------------------------------------------------------- assembly */

interface Member {
  key: string;
  value: string;
}

const JSON_WHITESPACE = ['', '', '', ' ', '  ', '\n', '\t', '\r\n', ' \n\t '];

function assemble(rng: Rng, members: Member[], fancyWhitespace: boolean): string {
  const ws = () => (fancyWhitespace ? rng.pick(JSON_WHITESPACE) : '');
  const inner = members.map((m) => `${ws()}${m.key}${ws()}:${ws()}${m.value}${ws()}`).join(',');
  return `${ws()}{${inner}${members.length === 0 ? ws() : ''}}${ws()}`;
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function withExtras(rng: Rng, members: Member[], count: number, depth = 3): Member[] {
  const out = [...members];
  for (let i = 0; i < count; i++) out.push({ key: extraKey(rng), value: jsonValue(rng, depth) });
  return shuffle(rng, out);
}

/** Inserts `bytes` inside the first string value of an extra member. */
function spliceIntoString(text: string, marker: string, bytes: number[]): Uint8Array {
  const at = text.indexOf(marker);
  const before = utf8.encode(text.slice(0, at + marker.length));
  const after = utf8.encode(text.slice(at + marker.length));
  return Uint8Array.from([...before, ...bytes, ...after]);
}

const INVALID_UTF8 = [
  [0xff],
  [0xfe],
  [0xc0, 0x80],
  [0x80],
  [0xbf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc3],
];
const NON_JSON_WHITESPACE = ['\f', '\v', '\u00a0', '\u2028', '\u3000', '\u0085', '\ufeff'];

/* ---------------------------------------------------------------- the classes */

export const BODY_CLASSES = [
  'valid: plain amount',
  'valid: exponent / trailing zeros / 0.x spellings',
  'valid: upper/mixed-case or \\u-escaped UUID',
  'valid: extra keys, any key order, whitespace, escaped key names',
  'valid: duplicated ignored key',
  'valid: nesting at the 32-level limit',
  'invalid: malformed JSON',
  'invalid: truncated JSON',
  'invalid: wrong types',
  'invalid: duplicate correlationId/amount',
  'invalid: huge amounts',
  'invalid: NaN/Infinity (bare and as strings)',
  'invalid: zero and negative amounts',
  'invalid: more than 2 decimals',
  'invalid: bad or non-canonical UUID',
  'invalid: missing fields',
  'invalid: not UTF-8, BOM, non-JSON whitespace',
  'invalid: nested deeper than 32',
  'invalid: not an object / empty',
  'random byte mutations',
] as const;

export type BodyClass = (typeof BODY_CLASSES)[number];

const CLASS_WEIGHTS: readonly (readonly [number, BodyClass])[] = [
  [14, 'valid: plain amount'],
  [7, 'valid: exponent / trailing zeros / 0.x spellings'],
  [5, 'valid: upper/mixed-case or \\u-escaped UUID'],
  [6, 'valid: extra keys, any key order, whitespace, escaped key names'],
  [1, 'valid: duplicated ignored key'],
  [1, 'valid: nesting at the 32-level limit'],
  [6, 'invalid: malformed JSON'],
  [5, 'invalid: truncated JSON'],
  [4, 'invalid: wrong types'],
  [3, 'invalid: duplicate correlationId/amount'],
  [3, 'invalid: huge amounts'],
  [3, 'invalid: NaN/Infinity (bare and as strings)'],
  [4, 'invalid: zero and negative amounts'],
  [4, 'invalid: more than 2 decimals'],
  [5, 'invalid: bad or non-canonical UUID'],
  [2, 'invalid: missing fields'],
  [3, 'invalid: not UTF-8, BOM, non-JSON whitespace'],
  [1, 'invalid: nested deeper than 32'],
  [2, 'invalid: not an object / empty'],
  [8, 'random byte mutations'],
];

/** A fresh random id source: new ids mostly, an earlier one (same cents) sometimes. */
export function idPool(repeatChance = 0.15): IdSource & { issued: Map<string, bigint> } {
  const issued = new Map<string, bigint>();
  const order: string[] = [];
  return {
    issued,
    next(rng) {
      if (order.length > 0 && rng.chance(repeatChance)) {
        const id = rng.pick(order);
        return { id, cents: issued.get(id)!, repeat: true };
      }
      const id = rng.chance(0.002) ? rng.pick(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']) : rng.uuid();
      if (issued.has(id)) return { id, cents: issued.get(id)!, repeat: true };
      const cents = randomCents(rng);
      issued.set(id, cents);
      order.push(id);
      return { id, cents, repeat: false };
    },
  };
}

function validCore(rng: Rng, ids: IdSource, amountText?: (cents: bigint) => string) {
  const { id, cents, repeat } = ids.next(rng);
  const idLiteral = rng.chance(0.8) ? `"${id}"` : validIdLiteral(rng, id).literal;
  const amount = amountText ? amountText(cents) : validAmount(rng, cents);
  return {
    id,
    cents,
    repeat,
    members: [
      { key: spelledKey(rng, 'correlationId'), value: idLiteral },
      { key: spelledKey(rng, 'amount'), value: amount },
    ],
  };
}

/** A correlationId never used for a valid payment, for invalid bodies (so a wrong 202 shows). */
function throwawayId(rng: Rng): string {
  return rng.uuid();
}

function plainValidBody(rng: Rng, ids: IdSource): BodyCase {
  const { id, cents, repeat } = ids.next(rng);
  const members = [
    { key: '"correlationId"', value: `"${id}"` },
    { key: '"amount"', value: plainAmount(rng, cents) },
  ];
  if (rng.chance(0.5)) members.reverse();
  void repeat;
  return { label: 'valid: plain amount', body: utf8.encode(assemble(rng, members, false)), intended: 'valid', id, cents };
}

function plainAmount(rng: Rng, cents: bigint): string {
  const whole = cents / 100n;
  const part = cents % 100n;
  if (part === 0n && rng.chance(0.5)) return whole.toString();
  const two = part.toString().padStart(2, '0');
  return `${whole}.${rng.chance(0.5) ? two : two.replace(/0$/, '') || '0'}`;
}

export function generateBody(rng: Rng, ids: IdSource, forced?: BodyClass): BodyCase {
  const label = forced ?? rng.weighted(CLASS_WEIGHTS);
  const done = (text: string | Uint8Array, intended: Intended, extra: Partial<BodyCase> = {}): BodyCase => ({
    label,
    body: typeof text === 'string' ? utf8.encode(text) : text,
    intended,
    ...extra,
  });
  switch (label) {
    case 'valid: plain amount':
      return plainValidBody(rng, ids);
    case 'valid: exponent / trailing zeros / 0.x spellings': {
      const core = validCore(rng, ids);
      return done(assemble(rng, core.members, false), 'valid', core);
    }
    case 'valid: upper/mixed-case or \\u-escaped UUID': {
      const { id, cents } = ids.next(rng);
      let literal = validIdLiteral(rng, id).literal;
      for (let tries = 0; literal === `"${id}"` && tries < 100; tries++) literal = validIdLiteral(rng, id).literal;
      const members = shuffle(rng, [
        { key: '"correlationId"', value: literal },
        { key: '"amount"', value: plainAmount(rng, cents) },
      ]);
      return done(assemble(rng, members, false), 'valid', { id, cents });
    }
    case 'valid: extra keys, any key order, whitespace, escaped key names': {
      const core = validCore(rng, ids);
      return done(assemble(rng, withExtras(rng, core.members, rng.range(1, 5)), true), 'valid', core);
    }
    case 'valid: duplicated ignored key': {
      const core = validCore(rng, ids);
      const key = `"${rng.pick(['note', 'x', 'requestedAt', ''])}"`;
      const members = shuffle(rng, [...core.members, { key, value: jsonValue(rng, 2) }, { key, value: jsonValue(rng, 2) }]);
      return done(assemble(rng, members, rng.chance(0.5)), 'valid', core);
    }
    case 'valid: nesting at the 32-level limit': {
      const core = validCore(rng, ids);
      // n nested arrays: the innermost is at depth n; a scalar inside it at depth n + 1.
      const withScalar = rng.chance(0.5);
      const n = withScalar ? PARSER_MAX_DEPTH - 1 : PARSER_MAX_DEPTH;
      const value = '['.repeat(n) + (withScalar ? '1' : '') + ']'.repeat(n);
      return done(assemble(rng, shuffle(rng, [...core.members, { key: '"deep"', value }]), false), 'valid', core);
    }
    case 'invalid: nested deeper than 32': {
      const core = validCore(rng, ids);
      const withScalar = rng.chance(0.5);
      const n = (withScalar ? PARSER_MAX_DEPTH : PARSER_MAX_DEPTH + 1) + rng.int(3) * rng.int(40);
      const open = rng.chance(0.5) ? '[' : '{"k":';
      const close = open === '[' ? ']' : '}';
      const inner = withScalar ? '1' : open === '[' ? '' : '[]';
      const value = open === '[' ? open.repeat(n) + inner + close.repeat(n) : open.repeat(n - 1) + (withScalar ? '[1]' : '[]') + close.repeat(n - 1);
      // Both shapes put a value at depth > 32.
      const members = shuffle(rng, [
        { key: '"correlationId"', value: `"${throwawayId(rng)}"` },
        { key: '"amount"', value: validAmount(rng, core.cents) },
        { key: '"deep"', value },
      ]);
      return done(assemble(rng, members, false), 'invalid');
    }
    case 'invalid: malformed JSON': {
      const members = shuffle(rng, [
        { key: '"correlationId"', value: `"${throwawayId(rng)}"` },
        { key: '"amount"', value: validAmount(rng, randomCents(rng)) },
        ...plainExtras(rng, rng.int(3)),
      ]);
      const text = assemble(rng, members, false);
      const inner = text.slice(1, -1);
      const corrupt = rng.pick([
        () => `{${inner},}`,
        () => `{${inner.replace(',', ' ')}}`,
        () => `{${inner.replace(':', ' ')}}`,
        () => `{${inner.replace(/"correlationId"/, "'correlationId'")}}`,
        () => `{${inner.replace(/"amount"/, 'amount')}}`,
        () => `{${inner}`,
        () => `{${inner}}}`,
        () => `{/* comment */${inner}}`,
        () => `{${inner}}{${inner}}`,
        () => `{${inner}} ${rng.pick(['x', 'null', '0', ',', '""'])}`,
        () => `{${inner},"x":"\\q"}`,
        () => `{${inner},"x":"\\u12G4"}`,
        () => `{${inner},"x":"\\u12"}`,
        () => `{${inner},"x":"a\nb"}`,
        () => `{${inner},"x":"a\u0000b"}`,
        () => `{${inner},"x":"a\tb"}`,
        () => `{${inner},"x":${rng.pick(['tru', 'nul', 'True', 'None', 'undefined', 'fals', 'nulll'])}}`,
        () => `{${inner},"x":${rng.pick(BAD_NUMBER_TOKENS)}}`,
        () => `{${inner.replace(/("amount":)[^,}]*/, `$1${rng.pick(BAD_NUMBER_TOKENS)}`)}}`,
        () => `{${inner},"x":[1,2,]}`,
        () => `{${inner},"x":{"a" 1}}`,
        () => `{${inner},"x":[}`,
        () => `{${inner},"x"}`,
        () => `{${inner},:1}`,
        () => `{${inner},,"y":1}`,
        () => `{${inner},"x":"unterminated}`,
        () => `{${inner},"x":1 2}`,
        () => `{,${inner}}`,
      ])();
      return done(corrupt, 'invalid');
    }
    case 'invalid: truncated JSON': {
      const core = validCore(rng, ids);
      const text = assemble(rng, withExtras(rng, core.members, rng.int(3), 2), rng.chance(0.5));
      const lastBrace = text.lastIndexOf('}');
      const bytes = utf8.encode(text.slice(0, lastBrace + 1));
      const cut = rng.int(bytes.length); // strictly shorter than the complete object
      // A cut inside a multi-byte character leaves invalid UTF-8: invalid either way.
      // The id is a real one (a valid payment's), truncated away: it must not be queued from here.
      return done(bytes.slice(0, cut), 'invalid');
    }
    case 'invalid: wrong types': {
      const cents = randomCents(rng);
      const which = rng.int(3);
      const idValue =
        which === 1
          ? `"${throwawayId(rng)}"`
          : rng.pick(['123', 'null', 'true', 'false', '[]', '{}', `["${throwawayId(rng)}"]`, '1.5e3', `{"uuid":"${throwawayId(rng)}"}`]);
      const amountValue = which === 0 ? validAmount(rng, cents) : wrongTypeAmount(rng, cents);
      return done(
        assemble(
          rng,
          shuffle(rng, [
            { key: '"correlationId"', value: idValue },
            { key: '"amount"', value: amountValue },
          ]),
          false,
        ),
        'invalid',
      );
    }
    case 'invalid: duplicate correlationId/amount': {
      const id = throwawayId(rng);
      const cents = randomCents(rng);
      const members: Member[] = [
        { key: spelledKey(rng, 'correlationId'), value: `"${id}"` },
        { key: spelledKey(rng, 'amount'), value: validAmount(rng, cents) },
      ];
      if (rng.chance(0.5))
        members.push({ key: spelledKey(rng, 'amount'), value: rng.chance(0.5) ? validAmount(rng, cents) : validAmount(rng, randomCents(rng)) });
      else members.push({ key: spelledKey(rng, 'correlationId'), value: rng.chance(0.5) ? `"${id}"` : `"${id.toUpperCase()}"` });
      return done(assemble(rng, withExtras(rng, members, rng.int(2), 1), rng.chance(0.3)), 'invalid');
    }
    case 'invalid: huge amounts':
    case 'invalid: NaN/Infinity (bare and as strings)':
    case 'invalid: zero and negative amounts':
    case 'invalid: more than 2 decimals': {
      const amount =
        label === 'invalid: huge amounts'
          ? tooLargeAmount(rng)
          : label === 'invalid: NaN/Infinity (bare and as strings)'
            ? nanAmount(rng)
            : label === 'invalid: zero and negative amounts'
              ? zeroOrNegativeAmount(rng)
              : subCentAmount(rng);
      const members = shuffle(rng, [
        { key: '"correlationId"', value: `"${throwawayId(rng)}"` },
        { key: '"amount"', value: amount },
      ]);
      return done(assemble(rng, members, rng.chance(0.3)), 'invalid');
    }
    case 'invalid: bad or non-canonical UUID': {
      const members = shuffle(rng, [
        { key: '"correlationId"', value: invalidIdLiteral(rng, throwawayId(rng)) },
        { key: '"amount"', value: validAmount(rng, randomCents(rng)) },
      ]);
      return done(assemble(rng, members, false), 'invalid');
    }
    case 'invalid: missing fields': {
      const id = `"${throwawayId(rng)}"`;
      const amount = validAmount(rng, randomCents(rng));
      const members = rng.pick([
        [{ key: '"correlationId"', value: id }],
        [{ key: '"amount"', value: amount }],
        [],
        [
          { key: '"correlationID"', value: id },
          { key: '"amount"', value: amount },
        ],
        [
          { key: '"correlationId"', value: id },
          { key: '"amounts"', value: amount },
        ],
        [
          { key: '"correlation_id"', value: id },
          { key: '"Amount"', value: amount },
        ],
        [{ key: '"payment"', value: `{"correlationId":${id},"amount":${amount}}` }],
      ]);
      return done(assemble(rng, withExtras(rng, members, rng.int(2), 1), rng.chance(0.3)), 'invalid');
    }
    case 'invalid: not UTF-8, BOM, non-JSON whitespace': {
      const members = withExtras(
        rng,
        [
          { key: '"correlationId"', value: `"${throwawayId(rng)}"` },
          { key: '"amount"', value: validAmount(rng, randomCents(rng)) },
        ],
        0,
      );
      members.push({ key: '"note"', value: '"abc"' });
      const text = assemble(rng, members, false);
      return rng.pick([
        () => done(spliceIntoString(text, '"note":"a', rng.pick(INVALID_UTF8)), 'invalid'),
        () => done(Uint8Array.from([0xef, 0xbb, 0xbf, ...utf8.encode(text)]), 'invalid'),
        () => {
          const ws = rng.pick(NON_JSON_WHITESPACE);
          const spots = [text.indexOf(':') + 1, text.indexOf(',') + 1, text.lastIndexOf('}'), 1];
          const at = rng.pick(spots);
          return done(text.slice(0, at) + ws + text.slice(at), 'invalid');
        },
        () => done(spliceIntoString(text, '"correlationId":"', rng.pick(INVALID_UTF8)), 'invalid'),
      ])();
    }
    case 'invalid: not an object / empty': {
      const valid = assemble(
        rng,
        [
          { key: '"correlationId"', value: `"${throwawayId(rng)}"` },
          { key: '"amount"', value: validAmount(rng, randomCents(rng)) },
        ],
        false,
      );
      return done(rng.pick(['', ' ', '\n\t ', '[]', `[${valid}]`, '"text"', '123', 'null', 'true', `"${valid.replace(/"/g, '\\"')}"`, '[1,2,3]']), 'invalid');
    }
    case 'random byte mutations': {
      const base = generateBody(rng, ids, rng.chance(0.7) ? 'valid: plain amount' : rng.pick(BODY_CLASSES.filter((c) => c !== 'random byte mutations')));
      return done(mutate(rng, base.body), 'unknown');
    }
  }
}

const STRUCTURAL = [...'{}[]":,\\ \t\n0123456789.-+eE'].map((c) => c.charCodeAt(0));

export function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let bytes = Array.from(input);
  const edits = rng.range(1, 3);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(bytes.length + 1);
    const byte = rng.chance(0.7) ? rng.pick(STRUCTURAL) : rng.int(256);
    switch (rng.int(6)) {
      case 0:
        bytes.splice(at, 1);
        break;
      case 1:
        bytes.splice(at, 0, byte);
        break;
      case 2:
        bytes[Math.min(at, bytes.length - 1)] = byte;
        break;
      case 3: {
        const length = rng.range(1, 8);
        bytes.splice(at, 0, ...bytes.slice(at, at + length));
        break;
      }
      case 4: {
        const other = rng.int(bytes.length);
        [bytes[at], bytes[other]] = [bytes[other], bytes[at]];
        bytes = bytes.filter((b) => b !== undefined);
        break;
      }
      case 5:
        bytes = bytes.slice(0, at);
        break;
    }
  }
  return Uint8Array.from(bytes.filter((b) => b !== undefined));
}
