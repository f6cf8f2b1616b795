/** One fresh process of bench/cost.ts part 1: span() with no active session against a bare call, ns per call. */
import { performance } from 'node:perf_hooks';
import { span } from '../src/index.ts';

const CALLS = 5_000_000;
let sink = 0;
// The callee does a little work so the loop is not folded away.
const work = (): number => (sink = (sink + 1) | 0);
const nsPerCall = (fn: () => void): number => {
  const start = performance.now();
  fn();
  return ((performance.now() - start) * 1e6) / CALLS;
};
const best = (fn: () => void): number => Math.min(...Array.from({ length: 5 }, () => nsPerCall(fn)));
const bare = best(() => {
  for (let i = 0; i < CALLS; i++) work();
});
const idle = best(() => {
  for (let i = 0; i < CALLS; i++) span('idle', work);
});
process.stdout.write(`${JSON.stringify({ idle, bare, sink })}\n`);
