import { attachSharedState } from '../gateway/shared-state.ts';
import { onParentMessage, postToParent } from '../gateway/worker-port.ts';
import { createProcessorClient } from '../processors/create-client.ts';
import { JournalWriter } from '../journal/journal-writer.ts';
import { workerFile } from '../journal/replay.ts';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SettlementPolicy } from './policy.ts';
import { Settler } from './settler.ts';
import { FleetLog } from '../fleet/fleet-log.ts';
import { consumerName } from '../fleet/scripts.ts';
import { Counter } from '../health/signals.ts';
import { workerPace } from './pace.ts';
import { setPriority } from 'node:os';

/**
 * A payment worker: settles what it pulls from the ring, many calls in flight at once. It never
 * blocks its thread: it waits for pushes with a single pending Atomics.waitAsync, so responses of
 * calls in flight are handled while it waits.
 */
/** How often held payments are reconsidered while nothing else happens. */
const HOLD_TICK_MS = 20;
/** An idle worker's wait for a push: anything else that needs it (a drain) wakes it. */
const IDLE_WAIT_MS = 10_000;
const BUSY_POLL_MS = 1;
/**
 * This thread's nice value: when it and the HTTP thread both want a CPU of the process, the HTTP
 * thread (nice 0) gets it first, so a 202 does not wait behind settlement work. Not more: a
 * niced worker starved by a flood of requests lets the ring fill (nice 10 halved how fast a
 * backlog drained in test/reliability/overload.test.ts).
 */
const WORKER_NICE = 5;

onParentMessage((message) => {
  if (message.type === 'start') void start(message.shared, message.name, message.index);
  else if (message.type === 'drain') {
    drainDeadline = message.deadlineMs;
    wakeForDrain();
  }
});

let drainDeadline: number | null = null;
let wakeForDrain = () => {};

async function start(sharedState: Parameters<typeof attachSharedState>[0], name: string, index: number): Promise<void> {
  const state = attachSharedState(sharedState);
  const { config, ring, signals, ledger } = state;
  wakeForDrain = () => ring.wakeAll();
  const log = (line: string) => postToParent({ type: 'log', line: `${name}: ${line}` });
  try {
    setPriority(WORKER_NICE); // this thread only (Linux: a thread's own nice value)
  } catch (error) {
    log(`could not lower this thread's priority: ${error instanceof Error ? error.message : String(error)}`);
  }
  // A socket for every call this worker may have in flight (the in-flight bound is shared by the
  // instance's workers, so one worker may hold all of it): no call ever waits for a socket.
  // Raw keep-alive sockets by default: half undici's CPU per call in bench/processor-clients.ts.
  const options = { connections: config.maxInflightPerProcessor, timeoutMs: config.processorTimeoutMs };
  const clients = [
    await createProcessorClient(config.processorClient, config.defaultProcessorUrl, options),
    await createProcessorClient(config.processorClient, config.fallbackProcessorUrl, options),
  ] as const;
  const policy = new SettlementPolicy(signals, config, log);
  // Fleet mode: attempts and outcomes go to the fleet's Redis, which any host reads; else to this instance's journal.
  const fleetLog =
    config.redisUrl === null
      ? null
      : new FleetLog(config.redisUrl, config.redisTimeoutMs, consumerName(config.instanceIndex), () => signals.count(Counter.FleetEpoch), {
          replicas: config.redisWaitReplicas,
          timeoutMs: config.redisWaitTimeoutMs,
        });
  const journal =
    config.journalDir === null
      ? null
      : new JournalWriter(join(config.journalDir, workerFile(index)), config.journalFsyncMs, { sequence: state.journalSequence });
  const pace = workerPace();
  const settler = new Settler(ring, fleetLog ? null : ledger, signals, policy, clients, config, log, fleetLog ?? journal, pace);
  postToParent({ type: 'ready', name });

  for (;;) {
    const pulled = settler.pump();
    if (drainDeadline !== null && ((settler.unsettled === 0 && ring.size === 0) || Date.now() >= drainDeadline)) break;
    if (pace.held) {
      // Payments it could send wait for the pace (a burst after an outage): back once it allows more.
      await sleep(pace.retryInMs(performance.now()));
    } else if (pulled > 0) {
      // Under load, poll instead of parking: a parked worker costs the HTTP thread a futex wake per
      // payment, a polling one costs nothing there. Settlement starts at most a tick later.
      await sleep(BUSY_POLL_MS);
    } else if (settler.waitingFull) {
      // Nothing more can be taken until a call ends or a hold expires; a push would not change that.
      await sleep(HOLD_TICK_MS);
    } else {
      // A call in flight may come back to wait (refused): pumped within a tick then, not at the next push.
      await ring.waitForPush(settler.hasWaiting || settler.busy || drainDeadline !== null ? HOLD_TICK_MS : IDLE_WAIT_MS);
    }
  }
  // Calls in flight still end (each is bounded by its timeout) and are journaled before the journal closes.
  settler.stop();
  const quietBy = Date.now() + config.processorTimeoutMs + 1000;
  while (settler.busy && Date.now() < quietBy) await sleep(HOLD_TICK_MS);
  settler.pump(); // writes the outcomes staged since the last pump
  await fleetLog?.idle();
  postToParent({ type: 'drained', name, unsettled: settler.unsettled });
  journal?.close();
  fleetLog?.close();
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
}
