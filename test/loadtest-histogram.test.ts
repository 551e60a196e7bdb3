import { describe, expect, test } from "bun:test";
import { Histogram } from "../tools/loadtest/histogram.ts";

describe("Histogram", () => {
  test("empty histogram reports NaN", () => {
    const h = new Histogram();
    expect(h.count).toBe(0);
    expect(Number.isNaN(h.percentile(50))).toBe(true);
  });

  test("percentiles of 1..1000 ms (nearest rank, within bucket resolution)", () => {
    const h = new Histogram();
    for (let ms = 1; ms <= 1000; ms++) h.recordMs(ms);
    expect(h.count).toBe(1000);
    const tol = (v: number): number => Math.max(10, v * 1000 * 2 ** -14) / 1000; // ms
    for (const [p, expected] of [
      [50, 500],
      [90, 900],
      [99, 990],
      [99.9, 999],
      [1, 10],
    ] as const) {
      expect(Math.abs(h.percentileMs(p) - expected)).toBeLessThanOrEqual(tol(expected));
    }
    expect(h.percentileMs(100)).toBe(1000);
    expect(h.percentileMs(0)).toBe(1);
    expect(h.maxRecordedUs).toBe(1_000_000);
    expect(h.minUs).toBe(1000);
    expect(h.meanUs()).toBeCloseTo(500_500, 6);
  });

  test("10 µs resolution in the linear range", () => {
    const h = new Histogram();
    // 99 fast samples at 0.50 ms and one slow one at 1.23 ms
    for (let i = 0; i < 99; i++) h.record(500);
    h.record(1230);
    // reported as the middle of the 10 µs bucket [500, 510)
    expect(h.percentile(50)).toBe(505);
    expect(h.percentile(99)).toBe(505);
    // the top sample is clamped to the exact recorded max
    expect(h.percentile(99.5)).toBe(1230);
    const h2 = new Histogram();
    h2.record(1234);
    h2.record(2345);
    h2.record(9999);
    // middle sample reported as the middle of its 10 µs bucket [2340, 2350)
    expect(h2.percentile(50)).toBe(2345);
  });

  test("bucket geometry: every value falls inside its bucket and relative error is bounded", () => {
    const h = new Histogram({ unitUs: 10, subBucketBits: 9, maxUs: 10_000_000 });
    for (let us = 0; us < 10_000_000; us = Math.floor(us * 1.01) + 7) {
      const probe = new Histogram({ unitUs: 10, subBucketBits: 9, maxUs: 10_000_000 });
      probe.record(us);
      const idx = probe.counts.findIndex((c) => c > 0);
      const { lowUs, widthUs } = probe.bucketRange(idx);
      expect(us).toBeGreaterThanOrEqual(lowUs);
      expect(us).toBeLessThan(lowUs + widthUs);
      expect(widthUs).toBeLessThanOrEqual(Math.max(10, lowUs / 2 ** 8));
      h.record(us);
    }
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(h.count);
  });

  test("values above maxUs are clamped into the last bucket but max stays exact", () => {
    const h = new Histogram({ maxUs: 2_000_000 });
    h.record(5_000_000);
    expect(h.count).toBe(1);
    expect(h.maxRecordedUs).toBe(5_000_000);
    expect(h.percentile(100)).toBe(5_000_000);
    expect(h.counts[h.counts.length - 1]).toBe(1);
  });

  test("merge adds counts; sparse lists non-empty buckets", () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 50; i++) a.recordMs(1);
    for (let i = 0; i < 50; i++) b.recordMs(3);
    a.merge(b);
    expect(a.count).toBe(100);
    expect(a.percentileMs(50)).toBeCloseTo(1.005, 6);
    expect(a.percentileMs(51)).toBe(3); // clamped to exact max
    expect(a.sparse()).toEqual([
      [1000, 50],
      [3000, 50],
    ]);
    expect(() => a.merge(new Histogram({ subBucketBits: 9 }))).toThrow();
  });

  test("negative and NaN inputs are recorded as 0", () => {
    const h = new Histogram();
    h.record(-5);
    h.record(Number.NaN);
    expect(h.count).toBe(2);
    expect(h.percentile(100)).toBe(0);
  });
});
