/**
 * Retained figures over fresh processes: each leak and no-leak fixture measured with retention
 * (`measure(fn, { iterations: 8, warmup: 2, retained: true })` and one span), N processes; prints the
 * figures and their spread (max - min).
 * Run: npm run bench:retention [-- --runs 10]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deterministicFlags } from '../src/index.ts';
import { formatTable } from '../src/format/table.ts';

const at = process.argv.indexOf('--runs');
const RUNS = at === -1 ? 10 : Number(process.argv[at + 1]);
const child = fileURLToPath(new URL('./retention-child.ts', import.meta.url));
type Figures = Record<string, { growth: number | null; retained: number | null; spanRetained: number | null }>;
const runs: Figures[] = [];
for (let run = 0; run < RUNS; run++) {
  runs.push(JSON.parse(execFileSync(process.execPath, [...deterministicFlags(), child], { encoding: 'utf8' })) as Figures);
}
const describe = (values: (number | null)[]): string => {
  const numbers = values.filter((v): v is number => v !== null);
  if (numbers.length !== values.length) return 'missing';
  const min = Math.min(...numbers);
  const max = Math.max(...numbers);
  return min === max ? `${Math.round(min)} (identical)` : `${Math.round(min)}..${Math.round(max)} (spread ${Math.round(max - min)})`;
};
const rows = Object.keys(runs[0] ?? {}).map((name) => [
  name,
  describe(runs.map((r) => r[name]!.growth)),
  describe(runs.map((r) => r[name]!.retained)),
  describe(runs.map((r) => r[name]!.spanRetained)),
]);
console.log(`Retention over ${RUNS} fresh processes (node ${process.version}, ${deterministicFlags().join(' ')})\n`);
console.log(
  formatTable(['Fixture', 'Growth B/iteration', 'Retained B/iteration (measure)', 'Retained B (one span)'], rows, [
    'left',
    'right',
    'right',
    'right',
  ]),
);
