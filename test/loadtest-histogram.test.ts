import { describe, expect, test } from 'bun:test';
import * as hdr from 'hdr-histogram-js';
import { Histogram } from '../tools/loadtest/histogram.ts';

describe('Histogram (HdrHistogram underneath)', () => {
  test('empty histogram reports NaN', () => {
    const h = new Histogram();
    expect(h.count).toBe(0);
    expect(Number.isNaN(h.percentile(50))).toBe(true);
  });

  test('percentiles of 1..1000 ms: nearest rank, within 0.1 % (3 significant digits)', () => {
    const h = new Histogram();
    for (let ms = 1; ms <= 1000; ms++) h.recordMs(ms);
    expect(h.count).toBe(1000);
    for (const [p, expected] of [
      [50, 500],
      [90, 900],
      [99, 990],
      [99.9, 999],
      [1, 10],
    ] as const) {
      const got = h.percentileMs(p);
      expect(got).toBeGreaterThanOrEqual(expected);
      expect(got).toBeLessThanOrEqual(expected * 1.001);
    }
    expect(h.percentileMs(100)).toBe(1000);
    expect(h.percentileMs(0)).toBe(1);
    expect(h.maxRecordedUs).toBe(1_000_000);
    expect(h.minUs).toBe(1000);
    expect(h.meanUs()).toBeCloseTo(500_500, 6);
  });

  test('1 µs resolution below 1 ms; the top is clamped to the exact recorded max', () => {
    const h = new Histogram();
    for (let i = 0; i < 99; i++) h.record(505);
    h.record(1230);
    expect(h.percentile(50)).toBe(505);
    expect(h.percentile(99)).toBe(505);
    expect(h.percentile(99.5)).toBe(1230);
    // HdrHistogram answers the top of a bucket (wider than 1 µs up here): clamped to the max
    const one = new Histogram();
    one.record(123_456);
    expect(one.hdr.getValueAtPercentile(50)).toBeGreaterThan(123_456);
    expect(one.percentile(50)).toBe(123_456);
  });

  test('values far above the initial range are tracked, not clamped', () => {
    const h = new Histogram();
    h.record(600_000_000); // 10 minutes
    h.record(1000);
    expect(h.percentile(100)).toBe(600_000_000);
    expect(h.percentile(99)).toBe(600_000_000);
    expect(h.percentile(50)).toBe(1000);
  });

  test('merge adds samples, min/max/mean stay exact', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 50; i++) a.recordMs(1);
    for (let i = 0; i < 50; i++) b.recordMs(3);
    a.merge(b);
    expect(a.count).toBe(100);
    expect(a.percentileMs(50)).toBe(1);
    expect(a.percentileMs(51)).toBe(3);
    expect(a.meanUs()).toBe(2000);
  });

  test('negative and NaN inputs are recorded as 0', () => {
    const h = new Histogram();
    h.record(-5);
    h.record(Number.NaN);
    expect(h.count).toBe(2);
    expect(h.percentile(100)).toBe(0);
  });

  test("encode gives HdrHistogram's interchange form", () => {
    const h = new Histogram();
    for (let us = 100; us <= 10_000; us += 100) h.record(us);
    const decoded = hdr.decodeFromCompressedBase64(h.encode());
    expect(decoded.totalCount).toBe(100);
    expect(decoded.getValueAtPercentile(99)).toBe(h.hdr.getValueAtPercentile(99));
  });
});
