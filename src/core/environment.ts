import process from 'node:process';
import v8 from 'node:v8';
import type { DeterminismStatus, EnvironmentFingerprint } from './types.ts';

/**
 * Flags for exact, repeatable bytes:
 * - `--single-threaded`: no concurrent JIT or GC threads, whose timing (and own allocations) would
 *   differ run to run;
 * - `--no-inline-new`: every object gets its own allocation buffer, so V8's allocation counter counts
 *   exactly the objects allocated (with inline allocation it counts whole buffers as they retire);
 * - `--no-allocation-site-pretenuring`: no 16-byte allocation memento after young objects of tracked
 *   allocation sites, and no per-site decision (taken at a GC) to allocate them old instead. Whether a
 *   site flipped depended on when GCs fell: 11,000 objects measured 1,239,096 B in 2 of 8 identical
 *   processes and 1,065,096 B in the others (sampling at 4096); with the flag, 24 of 24 agreed.
 */
export const EXACT_BYTES_FLAGS: readonly string[] = Object.freeze([
  '--single-threaded',
  '--no-inline-new',
  '--no-allocation-site-pretenuring',
]);

/**
 * Flags that pin the JIT to its interpreter tier and allocate feedback on a function's first call.
 * Optimised code allocates differently (escape analysis, unboxed numbers, no allocation mementos:
 * 20,000 small objects measured 1.66 MB optimised and 2.30 MB interpreted), and whether code is
 * optimised depends on how often it ran before. With the JIT free, figures repeat exactly when the
 * same code ran before (the same tests before a test in its worker); pinned, they also hold when what
 * ran before differs, at a price: interpreted hot loops ran 13-22x slower (`npm run bench:cost`).
 */
export const PINNED_TIER_FLAGS: readonly string[] = Object.freeze(['--max-opt=0', '--no-lazy-feedback-allocation']);

/** The flags for exact, repeatable figures; with `pinTiers`, also independent of how warm the code is. */
export function deterministicFlags(options: { pinTiers?: boolean } = {}): string[] {
  return options.pinTiers ? [...EXACT_BYTES_FLAGS, ...PINNED_TIER_FLAGS] : [...EXACT_BYTES_FLAGS];
}

/** Kept for callers of the earlier API: the flags for exact, repeatable figures. */
export function requiredFlags(): string[] {
  return deterministicFlags();
}

/**
 * Flags that change allocation figures, so they belong in the fingerprint (matched as prefixes of the
 * flag name without a value). Flags that only change speed are left out.
 */
const FIGURE_CHANGING_FLAGS = [
  '--single-threaded',
  '--predictable',
  '--no-inline-new',
  '--inline-new',
  '--max-opt',
  '--jitless',
  '--no-opt',
  '--no-maglev',
  '--no-turbofan',
  '--no-sparkplug',
  '--lazy-feedback-allocation',
  '--no-lazy-feedback-allocation',
  '--allocation-site-pretenuring',
  '--no-allocation-site-pretenuring',
  '--max-semi-space-size',
  '--min-semi-space-size',
  '--semi-space-growth-factor',
  '--max-young-generation-size',
  '--minor-ms',
  '--no-concurrent',
  '--expose-gc',
  // A debugger attached to the worker allocates in the phases it stops in (breakpoints, scopes).
  '--inspect',
];

function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return (eq === -1 ? arg : arg.slice(0, eq)).replace(/_/g, '-');
}

/** `--max_opt=0` and `--max-opt=0` are one flag: V8 accepts both spellings. */
function normalise(arg: string): string {
  return arg.replace(/^--([^=]*)/, (_, name: string) => `--${name.replace(/_/g, '-')}`);
}

/** The figure-changing flags this process was started with, normalised and sorted. */
export function relevantFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return (
    execArgv
      .filter((arg) => FIGURE_CHANGING_FLAGS.some((prefix) => flagName(arg) === prefix || flagName(arg).startsWith(`${prefix}-`)))
      .map(normalise)
      // --inspect, --inspect-brk=9229, --inspect-wait=host:port, --inspect-port: one tag, whatever the port.
      .map((arg) => (/^--inspect(?:-brk|-wait|-port)?(?:=|$)/.test(arg) ? '--inspect' : arg))
      .filter((arg, i, all) => all.indexOf(arg) === i)
      .sort()
  );
}

function has(flags: readonly string[], flag: string): boolean {
  if (flags.includes(flag)) return true;
  // --predictable implies --single-threaded; --jitless runs the interpreter only.
  if (flag === '--single-threaded') return flags.includes('--predictable');
  if (flag === '--max-opt=0') return flags.includes('--jitless');
  return false;
}

/** Node >= 25 has V8's allocation counter in getHeapStatistics(); earlier versions do not. */
export const HAS_ALLOCATION_COUNTER =
  typeof (v8.getHeapStatistics() as { total_allocated_bytes?: unknown }).total_allocated_bytes === 'number';

/** Node >= 26 has the synchronous in-process heap sampler; earlier versions use the inspector's. */
export const HAS_SYNC_HEAP_PROFILE = typeof (v8 as { startHeapProfile?: unknown }).startHeapProfile === 'function';

export function determinismStatus(execArgv: readonly string[] = process.execArgv): DeterminismStatus {
  const flags = relevantFlags(execArgv);
  const required = [...EXACT_BYTES_FLAGS];
  const missing = required.filter((flag) => !has(flags, flag));
  const pinnedTiers = PINNED_TIER_FLAGS.every((flag) => has(flags, flag));
  let warning = '';
  if (!HAS_ALLOCATION_COUNTER) {
    warning = `Node ${process.versions.node} has no allocation counter (Node >= 25 does): heap bytes are used-heap growth and may vary slightly with what ran before`;
  } else if (missing.length > 0) {
    warning =
      `allocation figures may vary run to run: node was started without ${missing.join(' ')} ` +
      `(put it on the node command line or in a child process's execArgv; NODE_OPTIONS rejects it)`;
  }
  return { deterministic: HAS_ALLOCATION_COUNTER && missing.length === 0, pinnedTiers, required, missing, warning };
}

/**
 * The suffix of the baseline key for this flag set: empty for the deterministic set, otherwise a tag
 * per difference (`+pinned` for pinned tiers), so that figures measured under other V8 settings are
 * never compared with them.
 */
function keySuffix(flags: readonly string[]): string {
  const tags: string[] = [];
  if (!has(flags, '--single-threaded')) tags.push('threads');
  if (!has(flags, '--no-inline-new')) tags.push('inline-new');
  if (!has(flags, '--no-allocation-site-pretenuring')) tags.push('pretenuring');
  if (PINNED_TIER_FLAGS.every((flag) => has(flags, flag))) tags.push('pinned');
  const expected = new Set([...EXACT_BYTES_FLAGS, ...PINNED_TIER_FLAGS]);
  for (const flag of flags) {
    if (expected.has(flag) || (flag === '--predictable' && has(flags, '--single-threaded')) || flag === '--jitless') continue;
    tags.push(flag.replace(/^--/, '').replace(/[^A-Za-z0-9.=-]+/g, '_'));
  }
  if (flags.includes('--jitless')) tags.push('jitless');
  return tags.length === 0 ? '' : `+${[...new Set(tags)].join('+')}`;
}

export function environmentFingerprint(execArgv: readonly string[] = process.execArgv): EnvironmentFingerprint {
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  const flags = relevantFlags(execArgv);
  return {
    key: `node${nodeMajor}-${process.platform}-${process.arch}${keySuffix(flags)}`,
    nodeMajor,
    nodeVersion: process.versions.node,
    v8Version: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    flags,
  };
}

/** Whether this process gives every object its own allocation buffer (see EXACT_BYTES_FLAGS); fixed at start-up. */
const OBJECT_SIZED_BUFFERS = relevantFlags().includes('--no-inline-new');
export function objectSizedBuffers(): boolean {
  return OBJECT_SIZED_BUFFERS;
}
