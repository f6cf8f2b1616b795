import { describe, expect, test } from 'vitest';
import { parseByteSize } from '../../src/index.ts';

describe('parseByteSize', () => {
  test.each([
    ['250 MB', 250e6],
    ['250 MiB', 250 * 2 ** 20],
    ['512 KiB', 512 * 1024],
    ['1.5 GB', 1.5e9],
    ['4kB', 4000],
    ['4 KB', 4000],
    ['2 TiB', 2 * 2 ** 40],
    ['1024', 1024],
    ['10 B', 10],
    ['.5 kB', 500],
    [' 3 mib ', 3 * 2 ** 20],
    [0, 0],
    [1234.4, 1234],
  ] as const)('%j is %d bytes', (input, bytes) => {
    expect(parseByteSize(input)).toBe(bytes);
  });

  test.each(['', 'MB', '-1 MB', '1e3 B', '12 parsecs', '1,5 GB', '5 Mbit', '1 2 MB'])(
    'rejects %j naming the input and the units',
    (input) => {
      expect(() => parseByteSize(input)).toThrow(
        new RegExp(`cannot read ${JSON.stringify(input).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} as a byte size.*units: B, kB/KB`),
      );
    },
  );

  test.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects the number %d', (input) => {
    expect(() => parseByteSize(input)).toThrow(/finite number >= 0/);
  });

  test('rejects other types', () => {
    expect(() => parseByteSize(null as unknown as string)).toThrow(/number or a string like '250 MB', got null/);
  });
});
