import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, truncateSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { decodeRecord, RECORD_BYTES, RecordFrame, RecordKind } from './record.ts';

/**
 * Reads every journal file of an instance and reduces it, per correlationId, to what matters
 * after a restart: payments settled (with processor and requestedAt: they rebuild the ledger and
 * the accepted-id set) and payments accepted but not settled (they are queued again; one whose
 * last call may have reached a processor goes back to that processor only, with the same
 * requestedAt, so a 422 settles it as ours and nothing is paid twice).
 *
 * Then it compacts: one base file with just those facts replaces everything, written to a
 * temporary file, fsynced and renamed into place before the other files are emptied, so a crash
 * at any point leaves a journal that replays to the same state (replay is idempotent per id).
 */
export const BASE_FILE = 'base.jnl';
export const ACCEPTED_FILE = 'accepted.jnl';
export const workerFile = (index: number) => `worker-${index}.jnl`;

export interface SettledEntry {
  id: Uint32Array;
  processor: number;
  requestedAt: number;
  cents: number;
}

export interface UnsettledEntry {
  id: Uint32Array;
  cents: number;
  acceptedAt: number;
  /** -1, or the processor the last call went to. */
  doubtAt: number;
  doubtRequestedAt: number;
}

export interface Replayed {
  settled: SettledEntry[];
  unsettled: UnsettledEntry[];
  records: number;
  /** Frames that failed their check (a write torn by power loss): skipped. */
  torn: number;
}

interface State {
  id: Uint32Array;
  cents: number;
  acceptedAt: number;
  attempt: { processor: number; requestedAt: number; writtenAt: number } | null;
  settled: { processor: number; requestedAt: number; cents: number } | null;
}

const key = (id: Uint32Array) => `${id[0]}.${id[1]}.${id[2]}.${id[3]}`;

export function journalFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.jnl'))
    .map((name) => join(dir, name));
}

export function replayJournal(dir: string): Replayed {
  const states = new Map<string, State>();
  let records = 0;
  let torn = 0;
  for (const file of journalFiles(dir)) {
    const bytes = new Uint8Array(readFileSync(file));
    for (let offset = 0; offset + RECORD_BYTES <= bytes.length; offset += RECORD_BYTES) {
      const record = decodeRecord(bytes, offset);
      if (record === null) {
        torn++;
        continue;
      }
      records++;
      const id = key(record.id);
      let state = states.get(id);
      if (!state) {
        state = { id: record.id, cents: record.cents, acceptedAt: record.at, attempt: null, settled: null };
        states.set(id, state);
      }
      if (record.kind === RecordKind.Accepted) {
        state.acceptedAt = record.at;
        state.cents = record.cents;
      } else if (record.kind === RecordKind.Attempt) {
        if (state.attempt === null || record.writtenAt >= state.attempt.writtenAt) {
          state.attempt = { processor: record.processor, requestedAt: record.at, writtenAt: record.writtenAt };
        }
      } else {
        state.settled = { processor: record.processor, requestedAt: record.at, cents: record.cents };
      }
    }
    if (bytes.length % RECORD_BYTES !== 0) torn++;
  }
  const settled: SettledEntry[] = [];
  const unsettled: UnsettledEntry[] = [];
  for (const state of states.values()) {
    if (state.settled) settled.push({ id: state.id, ...state.settled });
    else
      unsettled.push({
        id: state.id,
        cents: state.cents,
        acceptedAt: state.acceptedAt,
        doubtAt: state.attempt ? state.attempt.processor : -1,
        doubtRequestedAt: state.attempt ? state.attempt.requestedAt : 0,
      });
  }
  unsettled.sort((a, b) => a.acceptedAt - b.acceptedAt);
  return { settled, unsettled, records, torn };
}

/** Rewrites the journal as one base file holding exactly `replayed`, then empties the rest. */
export function compactJournal(dir: string, replayed: Replayed): void {
  mkdirSync(dir, { recursive: true });
  const frame = new RecordFrame();
  const temporary = join(dir, `${BASE_FILE}.tmp`);
  const chunk = new Uint8Array(RECORD_BYTES * 1024);
  let used = 0;
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  const add = (bytes: Uint8Array) => {
    chunk.set(bytes, used);
    used += RECORD_BYTES;
    if (used === chunk.length) {
      writeSync(fd, chunk);
      used = 0;
    }
  };
  const now = Date.now();
  for (const entry of replayed.settled) add(frame.fill(RecordKind.Settled, entry.processor, entry.id, 0, entry.cents, entry.requestedAt, now));
  for (const entry of replayed.unsettled) {
    add(frame.fill(RecordKind.Accepted, 0, entry.id, 0, entry.cents, entry.acceptedAt, now));
    if (entry.doubtAt >= 0) add(frame.fill(RecordKind.Attempt, entry.doubtAt, entry.id, 0, entry.cents, entry.doubtRequestedAt, now));
  }
  if (used > 0) writeSync(fd, chunk.subarray(0, used));
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temporary, join(dir, BASE_FILE));
  const dirFd = openSync(dir, constants.O_RDONLY);
  fsyncSync(dirFd);
  closeSync(dirFd);
  for (const file of journalFiles(dir)) if (!file.endsWith(`/${BASE_FILE}`)) truncateSync(file, 0);
}

/** Empties every journal file (purge). */
export function truncateJournal(dir: string): void {
  for (const file of journalFiles(dir)) truncateSync(file, 0);
}
