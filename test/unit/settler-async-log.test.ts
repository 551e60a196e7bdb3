import { expect, test } from 'bun:test';
import { loadConfig } from '../../src/config/env.ts';
import { RecordKind } from '../../src/journal/record.ts';
import { Signals } from '../../src/health/signals.ts';
import { PaymentRing } from '../../src/queue/payment-ring.ts';
import { formatUuid } from '../../src/queue/uuid.ts';
import type { PayOutcome, ProcessorApi } from '../../src/processors/client.ts';
import { SettlementPolicy } from '../../src/settlement/policy.ts';
import { Settler, type SettlementLog } from '../../src/settlement/settler.ts';

/**
 * The settler with an asynchronous log (fleet mode: Redis): no call leaves before the flush that
 * holds its attempt has succeeded; a failed flush puts the payment back in line, and it leaves
 * with a later flush that succeeds.
 */
class ControlledLog implements SettlementLog {
  staged: string[] = [];
  pending: { records: string[]; resolve: (refused: ReadonlySet<string>) => void; reject: (error: Error) => void }[] = [];

  stage(kind: RecordKind, processor: number, _id: Uint32Array, _idIndex: number, _cents: number, at: number): void {
    this.staged.push(`${RecordKind[kind]} ${processor} ${at}`);
  }

  flush(): Promise<ReadonlySet<string>> | undefined {
    if (this.staged.length === 0) return undefined;
    const records = this.staged;
    this.staged = [];
    return new Promise((resolve, reject) => this.pending.push({ records, resolve, reject }));
  }
}

function recordingClient(calls: string[]): ProcessorApi {
  return {
    pay: async (id) => {
      calls.push(id);
      return { kind: 'recorded', latencyMs: 1 } satisfies PayOutcome;
    },
    lookup: async () => ({ kind: 'absent' }),
    health: async () => ({ kind: 'health', failing: false, minResponseTime: 0 }),
    close: async () => {},
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('no call leaves before its attempt is written; a failed write holds it back until a later one succeeds', async () => {
  const config = loadConfig({ JOURNAL_DIR: 'off' });
  const ring = PaymentRing.create(16);
  const signals = Signals.create();
  const policy = new SettlementPolicy(signals, config, () => {});
  const calls: string[] = [];
  const log = new ControlledLog();
  const settler = new Settler(ring, null, signals, policy, [recordingClient(calls), recordingClient(calls)], config, () => {}, log);
  const id = Uint32Array.of(1, 2, 3, 4);
  ring.tryPush(id, 0, 1990, Date.now());

  settler.pump();
  expect(log.pending).toHaveLength(1);
  expect(log.pending[0]!.records).toEqual([expect.stringMatching(/^Attempt 0 /)]);
  await tick();
  expect(calls).toEqual([]);
  expect(settler.unsettled).toBe(1);

  // The write fails: the call does not leave, the payment waits again.
  log.pending.shift()!.reject(new Error('redis unreachable'));
  await tick();
  await tick();
  expect(calls).toEqual([]);
  expect(settler.unsettled).toBe(1);

  // The next pump writes the attempt again; once written, the call leaves and its settlement is staged.
  settler.pump();
  expect(log.pending).toHaveLength(1);
  log.pending.shift()!.resolve(new Set());
  await tick();
  await tick();
  expect(calls).toEqual([formatUuid(id, 0)]);
  settler.pump();
  expect(log.pending.at(-1)!.records).toEqual([expect.stringMatching(/^Settled 0 /)]);
  expect(settler.unsettled).toBe(0);
});

test("an attempt the log refuses (the payment is another host's now) never leaves: the payment is forgotten here", async () => {
  const config = loadConfig({ JOURNAL_DIR: 'off' });
  const ring = PaymentRing.create(16);
  const signals = Signals.create();
  const policy = new SettlementPolicy(signals, config, () => {});
  const calls: string[] = [];
  const log = new ControlledLog();
  const settler = new Settler(ring, null, signals, policy, [recordingClient(calls), recordingClient(calls)], config, () => {}, log);
  const refusedId = Uint32Array.of(1, 2, 3, 4);
  const keptId = Uint32Array.of(5, 6, 7, 8);
  ring.tryPush(refusedId, 0, 1990, Date.now());
  ring.tryPush(keptId, 0, 1990, Date.now());

  settler.pump();
  expect(log.pending).toHaveLength(1);
  log.pending.shift()!.resolve(new Set([formatUuid(refusedId, 0)]));
  await tick();
  await tick();
  expect(calls).toEqual([formatUuid(keptId, 0)]);
  settler.pump();
  expect(settler.unsettled).toBe(0);
  expect(calls).toEqual([formatUuid(keptId, 0)]);
});
