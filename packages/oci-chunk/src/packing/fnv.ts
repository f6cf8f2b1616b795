/** FNV-1a, 64-bit: the hash that places a component in a bin, with no stored state between builds. */

const OFFSET_BASIS = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

/** FNV-1a-64 of raw bytes. */
export function fnv1a64(bytes: Uint8Array): bigint {
  let hash = OFFSET_BASIS;
  for (const byte of bytes) {
    hash ^= BigInt(byte);
    hash = (hash * PRIME) & MASK;
  }
  return hash;
}

const encoder = new TextEncoder();

/**
 * Hash of a component name as the original computes it: Rust's `Hash for str` feeds the UTF-8
 * bytes and then one 0xff byte, so the same names land in the same bins as there.
 */
export function nameHash(name: string): bigint {
  const utf8 = encoder.encode(name);
  const bytes = new Uint8Array(utf8.length + 1);
  bytes.set(utf8);
  bytes[utf8.length] = 0xff;
  return fnv1a64(bytes);
}
