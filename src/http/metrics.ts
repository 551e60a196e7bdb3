import { PROCESSORS } from '../domain/processors.ts';
import { Breaker, CALL_OUTCOMES, Counter, Field, LATENCY_BUCKETS_MS, type Signals } from '../health/signals.ts';
import type { PaymentRing } from '../queue/payment-ring.ts';
import { STALL_BUCKETS_MS, type StallDetector } from './stall-detector.ts';

/**
 * GET /metrics: this instance's numbers in the Prometheus text format (version 0.0.4). Counters
 * that several threads move are read from the shared signals (Atomics), so they are exact; the
 * HTTP thread's own counts (accepted, refused) are plain numbers of that one thread. Served on
 * each instance's own socket or port; the public load balancer does not forward it.
 */
export type Refusal = 'invalid' | 'queue_full' | 'journal_unwritable' | 'capacity' | 'owner_unreachable' | 'owner_no_answer' | 'redis_unavailable';

export class HttpCounters {
  accepted = 0;
  /** A correlationId accepted before: 202 again, not queued again. */
  repeated = 0;
  /** Handed to the instance that owns the correlationId. */
  forwarded = 0;
  readonly refused: Record<Refusal, number> = {
    invalid: 0,
    queue_full: 0,
    journal_unwritable: 0,
    capacity: 0,
    owner_unreachable: 0,
    owner_no_answer: 0,
    redis_unavailable: 0,
  };
}

export interface MetricsSources {
  signals: Signals;
  ring: PaymentRing;
  counters: HttpCounters;
  journal: { status(): Record<string, unknown> } | null;
  stalls: StallDetector;
}

export function renderMetrics({ signals, ring, counters, journal, stalls }: MetricsSources): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: [string, number | bigint][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
  };
  const perProcessor = (field: Field) => PROCESSORS.map((name, p) => [`{processor="${name}"}`, signals.get(p as 0 | 1, field)] as [string, number]);

  metric('gateway_payments_accepted_total', 'counter', 'Payments accepted (202) and queued by this instance.', [['', counters.accepted]]);
  metric('gateway_payments_repeated_total', 'counter', 'Payments whose correlationId was accepted before: 202 again, not queued again.', [
    ['', counters.repeated],
  ]);
  metric('gateway_payments_forwarded_total', 'counter', 'Payments handed to the instance that owns their correlationId.', [['', counters.forwarded]]);
  metric(
    'gateway_payments_refused_total',
    'counter',
    'Payments refused, by reason (400 invalid, 504 owner_no_answer: it may have been accepted, 503 otherwise).',
    Object.entries(counters.refused).map(([reason, value]) => [`{reason="${reason}"}`, value]),
  );
  metric('gateway_payments_settled_total', 'counter', 'Payments recorded in the ledger, by processor.', perProcessor(Field.Settled));
  metric('gateway_payments_dropped_total', 'counter', 'Payments a processor held from another sender: not counted here.', [
    ['', signals.count(Counter.DuplicatesDropped)],
  ]);
  metric('gateway_payments_waiting', 'gauge', 'Payments taken by a worker, waiting for a processor (in doubt included).', [
    ['', signals.count(Counter.Waiting)],
  ]);
  metric('gateway_payments_in_doubt', 'gauge', 'Payments whose last call may have been recorded, being looked up.', [['', signals.count(Counter.InDoubt)]]);
  metric('gateway_calls_in_flight', 'gauge', 'Processor calls in flight, by processor.', perProcessor(Field.Inflight));
  metric('gateway_ring_depth', 'gauge', 'Payments queued in the ring.', [['', ring.size]]);
  metric('gateway_ring_capacity', 'gauge', 'Slots of the ring.', [['', ring.capacity]]);
  metric(
    'gateway_breaker_open',
    'gauge',
    '1 while the processor breaker is open.',
    PROCESSORS.map((name, p) => [`{processor="${name}"}`, signals.get(p as 0 | 1, Field.Breaker) === Breaker.Open ? 1 : 0]),
  );
  metric('gateway_breaker_openings_total', 'counter', 'Times the processor breaker opened.', perProcessor(Field.BreakerOpenings));
  metric('gateway_calls_failed_total', 'counter', 'Processor calls that failed (5xx, connection errors).', perProcessor(Field.Failures));
  metric('gateway_calls_timed_out_total', 'counter', 'Processor calls without an answer within PROCESSOR_TIMEOUT_MS (slow, not failed).', [
    ['', signals.count(Counter.TimedOut)],
  ]);

  out.push('# HELP gateway_call_duration_ms Processor call latency in ms, by processor and outcome.', '# TYPE gateway_call_duration_ms histogram');
  PROCESSORS.forEach((name, p) => {
    CALL_OUTCOMES.forEach((outcome, o) => {
      const { counts, sumMs } = signals.callHistogram(p as 0 | 1, o);
      const labels = `processor="${name}",outcome="${outcome}"`;
      let cumulative = 0;
      counts.forEach((count, bucket) => {
        cumulative += count;
        const le = bucket < LATENCY_BUCKETS_MS.length ? String(LATENCY_BUCKETS_MS[bucket]) : '+Inf';
        out.push(`gateway_call_duration_ms_bucket{${labels},le="${le}"} ${cumulative}`);
      });
      out.push(`gateway_call_duration_ms_sum{${labels}} ${sumMs}`, `gateway_call_duration_ms_count{${labels}} ${cumulative}`);
    });
  });

  const status = journal?.status() as { acceptedBytesSinceStart?: number; replay?: { ms?: number } } | undefined;
  metric('gateway_journal_write_errors_total', 'counter', 'Journal writes that failed (payments refused or calls held back meanwhile).', [
    ['', signals.count(Counter.JournalWriteErrors)],
  ]);
  if (status) {
    metric('gateway_journal_accepted_bytes_total', 'counter', 'Bytes of accepted-payment records written since start.', [
      ['', status.acceptedBytesSinceStart ?? 0],
    ]);
    metric('gateway_journal_replay_ms', 'gauge', 'Duration of the journal replay at start.', [['', status.replay?.ms ?? 0]]);
  }
  out.push(
    `# HELP gateway_event_loop_delay_ms How late the HTTP thread's ${stalls.intervalMs} ms timer fired (how long its event loop was busy or blocked), sampled from the start while there is work.`,
    '# TYPE gateway_event_loop_delay_ms histogram',
  );
  let cumulative = 0;
  stalls.counts.forEach((count, bucket) => {
    cumulative += count;
    out.push(`gateway_event_loop_delay_ms_bucket{le="${bucket < STALL_BUCKETS_MS.length ? STALL_BUCKETS_MS[bucket] : '+Inf'}"} ${cumulative}`);
  });
  out.push(`gateway_event_loop_delay_ms_sum ${Math.round(stalls.sumMs * 1000) / 1000}`, `gateway_event_loop_delay_ms_count ${cumulative}`);
  metric(
    'gateway_event_loop_stalls_total',
    'counter',
    `Turns of the HTTP thread's event loop longer than ${stalls.thresholdMs} ms (each one logged, with what ran).`,
    [['', stalls.stalls]],
  );
  metric('gateway_event_loop_delay_max_ms', 'gauge', "The longest the HTTP thread's event loop was blocked since the start.", [
    ['', Math.round(stalls.maxMs * 1000) / 1000],
  ]);
  return `${out.join('\n')}\n`;
}
