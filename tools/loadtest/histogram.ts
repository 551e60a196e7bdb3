/**
 * Latency histogram (values in microseconds): percentiles come from an HdrHistogram
 * (hdr-histogram-js, the one autocannon uses), kept to 3 significant digits (< 0.1 % relative
 * error) and resized as needed, so no value is ever clamped. Count, sum, min and max are kept
 * exactly beside it: HdrHistogram reports them at bucket resolution.
 */
import * as hdr from 'hdr-histogram-js';

export class Histogram {
  readonly hdr: hdr.Histogram;
  count = 0;
  sumUs = 0;
  minUs = Number.POSITIVE_INFINITY;
  maxRecordedUs = 0;

  /** significantDigits: 3 for the reported figures, 2 for the per-second plots (a tenth of the memory). */
  constructor(significantDigits: 1 | 2 | 3 | 4 | 5 = 3) {
    this.hdr = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: significantDigits,
      bitBucketSize: 32,
      autoResize: true,
      useWebAssembly: false,
    });
  }

  record(us: number): void {
    if (!(us >= 0)) us = 0; // also catches NaN
    this.hdr.recordValue(Math.round(us));
    this.count++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxRecordedUs) this.maxRecordedUs = us;
  }

  recordMs(ms: number): void {
    this.record(ms * 1000);
  }

  /**
   * Nearest-rank percentile (p in [0, 100]) in µs: HdrHistogram's value at p (the top of its
   * bucket), clamped to the exact recorded [min, max]; p <= 0 and p >= 100 give the exact min and
   * max. NaN when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    if (p <= 0) return this.minUs;
    if (p >= 100) return this.maxRecordedUs;
    return Math.min(this.maxRecordedUs, Math.max(this.minUs, this.hdr.getValueAtPercentile(p)));
  }

  percentileMs(p: number): number {
    return this.percentile(p) / 1000;
  }

  /** p50, p99 and max in ms to the microsecond, or nulls when nothing was recorded (per-step and per-second rows). */
  brief(): { p50Ms: number | null; p99Ms: number | null; maxMs: number | null } {
    if (this.count === 0) return { p50Ms: null, p99Ms: null, maxMs: null };
    const ms = (us: number) => Math.round(us) / 1000;
    return { p50Ms: ms(this.percentile(50)), p99Ms: ms(this.percentile(99)), maxMs: ms(this.maxRecordedUs) };
  }

  meanUs(): number {
    return this.count === 0 ? Number.NaN : this.sumUs / this.count;
  }

  /** Adds every sample of `other`. */
  merge(other: Histogram): void {
    this.hdr.add(other.hdr);
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.minUs < this.minUs) this.minUs = other.minUs;
    if (other.maxRecordedUs > this.maxRecordedUs) this.maxRecordedUs = other.maxRecordedUs;
  }

  /** HdrHistogram's standard compressed base64 form (readable by any HdrHistogram library). */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.hdr);
  }
}
