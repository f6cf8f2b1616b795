/**
 * Plain-text tables: names left-aligned, numbers right-aligned, every column as wide as its widest
 * cell, in the Markdown pipe style people paste into issues.
 */
export type Align = 'left' | 'right';

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[]): string {
  // A loop, not Math.max(...rows): spreading hundreds of thousands of rows overflows the call stack.
  const widths = headers.map((header) => header.length);
  for (const row of rows)
    for (let column = 0; column < widths.length; column++) widths[column] = Math.max(widths[column]!, (row[column] ?? '').length);
  const line = (cells: readonly string[]): string =>
    `| ${cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return align[column] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join(' | ')} |`;
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** `1234567` -> `1.23 MB` (decimal units, as size-limit and most CI tools print). */
export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 ? 0 : value >= 100 ? 1 : 2;
  return `${sign}${value.toFixed(digits)} ${DECIMAL_UNITS[unit]}`;
}
