import { describe, expect, test } from 'bun:test';
import { DEFAULT, FALLBACK } from '../../src/domain/processors.ts';
import { centsToAmountText, centsToJsonNumber } from '../../src/domain/money.ts';
import { SharedLedger } from '../../src/ledger/shared-ledger.ts';
import { summaryJson } from '../../src/http/routes.ts';

const T = Date.parse('2020-07-10T12:34:56.000Z');

describe('SharedLedger', () => {
  test('window is inclusive at both ends, to the millisecond', () => {
    const ledger = SharedLedger.create(16);
    ledger.append(DEFAULT, T - 1, 100);
    ledger.append(DEFAULT, T, 200);
    ledger.append(FALLBACK, T + 500, 300);
    ledger.append(DEFAULT, T + 1000, 400);
    ledger.append(DEFAULT, T + 1001, 800);
    const totals = ledger.totals({ from: T, to: T + 1000 });
    expect(totals[DEFAULT]).toEqual({ count: 2, cents: 600n });
    expect(totals[FALLBACK]).toEqual({ count: 1, cents: 300n });
  });

  test('an open bound means everything on that side', () => {
    const ledger = SharedLedger.create(16);
    ledger.append(DEFAULT, 1, 1);
    ledger.append(DEFAULT, T, 2);
    ledger.append(DEFAULT, 8e15, 4);
    expect(ledger.totals({ from: null, to: T })[DEFAULT]).toEqual({ count: 2, cents: 3n });
    expect(ledger.totals({ from: T, to: null })[DEFAULT]).toEqual({ count: 2, cents: 6n });
    expect(ledger.totals({ from: null, to: null })[DEFAULT]).toEqual({ count: 3, cents: 7n });
  });

  test('sums are exact where float sums drift: 100,000 × 19.90', () => {
    const ledger = SharedLedger.create(100_000);
    let floatSum = 0;
    for (let i = 0; i < 100_000; i++) {
      ledger.append(i % 3 === 0 ? FALLBACK : DEFAULT, T + i, 1990);
      floatSum += 19.9;
    }
    const totals = ledger.totals({ from: null, to: null });
    expect(totals[DEFAULT].cents + totals[FALLBACK].cents).toBe(199_000_000n);
    expect(totals[DEFAULT].count + totals[FALLBACK].count).toBe(100_000);
    expect(floatSum).not.toBe(1_990_000); // what the float path would have reported
    expect(summaryJson(totals)).toBe(
      `{"default":{"totalRequests":66666,"totalAmount":${centsToJsonNumber(totals[DEFAULT].cents)}},"fallback":{"totalRequests":33334,"totalAmount":663346.6}}`,
    );
  });

  test('sums stay exact past 2^53 cents in total', () => {
    const ledger = SharedLedger.create(10_000);
    for (let i = 0; i < 10_000; i++) ledger.append(DEFAULT, T, 1_000_000_000_000);
    expect(ledger.totals({ from: null, to: null })[DEFAULT].cents).toBe(10_000_000_000_000_000n);
  });

  test('refuses entries past capacity; a purge forgets everything and frees the capacity it held', () => {
    const ledger = SharedLedger.create(3);
    expect(ledger.append(DEFAULT, T, 1)).toBe(true);
    expect(ledger.append(DEFAULT, T, 1)).toBe(true);
    ledger.purge();
    expect(ledger.totals({ from: null, to: null })[DEFAULT]).toEqual({ count: 0, cents: 0n });
    expect(ledger.count).toBe(0);
    for (let i = 0; i < 3; i++) expect(ledger.append(FALLBACK, T, 5)).toBe(true);
    expect(ledger.append(FALLBACK, T, 5)).toBe(false);
    expect(ledger.free).toBe(0);
    expect(ledger.totals({ from: null, to: null })[FALLBACK]).toEqual({ count: 3, cents: 15n });
  });

  test('another thread attached to the same buffers sees the entries, also after it grew them', () => {
    const ledger = SharedLedger.create(200_000);
    const attached = new SharedLedger(ledger.buffers, 200_000);
    for (let i = 0; i < 150_000; i++) attached.append(FALLBACK, T + i, 1990);
    expect(ledger.totals({ from: T, to: T + 149_999 })[FALLBACK]).toEqual({ count: 150_000, cents: 298_500_000n });
    expect(ledger.buffers.entries.byteLength).toBeLessThanOrEqual(200_000 * 21);
  });
});

describe('money formatting', () => {
  test.each([
    [0n, '0'],
    [1n, '0.01'],
    [10n, '0.1'],
    [1990n, '19.9'],
    [1999n, '19.99'],
    [39800n, '398'],
    [41554234598n, '415542345.98'],
    [10_000_000_000_000_000n, '100000000000000'],
  ])('%p cents as the JSON number %s', (cents, text) => {
    expect(centsToJsonNumber(cents)).toBe(text);
    expect(JSON.parse(text)).toBe(Number(text));
  });

  test.each([
    [1990, '19.90'],
    [5, '0.05'],
    [100, '1.00'],
    [123456789, '1234567.89'],
  ])('%d cents as the amount text %s', (cents, text) => {
    expect(centsToAmountText(cents)).toBe(text);
  });
});
