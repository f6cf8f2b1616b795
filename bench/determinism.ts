/**
 * Run-to-run repeatability: each workload measured in 10 fresh processes, cold (first call) and warm
 * (after 30 calls), with and without the documented flag. Prints the coefficient of variation (CV)
 * of `bytes` and `count`. Target with --single-threaded: CV(bytes) <= 0.5%, CV(count) <= 1%.
 * Run: npm run bench:determinism   [-- --runs N] [-- --interval N]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatTable } from '../src/format/table.ts';
import { workloads } from './workloads.ts';

const args = process.argv.slice(2);
const option = (flag: string, fallback: number): number => {
  const at = args.indexOf(flag);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const RUNS = option('--runs', 10);
const INTERVAL = option('--interval', 1);
const child = fileURLToPath(new URL('./determinism-child.ts', import.meta.url));

interface Figures {
  bytes: number;
  count: number;
}
const cv = (values: number[]): number => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (mean === 0) return 0;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return (Math.sqrt(variance) / mean) * 100;
};
const mean = (values: number[]): number => Math.round(values.reduce((a, b) => a + b, 0) / values.length);

const rows: string[][] = [];
let breaches = 0;
for (const flags of [['--single-threaded'], []]) {
  for (const workload of workloads) {
    const runs: { cold: Figures; warm: Figures }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const out = execFileSync(process.execPath, [...flags, child, workload.name, String(INTERVAL)], { encoding: 'utf8' });
      runs.push(JSON.parse(out) as { cold: Figures; warm: Figures });
    }
    for (const mode of ['cold', 'warm'] as const) {
      const bytes = runs.map((r) => r[mode].bytes);
      const counts = runs.map((r) => r[mode].count);
      const cvBytes = cv(bytes);
      const cvCount = cv(counts);
      const documented = flags.length > 0;
      const ok = cvBytes <= 0.5 && cvCount <= 1;
      if (documented && !ok) breaches++;
      rows.push([
        flags.join(' ') || '(none)',
        workload.name,
        mode,
        String(mean(bytes)),
        `${cvBytes.toFixed(3)}%`,
        String(mean(counts)),
        `${cvCount.toFixed(3)}%`,
        documented ? (ok ? 'ok' : 'OVER') : '',
      ]);
    }
  }
}
console.log(`Repeatability over ${RUNS} fresh processes per row (node ${process.version}, sampling interval ${INTERVAL})\n`);
console.log(
  formatTable(['Flags', 'Workload', 'Mode', 'Mean bytes', 'CV bytes', 'Mean count', 'CV count', 'Target'], rows, [
    'left',
    'left',
    'left',
    'right',
    'right',
    'right',
    'right',
    'left',
  ]),
);
console.log(
  breaches === 0
    ? '\nEvery row under the documented flag meets CV(bytes) <= 0.5% and CV(count) <= 1%.'
    : `\n${breaches} row(s) over target.`,
);
if (breaches > 0) process.exitCode = 1;
