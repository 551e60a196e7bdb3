/**
 * Caps requests handled at once (like the real processors' server pool):
 * up to `maxActive` run, up to `maxQueued` more wait in FIFO order, the rest are
 * rejected (the caller answers 429). Approximate by design: it counts requests,
 * not connections.
 */
export class ConcurrencyGate {
  #active = 0;
  readonly #queue: Array<() => void> = [];

  constructor(
    readonly maxActive: number,
    readonly maxQueued: number,
  ) {}

  /** true once the caller holds a slot (it must call release()), false if it must be rejected. */
  enter(): Promise<boolean> {
    if (this.#active < this.maxActive) {
      this.#active++;
      return Promise.resolve(true);
    }
    if (this.#queue.length >= this.maxQueued) return Promise.resolve(false);
    return new Promise((resolve) => this.#queue.push(() => resolve(true)));
  }

  release(): void {
    const next = this.#queue.shift();
    if (next)
      next(); // the slot passes straight to the next waiter
    else this.#active--;
  }
}
