/**
 * Accuracy of `bytes`: the core's exact GC-profiler accounting against independent ground truth.
 *   heap: V8's sampling heap profiler at interval 1 (every allocation event sampled, sizes summed),
 *         run separately over the same warm calls;
 *   external: the analytic sum of the ArrayBuffer sizes, where the workload knows it.
 * Run: npm run bench:accuracy   (node --single-threaded; figures are per call, warm)
 */
import { Session as InspectorSession } from 'node:inspector';
import { Session } from '../src/index.ts';
import { formatTable } from '../src/format/table.ts';
import { workloads, type Workload } from './workloads.ts';

const CALLS = 5;
/** Enough calls for every workload to finish tiering up (fewer left the stream pipeline +6% in code space). */
const WARMUP = 30;

async function callRepeatedly(workload: Workload, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) await workload.run();
}

function post<T>(inspector: InspectorSession, method: string, params?: object): T {
  let out: T | undefined;
  let failure: Error | null = null;
  inspector.post(method, params ?? {}, (error, result) => {
    failure = error;
    out = result as T;
  });
  if (failure) throw failure as Error;
  return out as T;
}

async function sampledHeapBytes(workload: Workload): Promise<number> {
  const inspector = new InspectorSession();
  inspector.connect();
  post(inspector, 'HeapProfiler.startSampling', {
    samplingInterval: 1,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await callRepeatedly(workload, CALLS);
  const { profile } = post<{ profile: { samples: { size: number }[] } }>(inspector, 'HeapProfiler.stopSampling');
  inspector.disconnect();
  return profile.samples.reduce((sum, s) => sum + s.size, 0) / CALLS;
}

const rows: string[][] = [];
let failures = 0;
const percent = (diff: number, of: number): string => `${diff >= 0 ? '+' : ''}${Math.round(diff)} (${((diff / of) * 100).toFixed(3)}%)`;
const within = (diff: number, of: number): boolean => Math.abs(diff) <= Math.max(1024, Math.abs(of) * 0.01);

for (const workload of workloads) {
  await callRepeatedly(workload, WARMUP);
  // Same execution, two independent mechanisms: the used-heap/GC identity (record.heapBytes) and the
  // sampler at interval 1 summing every allocation event (the record's sites, harness excluded).
  const session = new Session({ samplingInterval: 1, topSites: 1_000_000 });
  const record = await Promise.resolve(session.measure(workload.name, () => workload.run(), { iterations: CALLS }));
  const sampledSameRun = record.sites.reduce((sum, site) => sum + site.bytes, 0);
  // A separate pass of the bare sampler: independent of our code entirely, but not the same execution.
  const sampledSeparately = await sampledHeapBytes(workload);
  const sameRunOk = within(record.heapBytes - sampledSameRun, sampledSameRun);
  const external = workload.externalBytes;
  const externalOk = external === undefined || record.externalBytes === external;
  if (!sameRunOk || !externalOk) failures++;
  rows.push([
    workload.name,
    String(record.heapBytes),
    percent(record.heapBytes - sampledSameRun, sampledSameRun),
    percent(record.heapBytes - sampledSeparately, sampledSeparately),
    String(record.externalBytes),
    external === undefined ? 'n/a' : external === record.externalBytes ? 'exact' : percent(record.externalBytes - external, external),
    sameRunOk && externalOk ? 'ok' : 'OFF',
  ]);
}
console.log(
  `Accuracy per call (warm after ${WARMUP} calls, mean of ${CALLS}; node ${process.version}; flags: ${process.execArgv.join(' ') || 'none'})\n`,
);
console.log(
  formatTable(
    ['Workload', 'Heap bytes', 'vs sampler, same run', 'vs sampler, separate run', 'External bytes', 'vs analytic', 'Within 1%/1 KiB'],
    rows,
    ['left', 'right', 'right', 'right', 'right', 'right', 'left'],
  ),
);
// Analytic check: 1e5 objects {a, b} are 40 B each without pointer compression, plus the 8e5 B + 16 B array.
const objects = new Session({ samplingInterval: 0 }).measure('small-objects', () => workloads[0]!.run(), {
  iterations: CALLS,
  warmup: WARMUP,
});
const analytic = 100_000 * 40 + 100_000 * 8 + 16;
console.log(`\nsmall-objects vs analytic ${analytic} B: ${percent(objects.heapBytes - analytic, analytic)}`);
if (!within(objects.heapBytes - analytic, analytic)) failures++;
console.log(failures === 0 ? 'All within 1% (or 1 KiB).' : `${failures} workload(s) outside 1% (or 1 KiB).`);
if (failures > 0) process.exitCode = 1;
