/// <reference lib="webworker" />
import { PaymentRing, PaymentSlot } from '../../src/queue/payment-ring.ts';

/**
 * Test worker: pops until the producer says it is done and the ring is empty, marking each item
 * seen; checks the id words match the cents so torn slots would show. `async` consumers wait with
 * waitForPush (as payment workers do), `blocking` ones with waitAndPop.
 */
declare const self: Worker;

self.onmessage = async (
  event: MessageEvent<{ ring: SharedArrayBuffer; capacity: number; done: SharedArrayBuffer; total: number; mode: 'async' | 'blocking' }>,
) => {
  const { capacity, total, mode } = event.data;
  const ring = new PaymentRing(event.data.ring, capacity);
  const done = new Int32Array(event.data.done);
  const seen = new Uint8Array(total);
  const slot = new PaymentSlot();
  const take = () => {
    const n = slot.cents;
    if (slot.id[0] !== n || slot.id[3] !== (n ^ 0x5a5a5a5a) >>> 0 || slot.acceptedAt !== n) throw new Error(`torn slot for item ${n}`);
    seen[n]++;
  };
  for (;;) {
    if (mode === 'blocking') {
      if (ring.waitAndPop(slot, 50)) take();
      else if (Atomics.load(done, 0) === 1 && ring.size === 0) break;
    } else {
      while (ring.tryPop(slot)) take();
      if (Atomics.load(done, 0) === 1 && ring.size === 0) break;
      await ring.waitForPush(50);
    }
  }
  self.postMessage({ seen });
};
