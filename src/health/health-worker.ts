/// <reference lib="webworker" />
import { attachSharedState, type FromWorker, type ToWorker } from '../gateway/shared-state.ts';
import { DEFAULT, FALLBACK, PROCESSORS, type ProcessorIndex } from '../ledger/ledger.ts';
import { ProcessorClient } from '../processors/client.ts';
import { SettlementPolicy } from '../settlement/policy.ts';
import { Field } from './signals.ts';

/**
 * Polls each processor's service-health at most once per interval (the processors allow one
 * call per 5 s, shared by every caller) and publishes the answer in the shared signals. A 429
 * (someone else used the window) keeps the last report and is simply retried next interval.
 */
declare const self: Worker;

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === 'start') start(message.shared, message.name);
  else if (message.type === 'drain') {
    for (const timer of timers) clearTimeout(timer);
    self.postMessage({ type: 'drained', name: 'health', unsettled: 0 } satisfies FromWorker);
  }
};

const timers: ReturnType<typeof setTimeout>[] = [];

function start(sharedState: Parameters<typeof attachSharedState>[0], name: string): void {
  const { config, signals } = attachSharedState(sharedState);
  const log = (line: string) => self.postMessage({ type: 'log', line: `${name}: ${line}` } satisfies FromWorker);
  const policy = new SettlementPolicy(signals, config, log);
  const urls = [config.defaultProcessorUrl, config.fallbackProcessorUrl];
  let rateLimitedLogged = false;

  const poll = async (processor: ProcessorIndex, client: ProcessorClient) => {
    const report = await client.health();
    if (report.kind === 'health') {
      signals.publishHealth(processor, report.failing, report.minResponseTime);
      policy.healthReported(processor, report.failing, signals.now());
    } else if (report.kind === 'rate-limited') {
      signals.add(processor, Field.HealthRateLimited, 1);
      if (!rateLimitedLogged) log(`${PROCESSORS[processor]} service-health answered 429: someone else polls too; keeping the last report`);
      rateLimitedLogged = true;
    }
    timers[processor] = setTimeout(() => poll(processor, client), config.healthIntervalMs);
  };

  self.postMessage({ type: 'ready', name } satisfies FromWorker);
  if (!config.healthPoll) return;
  for (const processor of [DEFAULT, FALLBACK] as const) {
    poll(processor, new ProcessorClient(urls[processor], { connections: 1, timeoutMs: config.processorTimeoutMs }));
  }
}
