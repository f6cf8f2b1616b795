/**
 * Shapes of stored baselines. A baseline file belongs to one test file and reads
 * `{ [environment key]: { [full test name]: { [phase]: BaselineMetrics } } }` on disk (BaselineFileJSON).
 * In memory it is held in Maps (BaselineFile): test and phase names are user text, and a name such as
 * `__proto__`, `constructor` or `toString` must be a key like any other, never a property lookup.
 */
import type { BytesMethod, CountMethod } from '../core/types.ts';

/** The metrics a baseline can gate on. */
export type Metric = 'bytes' | 'count' | 'peakBytes' | 'heapBytes' | 'externalBytes' | 'retainedBytes';

export const METRICS: readonly Metric[] = ['bytes', 'count', 'peakBytes', 'heapBytes', 'externalBytes', 'retainedBytes'];

/** What is stored per phase. Figures are per-iteration means, as on a PhaseRecord. */
export interface BaselineMetrics {
  bytes: number;
  count: number;
  peakBytes?: number;
  heapBytes: number;
  externalBytes: number;
  /** What the phase left behind (only when retention was tracked). */
  retainedBytes?: number;
  iterations: number;
  countMethod: CountMethod;
  /** How heap bytes were measured; entries without it come from an earlier version (used-heap growth). */
  bytesMethod?: BytesMethod;
  /**
   * Which tests ran before this one in its worker when the figures were taken (a hash): figures depend
   * on how warm earlier tests left the code, so they are compared only in the same context.
   */
  context?: string;
}

/** phase name -> metrics */
export type TestBaselines = Map<string, BaselineMetrics>;
/** full test name (`describe > test`) -> phases */
export type EnvironmentBaselines = Map<string, TestBaselines>;
/** environment key (`node26-linux-x64`) -> tests */
export type BaselineFile = Map<string, EnvironmentBaselines>;

/** A baseline file as stored on disk (JSON): environment key -> full test name -> phase -> metrics. */
export interface BaselineFileJSON {
  [environment: string]: { [test: string]: { [phase: string]: BaselineMetrics } };
}

/**
 * How the plugin treats baselines in a run. local: missing baselines are written, drift fails.
 * update: measured entries are rewritten and obsolete ones removed. ci: nothing is written; missing
 * and obsolete entries fail.
 */
export type Mode = 'local' | 'update' | 'ci';

/** How a gated figure relates to its baseline. */
export type MetricStatus = 'ok' | 'improved' | 'regressed';

/**
 * Tolerance of a comparison: a change passes while |current - baseline| <= max(percent of the baseline,
 * absolute floor). The floor keeps tiny phases from failing on a handful of bytes.
 */
export interface Tolerance {
  /** Relative tolerance in percent of the baseline figure. */
  percent: number;
  /** Absolute floor for byte metrics, in bytes. */
  bytes: number;
  /** Absolute floor for the allocation count. */
  count: number;
}

/** A tolerance as users write it: any subset, byte floors also as strings like '4 KiB'. */
export interface ToleranceInput {
  percent?: number;
  bytes?: number | string;
  count?: number;
}
