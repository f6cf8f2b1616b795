/**
 * What measuring costs.
 *   1. span() with no active session, per call, against a bare call (target: under 10 ns), under plain
 *      Node and under the deterministic flags.
 *   2. Per cost workload (1e5 and 1e6 small allocations, JSON.parse of 1 MB, a Buffer stream), in fresh
 *      processes, alternating, median of --rounds: wall time per call and peak RSS, unmeasured under
 *      plain Node (the reference every ratio is to), unmeasured under the deterministic flags, and
 *      measured with bytes only (interval 0), sites (4096), exact counts (1, `sites: false`) and exact
 *      counts with sites (1).
 *   3. With --before <git revision>: the same workloads measured by that revision's tracker (its own
 *      default flags, --single-threaded; and its counts under today's flags, where they are object
 *      counts too) for a before/after comparison. Each measured row shows the count it took.
 * Run: npm run bench:cost [-- --rounds 3] [-- --before 48d0751]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deterministicFlags } from '../src/index.ts';
import { formatTable } from '../src/format/table.ts';
import { costWorkloads } from './workloads.ts';

const args = process.argv.slice(2);
const option = (flag: string, fallback: string): string => {
  const at = args.indexOf(flag);
  return at === -1 ? fallback : (args[at + 1] ?? fallback);
};
const ROUNDS = Number(option('--rounds', '3'));
const BEFORE = option('--before', '');
const REPO = fileURLToPath(new URL('..', import.meta.url));
const child = fileURLToPath(new URL('./cost-child.ts', import.meta.url));
const idleChild = fileURLToPath(new URL('./cost-idle.ts', import.meta.url));

// 1. Idle spans, in fresh processes under both flag sets.
for (const [label, flags] of [
  ['plain Node', []],
  ['deterministic flags', deterministicFlags()],
  ['tiers pinned', deterministicFlags({ pinTiers: true })],
] as const) {
  const out = JSON.parse(execFileSync(process.execPath, [...flags, idleChild], { encoding: 'utf8' })) as { idle: number; bare: number };
  console.log(
    `span() with no active session, ${label}: ${out.idle.toFixed(1)} ns/call (bare call ${out.bare.toFixed(1)} ns; overhead ${(out.idle - out.bare).toFixed(1)} ns)`,
  );
}

// 2 and 3. Fresh processes per cell, alternating.
let beforeEntry: string | null = null;
let beforeDir: string | null = null;
if (BEFORE) {
  beforeDir = mkdtempSync(path.join(tmpdir(), 'cost-before-'));
  execFileSync('git', ['worktree', 'add', '--detach', beforeDir, BEFORE], { cwd: REPO, stdio: 'ignore' });
  beforeEntry = path.join(beforeDir, 'src/index.ts');
  if (!existsSync(beforeEntry)) throw new Error(`${BEFORE} has no src/index.ts`);
}
interface Cell {
  label: string;
  flags: readonly string[];
  mode: string;
  env?: Record<string, string>;
}
const cells: Cell[] = [
  { label: 'unmeasured, plain Node', flags: [], mode: 'plain' },
  { label: 'unmeasured, deterministic flags', flags: deterministicFlags(), mode: 'plain' },
  { label: 'bytes only (interval 0)', flags: deterministicFlags(), mode: 'bytes' },
  { label: 'sites (interval 4096)', flags: deterministicFlags(), mode: 'sites' },
  { label: 'exact counts (interval 1, no sites)', flags: deterministicFlags(), mode: 'counts' },
  { label: 'exact counts and sites (interval 1)', flags: deterministicFlags(), mode: 'counts+sites' },
  { label: 'bytes only, tiers pinned', flags: deterministicFlags({ pinTiers: true }), mode: 'bytes' },
];
if (beforeEntry) {
  for (const mode of ['bytes', 'counts']) {
    cells.push({ label: `BEFORE ${BEFORE}: ${mode}`, flags: ['--single-threaded'], mode, env: { ALLOC_TRACKER_ENTRY: beforeEntry } });
  }
  // Under its own flags optimised code folds several objects into one allocation event, so that
  // tracker counted fewer events than there are objects; with today's flags it counts every object.
  cells.push({
    label: `BEFORE ${BEFORE}: counts, deterministic flags`,
    flags: deterministicFlags(),
    mode: 'counts',
    env: { ALLOC_TRACKER_ENTRY: beforeEntry },
  });
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
try {
  for (const workload of costWorkloads) {
    const samples = cells.map(() => ({ wall: [] as number[], peak: [] as number[], count: [] as number[] }));
    for (let round = 0; round < ROUNDS; round++) {
      cells.forEach((cell, i) => {
        const out = JSON.parse(
          execFileSync(process.execPath, [...cell.flags, child, workload.name, cell.mode], {
            encoding: 'utf8',
            env: { ...process.env, ...cell.env },
          }),
        ) as { wallMs: number; peakMiB: number; count: number };
        samples[i]!.wall.push(out.wallMs);
        samples[i]!.peak.push(out.peakMiB);
        samples[i]!.count.push(out.count);
      });
    }
    const reference = { wall: median(samples[0]!.wall), peak: median(samples[0]!.peak) };
    const rows = cells.map((cell, i) => {
      const wall = median(samples[i]!.wall);
      const peak = median(samples[i]!.peak);
      return [
        cell.label,
        wall.toFixed(2),
        `${(wall / reference.wall).toFixed(2)}x`,
        peak.toFixed(0),
        `${(peak / reference.peak).toFixed(2)}x`,
        cell.mode === 'plain' || cell.mode === 'bytes' ? '' : String(median(samples[i]!.count)),
      ];
    });
    console.log(
      `\n${workload.name}: ${workload.iterations} measured call(s) after ${workload.warmup} warm-up calls, median of ${ROUNDS} alternating rounds\n`,
    );
    console.log(
      formatTable(['Mode', 'Wall ms/call', 'vs plain', 'Peak RSS MiB', 'vs plain', 'Count'], rows, [
        'left',
        'right',
        'right',
        'right',
        'right',
        'right',
      ]),
    );
  }
} finally {
  if (beforeDir) {
    execFileSync('git', ['worktree', 'remove', '--force', beforeDir], { cwd: REPO, stdio: 'ignore' });
    rmSync(beforeDir, { recursive: true, force: true });
  }
}
