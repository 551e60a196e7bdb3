/** In-memory payments of one processor, amounts in integer cents so sums are exact. */
export interface StoredPayment {
  correlationId: string;
  amountCents: number;
  requestedAtMs: number;
}

export class PaymentStore {
  readonly #byId = new Map<string, StoredPayment>();

  /** false when the correlationId already exists (the first record is kept). */
  insert(payment: StoredPayment): boolean {
    if (this.#byId.has(payment.correlationId)) return false;
    this.#byId.set(payment.correlationId, payment);
    return true;
  }

  get(correlationId: string): StoredPayment | undefined {
    return this.#byId.get(correlationId);
  }

  purge(): void {
    this.#byId.clear();
  }

  /** Payments with from <= requestedAt <= to (ms); all of them when a bound is missing. */
  summary(range?: { fromMs: number; toMs: number }): { count: number; totalCents: number } {
    let count = 0;
    let totalCents = 0;
    for (const p of this.#byId.values()) {
      if (range && (p.requestedAtMs < range.fromMs || p.requestedAtMs > range.toMs)) continue;
      count++;
      totalCents += p.amountCents;
    }
    return { count, totalCents };
  }
}
