import { afterEach, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalWriter } from '../../src/journal/journal-writer.ts';
import { RECORD_BYTES, RecordKind, decodeRecord } from '../../src/journal/record.ts';

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
});
