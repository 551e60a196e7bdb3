import { afterEach, describe, expect, test } from 'bun:test';
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceJournal } from '../../src/journal/instance-journal.ts';
import { JournalWriter } from '../../src/journal/journal-writer.ts';
import { RECORD_BYTES, RecordKind } from '../../src/journal/record.ts';
import { JournalSequence } from '../../src/journal/sequence.ts';
import { idOf, restart, tempDir } from './journal-support.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const journalDir = () => {
  const dir = tempDir('journal-replay-');
  dirs.push(dir);
  return dir;
};

const AT = 1_700_000_000_000;

/** What the gateway writes for payment n: accepted by the HTTP thread, attempted and settled by a worker. */
function pay(accepted: JournalWriter, worker: JournalWriter, n: number, settle = true): void {
  accepted.append(RecordKind.Accepted, 0, idOf(n), 0, 100 + n, AT + n);
  worker.stage(RecordKind.Attempt, n % 2, idOf(n), 0, 100 + n, AT + n + 1);
  if (settle) worker.stage(RecordKind.Settled, n % 2, idOf(n), 0, 100 + n, AT + n + 1);
  worker.flush();
}

/** The HTTP thread's writer as `pay` uses it, through InstanceJournal.accepted. */
const acceptedVia = (journal: InstanceJournal) =>
  ({
    append: (_kind: RecordKind, _processor: number, id: Uint32Array, _index: number, cents: number, at: number) => journal.accepted(id, cents, at),
  }) as unknown as JournalWriter;

const centsOf = (from: number, to: number) => {
  let sum = 0n;
  for (let n = from; n < to; n++) sum += BigInt(100 + n);
  return sum;
};

describe('journal replay', () => {
  test('unsettled payments come back with id, cents, acceptedAt, and the processor and requestedAt of their LAST attempt', async () => {
    const dir = journalDir();
    const accepted = new JournalWriter(join(dir, 'accepted.jnl'), 0);
    const worker1 = new JournalWriter(join(dir, 'worker-1.jnl'), 0);
    const worker2 = new JournalWriter(join(dir, 'worker-2.jnl'), 0);
    accepted.append(RecordKind.Accepted, 0, idOf(10), 0, 1990, AT);
    accepted.append(RecordKind.Accepted, 0, idOf(20), 0, 500, AT + 5);
    worker2.append(RecordKind.Attempt, 1, idOf(20), 0, 500, AT + 50);
    worker1.append(RecordKind.Attempt, 0, idOf(20), 0, 500, AT + 60);
    for (const writer of [accepted, worker1, worker2]) writer.close();

    const { requeued, settled } = await restart(dir);
    expect(settled.count).toBe(0);
    expect(requeued).toEqual([
      { id: 10, cents: 1990, acceptedAt: AT, doubtAt: -1, doubtRequestedAt: 0 },
      { id: 20, cents: 500, acceptedAt: AT + 5, doubtAt: 0, doubtRequestedAt: AT + 60 },
    ]);
  });

  test('two attempts written in the same millisecond, on both sides of a compaction: the one written last stands', async () => {
    const dir = journalDir();
    const { journal } = await restart(dir, { compactEveryMs: 0 });
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0, { segmentBytes: RECORD_BYTES });
    journal.accepted(idOf(7), 1990, AT);
    // One clock reading for every record: a clock cannot order what happens within its resolution.
    const now = Date.now;
    Date.now = () => AT + 100;
    try {
      worker.append(RecordKind.Attempt, 0, idOf(7), 0, 1990, AT + 10); // refused at once (500) ...
      worker.append(RecordKind.Attempt, 1, idOf(7), 0, 1990, AT + 20); // ... so the same worker tries the other
    } finally {
      Date.now = now;
    }
    // The first segment is closed (the writer rolled): compaction folds its attempt into the base,
    // while the last attempt stays in the open segment.
    expect((await journal.compact())?.done).toBe(true);
    worker.close();
    journal.close();

    const { requeued } = await restart(dir);
    expect(requeued).toEqual([{ id: 7, cents: 1990, acceptedAt: AT, doubtAt: 1, doubtRequestedAt: AT + 20 }]);
  });

  test('after a restart, records are numbered past every record of the journal: a new attempt outranks the old ones', async () => {
    const dir = journalDir();
    const before = new JournalWriter(join(dir, 'worker-1.jnl'), 0);
    for (let n = 0; n < 50; n++) before.append(RecordKind.Attempt, 0, idOf(7), 0, 1990, AT + n);
    before.close();
    // A new process: its sequence starts from nothing, and replay raises it.
    const sequence = JournalSequence.create();
    const restarted = await restart(dir, { sequence });
    const after = new JournalWriter(join(dir, 'worker-2.jnl'), 0, { sequence });
    after.append(RecordKind.Attempt, 1, idOf(7), 0, 1990, AT + 1000);
    after.close();
    restarted.journal.close();
    expect((await restart(dir)).requeued).toEqual([{ id: 7, cents: 1990, acceptedAt: AT + 1000, doubtAt: 1, doubtRequestedAt: AT + 1000 }]);
  });

  test('a dropped payment is closed: not in the ledger, not queued again, its id still accepted; compaction keeps it', async () => {
    const dir = journalDir();
    const accepted = new JournalWriter(join(dir, 'accepted.jnl'), 0, { segmentBytes: RECORD_BYTES });
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0, { segmentBytes: RECORD_BYTES });
    accepted.append(RecordKind.Accepted, 0, idOf(1), 0, 700, AT);
    accepted.append(RecordKind.Accepted, 0, idOf(2), 0, 800, AT);
    worker.append(RecordKind.Attempt, 0, idOf(1), 0, 700, AT + 1);
    worker.append(RecordKind.Dropped, 0, idOf(1), 0, 700, AT + 1);
    worker.append(RecordKind.Attempt, 0, idOf(2), 0, 800, AT + 1);
    worker.append(RecordKind.Settled, 0, idOf(2), 0, 800, AT + 1);
    accepted.close();
    worker.close();

    const first = await restart(dir);
    expect(first.settled).toEqual({ count: 1, cents: 800n });
    expect(first.requeued).toEqual([]);
    expect(first.ids.has(idOf(1), 0)).toBe(true);
    expect((await first.journal.compact())?.done).toBe(true);
    first.journal.close();

    const second = await restart(dir);
    expect(second.settled).toEqual({ count: 1, cents: 800n });
    expect(second.requeued).toEqual([]);
    expect(second.ids.has(idOf(1), 0)).toBe(true);
    expect(second.journal.status().replay).toMatchObject({ dropped: 1, settled: 1 });
  });

  test('a damaged stretch in the middle of a file costs only the records in it: replay finds the next whole frame', async () => {
    const dir = journalDir();
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0);
    const accepted = new JournalWriter(join(dir, 'accepted.jnl'), 0);
    for (let n = 0; n < 10; n++) pay(accepted, worker, n);
    // A partial write left behind (what a disk-full write did before), then more records after it.
    appendFileSync(worker.path, new Uint8Array(20).fill(0xab));
    appendFileSync(accepted.path, new Uint8Array(RECORD_BYTES - 1));
    for (let n = 10; n < 20; n++) pay(accepted, worker, n);
    worker.close();
    accepted.close();

    const { requeued, settled, journal } = await restart(dir);
    expect(requeued).toEqual([]);
    expect(settled).toEqual({ count: 20, cents: centsOf(0, 20) });
    expect(journal.status().replay).toMatchObject({ torn: 2 });
  });

  test('journals of the earlier format (version-1 frames, unsegmented files) are still read', async () => {
    const dir = journalDir();
    // The v1 frame: kind, processor, 16-bit check at 2, zero at 4.
    const v1 = (kind: number, processor: number, n: number, cents: number, at: number) => {
      const bytes = new Uint8Array(RECORD_BYTES);
      const view = new DataView(bytes.buffer);
      view.setUint8(0, kind);
      view.setUint8(1, processor);
      for (let word = 0; word < 4; word++) view.setUint32(8 + word * 4, n + word, true);
      view.setFloat64(24, cents, true);
      view.setFloat64(32, at, true);
      view.setFloat64(40, at, true);
      let sum = 0;
      for (let i = 0; i < RECORD_BYTES; i++) if (i !== 2 && i !== 3) sum = (sum * 31 + bytes[i]) & 0xffff;
      view.setUint16(2, sum, true);
      return bytes;
    };
    writeFileSync(join(dir, 'base.jnl'), v1(RecordKind.Settled, 1, 1, 1000, AT));
    writeFileSync(join(dir, 'accepted.jnl'), Buffer.concat([v1(RecordKind.Accepted, 0, 2, 2000, AT), v1(RecordKind.Accepted, 0, 3, 3000, AT + 1)]));
    writeFileSync(join(dir, 'worker-1.jnl'), Buffer.concat([v1(RecordKind.Attempt, 0, 2, 2000, AT + 2), v1(RecordKind.Settled, 0, 2, 2000, AT + 2)]));
    const { requeued, settled, ledger } = await restart(dir);
    expect(settled).toEqual({ count: 2, cents: 3000n });
    expect(ledger.totals({ from: null, to: null })[1]).toEqual({ count: 1, cents: 1000n });
    expect(requeued).toEqual([{ id: 3, cents: 3000, acceptedAt: AT + 1, doubtAt: -1, doubtRequestedAt: 0 }]);
  });

  test('compaction while running folds closed segments into the base; a restart then reads the base, and gets the same state', async () => {
    const dir = journalDir();
    const { journal } = await restart(dir, { segmentBytes: 16384, compactEveryMs: 0 });
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0, { segmentBytes: 16384 });
    for (let n = 0; n < 2000; n++) {
      journal.accepted(idOf(n), 100 + n, AT + n);
      worker.stage(RecordKind.Attempt, n % 2, idOf(n), 0, 100 + n, AT + n + 1);
      if (n < 1800) worker.stage(RecordKind.Settled, n % 2, idOf(n), 0, 100 + n, AT + n + 1);
      worker.flush();
      if (n % 500 === 499) expect((await journal.compact())?.done).toBe(true);
    }
    const segments = readdirSync(dir).filter((name) => name !== 'base.jnl');
    // What is left beside the base: the two open segments and at most what they rolled past since.
    expect(segments.length).toBeLessThanOrEqual(4);
    // The base (over 64 KB: several output chunks) holds at most one record per settled payment,
    // accepted + last attempt per unsettled one: not the 5,800 records of the history.
    expect(statSync(join(dir, 'base.jnl')).size).toBeGreaterThan(0);
    expect(statSync(join(dir, 'base.jnl')).size).toBeLessThanOrEqual((1800 + 2 * 200) * RECORD_BYTES);
    worker.close();
    journal.close();

    const after = await restart(dir);
    expect(after.settled).toEqual({ count: 1800, cents: centsOf(0, 1800) });
    expect(after.requeued.map((entry) => entry.id)).toEqual(Array.from({ length: 200 }, (_, i) => 1800 + i));
    expect(after.requeued.every((entry) => entry.doubtAt === entry.id % 2 && entry.doubtRequestedAt === AT + entry.id + 1)).toBe(true);
    expect(after.ids.size).toBe(2000);
  });

  test('a crash at any point of a compaction leaves files that replay to the same state', async () => {
    const dir = journalDir();
    const { journal } = await restart(dir, { segmentBytes: 2048, compactEveryMs: 0 });
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0, { segmentBytes: 2048 });
    for (let n = 0; n < 200; n++) pay(acceptedVia(journal), worker, n, n < 150);
    await journal.compact();
    for (let n = 200; n < 300; n++) pay(acceptedVia(journal), worker, n, n < 250);
    worker.close();
    journal.close();
    const expected = await restart(dir, { compactEveryMs: 0 });
    expected.journal.close();
    const state = (r: Awaited<ReturnType<typeof restart>>) => ({ settled: r.settled, requeued: r.requeued, ids: r.ids.size });

    // Crash after the rename, before the folded segments were unlinked: they are read again with the new base.
    const before = join(dir, '..', `${dir.split('/').pop()}-copy`);
    dirs.push(before);
    cpSync(dir, before, { recursive: true });
    const compacting = await restart(dir, { compactEveryMs: 0 });
    expect((await compacting.journal.compact())?.done).toBe(true);
    compacting.journal.close();
    for (const name of readdirSync(before)) if (name !== 'base.jnl' && !existsSync(join(dir, name))) cpSync(join(before, name), join(dir, name));
    expect(state(await restart(dir, { compactEveryMs: 0 }))).toEqual(state(expected));

    // Crash while writing the new base: a partial temporary file is left; it is ignored and removed.
    writeFileSync(join(dir, 'base.jnl.tmp'), new Uint8Array(1000).fill(7));
    const restarted = await restart(dir, { compactEveryMs: 0 });
    expect(existsSync(join(dir, 'base.jnl.tmp'))).toBe(false);
    expect(state(restarted)).toEqual(state(expected));
  });

  test('a compaction that cannot write its base (disk full) changes nothing: start and replay carry on', async () => {
    const dir = journalDir();
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0);
    const accepted = new JournalWriter(join(dir, 'accepted.jnl'), 0);
    for (let n = 0; n < 50; n++) pay(accepted, worker, n, n < 40);
    worker.close();
    accepted.close();
    // Where the new base would be written, something that cannot be opened for writing.
    mkdirSync(join(dir, 'base.jnl.tmp'));
    const first = await restart(dir);
    expect(first.settled).toEqual({ count: 40, cents: centsOf(0, 40) });
    expect(first.requeued.length).toBe(10);
    expect(await first.journal.compact()).toBeNull();
    expect(first.journal.status().compaction).toMatchObject({ failures: 1 });
    first.journal.close();
    const second = await restart(dir);
    expect(second.settled).toEqual({ count: 40, cents: centsOf(0, 40) });
    expect(second.requeued.length).toBe(10);
  });

  test('purge empties the journal, segments and base alike, and a compaction in progress drops its result', async () => {
    const dir = journalDir();
    const { journal } = await restart(dir, { segmentBytes: 1024, compactEveryMs: 0 });
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0, { segmentBytes: 1024 });
    const viaJournal = acceptedVia(journal);
    for (let n = 0; n < 100; n++) pay(viaJournal, worker, n);
    await journal.compact();
    for (let n = 100; n < 200; n++) pay(viaJournal, worker, n);
    const compaction = journal.compact();
    journal.purge();
    expect((await compaction)?.done).toBe(false);
    for (let n = 1000; n < 1010; n++) pay(viaJournal, worker, n, false);
    worker.close();
    journal.close();
    const after = await restart(dir);
    expect(after.settled.count).toBe(0);
    expect(after.requeued.map((entry) => entry.id)).toEqual(Array.from({ length: 10 }, (_, i) => 1000 + i));
  });
});
