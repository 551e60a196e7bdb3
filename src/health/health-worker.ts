import { attachSharedState } from '../gateway/shared-state.ts';
import { onParentMessage, postToParent } from '../gateway/worker-port.ts';
import { DEFAULT, FALLBACK, PROCESSORS, type ProcessorIndex } from '../domain/processors.ts';
import { PeerClient } from '../ledger/peer-client.ts';
import type { ProcessorApi } from '../processors/client.ts';
import { createProcessorClient } from '../processors/create-client.ts';
import { SettlementPolicy } from '../settlement/policy.ts';
import { Counter, Field, Time } from './signals.ts';
import { RedisLink } from '../fleet/redis-link.ts';
import { KEYS } from '../fleet/scripts.ts';

/**
 * Keeps the shared signals' service-health reports fresh. An instance with HEALTH_POLL polls each
 * processor at most once per interval (the processors allow one call per 5 s, shared by every
 * caller; a 429 keeps the last report). An instance without it copies the reports of its peers,
 * so a deployment stays within the limit however many instances it has.
 */
/**
 * How often a non-polling instance copies its peers' reports while it settles payments; while it
 * has none, as often as reports are made (an idle instance wakes itself and its peer for nothing
 * otherwise: two requests a second between them).
 */
const PEER_COPY_INTERVAL_MS = 500;
/** Fleet mode: how often a host tries for a processor's poll lease, and reads the fleet's report. */
const FLEET_TICK_MS = 250;

const timers: ReturnType<typeof setTimeout>[] = [];

onParentMessage((message) => {
  if (message.type === 'start') start(message.shared, message.name);
  else if (message.type === 'drain') {
    for (const timer of timers) clearTimeout(timer);
    postToParent({ type: 'drained', name: 'health', unsettled: 0 });
  }
});

function start(sharedState: Parameters<typeof attachSharedState>[0], name: string): void {
  const { config, signals, ring } = attachSharedState(sharedState);
  let settledAtLastCopy = -1;
  /** Payments queued, held, or settled since the last copy. */
  const busy = () => {
    const settled = signals.count(Counter.Settled);
    const moved = settled !== settledAtLastCopy;
    settledAtLastCopy = settled;
    return moved || ring.size > 0 || signals.count(Counter.Waiting) > 0;
  };
  const log = (line: string) => postToParent({ type: 'log', line: `${name}: ${line}` });
  const policy = new SettlementPolicy(signals, config, log);
  let rateLimitedLogged = false;

  const publish = (processor: ProcessorIndex, failing: boolean, minResponseTime: number, ageMs: number) => {
    signals.publishHealth(processor, failing, minResponseTime, ageMs);
    policy.healthReported(processor, failing, signals.now());
  };

  const poll = async (processor: ProcessorIndex, client: ProcessorApi) => {
    const report = await client.health();
    if (report.kind === 'health') {
      publish(processor, report.failing, report.minResponseTime, 0);
    } else if (report.kind === 'rate-limited') {
      signals.add(processor, Field.HealthRateLimited, 1);
      if (!rateLimitedLogged) log(`${PROCESSORS[processor]} service-health answered 429: someone else polls too; keeping the last report`);
      rateLimitedLogged = true;
    }
    timers[processor] = setTimeout(() => poll(processor, client), config.healthIntervalMs);
  };

  const copyFromPeers = async (peers: PeerClient[]) => {
    const reports = await Promise.allSettled(peers.map((peer) => peer.health()));
    for (const processor of [DEFAULT, FALLBACK] as const) {
      const key = PROCESSORS[processor];
      let freshest: { failing: boolean; minResponseTime: number; ageMs: number } | null = null;
      for (const result of reports) {
        const report = result.status === 'fulfilled' ? result.value[key] : null;
        if (report && (freshest === null || report.ageMs < freshest.ageMs)) freshest = report;
      }
      const known = signals.time(processor, Time.HealthAt);
      if (freshest && (known === 0 || signals.now() - freshest.ageMs > known)) publish(processor, freshest.failing, freshest.minResponseTime, freshest.ageMs);
    }
    timers[2] = setTimeout(() => copyFromPeers(peers), busy() ? PEER_COPY_INTERVAL_MS : config.healthIntervalMs);
  };

  /**
   * Fleet mode: a host polls a processor only after taking its poll lease, `SET healthGate:P NX PX
   * interval`, so the whole fleet makes at most one service-health call per interval per
   * processor, also when the host that polled last dies (its lease simply lapses). The poller
   * publishes the report in Redis with its time; every host copies the freshest it has not seen.
   */
  const fleet = (link: RedisLink, processor: ProcessorIndex, client: ProcessorApi) => {
    const tick = async () => {
      try {
        const lease = await link.send('SET', [KEYS.healthGate(processor), `host-${config.instanceIndex}`, 'NX', 'PX', String(config.healthIntervalMs)]);
        if (lease === 'OK') {
          const report = await client.health();
          if (report.kind === 'health') {
            publish(processor, report.failing, report.minResponseTime, 0);
            const fields = ['failing', report.failing ? '1' : '0', 'minResponseTime', String(report.minResponseTime), 'at', String(Date.now())];
            await link.send('HSET', [KEYS.health(processor), ...fields]);
          } else if (report.kind === 'rate-limited') {
            signals.add(processor, Field.HealthRateLimited, 1);
          }
        } else {
          const [failing, minResponseTime, at] = (await link.send('HMGET', [KEYS.health(processor), 'failing', 'minResponseTime', 'at'])) as (string | null)[];
          const ageMs = Math.max(0, Date.now() - Number(at));
          const known = signals.time(processor, Time.HealthAt);
          if (at && (known === 0 || signals.now() - ageMs > known)) publish(processor, failing === '1', Number(minResponseTime), ageMs);
        }
      } catch {
        // Redis unreachable: the last report stays; GET /health tells why (the HTTP thread's link).
      }
      timers[processor] = setTimeout(tick, FLEET_TICK_MS);
    };
    void tick();
  };

  postToParent({ type: 'ready', name });
  if (config.redisUrl !== null) {
    const link = new RedisLink(config.redisUrl);
    const urls = [config.defaultProcessorUrl, config.fallbackProcessorUrl];
    for (const processor of [DEFAULT, FALLBACK] as const) {
      void createProcessorClient(config.processorClient, urls[processor], { connections: 1, lookupConnections: 1, timeoutMs: config.processorTimeoutMs }).then(
        (client) => fleet(link, processor, client),
      );
    }
  } else if (config.healthPoll) {
    const urls = [config.defaultProcessorUrl, config.fallbackProcessorUrl];
    for (const processor of [DEFAULT, FALLBACK] as const) {
      void createProcessorClient(config.processorClient, urls[processor], { connections: 1, lookupConnections: 1, timeoutMs: config.processorTimeoutMs }).then(
        (client) => poll(processor, client),
      );
    }
  } else if (config.peers.length > 0) {
    copyFromPeers(config.peers.map((address) => new PeerClient(address, 1000)));
  } else {
    log('HEALTH_POLL is off and there are no PEERS: decisions rest on observed calls only');
  }
}
