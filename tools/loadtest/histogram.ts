/**
 * Compact HDR-style latency histogram (values in microseconds).
 *
 * Values are quantised to `unitUs` (default 10 µs). The first 2^subBucketBits
 * units are stored linearly (exact to one unit); above that, each power of two
 * is split into 2^(subBucketBits-1) equal buckets, so the relative error stays
 * below 2^-(subBucketBits-1). With the defaults (10 µs unit, 15 bits) that is
 * 10 µs resolution up to 327 ms and < 0.01 % above, for 512 KiB of counters.
 * Values above `maxUs` are clamped into the last bucket (min/max/sum stay exact).
 */
export interface HistogramOptions {
  unitUs?: number;
  subBucketBits?: number;
  maxUs?: number;
}

export class Histogram {
  readonly unitUs: number;
  readonly subBucketBits: number;
  readonly maxUs: number;
  readonly counts: Uint32Array;
  count = 0;
  sumUs = 0;
  minUs = Number.POSITIVE_INFINITY;
  maxRecordedUs = 0;

  private readonly subCount: number;
  private readonly halfCount: number;
  private readonly maxUnits: number;

  constructor(options: HistogramOptions = {}) {
    this.unitUs = options.unitUs ?? 10;
    this.subBucketBits = options.subBucketBits ?? 15;
    this.maxUs = options.maxUs ?? 10_000_000;
    if (!(this.unitUs > 0)) throw new RangeError("unitUs must be > 0");
    if (!Number.isInteger(this.subBucketBits) || this.subBucketBits < 2 || this.subBucketBits > 24) {
      throw new RangeError("subBucketBits must be an integer in [2, 24]");
    }
    this.subCount = 1 << this.subBucketBits;
    this.halfCount = this.subCount >> 1;
    this.maxUnits = Math.max(1, Math.floor(this.maxUs / this.unitUs));
    this.counts = new Uint32Array(this.indexOfUnits(this.maxUnits) + 1);
  }

  /** Bucket index for a quantised value (units). */
  private indexOfUnits(units: number): number {
    if (units < this.subCount) return units;
    const magnitude = 31 - Math.clz32(units) - this.subBucketBits + 1;
    return this.subCount + (magnitude - 1) * this.halfCount + ((units >>> magnitude) - this.halfCount);
  }

  /** Lower bound (µs) and width (µs) of bucket `index`. */
  bucketRange(index: number): { lowUs: number; widthUs: number } {
    if (index < this.subCount) return { lowUs: index * this.unitUs, widthUs: this.unitUs };
    const offset = index - this.subCount;
    const magnitude = Math.floor(offset / this.halfCount) + 1;
    const sub = (offset % this.halfCount) + this.halfCount;
    return { lowUs: sub * 2 ** magnitude * this.unitUs, widthUs: 2 ** magnitude * this.unitUs };
  }

  record(us: number): void {
    if (!(us >= 0)) us = 0; // also catches NaN
    let units = Math.floor(us / this.unitUs);
    if (units > this.maxUnits) units = this.maxUnits;
    const index = this.indexOfUnits(units);
    this.counts[index] = (this.counts[index] ?? 0) + 1;
    this.count++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxRecordedUs) this.maxRecordedUs = us;
  }

  /** Record a latency given in milliseconds. */
  recordMs(ms: number): void {
    this.record(ms * 1000);
  }

  /**
   * Nearest-rank percentile (p in [0, 100]) in µs: the smallest recorded value
   * such that at least p% of the samples are <= it, reported as the middle of
   * its bucket, clamped to the exact recorded [min, max]; p <= 0 and
   * p >= 100 give the exact min and max. NaN when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    if (p <= 0) return this.minUs;
    if (p >= 100) return this.maxRecordedUs;
    const clamped = p;
    // tiny epsilon so that e.g. 99.9 % of 1000 is rank 999, not 1000 (float noise)
    const rank = Math.max(1, Math.ceil((clamped / 100) * this.count - 1e-9));
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i] ?? 0;
      if (c === 0) continue;
      seen += c;
      if (seen >= rank) {
        const { lowUs, widthUs } = this.bucketRange(i);
        const mid = lowUs + widthUs / 2;
        return Math.min(this.maxRecordedUs, Math.max(this.minUs, mid));
      }
    }
    return this.maxRecordedUs;
  }

  percentileMs(p: number): number {
    return this.percentile(p) / 1000;
  }

  meanUs(): number {
    return this.count === 0 ? Number.NaN : this.sumUs / this.count;
  }

  /** Add all samples of `other` (must have identical geometry). */
  merge(other: Histogram): void {
    if (
      other.unitUs !== this.unitUs ||
      other.subBucketBits !== this.subBucketBits ||
      other.counts.length !== this.counts.length
    ) {
      throw new Error("cannot merge histograms with different geometry");
    }
    for (let i = 0; i < other.counts.length; i++) {
      const c = other.counts[i] ?? 0;
      if (c !== 0) this.counts[i] = (this.counts[i] ?? 0) + c;
    }
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.minUs < this.minUs) this.minUs = other.minUs;
    if (other.maxRecordedUs > this.maxRecordedUs) this.maxRecordedUs = other.maxRecordedUs;
  }

  /** Non-empty buckets as [lowerBoundUs, count] pairs (for the JSON report). */
  sparse(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i] ?? 0;
      if (c !== 0) out.push([this.bucketRange(i).lowUs, c]);
    }
    return out;
  }
}
