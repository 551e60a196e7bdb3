import type { Fault } from './faults.ts';
import type { PaymentStore } from './payment-store.ts';

/** Mutable configuration of one processor, changed by the admin endpoints. */
export interface ProcessorConfig {
  delayMs: number;
  failing: boolean;
  fault: Fault;
  token: string;
}

export interface ProcessorState {
  readonly fee: number;
  readonly config: ProcessorConfig;
  readonly store: PaymentStore;
}

export function json(status: number, body: unknown): Response {
  return Response.json(body, { status });
}
