/**
 * UUIDs travel through the ring as 16 raw bytes (four uint32 words) rather than 36-char strings:
 * fixed-size slots, no string allocation on the accepting side.
 * Accepted text form: 8-4-4-4-12 hex digits with hyphens, either case; it is canonicalised to
 * lower case, so "A..." and "a..." are the same payment.
 */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}
const HYPHEN = 45;
/** Offsets of the 32 hex digits within the 36-byte text form. */
const DIGIT_OFFSETS = Uint8Array.from(Array.from({ length: 36 }, (_, i) => i).filter((i) => i !== 8 && i !== 13 && i !== 18 && i !== 23));

/**
 * Decodes the 36 bytes at `bytes[start..start+36)` into `out[outIndex..outIndex+4)`.
 * Returns false (leaving `out` partly written) when the text is not a UUID.
 */
export function decodeUuid(bytes: Uint8Array, start: number, out: Uint32Array, outIndex: number): boolean {
  if (bytes[start + 8] !== HYPHEN || bytes[start + 13] !== HYPHEN || bytes[start + 18] !== HYPHEN || bytes[start + 23] !== HYPHEN) {
    return false;
  }
  for (let word = 0; word < 4; word++) {
    let value = 0;
    for (let digit = 0; digit < 8; digit++) {
      const nibble = HEX_VALUE[bytes[start + DIGIT_OFFSETS[word * 8 + digit]]];
      if (nibble < 0) return false;
      value = (value << 4) | nibble;
    }
    out[outIndex + word] = value >>> 0;
  }
  return true;
}

const HEX_DIGITS = '0123456789abcdef';
const BYTE_HEX = Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4] + HEX_DIGITS[b & 15]);

function wordHex(word: number): string {
  return BYTE_HEX[word >>> 24] + BYTE_HEX[(word >>> 16) & 255] + BYTE_HEX[(word >>> 8) & 255] + BYTE_HEX[word & 255];
}

/** Formats four uint32 words as the canonical lower-case UUID text. */
export function formatUuid(words: Uint32Array, index: number): string {
  const a = wordHex(words[index]);
  const b = wordHex(words[index + 1]);
  const c = wordHex(words[index + 2]);
  const d = wordHex(words[index + 3]);
  return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
}

/** A per-process seed, so ids crafted to collide (clients choose them) do not collide here. */
const SEED = crypto.getRandomValues(new Uint32Array(1))[0];

/** A 32-bit hash of an id's four words, for the open-addressing tables (accepted ids, journal replay). */
export function hashId(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ SEED, 0x85ebca6b);
  h = Math.imul(h ^ b ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ c ^ (h >>> 13), 0x85ebca6b);
  h = Math.imul(h ^ d ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 15)) >>> 0;
}
