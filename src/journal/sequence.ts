/**
 * The order in which journal records were written, across every writer of an instance (the HTTP
 * thread and each payment worker) and across restarts: one counter on a SharedArrayBuffer, taken
 * with Atomics.add, so no two records share a number and a later record always has a larger one.
 * Replay raises it past the largest number in the journal before any writer starts.
 *
 * A clock cannot do this: two attempts of one payment in the same millisecond (a call refused at
 * once, then the other processor) would tie, and the fold would keep whichever it read last.
 * Numbers stay below 2^53, so they travel in the records' f64 field exactly; journals written
 * before this held epoch milliseconds there, and the counter starts above those too.
 */
export class JournalSequence {
  private readonly counter: BigInt64Array;

  static create(): JournalSequence {
    return new JournalSequence(new SharedArrayBuffer(8));
  }

  constructor(readonly buffer: SharedArrayBuffer) {
    this.counter = new BigInt64Array(buffer);
  }

  /** A number larger than every one handed out before. */
  next(): number {
    return Number(Atomics.add(this.counter, 0, 1n) + 1n);
  }

  /** Makes every later `next` larger than `written` (a number found in the journal). */
  passed(written: number): void {
    const floor = BigInt(Math.max(0, Math.floor(written)));
    for (let current = Atomics.load(this.counter, 0); current < floor; ) {
      const seen = Atomics.compareExchange(this.counter, 0, current, floor);
      if (seen === current) return;
      current = seen;
    }
  }
}

/** Writers of one thread that were given no instance-wide sequence (tests, tools) share this one. */
export const threadSequence = JournalSequence.create();
