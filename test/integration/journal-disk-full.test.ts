import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalWriter } from '../../src/journal/journal-writer.ts';
import { RecordKind } from '../../src/journal/record.ts';
import { idOf, restart } from '../unit/journal-support.ts';

/**
 * The journal on a real full disk: a 64 KB tmpfs. Needs root (mount); skipped where mounting fails.
 */
const mountPoint = mkdtempSync(join(tmpdir(), 'journal-tmpfs-'));
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint]).status === 0;

afterAll(() => {
  if (mounted) spawnSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Fills the disk but about `leave` bytes (tmpfs counts 4 KB pages). */
function fill(dir: string, leave: number): string {
  const filler = join(dir, `filler-${leave}`);
  const fd = openSync(filler, 'w');
  try {
    for (let used = 0; used < 64 * 1024 - leave; used += 4096) writeSync(fd, new Uint8Array(4096));
  } catch {
    // full
  } finally {
    closeSync(fd);
  }
  return filler;
}

describe.skipIf(!mounted)('journal on a full disk (64 KB tmpfs)', () => {
  let dir: string;
  beforeAll(() => {
    dir = join(mountPoint, 'journal');
    mkdirSync(dir);
  });

  test('writes refused while the disk is full damage nothing: every acknowledged payment replays, settled ones settled', async () => {
    const filler = fill(mountPoint, 16 * 1024);
    const first = await restart(dir);
    const worker = new JournalWriter(join(dir, 'worker-1.jnl'), 0);
    const acked: number[] = [];
    const settledIds: number[] = [];
    let refused = 0;
    for (let n = 1; n <= 600; n++) {
      if (n === 400) unlinkSync(filler); // space comes back
      try {
        first.journal.accepted(idOf(n), n, n);
      } catch {
        refused++;
        continue;
      }
      acked.push(n);
      if (n % 4 === 0) continue; // still queued: its accepted record is all the journal has of it
      try {
        // Attempt and settlement of the payment before: a three-record write, as a worker's pump makes.
        worker.stage(RecordKind.Attempt, 0, idOf(n), 0, n, n);
        worker.stage(RecordKind.Settled, 0, idOf(n), 0, n, n);
        worker.stage(RecordKind.Attempt, 1, idOf(n + 100_000), 0, 1, 1);
        worker.flush();
        settledIds.push(n);
      } catch {
        // not journaled: the call is not made, the payment stays to settle
      }
    }
    worker.close();
    first.journal.close();
    expect(refused).toBeGreaterThan(0);
    const { requeued, settled, ids } = await restart(dir);
    expect(settled.count).toBe(settledIds.length);
    expect(settled.cents).toBe(BigInt(settledIds.reduce((sum, n) => sum + n, 0)));
    const unsettled = new Set(acked.filter((n) => !settledIds.includes(n)));
    // Unsettled: the acknowledged payments not settled, plus the attempt-only ids of settled pumps.
    expect(requeued.filter((entry) => entry.id < 100_000).map((entry) => entry.id)).toEqual([...unsettled]);
    expect(ids.size).toBe(acked.length + settledIds.length);
  });

  test('an instance starts and serves from a full disk: replay needs no space, accepted() refuses while full', async () => {
    const filler = fill(mountPoint, 0);
    const before = await restart(join(mountPoint, 'journal'));
    expect(() => before.journal.accepted(idOf(900_000), 1, 1)).toThrow();
    expect(await before.journal.compact()).toBeNull();
    before.journal.close();
    unlinkSync(filler);
    const after = await restart(join(mountPoint, 'journal'));
    expect(after.settled.count).toBe(before.settled.count);
    expect(after.requeued).toEqual(before.requeued);
  });
});
