import { afterEach, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalWriter } from '../../src/journal/journal-writer.ts';
import { RECORD_BYTES, RecordKind, decodeRecord } from '../../src/journal/record.ts';
import { restart } from './journal-support.ts';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writerInTemp(): JournalWriter {
  dir = mkdtempSync(join(tmpdir(), 'journal-writer-'));
  return new JournalWriter(join(dir, 'worker-1.jnl'), 0);
}

const idOf = (n: number) => new Uint32Array([n, n + 1, n + 2, n + 3]);

function recordsIn(path: string) {
  const bytes = new Uint8Array(readFileSync(path));
  const records = [];
  for (let offset = 0; offset < bytes.length; offset += RECORD_BYTES) records.push(decodeRecord(bytes, offset));
  return records;
}

describe('JournalWriter', () => {
  test('staged records reach the file only on flush, all of them, in order', () => {
    const writer = writerInTemp();
    // More than the initial staging buffer holds (64 records), so it grows on the way.
    for (let n = 0; n < 150; n++) writer.stage(n % 2 === 0 ? RecordKind.Attempt : RecordKind.Settled, n % 2, idOf(n), 0, n * 100 + 1, 1_700_000_000_000 + n);
    expect(statSync(writer.path).size).toBe(0);
    writer.flush();
    expect(statSync(writer.path).size).toBe(150 * RECORD_BYTES);
    expect(writer.bytesWritten).toBe(150 * RECORD_BYTES);
    const records = recordsIn(writer.path);
    records.forEach((record, n) => {
      expect(record).not.toBeNull();
      expect(record!.kind).toBe(n % 2 === 0 ? RecordKind.Attempt : RecordKind.Settled);
      expect(record!.processor).toBe(n % 2);
      expect([...record!.id]).toEqual([...idOf(n)]);
      expect(record!.cents).toBe(n * 100 + 1);
      expect(record!.at).toBe(1_700_000_000_000 + n);
    });
    writer.flush(); // nothing staged: writes nothing
    expect(statSync(writer.path).size).toBe(150 * RECORD_BYTES);
    writer.close();
  });

  test('append writes at once, after what was staged before it; close flushes what is left', () => {
    const writer = writerInTemp();
    writer.stage(RecordKind.Attempt, 0, idOf(1), 0, 100, 1);
    writer.append(RecordKind.Settled, 0, idOf(1), 0, 100, 1);
    expect(recordsIn(writer.path).map((r) => r!.kind)).toEqual([RecordKind.Attempt, RecordKind.Settled]);
    writer.stage(RecordKind.Attempt, 1, idOf(2), 0, 200, 2);
    writer.close();
    expect(recordsIn(writer.path).map((r) => [r!.kind, r!.processor, r!.cents])).toEqual([
      [RecordKind.Attempt, 0, 100],
      [RecordKind.Settled, 0, 100],
      [RecordKind.Attempt, 1, 200],
    ]);
  });

  test('a short write (disk full) throws and leaves the file on its last whole frame: later records are all replayed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'journal-writer-'));
    let failNext = 0;
    // Writes only part of what it is given, as write(2) does when the disk fills up mid-write.
    const write = (fd: number, buffer: Uint8Array, offset: number, length: number) => {
      if (failNext === 0) return writeSync(fd, buffer, offset, length);
      const partial = failNext;
      failNext = 0;
      return writeSync(fd, buffer, offset, Math.min(partial, length));
    };
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0, { write });
    const accepted = new JournalWriter(join(dir, 'accepted.jnl'), 0, { write });
    const acked: number[] = [];
    for (let n = 1; n <= 60; n++) {
      if (n % 7 === 0) failNext = 1 + (n % 3) * 50; // 1, 51 or 101 bytes of a 48- or 96-byte write get through
      try {
        accepted.append(RecordKind.Accepted, 0, idOf(n), 0, n, n);
      } catch {
        continue; // not acknowledged: the payment gets a 503
      }
      try {
        worker.stage(RecordKind.Attempt, 0, idOf(n), 0, n, n);
        worker.stage(RecordKind.Settled, 0, idOf(n), 0, n, n);
        if (n % 5 === 0) failNext = 60;
        worker.flush();
      } catch {
        // not journaled, so never sent: replay queues it again
      }
      acked.push(n);
      expect(statSync(accepted.path).size % RECORD_BYTES).toBe(0);
      expect(statSync(worker.path).size % RECORD_BYTES).toBe(0);
    }
    accepted.close();
    worker.close();
    const { requeued, settled, ids } = await restart(dir);
    const settledIds = acked.filter((n) => n % 5 !== 0);
    expect(settled.count).toBe(settledIds.length);
    expect(settled.cents).toBe(BigInt(settledIds.reduce((sum, n) => sum + n, 0)));
    expect(requeued.map((entry) => entry.id)).toEqual(acked.filter((n) => n % 5 === 0));
    // Nothing that was refused is replayed.
    expect(ids.size).toBe(acked.length);
  });

  test('after close, stage, flush and append throw instead of writing to a closed descriptor', () => {
    const writer = writerInTemp();
    writer.append(RecordKind.Accepted, 0, idOf(1), 0, 100, 1);
    writer.close();
    expect(() => writer.stage(RecordKind.Attempt, 0, idOf(2), 0, 100, 1)).toThrow(/closed/);
    expect(() => writer.flush()).toThrow(/closed/);
    expect(() => writer.append(RecordKind.Attempt, 0, idOf(2), 0, 100, 1)).toThrow(/closed/);
    expect(recordsIn(writer.path).length).toBe(1);
  });
});
