/**
 * Journal records: fixed 48-byte little-endian frames, so appending is one write of a
 * preallocated buffer and replay is a walk over a file in 48-byte steps.
 *
 *   0  u8   kind        1 accepted, 2 attempt, 3 settled
 *   1  u8   processor   0 default, 1 fallback (attempt, settled)
 *   2  u16  check       sum of the other 46 bytes, detects a torn last frame
 *   4  u32  reserved
 *   8  u32×4 id         correlationId words
 *   24 f64  cents
 *   32 f64  at          accepted: acceptedAt; attempt, settled: requestedAt (epoch ms)
 *   40 f64  writtenAt   orders attempts written by different threads
 */
export const RECORD_BYTES = 48;

export enum RecordKind {
  Accepted = 1,
  Attempt = 2,
  Settled = 3,
}

export interface JournalRecord {
  kind: RecordKind;
  processor: number;
  id: Uint32Array;
  cents: number;
  at: number;
  writtenAt: number;
}

/** One preallocated frame, filled in place for each append. */
export class RecordFrame {
  readonly bytes = new Uint8Array(RECORD_BYTES);
  private readonly view = new DataView(this.bytes.buffer);

  fill(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number, writtenAt: number): Uint8Array {
    const view = this.view;
    view.setUint8(0, kind);
    view.setUint8(1, processor);
    view.setUint16(2, 0, true);
    view.setUint32(4, 0, true);
    for (let word = 0; word < 4; word++) view.setUint32(8 + word * 4, id[idIndex + word], true);
    view.setFloat64(24, cents, true);
    view.setFloat64(32, at, true);
    view.setFloat64(40, writtenAt, true);
    view.setUint16(2, checksum(this.bytes, 0), true);
    return this.bytes;
  }
}

function checksum(bytes: Uint8Array, offset: number): number {
  let sum = 0;
  for (let i = 0; i < RECORD_BYTES; i++) if (i !== 2 && i !== 3) sum = (sum * 31 + bytes[offset + i]) & 0xffff;
  return sum;
}

/** Decodes the frame at `offset`, or null when it is torn or not a frame. */
export function decodeRecord(bytes: Uint8Array, offset: number): JournalRecord | null {
  if (offset + RECORD_BYTES > bytes.length) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, RECORD_BYTES);
  const kind = view.getUint8(0);
  if (kind < RecordKind.Accepted || kind > RecordKind.Settled) return null;
  if (view.getUint16(2, true) !== checksum(bytes, offset)) return null;
  const id = new Uint32Array(4);
  for (let word = 0; word < 4; word++) id[word] = view.getUint32(8 + word * 4, true);
  return { kind, processor: view.getUint8(1), id, cents: view.getFloat64(24, true), at: view.getFloat64(32, true), writtenAt: view.getFloat64(40, true) };
}
