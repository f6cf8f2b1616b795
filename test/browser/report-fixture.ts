/**
 * A small project measured by real Vitest runs, whose JSON output feeds the HTML report: the first run
 * writes baselines; the second (SECOND_RUN=1) makes one phase allocate more (regressed, so its heap
 * profile is saved), one less (improved), adds one (new) and drops one (obsolete). Test and phase
 * names are hostile on purpose: markup, quotes and `__proto__`.
 * (A phase named `__proto__` is never stored in baseline files today: see the report of issue 10.)
 */
import { FixtureProject } from '../vitest/helpers/fixture.ts';

export const HOSTILE_TEST = `<script>window.__pwned = 1</script> "double" 'single' & __proto__`;
export const HOSTILE_PHASE = `</script><img src=x onerror="window.__pwned = 2">`;

const WORKLOAD = `import { span } from 'alloc-tracker';

export interface Row {
  id: number;
  name: string;
  tags: string[];
}

const second = process.env.SECOND_RUN === '1';

/** Rows of a small table: one object, one string and one array per row. */
export function parseRows(count: number): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    rows.push({ id: i, name: \`row \${i}\`, tags: [String(i % 7)] });
  }
  return rows;
}

export function toCsv(rows: readonly Row[]): string {
  return rows.map((row) => \`\${row.id},\${row.name},\${row.tags.join(';')}\`).join('\\n');
}

/** Grows fourfold in the second run: both phases regress and the test fails. */
export function load(): Row[] {
  const rows = span('parse', () => parseRows(second ? 8_000 : 2_000));
  span('index', () => new Map(rows.map((row) => [row.id, row])));
  return rows;
}

/** In the second run: render does a tenth of the work, legacy is gone, added is new; the test passes. */
export function report(): void {
  const rows = parseRows(2_000);
  span('render', () => toCsv(second ? rows.slice(0, 200) : rows));
  if (!second) span('legacy', () => parseRows(500));
  if (second) span('added', () => parseRows(300));
}
`;

const TESTS = `import { test } from 'vitest';
import { span } from 'alloc-tracker';
import { load, parseRows, report } from './workload.ts';

test('csv pipeline > load', () => {
  load();
});

test('csv pipeline > report', () => {
  report();
});

test(${JSON.stringify(HOSTILE_TEST)}, () => {
  span('__proto__', () => parseRows(100));
  span(${JSON.stringify(HOSTILE_PHASE)}, () => parseRows(50));
});
`;

const CONFIG = `import { defineConfig } from 'vitest/config';
import { allocTracker } from 'alloc-tracker/vitest';

export default defineConfig({
  plugins: [allocTracker({ outputFile: 'results.json' })],
  test: { include: ['*.test.ts'] },
});
`;

export async function createReportProject(): Promise<FixtureProject> {
  return FixtureProject.create('html-report', {
    files: { 'vitest.config.ts': CONFIG, 'workload.ts': WORKLOAD, 'csv.test.ts': TESTS },
  });
}
