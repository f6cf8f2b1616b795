/**
 * Run-to-run repeatability: each workload measured in N fresh processes, cold (first call) and warm
 * (after 30 calls), with the deterministic flags, with the JIT tiers pinned too, and with no flags. Prints the
 * spread (max - min) and coefficient of variation (CV) of `bytes` and `count`. Target with the
 * deterministic flags: identical figures in every process.
 * Run: npm run bench:determinism   [-- --runs N] [-- --interval N]   (interval 1: exact counts too)
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deterministicFlags } from '../src/index.ts';
import { formatTable } from '../src/format/table.ts';
import { workloads } from './workloads.ts';

const args = process.argv.slice(2);
const option = (flag: string, fallback: number): number => {
  const at = args.indexOf(flag);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const RUNS = option('--runs', 10);
const INTERVAL = option('--interval', 0);
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
const FLAG_SETS = [deterministicFlags(), deterministicFlags({ pinTiers: true }), []];
for (const flags of FLAG_SETS) {
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
      const documented = flags !== FLAG_SETS[2];
      const ok = new Set(bytes).size === 1 && new Set(counts).size === 1;
      if (documented && !ok) breaches++;
      const width = (values: number[]): number => Math.max(...values) - Math.min(...values);
      rows.push([
        flags === FLAG_SETS[0] ? 'deterministic' : flags === FLAG_SETS[1] ? 'pinned tiers' : '(none)',
        workload.name,
        mode,
        String(mean(bytes)),
        `${width(bytes)} (CV ${cvBytes.toFixed(3)}%)`,
        INTERVAL === 1 ? `${width(counts)} (CV ${cvCount.toFixed(3)}%)` : 'not measured',
        documented ? (ok ? 'identical' : 'DIFFERS') : '',
      ]);
    }
  }
}
console.log(`Repeatability over ${RUNS} fresh processes per row (node ${process.version}, sampling interval ${INTERVAL})`);
console.log(`deterministic = ${deterministicFlags().join(' ')}; pinned tiers = ${deterministicFlags({ pinTiers: true }).join(' ')}\n`);
console.log(
  formatTable(['Flags', 'Workload', 'Mode', 'Mean bytes', 'Bytes spread', 'Count spread', 'Target'], rows, [
    'left',
    'left',
    'left',
    'right',
    'right',
    'right',
    'left',
  ]),
);
console.log(
  breaches === 0
    ? '\nEvery row with the deterministic flags is identical in every process.'
    : `\n${breaches} row(s) with the deterministic flags differ between processes.`,
);
if (breaches > 0) process.exitCode = 1;
