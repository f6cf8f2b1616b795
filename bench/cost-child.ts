/**
 * One fresh process of bench/cost.ts: runs one cost workload unmeasured or measured in one mode,
 * prints JSON with the wall time per call and the process's peak RSS.
 *   node [flags] bench/cost-child.ts <workload> <plain|bytes|sites|counts|counts+sites>
 * ALLOC_TRACKER_ENTRY points at another copy of the tracker (bench:cost --before <rev>).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { costWorkloads } from './workloads.ts';

interface RecordLike {
  wallMs: number;
  count: number;
}
interface SessionLike {
  measure?: (name: string, fn: () => unknown, options: object) => RecordLike | Promise<RecordLike>;
  operation?: (name: string) => { measure(fn: () => unknown, options: object): RecordLike | Promise<RecordLike> };
}
type SessionClass = new (options: { samplingInterval: number; sites?: boolean }) => SessionLike;

const [name = '', mode = 'plain'] = process.argv.slice(2);
const workload = costWorkloads.find((w) => w.name === name);
if (!workload) throw new Error(`no cost workload ${JSON.stringify(name)}`);
const entry = process.env.ALLOC_TRACKER_ENTRY ?? new URL('../src/index.ts', import.meta.url).href;
const { Session } = (await import(entry.startsWith('file:') ? entry : pathToFileURL(entry).href)) as { Session: SessionClass };

for (let i = 0; i < workload.warmup; i++) await workload.run();
let wallMs: number;
let count = 0;
if (mode === 'plain') {
  const start = performance.now();
  for (let i = 0; i < workload.iterations; i++) await workload.run();
  wallMs = (performance.now() - start) / workload.iterations;
} else {
  const setting = {
    bytes: { samplingInterval: 0 },
    sites: { samplingInterval: 4096 },
    counts: { samplingInterval: 1, sites: false },
    'counts+sites': { samplingInterval: 1, sites: true },
  }[mode];
  if (setting === undefined) throw new Error(`no mode ${mode}`);
  // A tracker from before `sites` existed ignores it: its interval 1 always kept sites.
  const session = new Session(setting);
  const options = { iterations: workload.iterations };
  // The earlier API measured through session.operation(name).measure(fn).
  const record = await Promise.resolve(
    session.measure
      ? session.measure(name, () => workload.run(), options)
      : session.operation!(name).measure(() => workload.run(), options),
  );
  wallMs = record.wallMs;
  count = record.count;
}
// VmHWM: the process's peak resident set (Linux).
const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
process.stdout.write(`${JSON.stringify({ wallMs, peakMiB: peakKiB / 1024, count })}\n`);
