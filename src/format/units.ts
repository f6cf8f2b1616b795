/**
 * Byte sizes written by people: `'250 MB'` (decimal, 250 * 10^6), `'250 MiB'` (binary, 250 * 2^20),
 * `'512 KiB'`, `'1.5 GB'`, `'4kB'`, or a plain number of bytes. No Vitest import here.
 */

const UNIT_FACTORS: Readonly<Record<string, number>> = {
  b: 1,
  byte: 1,
  bytes: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const SIZE_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i;

/**
 * Parse a byte size. Numbers must be finite and >= 0; strings are a non-negative decimal number, optional
 * white space and an optional unit: B, kB (= KB), MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB
 * (powers of 1024), in any letter case. The result is rounded to whole bytes.
 * Anything else throws a RangeError/TypeError that quotes the input and lists the accepted units.
 */
export function parseByteSize(input: number | string): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) {
      throw new RangeError(`alloc-tracker: a byte size must be a finite number >= 0, got ${String(input)}`);
    }
    return Math.round(input);
  }
  if (typeof input !== 'string') {
    throw new TypeError(
      `alloc-tracker: a byte size must be a number or a string like '250 MB', got ${input === null ? 'null' : typeof input}`,
    );
  }
  const match = SIZE_PATTERN.exec(input.trim());
  const factor = match ? UNIT_FACTORS[(match[2] ?? '').toLowerCase() || 'b'] : undefined;
  if (!match || factor === undefined) {
    throw new RangeError(
      `alloc-tracker: cannot read ${JSON.stringify(input)} as a byte size; write a number >= 0 and a unit, ` +
        `e.g. '250 MB' (10^6 bytes), '250 MiB' (2^20 bytes), '512 KiB', '1.5 GB', '4 kB'; ` +
        'units: B, kB/KB, MB, GB, TB, KiB, MiB, GiB, TiB',
    );
  }
  return Math.round(Number(match[1]) * factor);
}
