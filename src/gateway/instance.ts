import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, type GatewayConfig } from '../config/env.ts';
import { LocalLedger } from '../ledger/local-ledger.ts';
import { ClusterLedger } from '../ledger/cluster-ledger.ts';
import { LedgerArchive } from '../ledger/ledger-archive.ts';
import { PeerClient } from '../ledger/peer-client.ts';
import { InstanceJournal } from '../journal/instance-journal.ts';
import { RecentIdSet } from '../queue/id-set.ts';
import { GatewayRoutes, PURGE_SLACK_MS } from '../http/routes.ts';
import { removeStaleSocket } from '../http/stale-socket.ts';
import { StallDetector } from '../http/stall-detector.ts';
import { createSharedState, type FromWorker, type ToWorker } from './shared-state.ts';
import { FleetHost } from '../fleet/fleet-host.ts';
import { consumerName } from '../fleet/scripts.ts';

/**
 * Everything of one gateway instance but its HTTP server: configuration, shared memory, journal
 * replay, the payment and health workers, the routes. Each runtime's entry point (Bun.serve,
 * uWebSockets.js on Node) starts this and serves `routes`. Workers use node:worker_threads, which
 * both runtimes implement.
 */
export interface Instance {
  config: GatewayConfig;
  routes: GatewayRoutes;
  /** Lets workers settle what is queued (bounded by SHUTDOWN_GRACE_MS); resolves to what is left unsettled. */
  drain(): Promise<number>;
  /** One line describing the instance, for the "listening" log. */
  describe(where: string): string;
}

/** The archive's file in the journal's directory (not a journal file: it does not end in .jnl). */
const LEDGER_HISTORY_FILE = 'ledger-history.bin';
const LEDGER_FOLD_EVERY_MS = 250;

/** A peer that takes longer than this to give its totals makes the summary a 503, not a guess. */
const PEER_TIMEOUT_MS = 2000;

export function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}

export function configOrExit(): GatewayConfig {
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

export interface WorkerEntries {
  payment: URL;
  health: URL;
}

const TYPESCRIPT_WORKERS: WorkerEntries = {
  payment: new URL('../settlement/payment-worker.ts', import.meta.url),
  health: new URL('../health/health-worker.ts', import.meta.url),
};

export async function startInstance(config: GatewayConfig, entries: WorkerEntries = TYPESCRIPT_WORKERS): Promise<Instance> {
  if (config.socketPath) {
    try {
      await removeStaleSocket(config.socketPath);
    } catch (error) {
      console.error(`gateway: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    }
  }
  const stalls = new StallDetector({ log });
  const workerMessage = stalls.task('worker message');
  const { shared, attached } = createSharedState(config);
  // Settled payments past half the ledger's capacity are folded into the archive (exact per-minute
  // totals in memory, entries on disk), so the ledger never fills; before the replay, which refills it.
  const archiveDir = config.journalDir ?? mkdtempSync(join(tmpdir(), 'gateway-ledger-'));
  attached.ledger.attachArchive(new LedgerArchive(join(archiveDir, LEDGER_HISTORY_FILE)));
  let foldErrors = 0;
  setInterval(() => {
    try {
      attached.ledger.fold();
    } catch (error) {
      // Nothing was folded: the blocks stay in memory, and the ledger refuses payments (503) once full.
      if (foldErrors++ < 10) log(`ledger archive: fold failed (${error instanceof Error ? error.message : String(error)}); trying again`);
    }
  }, LEDGER_FOLD_EVERY_MS).unref();
  // Idempotency over the most recent (LEDGER_CAPACITY + QUEUE_CAPACITY) / 2 to twice that many ids
  // (see RecentIdSet): memory as the former single set, whatever the history.
  const acceptedIds = new RecentIdSet(Math.ceil((config.ledgerCapacity + config.queueCapacity) / 2));
  const local = new LocalLedger(attached.ledger, () => routes.purgeLocal());
  const peers = config.peers.map((address) => new PeerClient(address, PEER_TIMEOUT_MS));
  const instances: (PeerClient | null)[] = [...peers];
  instances.splice(config.instanceIndex, 0, null);
  const journal =
    config.journalDir === null
      ? null
      : new InstanceJournal(config.journalDir, config.journalFsyncMs, attached.ledger, acceptedIds, log, { sequence: attached.journalSequence });
  // Fleet mode: the fleet's Redis holds the ledger, the accepted ids and the work queue.
  const fleet =
    config.redisUrl === null
      ? null
      : new FleetHost({
          url: config.redisUrl,
          timeoutMs: config.redisTimeoutMs,
          waitReplicas: config.redisWaitReplicas,
          waitTimeoutMs: config.redisWaitTimeoutMs,
          horizonMs: config.redisHorizonMs,
          consumer: consumerName(config.instanceIndex),
          ring: attached.ring,
          signals: attached.signals,
          log,
        });
  const routes: GatewayRoutes = new GatewayRoutes({
    ...attached,
    acceptedIds,
    journal,
    ledgerReader: fleet ?? (peers.length > 0 ? new ClusterLedger(local, peers, config.processorTimeoutMs + PURGE_SLACK_MS + PEER_TIMEOUT_MS) : local),
    instances,
    fleet,
    stalls,
  });

  const drained = new Map<string, number>();
  let onAllDrained = () => {};
  const workers: Worker[] = [];
  const startWorker = async (entry: URL, name: string, index: number) => {
    const worker = new Worker(entry);
    const ready = new Promise<void>((resolve) => {
      worker.on('message', (message: FromWorker) => {
        const startedAt = stalls.begin(workerMessage);
        if (message.type === 'ready') resolve();
        else if (message.type === 'log') log(message.line);
        else if (message.type === 'drained') {
          drained.set(message.name, message.unsettled);
          if (drained.size === workers.length) onAllDrained();
        }
        stalls.end(workerMessage, startedAt);
      });
    });
    worker.on('error', (error: Error) => {
      // A worker's held payments live in its memory: carrying on without it would lose them silently.
      log(`${name} crashed: ${error.message}; exiting so the instance restarts and replays its journal`);
      process.exit(1);
    });
    worker.postMessage({ type: 'start', shared, name, index } satisfies ToWorker);
    workers.push(worker);
    await ready;
  };
  for (let i = 1; i <= config.paymentWorkers; i++) await startWorker(entries.payment, `payment-worker-${i}`, i);
  await startWorker(entries.health, 'health-worker', 0);
  void journal?.requeue(attached.ring);
  // Serves at once: until Redis is reachable, payments get 503 and /health says why.
  void fleet?.start();

  return {
    config,
    routes,
    describe(where) {
      const peerNote =
        peers.length > 0 ? `, peers ${config.peers.join(' ')}` : fleet ? `, fleet host ${config.instanceIndex} of ${config.instances} on Redis` : '';
      return `gateway listening on ${where} (default ${config.defaultProcessorUrl}, fallback ${config.fallbackProcessorUrl}, ${config.paymentWorkers} payment workers${peerNote})`;
    },
    async drain() {
      fleet?.stopFeeding();
      const allDrained = new Promise<void>((resolve) => (onAllDrained = resolve));
      for (const worker of workers) worker.postMessage({ type: 'drain', deadlineMs: Date.now() + config.shutdownGraceMs } satisfies ToWorker);
      await Promise.race([allDrained, sleep(config.shutdownGraceMs + 2000)]);
      return [...drained.values()].reduce((sum, n) => sum + n, 0) + attached.ring.size;
    },
  };
}

/** Graceful stop on SIGTERM/SIGINT: stop accepting, let workers settle what is queued, exit 0. */
export function stopOnSignals(instance: Instance, stopAccepting: () => void): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: no longer accepting; settling what is queued (up to ${instance.config.shutdownGraceMs} ms)`);
    stopAccepting();
    const unsettled = await instance.drain();
    const fate = instance.config.redisUrl
      ? "they stay pending in the fleet's stream: another host takes them over"
      : instance.config.journalDir
        ? 'they stay in the journal for the next start'
        : 'JOURNAL_DIR=off: they are lost';
    log(unsettled > 0 ? `stopped with ${unsettled} accepted payments not settled (${fate})` : 'stopped; every accepted payment is settled');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
