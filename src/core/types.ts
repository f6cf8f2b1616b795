/**
 * Public data shapes of the measurement core. Everything here is plain, JSON-serialisable data so
 * that records can cross process boundaries (Vitest workers -> main process) unchanged.
 */

/** How a record's `count` was obtained. */
export type CountMethod =
  /** Every allocation event was sampled (sampling interval 1): the count is exact. */
  | 'exact'
  /**
   * No count: sampling was off (interval 0) or sparse (interval > 1, which gives allocation sites but
   * no count: see `SessionOptions.samplingInterval`). `count` is 0 and means nothing.
   */
  | 'off';

/**
 * How heap bytes were obtained.
 * - `counter`: V8's allocation counter (`total_allocated_bytes`, Node >= 25) while every allocation
 *   buffer is one object (`--no-inline-new`, or the sampler at interval 1): exact, and the same
 *   whatever ran before in the process.
 * - `heap-delta`: growth of the used heap plus what each GC freed (Node 22/24, or without
 *   `--no-inline-new`): close, but it can charge up to a young-generation page tail (~256 KiB) to a
 *   phase depending on where allocation stood when the phase began.
 */
export type BytesMethod = 'counter' | 'heap-delta';

/**
 * What an exact count counts. `objects` under `--no-inline-new` (every object is its own allocation);
 * `events` otherwise, where optimised code may allocate several objects in one folded allocation.
 */
export type CountUnit = 'objects' | 'events';

/** Whether the V8 flags that make figures repeat were present in the measuring process. */
export interface DeterminismStatus {
  /** True when bytes are exact and repeat run to run: every flag in `required` was present. */
  deterministic: boolean;
  /**
   * True when the JIT tiers are pinned (`--max-opt=0 --no-lazy-feedback-allocation`), so that figures
   * do not depend on how warm the code was made by whatever ran before (other tests, earlier calls).
   */
  pinnedTiers: boolean;
  /** The flags for exact, repeatable bytes (`--single-threaded --no-inline-new --no-allocation-site-pretenuring`). */
  required: string[];
  /** The subset of `required` that was missing; empty when deterministic. */
  missing: string[];
  /** One sentence for people; empty when deterministic. */
  warning: string;
}

/** What a stored figure depends on. Baselines are keyed by `key`. */
export interface EnvironmentFingerprint {
  /**
   * `node<major>-<platform>-<arch>`, e.g. `node26-linux-x64`, for processes with the deterministic
   * flags; other figure-changing flag sets add a suffix (`+pinned`, `+inline-new`, `+threads`, ...),
   * so that figures measured under different V8 settings are never compared.
   */
  key: string;
  nodeMajor: number;
  nodeVersion: string;
  v8Version: string;
  platform: string;
  arch: string;
  /** The V8/Node flags of this process that change allocation figures (sorted). */
  flags: string[];
}

/** One allocation site from a sampling profile. */
export interface AllocationSite {
  /** Function name, `(anonymous)` when it has none. */
  functionName: string;
  /** `file:line:column` (1-based line and column), or `(native)` for builtins without a script. */
  location: string;
  /** Estimated bytes allocated directly in this function during the phase (per iteration). */
  bytes: number;
  /** Share of the phase's sampled bytes, 0..1. */
  share: number;
}

/** Everything measured about one phase (named operation) in one session. */
export interface PhaseRecord {
  name: string;
  /** Number of measured calls (span calls, or `iterations` of `Operation.measure`). */
  iterations: number;
  /**
   * Unmeasured calls made before measuring (`Operation.measure`'s `warmup`; 0 for spans). 0 means the
   * first measured call ran cold code: its figures include lazy compilation and feedback allocation.
   */
  warmup: number;
  /** Mean bytes allocated per iteration: V8 heap plus external (ArrayBuffer/Buffer backing) memory. */
  bytes: number;
  /** Mean V8 heap bytes allocated per iteration (see `bytesMethod`). */
  heapBytes: number;
  /** How `heapBytes` was obtained: exact allocation counter, or used-heap growth (see BytesMethod). */
  bytesMethod: BytesMethod;
  /** Mean external (ArrayBuffer/Buffer backing store) bytes allocated per iteration. */
  externalBytes: number;
  /** Mean allocations per iteration; see `countMethod` and `countUnit`. */
  count: number;
  countMethod: CountMethod;
  /** What `count` counts when it is exact: objects, or allocation events of folding JIT code. */
  countUnit: CountUnit;
  /** Sampling interval in bytes used for `count` and `sites` (0: sampling was off). */
  samplingInterval: number;
  /**
   * High-water mark of heap + external occupancy above the phase's start, as V8 saw it: the maximum
   * over every GC inside the phase (occupancy just before it) and the phase's end. Garbage not yet
   * collected counts, so this is an upper bound of the live peak; it depends on the young-generation
   * size, and repeats under the deterministic flags. For a span called several times: the max over
   * the calls. For `Session.measure`: over the whole measured loop, so garbage of earlier iterations
   * counts; measure one iteration for a per-call peak.
   */
  peakBytes: number;
  /** Mean wall time per iteration in milliseconds (includes measuring overhead). */
  wallMs: number;
  /** Totals over all iterations. */
  totalBytes: number;
  totalHeapBytes: number;
  totalExternalBytes: number;
  totalCount: number;
  /**
   * True when another phase that is neither an ancestor nor a descendant ran at the same time in this
   * isolate: heap accounting cannot separate them, so both figures include the other's allocations.
   */
  overlapped: boolean;
  /** Names of the phases it overlapped with (sorted). */
  overlappedWith: string[];
  /** The enclosing phase's name, or null at top level. */
  parent: string | null;
  /**
   * True when a call returned a promise. While it awaited, whatever else ran in the isolate allocated
   * into it too (a test runner's messages, other timers), and the order in which async I/O completes
   * (stream chunks, thread-pool work) changes how much bookkeeping the work takes: async figures can
   * vary a little run to run where synchronous ones repeat to the byte.
   */
  async: boolean;
  /** False when the deterministic flags were missing: figures may vary run to run. */
  deterministic: boolean;
  /**
   * False when the JIT tiers were not pinned: figures then also depend on how warm earlier work made
   * the code (see DeterminismStatus.pinnedTiers).
   */
  pinnedTiers: boolean;
  /** Top allocation sites, biggest first (empty when sampling was off). */
  sites: AllocationSite[];
  /**
   * Bytes allocated in the phase that were still reachable, after full garbage collections, when the
   * record was first read with no tracked phase running (per iteration). Null when retention was not
   * tracked (`SessionOptions.retained`, `MeasureOptions.retained`); see `retainedProblem`.
   */
  retainedBytes: number | null;
  /** The number of those objects (per iteration); null when not tracked. */
  retainedCount: number | null;
  /** Where the retained bytes were allocated, biggest first. */
  retainedSites: AllocationSite[];
  /**
   * `measure()` with `retained`: growth of the live heap per iteration after the first (bytes; the
   * first iteration may fill caches). Null otherwise or with a single iteration.
   */
  growthBytesPerIteration: number | null;
  /** Why retained figures are missing although asked for (another heap profile was running, ...), or null. */
  retainedProblem: string | null;
}

/** One node of a HeapProfile: bytes allocated directly in this call path (`selfSize`). */
export interface HeapProfileNode {
  callFrame: { functionName: string; scriptId: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  id: number;
  children: HeapProfileNode[];
}

/**
 * A phase's allocations by call path over all its iterations, in the format of V8's sampling heap
 * profiler: saved as `.heapprofile`, Chrome DevTools (Memory > Load) shows it as a tree and flame chart.
 */
export interface HeapProfile {
  head: HeapProfileNode;
  /** Always empty: per-sample data is not kept. */
  samples: { size: number; nodeId: number; ordinal: number }[];
}

/** Options for a measuring session. */
export interface SessionOptions {
  /**
   * Sampling interval of V8's heap sampler, in bytes.
   * - 1 (default) samples every allocation: exact counts and allocation sites. Costs time and
   *   memory on allocation-heavy code (~1.5 us and ~200 B per allocation until the phase ends).
   * - N > 1 samples about one allocation per N bytes: allocation sites with estimated bytes, nearly
   *   free, but no count (a sampled size cannot be turned back into a count of small objects).
   * - 0 switches sampling off: bytes only.
   * Bytes are exact in every mode where the process allows it (see `PhaseRecord.bytesMethod`).
   */
  samplingInterval?: number;
  /**
   * Allocation sites and call trees (default true). `false` at interval 1 counts only: V8 keeps one
   * frame per sample and drops the samples of dead objects, so exact counts cost a fraction of the time
   * and memory (see the README's costs), and phases have no sites or profile.
   */
  sites?: boolean;
  /** How many allocation sites to keep per phase (default 10). */
  topSites?: number;
  /**
   * Track what each phase leaves behind (`retainedBytes`, `retainedCount`, `retainedSites`): full
   * garbage collections when a record is read, and V8's sampler at interval 1 on live objects while
   * tracked phases run (instead of the allocation sampler: no counts or allocation sites then).
   */
  retained?: boolean;
}

/** Options of `Session.measure`. */
export interface MeasureOptions {
  /** Measured calls (default 1). Figures are means over them. */
  iterations?: number;
  /** Unmeasured calls first, so that the measured ones run warm (default 0). */
  warmup?: number;
  /**
   * Track what the calls leave behind, and the live heap after each call (full collections between
   * calls): `retainedBytes` and `growthBytesPerIteration`. Default: the session's `retained`.
   */
  retained?: boolean;
}
