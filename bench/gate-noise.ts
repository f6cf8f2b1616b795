/**
 * How much the repository's own allocation gate moves between identical runs: runs the gated test file
 * (test/oci/allocations.test.ts) N times through real Vitest (forks pool, --single-threaded workers),
 * reads each run's JSON report, and prints per test and phase the spread (max - min) of bytes and
 * count as a share of the mean, next to the default tolerance (5%, floors 16 KiB / 128).
 * Run: npm run bench:gate-noise [-- --runs N]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunReport } from '../src/report/baselines.ts';
import { formatTable } from '../src/format/table.ts';

const args = process.argv.slice(2);
const at = args.indexOf('--runs');
const RUNS = at === -1 ? 10 : Number(args[at + 1]);
const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'gate-noise-'));

const figures = new Map<string, { bytes: number[]; count: number[] }>();
try {
  for (let run = 0; run < RUNS; run++) {
    const output = join(scratch, `run-${run}.json`);
    // CI mode: compare, never write, so the committed baselines stay as they are.
    const result = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'test/oci/allocations.test.ts'], {
      cwd: root,
      env: { ...process.env, CI: 'true', ALLOC_TRACKER_JSON: output },
      encoding: 'utf8',
    });
    if (result.status !== 0) {
      console.error(result.stdout, result.stderr);
      throw new Error(`run ${run + 1} failed (exit ${result.status})`);
    }
    const report = JSON.parse(readFileSync(output, 'utf8')) as RunReport;
    for (const file of report.files) {
      for (const row of file.rows) {
        if (!row.current) continue;
        const key = `${row.test}\u0000${row.phase}`;
        const entry = figures.get(key) ?? { bytes: [], count: [] };
        entry.bytes.push(row.current.bytes);
        entry.count.push(row.current.count);
        figures.set(key, entry);
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const spread = (values: number[]): string => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const width = Math.max(...values) - Math.min(...values);
  return `${width} (${mean === 0 ? '0.00' : ((width / mean) * 100).toFixed(2)}%)`;
};
const rows = [...figures.entries()].map(([key, { bytes, count }]) => {
  const [test = '', phase = ''] = key.split('\u0000');
  return [test, phase, String(Math.round(bytes.reduce((a, b) => a + b, 0) / bytes.length)), spread(bytes), spread(count)];
});
console.log(`The repository's gate over ${RUNS} identical Vitest runs (node ${process.version})\n`);
console.log(
  formatTable(['Test', 'Phase', 'Mean bytes', 'Bytes spread', 'Count spread'], rows, ['left', 'left', 'right', 'right', 'right']),
);
console.log('\nDefault tolerance: 5% of the baseline, or 16 KiB / 128 allocations, whichever is larger.');
