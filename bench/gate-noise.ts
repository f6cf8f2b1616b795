/**
 * The gate in the ways people run a suite: a fresh project (the packed package and Vitest installed
 * with a real `npm install`) with three test files records its baselines in a whole run, then runs
 * unchanged N times in each shape (whole run, one file, -t on a middle test, .only, shuffle with three
 * seeds, isolate: false, two shards, coverage) in CI mode. Prints per shape the false failures, and
 * what the gate compared; then makes one middle test's phase allocate 5% more and checks that a whole
 * run catches it.
 * Run: npm run bench:gate-noise [-- --runs 10]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatTable } from '../src/format/table.ts';
import { freshProject, NODE_DIR, workDir } from './fresh-project.ts';

const at = process.argv.indexOf('--runs');
const RUNS = at === -1 ? 10 : Number(process.argv[at + 1]);
const WORK = workDir('gate-noise');

/** Phases of different kinds; GROW=<test name> makes that test's `build` phase allocate 5% more. */
const WORK_SOURCE = `import { span } from 'alloc-tracker';
import { readFile } from 'node:fs/promises';
let keep: unknown;
const grow = (test: string): number => (process.env.GROW === test ? 1.05 : 1);
export function build(test: string, items: number): unknown[] {
  return span('build', () => {
    const out = [];
    for (let i = 0; i < Math.round(items * grow(test)); i++) out.push({ id: i, name: 'item-' + (i % 100) });
    return out;
  });
}
export function encode(rows: unknown[]): string {
  return span('encode', () => JSON.stringify(rows));
}
export async function load(file: string): Promise<number> {
  return span('load', async () => (await readFile(file, 'utf8')).split('\\n').length);
}
export function hold(value: unknown): void { keep = value; }
`;
const testFile = (name: string, tests: string[], only?: string): string =>
  `import { expect, it } from 'vitest';
import { build, encode, load, hold } from '../src/work.ts';
${tests
  .map(
    (t, i) => `it${t === only ? '.only' : ''}('${t}', async () => {
  const rows = build('${name}/${t}', ${2000 + 700 * i});
  hold(encode(rows));
  expect(await load(process.env.DATA_FILE!)).toBeGreaterThan(0);
});`,
  )
  .join('\n')}
`;
const FILES: Record<string, string[]> = {
  alpha: ['a1', 'a2', 'a3', 'a4'],
  beta: ['b1', 'b2', 'b3'],
  gamma: ['g1', 'g2', 'g3'],
};
const config = (extra: string): string => `import { defineConfig } from 'vitest/config';
import { allocTracker } from 'alloc-tracker/vitest';
export default defineConfig({
  plugins: [allocTracker({ outputFile: process.env.ALLOC_JSON })],
  test: { ${extra} },
});
`;

interface Row {
  test: string;
  phase: string;
  status: string;
  comparisons?: { metric: string; changePercent: number | null }[];
  record?: { async: boolean } | null;
}
function setUp(): string {
  const project = freshProject(WORK, 'gate-noise', ['vitest@5.1.1', '@vitest/coverage-v8@5.1.1']);
  writeFileSync(path.join(project, 'src/work.ts'), WORK_SOURCE);
  for (const [name, tests] of Object.entries(FILES)) writeFileSync(path.join(project, `test/${name}.test.ts`), testFile(name, tests));
  writeFileSync(path.join(project, 'data.txt'), Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n'));
  writeFileSync(path.join(project, 'vitest.config.ts'), config(''));
  return project;
}

function run(project: string, args: string[], env: Record<string, string> = {}): { exit: number | null; rows: Row[]; output: string } {
  const output = path.join(WORK, `run-${process.pid}.json`);
  rmSync(output, { force: true });
  const result = spawnSync(process.execPath, [path.join(project, 'node_modules/vitest/vitest.mjs'), 'run', ...args], {
    cwd: project,
    encoding: 'utf8',
    env: {
      PATH: `${NODE_DIR}${path.delimiter}/usr/bin${path.delimiter}/bin`,
      HOME: process.env.HOME ?? project,
      NO_COLOR: '1',
      ALLOC_JSON: output,
      DATA_FILE: path.join(project, 'data.txt'),
      ...env,
    },
  });
  const report = existsSync(output) ? (JSON.parse(readFileSync(output, 'utf8')) as { files: { rows: Row[] }[] }) : { files: [] };
  return { exit: result.status, rows: report.files.flatMap((f) => f.rows), output: `${result.stdout}\n${result.stderr}` };
}

interface Shape {
  name: string;
  args: string[];
  config?: string;
  only?: boolean;
  /** Figures of this shape are keyed apart (coverage): record its baselines first, as a user would with -u. */
  ownBaselines?: boolean;
}
const SHAPES: Shape[] = [
  { name: 'whole run', args: [] },
  { name: 'one file', args: ['test/beta.test.ts'] },
  { name: '-t on a middle test', args: ['-t', 'b2'] },
  // In CI Vitest refuses .only unless allowed (a forgotten .only must not pass CI); people who use it pass --allowOnly.
  { name: '.only on a middle test', args: ['--allowOnly'], only: true },
  { name: 'shuffle, seed 1', args: ['--sequence.shuffle', '--sequence.seed=1'] },
  { name: 'shuffle, seed 2', args: ['--sequence.shuffle', '--sequence.seed=2'] },
  { name: 'shuffle, seed 3', args: ['--sequence.shuffle', '--sequence.seed=3'] },
  { name: 'isolate: false', args: [], config: 'isolate: false' },
  { name: 'shard 1/2', args: ['--shard=1/2'] },
  { name: 'shard 2/2', args: ['--shard=2/2'] },
  { name: '--coverage', args: ['--coverage'], ownBaselines: true },
];

const project = setUp();
const record = run(project, [], { ALLOC_TRACKER_UPDATE: '1' });
if (record.exit !== 0) throw new Error(`recording run failed:\n${record.output.slice(-4000)}`);
const rows: string[][] = [];
for (const shape of SHAPES) {
  writeFileSync(path.join(project, 'vitest.config.ts'), config(shape.config ?? ''));
  if (shape.only) writeFileSync(path.join(project, 'test/beta.test.ts'), testFile('beta', FILES.beta!, 'b2'));
  if (shape.ownBaselines) {
    const recorded = run(project, shape.args, { ALLOC_TRACKER_UPDATE: '1' });
    if (recorded.exit !== 0) throw new Error(`recording run of ${shape.name} failed:\n${recorded.output.slice(-4000)}`);
  }
  let falseFailures = 0;
  const statuses = new Map<string, number>();
  let example = '';
  // The largest change against the recorded baseline, synchronous and async phases apart: whether a
  // shape moves the figures at all (coverage, sharding), not only whether the gate tolerated it.
  const largest = { sync: 0, async: 0 };
  for (let i = 0; i < RUNS; i++) {
    const result = run(project, shape.args, { CI: 'true' });
    if (result.exit !== 0) {
      falseFailures++;
      example ||= result.output.split('\n').find((l) => l.includes('alloc-tracker')) ?? '';
    }
    for (const row of result.rows) {
      statuses.set(row.status, (statuses.get(row.status) ?? 0) + 1);
      if (row.status === 'not-compared') continue;
      const kind = row.record?.async ? 'async' : 'sync';
      for (const c of row.comparisons ?? [])
        if (c.changePercent !== null) largest[kind] = Math.max(largest[kind], Math.abs(c.changePercent));
    }
  }
  writeFileSync(path.join(project, 'vitest.config.ts'), config(''));
  if (shape.only) writeFileSync(path.join(project, 'test/beta.test.ts'), testFile('beta', FILES.beta!));
  const perRun = [...statuses]
    .sort()
    .map(([status, n]) => `${n / RUNS} ${status}`)
    .join(', ');
  rows.push([
    shape.name,
    String(RUNS),
    String(falseFailures),
    perRun,
    `${largest.sync.toFixed(3)}% / ${largest.async.toFixed(3)}%`,
    example.slice(0, 80),
  ]);
  process.stdout.write(`\r${shape.name}: done     `);
}
process.stdout.write('\n');
console.log(`\nThe gate over ${RUNS} unchanged CI runs per shape (three files, ten tests, phases build/encode/load)\n`);
console.log(
  formatTable(['Shape', 'Runs', 'False failures', 'Phases per run, by status', 'Largest change, sync / async', 'First failure'], rows, [
    'left',
    'right',
    'right',
    'left',
    'right',
    'left',
  ]),
);

const grown = run(project, [], { CI: 'true', GROW: 'beta/b2' });
const caught = grown.rows.find((r) => r.test === 'b2' && r.phase === 'build');
console.log(
  `\n+5% in the build phase of a middle test (beta > b2), whole run: ${grown.exit === 1 && caught?.status === 'regressed' ? 'caught' : `MISSED (exit ${grown.exit}, status ${caught?.status})`}`,
);
