import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
// @ts-expect-error: the package ships no types
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startGateway, type GatewayProcess } from '../support/gateway.ts';
import { gatewayEnvFor, startSimulator, type Simulator } from '../support/simulator.ts';
import { sendPayments } from '../support/scenario.ts';

/** GET /metrics scraped from a real gateway and read with a real Prometheus text-format parser. */
interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

let simulator: Simulator;
let gateway: GatewayProcess;

beforeAll(async () => {
  simulator = await startSimulator({ healthWindowMs: 1000 });
  gateway = await startGateway({ ...gatewayEnvFor(simulator) });
});

afterAll(async () => {
  await gateway?.stop();
  await simulator?.stop();
});

async function scrape(): Promise<{ text: string; families: Map<string, Family> }> {
  const response = await fetch(`${gateway.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4');
  const text = await response.text();
  const families = parsePrometheusTextFormat(text) as Family[];
  return { text, families: new Map(families.map((family) => [family.name, family])) };
}

const value = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) => {
  const family = families.get(name);
  if (!family) throw new Error(`no metric ${name}`);
  const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(sample?.value);
};

describe('GET /metrics', () => {
  test('counts what happened, exactly, across the HTTP thread and both workers', async () => {
    const accepted = await sendPayments(gateway, 300, '19.90');
    await gateway.pay(accepted[0]!, '19.90'); // the same id again: 202, not queued again
    await gateway.pay('not-a-uuid', '19.90');
    await gateway.settled();
    const { text, families } = await scrape();
    expect(value(families, 'gateway_payments_accepted_total')).toBe(300);
    expect(value(families, 'gateway_payments_repeated_total')).toBe(1);
    expect(value(families, 'gateway_payments_refused_total', { reason: 'invalid' })).toBe(1);
    expect(value(families, 'gateway_payments_settled_total', { processor: 'default' })).toBe(300);
    expect(value(families, 'gateway_payments_waiting')).toBe(0);
    expect(value(families, 'gateway_calls_in_flight', { processor: 'default' })).toBe(0);
    expect(value(families, 'gateway_ring_capacity')).toBe(65536);
    expect(value(families, 'gateway_breaker_open', { processor: 'default' })).toBe(0);
    // The parser reads histograms without their labels: the series themselves are checked by line.
    expect(families.get('gateway_call_duration_ms')!.type).toBe('HISTOGRAM');
    expect(text).toContain('gateway_call_duration_ms_count{processor="default",outcome="recorded"} 300\n');
    expect(text).toContain('gateway_call_duration_ms_bucket{processor="default",outcome="recorded",le="+Inf"} 300\n');
    expect(text).toContain('gateway_call_duration_ms_count{processor="fallback",outcome="recorded"} 0\n');
    // Sampled from the start (while payments came), not from the first scrape.
    expect(families.get('gateway_event_loop_delay_ms')!.type).toBe('HISTOGRAM');
    expect(Number(/^gateway_event_loop_delay_ms_count (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(value(families, 'gateway_event_loop_stalls_total')).toBeGreaterThanOrEqual(0);
    expect(value(families, 'gateway_journal_write_errors_total')).toBe(0);
  });
});
