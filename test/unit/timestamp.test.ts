import { describe, expect, test } from 'bun:test';
import { parseTimestamp } from '../../src/http/timestamp.ts';

describe('parseTimestamp', () => {
  test.each([
    ['2020-07-10T12:34:56.000Z', Date.UTC(2020, 6, 10, 12, 34, 56, 0)],
    ['2020-07-10T12:34:56.789Z', Date.UTC(2020, 6, 10, 12, 34, 56, 789)],
    ['2020-07-10T12:34:56Z', Date.UTC(2020, 6, 10, 12, 34, 56, 0)],
    ['2020-07-10T12:34:56.5Z', Date.UTC(2020, 6, 10, 12, 34, 56, 500)],
    ['2020-07-10T14:34:56.000+02:00', Date.UTC(2020, 6, 10, 12, 34, 56, 0)],
    ['2024-02-29T00:00:00.000Z', Date.UTC(2024, 1, 29)],
  ])('%s', (text, ms) => {
    expect(parseTimestamp(text, 'from')).toBe(ms);
    expect(parseTimestamp(text, 'to')).toBe(ms);
  });

  test('sub-millisecond digits round each bound inwards', () => {
    expect(parseTimestamp('2020-07-10T12:34:56.0005Z', 'from')).toBe(Date.UTC(2020, 6, 10, 12, 34, 56, 1));
    expect(parseTimestamp('2020-07-10T12:34:56.0005Z', 'to')).toBe(Date.UTC(2020, 6, 10, 12, 34, 56, 0));
  });

  test.each([
    '',
    'now',
    '2020-07-10',
    '2020-07-10 12:34:56Z',
    '2020-07-10T12:34:56',
    '2020-13-10T12:34:56Z',
    '2023-02-29T00:00:00Z',
    '2020-07-10T24:00:00Z',
    '2020-07-10T12:60:00Z',
    '2020-07-10T12:34:56.000+25:00',
    '1594384496000',
  ])('rejects %p', (text) => {
    expect(parseTimestamp(text, 'from')).toBeNull();
  });
});
