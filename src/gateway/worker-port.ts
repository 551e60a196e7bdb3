import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './shared-state.ts';

/**
 * The worker side of the thread messages, through node:worker_threads, which both Bun and Node
 * implement, so the same worker files run under either runtime.
 */
export function onParentMessage(handler: (message: ToWorker) => void): void {
  if (!parentPort) throw new Error('this module runs only inside a worker thread');
  parentPort.on('message', handler);
}

export function postToParent(message: FromWorker): void {
  parentPort?.postMessage(message);
}
