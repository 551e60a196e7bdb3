import { describe, expect, test } from 'bun:test';
import { PaymentRing, PaymentSlot } from '../../src/queue/payment-ring.ts';

const id = (n: number) => Uint32Array.of(n, n ^ 0xdeadbeef, ~n >>> 0, 7);

describe('PaymentRing', () => {
  test('is empty when new and pops nothing', () => {
    const ring = PaymentRing.create(8);
    expect(ring.size).toBe(0);
    expect(ring.tryPop(new PaymentSlot())).toBe(false);
  });

  test('keeps FIFO order and every field of a slot', () => {
    const ring = PaymentRing.create(8);
    for (let n = 1; n <= 5; n++) expect(ring.tryPush(id(n), 0, n * 100 + 99, 1_700_000_000_000 + n)).toBe(true);
    expect(ring.size).toBe(5);
    const slot = new PaymentSlot();
    for (let n = 1; n <= 5; n++) {
      expect(ring.tryPop(slot)).toBe(true);
      expect([...slot.id]).toEqual([...id(n)]);
      expect(slot.cents).toBe(n * 100 + 99);
      expect(slot.acceptedAt).toBe(1_700_000_000_000 + n);
    }
    expect(ring.tryPop(slot)).toBe(false);
  });

  test('refuses a push when full, and accepts again after a pop', () => {
    const ring = PaymentRing.create(4);
    for (let n = 0; n < 4; n++) expect(ring.tryPush(id(n), 0, n, 0)).toBe(true);
    expect(ring.tryPush(id(99), 0, 99, 0)).toBe(false);
    const slot = new PaymentSlot();
    expect(ring.tryPop(slot)).toBe(true);
    expect(slot.cents).toBe(0);
    expect(ring.tryPush(id(4), 0, 4, 0)).toBe(true);
    const seen: number[] = [];
    while (ring.tryPop(slot)) seen.push(slot.cents);
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  test('wraps around many times without losing or reordering items', () => {
    const ring = PaymentRing.create(4);
    const slot = new PaymentSlot();
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 10_000; round++) {
      const burst = (round % 4) + 1;
      for (let i = 0; i < burst; i++) expect(ring.tryPush(id(next), 0, next++, 0)).toBe(true);
      for (let i = 0; i < burst; i++) {
        expect(ring.tryPop(slot)).toBe(true);
        expect(slot.cents).toBe(expected++);
      }
    }
    expect(ring.size).toBe(0);
  });

  test('reads an id at an offset inside a larger array', () => {
    const ring = PaymentRing.create(2);
    const words = Uint32Array.of(0, 0, 11, 22, 33, 44);
    ring.tryPush(words, 2, 1, 0);
    const slot = new PaymentSlot();
    ring.tryPop(slot);
    expect([...slot.id]).toEqual([11, 22, 33, 44]);
  });

  test('waitAndPop returns false after its timeout on an empty ring', () => {
    const ring = PaymentRing.create(2);
    expect(ring.waitAndPop(new PaymentSlot(), 20)).toBe(false);
  });

  test('waitForPush resolves at once when items are already queued, and times out otherwise', async () => {
    const ring = PaymentRing.create(4);
    expect(await ring.waitForPush(10)).toBe('timed-out');
    ring.tryPush(id(1), 0, 1, 0);
    expect(await ring.waitForPush(10_000)).toBe('ok');
  });

  test('rejects a capacity that is not a power of two', () => {
    expect(() => PaymentRing.create(6)).toThrow(RangeError);
  });

  test('two real worker threads consume 100k items with none lost or duplicated', async () => {
    const total = 100_000;
    const ring = PaymentRing.create(1024);
    const done = new SharedArrayBuffer(4);
    const workers = [0, 1].map(() => new Worker(new URL('../support/ring-consumer.ts', import.meta.url).href));
    const results = workers.map(
      (worker) =>
        new Promise<Uint8Array>((resolve, reject) => {
          worker.onmessage = (event: MessageEvent<{ seen: Uint8Array }>) => resolve(event.data.seen);
          worker.onerror = (event) => reject(new Error(event.message));
        }),
    );
    for (const [index, worker] of workers.entries())
      worker.postMessage({ ring: ring.buffer, capacity: ring.capacity, done, total, mode: index === 0 ? 'async' : 'blocking' });
    const words = new Uint32Array(4);
    for (let n = 0; n < total; ) {
      words[0] = n;
      words[3] = n ^ 0x5a5a5a5a;
      if (ring.tryPush(words, 0, n, n)) n++;
      else await Bun.sleep(0);
    }
    Atomics.store(new Int32Array(done), 0, 1);
    ring.wakeAll();
    const [first, second] = await Promise.all(results);
    for (const worker of workers) worker.terminate();
    let duplicated = 0;
    let lost = 0;
    for (let n = 0; n < total; n++) {
      const count = first[n] + second[n];
      if (count === 0) lost++;
      if (count > 1) duplicated++;
    }
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
    // Both consumers really took part.
    expect(first.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(second.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});
