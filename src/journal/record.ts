/**
 * Journal records: fixed 48-byte little-endian frames, so appending is one write of a
 * preallocated buffer and replay is a walk over a file in 48-byte steps.
 *
 *   0  u8   kind        1 accepted, 2 attempt, 3 settled, 4 dropped
 *   1  u8   processor   0 default, 1 fallback (attempt, settled, dropped)
 *   2  u16  magic       0x4a32 ("J2")
 *   4  u32  check       hash of every other byte of the frame
 *   8  u32×4 id         correlationId words
 *   24 f64  cents
 *   32 f64  at          accepted: acceptedAt; attempt, settled, dropped: requestedAt (epoch ms)
 *   40 f64  sequence    the instance's write order (sequence.ts): orders a payment's attempts
 *
 * The magic and the 32-bit check let replay find the next whole frame at any byte offset after
 * damage (a partial write left in the middle of a file), instead of trusting the 48-byte grid.
 *
 * Files written before this format (version 1) hold at 2 a 16-bit check of the other bytes and
 * at 4 zero. They are still read, but only on the file's 48-byte grid: a 16-bit check is too weak
 * to search for frames byte by byte (about one false frame per 65,536 offsets tried).
 */
export const RECORD_BYTES = 48;
const MAGIC = 0x4a32;

export enum RecordKind {
  Accepted = 1,
  Attempt = 2,
  Settled = 3,
  /** Closed without being counted here: the processor already held this correlationId from another sender. */
  Dropped = 4,
}

export interface JournalRecord {
  kind: RecordKind;
  processor: number;
  id: Uint32Array;
  cents: number;
  at: number;
  sequence: number;
}

/** One preallocated frame, filled in place for each append. */
export class RecordFrame {
  readonly bytes = new Uint8Array(RECORD_BYTES);
  private readonly view = new DataView(this.bytes.buffer);

  fill(kind: RecordKind, processor: number, id: Uint32Array, idIndex: number, cents: number, at: number, sequence: number): Uint8Array {
    return this.fillWords(kind, processor, id[idIndex], id[idIndex + 1], id[idIndex + 2], id[idIndex + 3], cents, at, sequence);
  }

  fillWords(kind: RecordKind, processor: number, a: number, b: number, c: number, d: number, cents: number, at: number, sequence: number): Uint8Array {
    const view = this.view;
    view.setUint8(0, kind);
    view.setUint8(1, processor);
    view.setUint16(2, MAGIC, true);
    view.setUint32(8, a, true);
    view.setUint32(12, b, true);
    view.setUint32(16, c, true);
    view.setUint32(20, d, true);
    view.setFloat64(24, cents, true);
    view.setFloat64(32, at, true);
    view.setFloat64(40, sequence, true);
    view.setUint32(4, check32(view, 0), true);
    return this.bytes;
  }
}

/** A murmur-style hash of the frame's words but the check itself. */
function check32(view: DataView, offset: number): number {
  let h = Math.imul(view.getUint32(offset, true) ^ 0x9747b28c, 0x5bd1e995);
  for (let at = offset + 8; at < offset + RECORD_BYTES; at += 4) {
    h ^= h >>> 15;
    h = Math.imul(h ^ view.getUint32(at, true), 0x5bd1e995);
  }
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function check16(bytes: Uint8Array, offset: number): number {
  let sum = 0;
  for (let i = 0; i < RECORD_BYTES; i++) if (i !== 2 && i !== 3) sum = (sum * 31 + bytes[offset + i]) & 0xffff;
  return sum;
}

/**
 * 2 when a current frame starts at `offset`, 1 for a version-1 frame, 0 for neither. The caller
 * trusts a version-1 frame only on its file's 48-byte grid.
 */
export function frameVersion(view: DataView, bytes: Uint8Array, offset: number): 0 | 1 | 2 {
  const kind = bytes[offset];
  if (kind < RecordKind.Accepted || kind > RecordKind.Dropped) return 0;
  if (view.getUint16(offset + 2, true) === MAGIC && bytes[offset + 1] <= 1 && view.getUint32(offset + 4, true) === check32(view, offset)) return 2;
  if (kind <= RecordKind.Settled && view.getUint32(offset + 4, true) === 0 && view.getUint16(offset + 2, true) === check16(bytes, offset)) return 1;
  return 0;
}

/** Decodes the frame at `offset`, or null when it is torn or not a frame (either version). */
export function decodeRecord(bytes: Uint8Array, offset: number): JournalRecord | null {
  if (offset + RECORD_BYTES > bytes.length) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (frameVersion(view, bytes, offset) === 0) return null;
  const id = new Uint32Array(4);
  for (let word = 0; word < 4; word++) id[word] = view.getUint32(offset + 8 + word * 4, true);
  return {
    kind: bytes[offset],
    processor: bytes[offset + 1],
    id,
    cents: view.getFloat64(offset + 24, true),
    at: view.getFloat64(offset + 32, true),
    sequence: view.getFloat64(offset + 40, true),
  };
}
