/**
 * Allocation-free UUID v4 writer: random bytes come from a pooled
 * crypto.getRandomValues() buffer and are hex-encoded straight into the
 * destination (e.g. a pre-built request buffer), without creating strings.
 */
const POOL_SIZE = 16 * 512;
const pool = new Uint8Array(POOL_SIZE);
let poolPos = POOL_SIZE;

const HEX = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX[i] = '0123456789abcdef'.charCodeAt(i);
const DASH = 0x2d;

export const UUID_LENGTH = 36;

/** Writes a fresh random RFC 4122 version-4 UUID (36 ASCII chars) at `offset`. */
export function writeUuidV4(dest: Uint8Array, offset: number): void {
  if (poolPos + 16 > POOL_SIZE) {
    crypto.getRandomValues(pool);
    poolPos = 0;
  }
  let o = offset;
  const base = poolPos;
  for (let i = 0; i < 16; i++) {
    let b = pool[base + i] ?? 0;
    if (i === 6)
      b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // RFC 4122 variant
    if (i === 4 || i === 6 || i === 8 || i === 10) dest[o++] = DASH;
    dest[o++] = HEX[b >>> 4] ?? 0;
    dest[o++] = HEX[b & 0x0f] ?? 0;
  }
  poolPos += 16;
}

/** Convenience: a fresh UUID v4 as a string (not used on the hot path). */
export function uuidV4String(): string {
  const buf = new Uint8Array(UUID_LENGTH);
  writeUuidV4(buf, 0);
  return String.fromCharCode(...buf);
}
