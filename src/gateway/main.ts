import { ConfigError, loadConfig, type GatewayConfig } from '../config/env.ts';
import { LocalLedger } from '../ledger/local-ledger.ts';
import { ClusterLedger } from '../ledger/cluster-ledger.ts';
import { PeerClient } from '../ledger/peer-client.ts';
import { InstanceJournal } from '../journal/instance-journal.ts';
import { IdSet } from '../queue/id-set.ts';
import { serveWithBun } from '../http/bun-adapter.ts';
import { GatewayRoutes } from '../http/routes.ts';
import { createSharedState, type FromWorker, type ToWorker } from './shared-state.ts';

/**
 * One gateway instance: the HTTP server on this thread, payment workers and a health worker on
 * their own threads, all sharing the ring, the ledger and the signals.
 */
/** A peer that takes longer than this to give its totals makes the summary a 503, not a guess. */
const PEER_TIMEOUT_MS = 2000;

function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}

function configOrExit(): GatewayConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`gateway: configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
}

interface Started {
  worker: Worker;
  name: string;
}

async function startWorker(file: string, name: string, message: ToWorker, onDrained: (name: string, unsettled: number) => void): Promise<Started> {
  const worker = new Worker(new URL(file, import.meta.url).href);
  const ready = new Promise<void>((resolve) => {
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const data = event.data;
      if (data.type === 'ready') resolve();
      else if (data.type === 'log') log(data.line);
      else if (data.type === 'drained') onDrained(data.name, data.unsettled);
    };
  });
  worker.onerror = (event) => {
    // A worker's held payments live in its memory: losing one silently would lose payments.
    log(`${name} crashed: ${event.message}; exiting so the instance is restarted`);
    process.exit(1);
  };
  worker.postMessage(message);
  await ready;
  return { worker, name };
}

async function main(): Promise<void> {
  const config = configOrExit();
  const { shared, attached } = createSharedState(config);
  const acceptedIds = new IdSet();
  const local = new LocalLedger(attached.ledger, () => routes.purgeLocal());
  const peers = config.peers.map((address) => new PeerClient(address, PEER_TIMEOUT_MS));
  const journal = config.journalDir === null ? null : new InstanceJournal(config.journalDir, config.journalFsyncMs, attached.ledger, acceptedIds, log);
  const routes: GatewayRoutes = new GatewayRoutes({
    ...attached,
    acceptedIds,
    journal,
    ledgerReader: peers.length > 0 ? new ClusterLedger(local, peers) : local,
  });

  const drained = new Map<string, number>();
  let onAllDrained = () => {};
  const noteDrained = (name: string, unsettled: number) => {
    drained.set(name, unsettled);
    if (drained.size === workers.length) onAllDrained();
  };
  const workers: Started[] = [];
  for (let i = 1; i <= config.paymentWorkers; i++) {
    workers.push(await startWorker('../settlement/payment-worker.ts', `payment-worker-${i}`, { type: 'start', shared, name: `payment-worker-${i}`, index: i }, noteDrained));
  }
  workers.push(await startWorker('../health/health-worker.ts', 'health-worker', { type: 'start', shared, name: 'health-worker', index: 0 }, noteDrained));

  void journal?.requeue(attached.ring);
  const server = serveWithBun(routes, config);
  const where = config.socketPath ?? `http://${config.hostname}:${server.port}`;
  const peerNote = peers.length > 0 ? `, peers ${config.peers.join(' ')}` : '';
  log(`gateway listening on ${where} (default ${config.defaultProcessorUrl}, fallback ${config.fallbackProcessorUrl}, ${config.paymentWorkers} payment workers${peerNote})`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: no longer accepting; settling what is queued (up to ${config.shutdownGraceMs} ms)`);
    server.stop();
    const allDrained = new Promise<void>((resolve) => (onAllDrained = resolve));
    for (const { worker } of workers) worker.postMessage({ type: 'drain', deadlineMs: Date.now() + config.shutdownGraceMs } satisfies ToWorker);
    await Promise.race([allDrained, Bun.sleep(config.shutdownGraceMs + 2000)]);
    const unsettled = [...drained.values()].reduce((sum, n) => sum + n, 0);
    if (unsettled > 0) log(`stopped with ${unsettled} accepted payments not settled`);
    else log('stopped; every accepted payment is settled');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

await main();
