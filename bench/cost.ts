/**
 * What measuring costs.
 *   1. span() with no active session, per call (target: about 100 ns or less), against a bare call.
 *   2. Per workload: wall time of a measured phase as a ratio to the same calls unmeasured, with
 *      counts off (samplingInterval 0: exact bytes only) and exact counts (interval 1).
 * Run: npm run bench:cost
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Session, span } from '../src/index.ts';
import { formatTable } from '../src/format/table.ts';
import { workloads, type Workload } from './workloads.ts';

function nsPerCall(fn: () => void, calls: number): number {
  const start = performance.now();
  fn();
  return ((performance.now() - start) * 1e6) / calls;
}

// 1. Idle spans. The callee does a little work so the loop is not folded away.
const CALLS = 5_000_000;
let sink = 0;
const work = (): number => (sink = (sink + 1) | 0);
const best = (fn: () => void): number => Math.min(...Array.from({ length: 5 }, () => nsPerCall(fn, CALLS)));
const bare = best(() => {
  for (let i = 0; i < CALLS; i++) work();
});
const idle = best(() => {
  for (let i = 0; i < CALLS; i++) span('idle', work);
});
console.log(
  `span() with no active session: ${idle.toFixed(1)} ns/call (bare call ${bare.toFixed(1)} ns; overhead ${(idle - bare).toFixed(1)} ns)\n`,
);

// 2. Measured against unmeasured, warm.
const ITERATIONS = 10;
async function timeUnmeasured(workload: Workload): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < ITERATIONS; i++) await workload.run();
  return (performance.now() - start) / ITERATIONS;
}
const rows: string[][] = [];
for (const workload of workloads) {
  for (let i = 0; i < 30; i++) await workload.run();
  const plain = Math.min(await timeUnmeasured(workload), await timeUnmeasured(workload));
  const bytesOnly = await Promise.resolve(
    new Session({ samplingInterval: 0 }).measure(workload.name, () => workload.run(), { iterations: ITERATIONS }),
  );
  const withCounts = await Promise.resolve(
    new Session({ samplingInterval: 1 }).measure(workload.name, () => workload.run(), { iterations: ITERATIONS }),
  );
  const sampled = await Promise.resolve(
    new Session({ samplingInterval: 4096 }).measure(workload.name, () => workload.run(), { iterations: ITERATIONS }),
  );
  rows.push([
    workload.name,
    plain.toFixed(2),
    `${bytesOnly.wallMs.toFixed(2)} (${(bytesOnly.wallMs / plain).toFixed(2)}x)`,
    `${sampled.wallMs.toFixed(2)} (${(sampled.wallMs / plain).toFixed(2)}x)`,
    `${withCounts.wallMs.toFixed(2)} (${(withCounts.wallMs / plain).toFixed(1)}x)`,
  ]);
}
console.log(
  `Wall time per call in ms, warm, mean of ${ITERATIONS} (node ${process.version}; flags: ${process.execArgv.join(' ') || 'none'})\n`,
);
console.log(
  formatTable(['Workload', 'Unmeasured', 'Bytes only (interval 0)', 'Sites, no count (4096)', 'Exact counts (interval 1)'], rows, [
    'left',
    'right',
    'right',
    'right',
    'right',
  ]),
);
if (sink === -1) console.log('');

// 3. Memory: at interval 1 V8 keeps a sample per allocation until the phase ends. Fresh processes so
// each peak RSS is its own (Linux: /proc/self/status).
if (process.platform === 'linux') {
  const child = fileURLToPath(new URL('./cost-memory-child.ts', import.meta.url));
  const memoryRows = [0, 4096, 1].map((interval) => {
    const out = JSON.parse(execFileSync(process.execPath, ['--single-threaded', child, String(interval)], { encoding: 'utf8' })) as {
      wallMs: number;
      peakMiB: number;
      count: number;
    };
    return [String(interval), out.wallMs.toFixed(0), out.peakMiB.toFixed(0), String(out.count)];
  });
  console.log('\nOne phase of 1e6 small allocations, fresh process per row\n');
  console.log(formatTable(['Sampling interval', 'Wall ms', 'Peak RSS MiB', 'Count'], memoryRows, ['right', 'right', 'right', 'right']));
}
