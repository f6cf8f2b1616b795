/** One fresh process of bench/cost.ts part 3: a phase of 1e6 allocations; prints wall time and peak RSS. */
import { readFileSync } from 'node:fs';
import { Session } from '../src/index.ts';

const interval = Number(process.argv[2] ?? '1');
let sink: unknown;
const record = new Session({ samplingInterval: interval }).measure('many', () => {
  for (let i = 0; i < 1_000_000; i++) sink = { i };
});
// VmHWM: the process's peak resident set (Linux).
const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
process.stdout.write(
  `${JSON.stringify({ wallMs: record.wallMs, peakMiB: peakKiB / 1024, count: record.count, sink: sink !== undefined })}\n`,
);
