import { describe, expect, test } from 'bun:test';
import { MAX_AMOUNT_CENTS, ParsedPayment, parsePayment } from '../../src/http/parse-payment.ts';
import { formatUuid } from '../../src/queue/uuid.ts';

const ID = '4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3';
const parse = (text: string) => {
  const out = new ParsedPayment();
  const error = parsePayment(new TextEncoder().encode(text), out);
  return { error, cents: out.cents, id: formatUuid(out.id, 0) };
};
const body = (amount: string, id = `"${ID}"`) => `{"correlationId":${id},"amount":${amount}}`;

describe('parsePayment accepts', () => {
  test('the contract example, reading the amount into exact cents', () => {
    expect(parse(body('19.90'))).toEqual({ error: null, cents: 1990, id: ID });
  });

  test.each([
    ['19.9', 1990],
    ['19', 1900],
    ['0.01', 1],
    ['0.10', 10],
    ['19.900', 1990],
    ['1.99e1', 1990],
    ['1990E-2', 1990],
    ['100e-4', 1],
    ['2.5e+2', 25000],
    ['0.29', 29],
    ['1.15', 115],
    ['10000000000', MAX_AMOUNT_CENTS],
  ])('amount %s as %d cents', (amount, cents) => {
    expect(parse(body(amount))).toMatchObject({ error: null, cents });
  });

  test('keys in any order, whitespace, and unknown keys of any JSON type', () => {
    const text = ` {\n\t"note": {"a": [1, 2.5e3, "x\\"y", true, false, null, {}]}, "amount" : 5 ,"correlationId":"${ID}", "z": -0.5 } `;
    expect(parse(text)).toMatchObject({ error: null, cents: 500 });
  });

  test('an upper-case UUID, canonicalised to lower case', () => {
    expect(parse(body('1', `"${ID.toUpperCase()}"`))).toMatchObject({ error: null, id: ID });
  });

  test('keys and the UUID written with JSON escapes', () => {
    const escapedId = `"\\u0034${ID.slice(1)}"`;
    expect(parse(`{"correlation\\u0049d":${escapedId},"amoun\\u0074":1}`)).toMatchObject({ error: null, cents: 100, id: ID });
  });
});

describe('parsePayment rejects, saying why', () => {
  test.each([
    ['', 'empty body'],
    ['   ', 'empty body'],
    ['[]', 'must be a JSON object'],
    ['"text"', 'must be a JSON object'],
    ['null', 'must be a JSON object'],
    ['{', 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":19.9`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":19.9}}`, 'invalid JSON'],
    [`{"correlationId":"${ID}" "amount":19.9}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":19.9,}`, 'invalid JSON'],
    [`{'correlationId':"${ID}","amount":1}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":01}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":1.}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":.5}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":1e}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":NaN}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":Infinity}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":"NaN"}`, 'amount must be a JSON number'],
    [`{"correlationId":"${ID}","amount":"19.90"}`, 'amount must be a JSON number'],
    [`{"correlationId":"${ID}","amount":null}`, 'amount must be a JSON number'],
    [`{"correlationId":"${ID}","amount":[1]}`, 'amount must be a JSON number'],
    [`{"correlationId":"${ID}","amount":0}`, 'greater than 0'],
    [`{"correlationId":"${ID}","amount":0.00}`, 'greater than 0'],
    [`{"correlationId":"${ID}","amount":-0}`, 'greater than 0'],
    [`{"correlationId":"${ID}","amount":-19.9}`, 'greater than 0'],
    [`{"correlationId":"${ID}","amount":19.901}`, 'at most 2 decimal places'],
    [`{"correlationId":"${ID}","amount":0.001}`, 'at most 2 decimal places'],
    [`{"correlationId":"${ID}","amount":1e-3}`, 'at most 2 decimal places'],
    [`{"correlationId":"${ID}","amount":1e400}`, 'too large'],
    [`{"correlationId":"${ID}","amount":10000000000.01}`, 'too large'],
    [`{"correlationId":"${ID}","amount":123456789012345678901234567890}`, 'too large'],
    [`{"correlationId":"${ID}"}`, 'amount is required'],
    ['{"amount":19.9}', 'correlationId is required'],
    ['{}', 'correlationId is required'],
    [`{"correlationId":"${ID}","amount":1,"amount":2}`, 'duplicate key "amount"'],
    [`{"correlationId":"${ID}","correlationId":"${ID}","amount":1}`, 'duplicate key "correlationId"'],
    ['{"correlationId":123,"amount":1}', 'correlationId must be a string'],
    ['{"correlationId":null,"amount":1}', 'correlationId must be a string'],
    ['{"correlationId":"not-a-uuid","amount":1}', 'must be a UUID'],
    [`{"correlationId":"${ID.replace(/-/g, '')}","amount":1}`, 'must be a UUID'],
    [`{"correlationId":"{${ID}}","amount":1}`, 'must be a UUID'],
    [`{"correlationId":"${ID.slice(0, 35)}g","amount":1}`, 'must be a UUID'],
    [`{"correlationId":" ${ID}","amount":1}`, 'must be a UUID'],
    [`{"correlationId":"${ID}\u0001","amount":1}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":1,"x":"\\q"}`, 'invalid JSON'],
    [`{"correlationId":"${ID}","amount":1,"x":${'['.repeat(100)}${']'.repeat(100)}}`, 'nested too deeply'],
    [`{"correlationId":"${ID}","amount":1,"x":tru}`, 'invalid JSON'],
  ])('%s', (text, message) => {
    const result = parse(text);
    expect(result.error).not.toBeNull();
    expect(result.error!).toContain(message);
  });

  test('bytes that are not UTF-8', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode(`{"correlationId":"${ID}","amount":1,"x":"`), 0xff, 0xfe, 34, 125]);
    expect(parsePayment(bytes, new ParsedPayment())).toContain('UTF-8');
  });
});
