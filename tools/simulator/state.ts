import type { Fault } from './faults.ts';
import type { PaymentStore } from './payment-store.ts';

/** Mutable configuration of one processor, changed by the admin endpoints. */
export interface ProcessorConfig {
  delayMs: number;
  /** Fraction of each amount (0.05), reported by the admin summary. */
  fee: number;
  failing: boolean;
  fault: Fault;
  token: string;
}

export interface ProcessorState {
  readonly config: ProcessorConfig;
  readonly store: PaymentStore;
}

export function json(status: number, body: unknown): Response {
  return Response.json(body, { status });
}
