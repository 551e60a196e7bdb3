/**
 * Rate limit of GET /payments/service-health (one limiter per processor).
 *
 * Exact rule, chosen to be deterministic for tests:
 * - Time is cut into back-to-back windows of `windowMs`. The series is anchored
 *   by a call that finds no window running (the first call ever, or the first
 *   call after a whole window passed with its slot unclaimed), so a burst of
 *   calls always starts a fresh window.
 * - Each window has ONE answer slot.
 * - A call made while the current window's slot is free takes it: answered at once.
 * - Otherwise, if fewer than `maxWaiting` (2) callers are waiting, the call claims
 *   the next unclaimed window's slot and is answered when that window opens, so
 *   waiting callers drain one per window, in arrival order.
 * - Otherwise: 429 at once.
 * Example (window W, 4 calls at t=0): answered at 0, W, 2W; the 4th gets 429.
 */
export class HealthLimiter {
  /** Start of the earliest window whose slot is not claimed yet. */
  #nextSlot = Number.NEGATIVE_INFINITY;
  #waiting = 0;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly windowMs: number,
    private readonly maxWaiting = 2,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(windowMs > 0)) throw new Error(`health window must be > 0 ms, got ${windowMs}`);
  }

  /** Resolves true when the caller may answer (at once or when its window opens), false for 429. */
  acquire(): Promise<boolean> {
    const t = this.now();
    if (t >= this.#nextSlot + this.windowMs) this.#nextSlot = t; // idle: anchor a new series here
    if (t >= this.#nextSlot) {
      this.#nextSlot += this.windowMs;
      return Promise.resolve(true);
    }
    if (this.#waiting >= this.maxWaiting) return Promise.resolve(false);
    const opensAt = this.#nextSlot;
    this.#nextSlot += this.windowMs;
    this.#waiting++;
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.#timers.delete(timer);
          this.#waiting--;
          resolve(true);
        },
        Math.max(0, opensAt - t),
      );
      this.#timers.add(timer);
    });
  }

  /** Drops pending timers so a stopped processor does not keep the process alive. */
  dispose(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
