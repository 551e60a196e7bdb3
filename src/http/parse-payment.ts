import { decodeUuid } from '../queue/uuid.ts';

/**
 * Parses the body of POST /payments without building a JSON object: it walks the bytes once,
 * validates the whole document as JSON, and reads `amount` from its decimal text into integer
 * cents, so no value ever passes through a binary float.
 *
 * Rules: a JSON object; `correlationId` a UUID string (hyphenated, either case); `amount` a JSON
 * number > 0, an exact multiple of 0.01 (19.9, 19.90 and 1.99e1 are fine, 19.901 is not, since
 * the processor would round it its own way), at most MAX_AMOUNT_CENTS; other keys are ignored;
 * a key given twice is an error (which value would count is ambiguous).
 */
export const MAX_AMOUNT_CENTS = 1_000_000_000_000; // 10 billion: keeps ledger sums exact (see shared-ledger)

export class ParsedPayment {
  readonly id = new Uint32Array(4);
  cents = 0;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const MAX_DEPTH = 32;

const KEY_CORRELATION_ID = Buffer.from('correlationId');
const KEY_AMOUNT = Buffer.from('amount');
const utf8 = new TextDecoder('utf-8', { fatal: true });

class Invalid extends Error {}

/** Parses `body` into `out`; returns null on success or a message saying what is wrong. */
export function parsePayment(body: Uint8Array, out: ParsedPayment): string | null {
  try {
    return new Reader(body).payment(out);
  } catch (error) {
    if (error instanceof Invalid) return error.message;
    throw error;
  }
}

function isWhitespace(byte: number): boolean {
  return byte === 32 || byte === 10 || byte === 13 || byte === 9;
}

function isDigit(byte: number): boolean {
  return byte >= ZERO && byte <= NINE;
}

function sameBytes(bytes: Uint8Array, start: number, end: number, key: Uint8Array): boolean {
  if (end - start !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (bytes[start + i] !== key[i]) return false;
  return true;
}

class Reader {
  private position = 0;
  private nonAscii = false;

  constructor(private readonly bytes: Uint8Array) {}

  payment(out: ParsedPayment): string | null {
    this.skipWhitespace();
    if (this.bytes[this.position] !== OPEN_BRACE) {
      if (this.position >= this.bytes.length) return 'body must be a JSON object, got an empty body';
      this.value(0); // a valid non-object document gets the clearer message below
      return 'body must be a JSON object';
    }
    this.position++;
    let sawId = false;
    let sawAmount = false;
    let idError: string | null = null;
    let amountError: string | null = null;
    this.skipWhitespace();
    if (this.bytes[this.position] === CLOSE_BRACE) {
      this.position++;
    } else {
      for (;;) {
        const key = this.key();
        this.skipWhitespace();
        this.expect(COLON, "':' after an object key");
        this.skipWhitespace();
        if (key === 'correlationId') {
          if (sawId) throw new Invalid('duplicate key "correlationId"');
          sawId = true;
          idError = this.correlationId(out);
        } else if (key === 'amount') {
          if (sawAmount) throw new Invalid('duplicate key "amount"');
          sawAmount = true;
          amountError = this.amount(out);
        } else {
          this.value(1);
        }
        this.skipWhitespace();
        const next = this.bytes[this.position++];
        if (next === CLOSE_BRACE) break;
        if (next !== COMMA) this.fail("',' or '}' in the object", 1);
        this.skipWhitespace();
      }
    }
    this.skipWhitespace();
    if (this.position !== this.bytes.length) this.fail('end of body');
    if (this.nonAscii) {
      try {
        utf8.decode(this.bytes);
      } catch {
        throw new Invalid('body is not valid UTF-8');
      }
    }
    if (!sawId) return 'correlationId is required';
    if (idError) return idError;
    if (!sawAmount) return 'amount is required';
    return amountError;
  }

  private fail(expected: string, back = 0): never {
    const at = this.position - back;
    if (at >= this.bytes.length) throw new Invalid(`invalid JSON: body ended where ${expected} was expected`);
    throw new Invalid(`invalid JSON: expected ${expected} at byte ${at}`);
  }

  private expect(byte: number, what: string): void {
    if (this.bytes[this.position] !== byte) this.fail(what);
    this.position++;
  }

  private skipWhitespace(): void {
    while (isWhitespace(this.bytes[this.position])) this.position++;
  }

  /** Reads an object key; the known keys are compared as bytes, so no string is built for them. */
  private key(): string | null {
    if (this.bytes[this.position] !== QUOTE) this.fail('a quoted object key');
    const start = this.position + 1;
    const escaped = this.skipString();
    const end = this.position - 1;
    if (escaped) return this.decodeString(start - 1, this.position);
    if (sameBytes(this.bytes, start, end, KEY_CORRELATION_ID)) return 'correlationId';
    if (sameBytes(this.bytes, start, end, KEY_AMOUNT)) return 'amount';
    return null;
  }

  private correlationId(out: ParsedPayment): string | null {
    if (this.bytes[this.position] !== QUOTE) {
      this.value(1);
      return 'correlationId must be a string holding a UUID';
    }
    const start = this.position + 1;
    const escaped = this.skipString();
    const end = this.position - 1;
    if (escaped) {
      const text = this.decodeString(start - 1, this.position);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is "any ASCII", control characters included
      return text.length === 36 && decodeUuid(Buffer.from(text, 'latin1'), 0, out.id, 0) && /^[\x00-\x7f]*$/.test(text)
        ? null
        : 'correlationId must be a UUID (8-4-4-4-12 hex digits)';
    }
    if (end - start !== 36 || !decodeUuid(this.bytes, start, out.id, 0)) {
      return 'correlationId must be a UUID (8-4-4-4-12 hex digits)';
    }
    return null;
  }

  private amount(out: ParsedPayment): string | null {
    const first = this.bytes[this.position];
    if (first !== MINUS && !isDigit(first)) {
      this.value(1);
      return 'amount must be a JSON number';
    }
    const negative = first === MINUS;
    if (negative) this.position++;
    // Significant digits of the integer and fraction parts, leading zeros dropped.
    let digits = '';
    let fractionLength = 0;
    const integerStart = this.position;
    while (isDigit(this.bytes[this.position])) this.position++;
    const integerEnd = this.position;
    if (integerEnd === integerStart) this.fail('a digit');
    if (this.bytes[integerStart] === ZERO && integerEnd - integerStart > 1) this.fail('no leading zeros in a number', integerEnd - integerStart - 1);
    digits = this.latin1(integerStart, integerEnd);
    if (this.bytes[this.position] === DOT) {
      this.position++;
      const fractionStart = this.position;
      while (isDigit(this.bytes[this.position])) this.position++;
      if (this.position === fractionStart) this.fail('a digit after the decimal point');
      fractionLength = this.position - fractionStart;
      if (fractionLength > 64) return this.skipNumberRest('amount must have at most 2 decimal places');
      digits += this.latin1(fractionStart, this.position);
    }
    let exponent = 0;
    const marker = this.bytes[this.position];
    if (marker === 101 || marker === 69) {
      this.position++;
      let exponentSign = 1;
      if (this.bytes[this.position] === MINUS || this.bytes[this.position] === PLUS) {
        if (this.bytes[this.position] === MINUS) exponentSign = -1;
        this.position++;
      }
      const exponentStart = this.position;
      while (isDigit(this.bytes[this.position])) {
        if (exponent < 1_000_000) exponent = exponent * 10 + (this.bytes[this.position] - ZERO);
        this.position++;
      }
      if (this.position === exponentStart) this.fail('a digit in the exponent');
      exponent *= exponentSign;
    }
    digits = digits.replace(/^0+/, '');
    if (digits === '') return 'amount must be greater than 0';
    if (negative) return 'amount must be greater than 0';
    // value = digits × 10^(exponent − fractionLength); cents = value × 100.
    const shift = exponent - fractionLength + 2;
    if (shift < 0) {
      const dropped = digits.slice(Math.max(0, digits.length + shift));
      if (!/^0*$/.test(dropped) || -shift > digits.length + 64) return 'amount must have at most 2 decimal places';
      digits = digits.slice(0, digits.length + shift);
      if (digits === '') return 'amount must have at most 2 decimal places';
    } else {
      if (digits.length + shift > 16) return 'amount is too large';
      digits += '0'.repeat(shift);
    }
    if (digits.length > 16) return 'amount is too large';
    const cents = Number(digits);
    if (cents > MAX_AMOUNT_CENTS) return 'amount is too large';
    out.cents = cents;
    return null;
  }

  private latin1(start: number, end: number): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, end - start).toString('latin1');
  }

  private skipNumberRest(message: string): string {
    while (isDigit(this.bytes[this.position])) this.position++;
    const marker = this.bytes[this.position];
    if (marker === 101 || marker === 69) {
      this.position++;
      if (this.bytes[this.position] === MINUS || this.bytes[this.position] === PLUS) this.position++;
      const start = this.position;
      while (isDigit(this.bytes[this.position])) this.position++;
      if (this.position === start) this.fail('a digit in the exponent');
    }
    return message;
  }

  /** Skips a string starting at the opening quote; returns whether it had escapes. */
  private skipString(): boolean {
    const bytes = this.bytes;
    let escaped = false;
    this.position++;
    for (;;) {
      const byte = bytes[this.position];
      if (byte === undefined) this.fail('a closing quote');
      this.position++;
      if (byte === QUOTE) return escaped;
      if (byte < 0x20) this.fail('no control characters in a string', 1);
      if (byte >= 0x80) this.nonAscii = true;
      if (byte === BACKSLASH) {
        escaped = true;
        const next = bytes[this.position++];
        if (next === 117) {
          for (let i = 0; i < 4; i++) {
            const hex = bytes[this.position++];
            const ok = (hex >= 48 && hex <= 57) || (hex >= 65 && hex <= 70) || (hex >= 97 && hex <= 102);
            if (!ok) this.fail('4 hex digits after \\u', 1);
          }
        } else if (next !== QUOTE && next !== BACKSLASH && next !== 47 && next !== 98 && next !== 102 && next !== 110 && next !== 114 && next !== 116) {
          this.fail('a valid escape sequence', 1);
        }
      }
    }
  }

  private decodeString(start: number, end: number): string {
    return JSON.parse(Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, end - start).toString('utf8')) as string;
  }

  /** Validates and skips any JSON value. */
  private value(depth: number): void {
    if (depth > MAX_DEPTH) throw new Invalid('invalid JSON: nested too deeply');
    const byte = this.bytes[this.position];
    if (byte === QUOTE) {
      this.skipString();
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      const close = byte === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      this.position++;
      this.skipWhitespace();
      if (this.bytes[this.position] === close) {
        this.position++;
        return;
      }
      for (;;) {
        if (close === CLOSE_BRACE) {
          if (this.bytes[this.position] !== QUOTE) this.fail('a quoted object key');
          this.skipString();
          this.skipWhitespace();
          this.expect(COLON, "':' after an object key");
          this.skipWhitespace();
        }
        this.value(depth + 1);
        this.skipWhitespace();
        const next = this.bytes[this.position++];
        if (next === close) return;
        if (next !== COMMA) this.fail(close === CLOSE_BRACE ? "',' or '}'" : "',' or ']'", 1);
        this.skipWhitespace();
      }
    } else if (byte === MINUS || isDigit(byte)) {
      if (byte === MINUS) this.position++;
      const start = this.position;
      while (isDigit(this.bytes[this.position])) this.position++;
      if (this.position === start) this.fail('a digit');
      if (this.bytes[start] === ZERO && this.position - start > 1) this.fail('no leading zeros in a number', this.position - start - 1);
      if (this.bytes[this.position] === DOT) {
        this.position++;
        const fraction = this.position;
        while (isDigit(this.bytes[this.position])) this.position++;
        if (this.position === fraction) this.fail('a digit after the decimal point');
      }
      this.skipNumberRest('');
    } else if (!this.literal('true') && !this.literal('false') && !this.literal('null')) {
      this.fail('a JSON value');
    }
  }

  private literal(word: string): boolean {
    for (let i = 0; i < word.length; i++) if (this.bytes[this.position + i] !== word.charCodeAt(i)) return false;
    this.position += word.length;
    return true;
  }
}
