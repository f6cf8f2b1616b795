/**
 * Accuracy of `bytes`, per workload and per call (warm), against independent truths:
 *   - the sampler: V8's sampling heap profiler at interval 1 samples every allocation; its sizes,
 *     summed (the tracker's own allocations excluded), in the same execution as the counter;
 *   - analytic sizes where the workload's objects are known (small objects, ArrayBuffers).
 * Also the counter without the sampler running (bytes-only mode) and with it: the two must agree.
 * Run: npm run bench:accuracy   (with the deterministic flags, see package.json)
 */
import { Session, determinismStatus } from '../src/index.ts';
import { formatTable } from '../src/format/table.ts';
import { workloads, type Workload } from './workloads.ts';

const CALLS = 5;
const WARMUP = 30;

async function callRepeatedly(workload: Workload, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) await workload.run();
}
const signed = (diff: number, of: number): string =>
  `${diff >= 0 ? '+' : ''}${Math.round(diff)} (${of === 0 ? '-' : `${((diff / of) * 100).toFixed(3)}%`})`;

const pinned = determinismStatus().pinnedTiers;
/** Analytic heap bytes per call, where known: see test/core/accuracy.test.ts for the object layout. */
const analyticHeap: Record<string, number> = {
  'small-objects': 100_000 * (pinned ? 56 : 40) + 32 + 16 + 100_000 * 8,
};

const rows: string[][] = [];
for (const workload of workloads) {
  await callRepeatedly(workload, WARMUP);
  const bytesOnly = await Promise.resolve(
    new Session({ samplingInterval: 0 }).measure(workload.name, () => workload.run(), { iterations: CALLS }),
  );
  const sampled = await Promise.resolve(
    new Session({ samplingInterval: 1, topSites: 1_000_000 }).measure(workload.name, () => workload.run(), { iterations: CALLS }),
  );
  const samplerSum = sampled.sites.reduce((sum, site) => sum + site.bytes, 0);
  const analytic = analyticHeap[workload.name];
  rows.push([
    workload.name,
    `${bytesOnly.heapBytes} (${bytesOnly.bytesMethod})`,
    signed(sampled.heapBytes - bytesOnly.heapBytes, bytesOnly.heapBytes),
    signed(samplerSum - sampled.heapBytes, sampled.heapBytes),
    analytic === undefined ? '' : signed(bytesOnly.heapBytes - analytic, analytic),
    String(bytesOnly.externalBytes),
    workload.externalBytes === undefined ? '' : signed(bytesOnly.externalBytes - workload.externalBytes, workload.externalBytes),
  ]);
}

console.log(
  `Heap bytes per call, warm (${WARMUP} calls first), mean of ${CALLS}; node ${process.version}, flags: ${process.execArgv.join(' ') || 'none'}\n`,
);
console.log(
  formatTable(
    [
      'Workload',
      'Heap bytes (bytes only)',
      'With sampler at 1: counter diff',
      'Sampler sum - counter',
      'Counter - analytic',
      'External bytes',
      'External - analytic',
    ],
    rows,
    ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
  ),
);
console.log(
  '\nThe sampler records each allocation at the size it was made; the counter is what V8 kept: an object shrunk in place right ' +
    'after it was allocated (a string builder trimming its unused tail) counts at its final size there.',
);
