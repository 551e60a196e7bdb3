import type { GatewayConfig } from '../config/env.ts';
import { PaymentRing } from '../queue/payment-ring.ts';
import { SharedLedger, type LedgerBuffers } from '../ledger/shared-ledger.ts';
import { Signals } from '../health/signals.ts';
import { JournalSequence } from '../journal/sequence.ts';

/**
 * Everything the threads of one instance share, as plain transferable data: the HTTP thread
 * creates it, each worker attaches to it. Every thread keeps these buffers referenced for its
 * whole life (Bun's waitAsync misbehaves if a waited-on buffer is collected).
 */
export interface SharedState {
  ring: SharedArrayBuffer;
  ringCapacity: number;
  ledger: LedgerBuffers;
  ledgerCapacity: number;
  signals: SharedArrayBuffer;
  journalSequence: SharedArrayBuffer;
  epochMs: number;
  config: GatewayConfig;
}

export interface AttachedState {
  ring: PaymentRing;
  ledger: SharedLedger;
  signals: Signals;
  journalSequence: JournalSequence;
  config: GatewayConfig;
}

export function createSharedState(config: GatewayConfig): { shared: SharedState; attached: AttachedState } {
  const ring = PaymentRing.create(config.queueCapacity);
  const ledger = SharedLedger.create(config.ledgerCapacity);
  const signals = Signals.create();
  const journalSequence = JournalSequence.create();
  return {
    shared: {
      ring: ring.buffer,
      ringCapacity: ring.capacity,
      ledger: ledger.buffers,
      ledgerCapacity: ledger.capacity,
      signals: signals.buffer,
      journalSequence: journalSequence.buffer,
      epochMs: signals.epochMs,
      config,
    },
    attached: { ring, ledger, signals, journalSequence, config },
  };
}

export function attachSharedState(shared: SharedState): AttachedState {
  return {
    ring: new PaymentRing(shared.ring, shared.ringCapacity),
    ledger: new SharedLedger(shared.ledger, shared.ledgerCapacity),
    signals: new Signals(shared.signals, shared.epochMs),
    journalSequence: new JournalSequence(shared.journalSequence),
    config: shared.config,
  };
}

/** Messages between the HTTP thread and its workers. */
export type ToWorker = { type: 'start'; shared: SharedState; name: string; index: number } | { type: 'drain'; deadlineMs: number };
export type FromWorker = { type: 'ready'; name: string } | { type: 'drained'; name: string; unsettled: number } | { type: 'log'; line: string };
