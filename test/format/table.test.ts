import { describe, expect, it } from 'vitest';
import { formatTable } from '../../src/format/table.ts';

describe('formatTable', () => {
  it('pads every column to its widest cell, numbers to the right', () => {
    expect(
      formatTable(
        ['Phase', 'Bytes'],
        [
          ['scan', '12'],
          ['oci_build', '3456'],
        ],
        ['left', 'right'],
      ),
    ).toBe(['| Phase     | Bytes |', '|-----------|-------|', '| scan      |    12 |', '| oci_build |  3456 |'].join('\n'));
  });

  it('takes 500,000 rows (an image of that many paths) without overflowing the stack', () => {
    const rows = Array.from({ length: 500_000 }, (_, i) => [`path/${i}`, String(i)]);
    const table = formatTable(['Path', 'Size'], rows, ['left', 'right']);
    expect(table.split('\n')).toHaveLength(500_002);
    expect(table.split('\n')[1]).toBe(`|${'-'.repeat('path/499999'.length + 2)}|${'-'.repeat(8)}|`);
  });
});
