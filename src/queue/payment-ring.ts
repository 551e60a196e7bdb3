/**
 * A bounded, lock-free multi-producer multi-consumer ring of accepted payments on a
 * SharedArrayBuffer (Vyukov's bounded MPMC queue, with LMAX-style preallocated slots).
 *
 *   control (Int32, each counter on its own 64-byte line)
 *   ┌──────────┬──────────┬──────────┬──────────┐
 *   │ head     │ tail     │ signal   │ sleepers │   head: next position to pop, tail: next to push
 *   └──────────┴──────────┴──────────┴──────────┘   signal: futex word bumped after each push
 *   sequences (Int32 × capacity)                     sleepers: consumers parked on `signal`
 *   ┌────┬────┬────┬─────┐
 *   │ s0 │ s1 │ s2 │ ... │   slot i is free for the push at position p when s_i == p,
 *   └────┴────┴────┴─────┘   and holds the item of position p when s_i == p + 1
 *   slots (48 bytes each)
 *   ┌──────────────────────────┬─────────────┬────────────────┬─────────────────┬──────────────────┐
 *   │ correlationId (4 × u32)  │ cents (f64) │ acceptedAt(f64)│ doubtAt (f64)   │ doubtRequestedAt │
 *   └──────────────────────────┴─────────────┴────────────────┴─────────────────┴──────────────────┘
 *   doubtAt: -1, or the processor an earlier call may have reached (payments replayed from the
 *   journal after a restart), with the requestedAt that call carried.
 *
 * A producer claims position p by CAS on tail, writes the slot, then publishes s_i = p + 1.
 * A consumer claims p by CAS on head, reads the slot, then frees it with s_i = p + capacity.
 * Positions are int32 and wrap; all comparisons use the signed difference, which stays correct
 * while capacity < 2^30. Nothing is allocated on push or pop.
 */
const HEAD = 0;
const TAIL = 16;
const SIGNAL = 32;
const SLEEPERS = 48;
const CONTROL_INTS = 64;
const SLOT_BYTES = 48;
const SLOT_WORDS = SLOT_BYTES / 4;
const SLOT_DOUBLES = SLOT_BYTES / 8;

/** A reusable holder that `tryPop` fills, so consumers allocate nothing per item. */
export class PaymentSlot {
  readonly id = new Uint32Array(4);
  cents = 0;
  acceptedAt = 0;
  doubtAt = -1;
  doubtRequestedAt = 0;
}

export type WaitResult = 'ok' | 'timed-out';

export class PaymentRing {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly mask: number;
  private readonly control: Int32Array;
  private readonly sequences: Int32Array;
  private readonly words: Uint32Array;
  private readonly doubles: Float64Array;

  static byteLengthFor(capacity: number): number {
    return CONTROL_INTS * 4 + capacity * 4 + capacity * SLOT_BYTES;
  }

  static create(capacity: number): PaymentRing {
    if (capacity < 2 || capacity > 1 << 29 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two between 2 and 2^29, got ${capacity}`);
    }
    const ring = new PaymentRing(new SharedArrayBuffer(PaymentRing.byteLengthFor(capacity)), capacity);
    for (let i = 0; i < capacity; i++) ring.sequences[i] = i;
    return ring;
  }

  /** Attaches to a ring created by `create` in another thread. */
  constructor(buffer: SharedArrayBuffer, capacity: number) {
    this.buffer = buffer;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.control = new Int32Array(buffer, 0, CONTROL_INTS);
    this.sequences = new Int32Array(buffer, CONTROL_INTS * 4, capacity);
    const slotsOffset = CONTROL_INTS * 4 + capacity * 4;
    this.words = new Uint32Array(buffer, slotsOffset, capacity * SLOT_WORDS);
    this.doubles = new Float64Array(buffer, slotsOffset, capacity * SLOT_DOUBLES);
  }

  /** Items pushed and not yet popped (a snapshot; exact when no push or pop is under way). */
  get size(): number {
    const size = (Atomics.load(this.control, TAIL) - Atomics.load(this.control, HEAD)) | 0;
    return size < 0 ? 0 : size;
  }

  /** Pushes one payment; false when the ring is full. `id` holds 4 words at `idIndex`. */
  tryPush(id: Uint32Array, idIndex: number, cents: number, acceptedAt: number, doubtAt = -1, doubtRequestedAt = 0): boolean {
    const control = this.control;
    let position = Atomics.load(control, TAIL);
    for (;;) {
      const index = position & this.mask;
      const difference = (Atomics.load(this.sequences, index) - position) | 0;
      if (difference === 0) {
        const witnessed = Atomics.compareExchange(control, TAIL, position, (position + 1) | 0);
        if (witnessed !== position) {
          position = witnessed;
          continue;
        }
        const word = index * SLOT_WORDS;
        this.words[word] = id[idIndex];
        this.words[word + 1] = id[idIndex + 1];
        this.words[word + 2] = id[idIndex + 2];
        this.words[word + 3] = id[idIndex + 3];
        const double = index * SLOT_DOUBLES;
        this.doubles[double + 2] = cents;
        this.doubles[double + 3] = acceptedAt;
        this.doubles[double + 4] = doubtAt;
        this.doubles[double + 5] = doubtRequestedAt;
        Atomics.store(this.sequences, index, (position + 1) | 0);
        this.wake();
        return true;
      }
      if (difference < 0) return false;
      position = Atomics.load(control, TAIL);
    }
  }

  /** Pops the oldest payment into `out`; false when the ring is empty. */
  tryPop(out: PaymentSlot): boolean {
    const control = this.control;
    let position = Atomics.load(control, HEAD);
    for (;;) {
      const index = position & this.mask;
      const difference = (Atomics.load(this.sequences, index) - ((position + 1) | 0)) | 0;
      if (difference === 0) {
        const witnessed = Atomics.compareExchange(control, HEAD, position, (position + 1) | 0);
        if (witnessed !== position) {
          position = witnessed;
          continue;
        }
        const word = index * SLOT_WORDS;
        out.id[0] = this.words[word];
        out.id[1] = this.words[word + 1];
        out.id[2] = this.words[word + 2];
        out.id[3] = this.words[word + 3];
        const double = index * SLOT_DOUBLES;
        out.cents = this.doubles[double + 2];
        out.acceptedAt = this.doubles[double + 3];
        out.doubtAt = this.doubles[double + 4];
        out.doubtRequestedAt = this.doubles[double + 5];
        Atomics.store(this.sequences, index, (position + this.capacity) | 0);
        return true;
      }
      if (difference < 0) return false;
      position = Atomics.load(control, HEAD);
    }
  }

  /**
   * Blocking pop for a thread that has nothing else to do (it parks the whole thread: never call
   * it from a thread with I/O in flight; use `waitAndPopAsync` there).
   */
  waitAndPop(out: PaymentSlot, timeoutMs = Infinity): boolean {
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      if (this.tryPop(out)) return true;
      const observed = this.beginSleep();
      if (this.tryPop(out)) {
        this.endSleep();
        return true;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        this.endSleep();
        return false;
      }
      Atomics.wait(this.control, SIGNAL, observed, remaining);
      this.endSleep();
    }
  }

  /**
   * Resolves once a push may have happened since the last pop attempt, or after `timeoutMs`.
   * The event loop stays free meanwhile. Callers keep at most one such wait pending per thread
   * (Bun's waitAsync degrades with many pending waiters) and pop with `tryPop` after it resolves.
   */
  async waitForPush(timeoutMs: number): Promise<WaitResult> {
    const observed = this.beginSleep();
    try {
      if (this.size > 0) return 'ok';
      const waiting = Atomics.waitAsync(this.control, SIGNAL, observed, timeoutMs);
      const outcome = waiting.async ? await waiting.value : waiting.value;
      return outcome === 'timed-out' ? 'timed-out' : 'ok';
    } finally {
      this.endSleep();
    }
  }

  /** Wakes every parked consumer, so each re-checks whatever stop condition it waits on. */
  wakeAll(): void {
    Atomics.add(this.control, SIGNAL, 1);
    Atomics.notify(this.control, SIGNAL);
  }

  private beginSleep(): number {
    Atomics.add(this.control, SLEEPERS, 1);
    return Atomics.load(this.control, SIGNAL);
  }

  private endSleep(): void {
    Atomics.sub(this.control, SLEEPERS, 1);
  }

  /**
   * Bumping `signal` after publishing, then reading `sleepers`, pairs with a consumer that
   * registers in `sleepers` before reading `signal`: either the producer sees the sleeper and
   * notifies, or the consumer's wait sees the changed signal and returns at once.
   */
  private wake(): void {
    Atomics.add(this.control, SIGNAL, 1);
    if (Atomics.load(this.control, SLEEPERS) > 0) Atomics.notify(this.control, SIGNAL, 1);
  }
}
