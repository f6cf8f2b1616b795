/**
 * Comparing measured phases with their baselines under a tolerance. No Vitest import.
 */
import path from 'node:path';
import { parseByteSize } from '../format/units.ts';
import { METRICS, type BaselineMetrics, type Metric, type MetricStatus, type Tolerance, type ToleranceInput } from './types.ts';

/**
 * Default tolerance of synchronous phases: 1% of the baseline, at least 4 KiB for byte metrics and 32
 * allocations for counts. With the deterministic flags a synchronous phase repeats to the byte in the
 * same context (`npm run bench:fidelity`: objects, JSON, strings, Buffers and Maps identical over
 * unchanged reruns with a CPU burner beside them; the largest spread, strings with exact counts, 0.08%),
 * so 1% fails a 2% regression and nothing else.
 */
export const DEFAULT_TOLERANCE: Readonly<Tolerance> = Object.freeze({ percent: 1, bytes: 4 * 1024, count: 32 });

/**
 * Default tolerance of asynchronous phases (`PhaseRecord.async`): 3%, at least 64 KiB and 1024
 * allocations. While a phase awaits, the test runner's own messages allocate into it, and the order in
 * which async I/O completes changes how much stream bookkeeping the work takes: over unchanged reruns a
 * file read spread 0.5%, a gzip stream 1.4% (30 kB) and 6.6% in count (434), ten timers 2.2% (23 kB).
 */
export const DEFAULT_ASYNC_TOLERANCE: Readonly<Tolerance> = Object.freeze({ percent: 3, bytes: 64 * 1024, count: 1024 });

/** Metrics gated unless configured otherwise. */
export const DEFAULT_METRICS: readonly Metric[] = Object.freeze(['bytes', 'count']);

/** A metric of a phase compared with its baseline. */
export interface MetricComparison {
  metric: Metric;
  baseline: number;
  current: number;
  /** current - baseline */
  change: number;
  /** Change in percent of the baseline; null when the baseline is 0. */
  changePercent: number | null;
  /** The largest change that still passes: max(percent of baseline, floor). */
  allowed: number;
  status: MetricStatus;
}

/** All gated metrics of one phase. `status` is the worst: regressed > improved > ok. */
export interface PhaseComparison {
  status: MetricStatus;
  comparisons: MetricComparison[];
  /** Metrics that could not be compared, with the reason (e.g. counting switched off). */
  skipped: { metric: Metric; reason: string }[];
}

export function isMetric(value: unknown): value is Metric {
  return typeof value === 'string' && (METRICS as readonly string[]).includes(value);
}

/** Check a user's metric list; throws naming the option. */
export function validateMetrics(metrics: unknown, where: string): Metric[] {
  if (!Array.isArray(metrics) || metrics.length === 0 || !metrics.every(isMetric)) {
    throw new TypeError(
      `alloc-tracker: ${where} must be a non-empty array of ${METRICS.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(metrics)}`,
    );
  }
  return [...new Set(metrics)];
}

/** Check a user's tolerance; throws naming the option and the bad field. */
export function validateTolerance(input: unknown, where: string): ToleranceInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TypeError(
      `alloc-tracker: ${where} must be an object like { percent: 3, bytes: '1 KiB', count: 8 }, got ${JSON.stringify(input)}`,
    );
  }
  const t = input as Record<string, unknown>;
  for (const key of Object.keys(t)) {
    if (!['percent', 'bytes', 'count'].includes(key)) {
      throw new TypeError(`alloc-tracker: ${where} has an unknown field ${JSON.stringify(key)}; fields: percent, bytes, count`);
    }
  }
  if (t.percent !== undefined && (typeof t.percent !== 'number' || !Number.isFinite(t.percent) || t.percent < 0)) {
    throw new RangeError(
      `alloc-tracker: ${where}.percent must be a number >= 0 (percent of the baseline), got ${JSON.stringify(t.percent)}`,
    );
  }
  if (t.count !== undefined && (typeof t.count !== 'number' || !Number.isFinite(t.count) || t.count < 0)) {
    throw new RangeError(`alloc-tracker: ${where}.count must be a number >= 0 (allocations), got ${JSON.stringify(t.count)}`);
  }
  if (t.bytes !== undefined) {
    try {
      parseByteSize(t.bytes as number | string);
    } catch (error) {
      throw new RangeError(`${where}.bytes: ${(error as Error).message}`, { cause: error });
    }
  }
  return t;
}

/** Layer tolerances over the synchronous default: later inputs override the fields they set. */
export function resolveTolerance(...layers: (ToleranceInput | undefined)[]): Tolerance {
  return layerTolerance(DEFAULT_TOLERANCE, layers);
}

/**
 * The tolerance of one phase: the default for its kind (async or not), then the user's layers (plugin
 * option, file overrides, per-call options), then for an async phase the user's `asyncTolerance`.
 */
export function resolvePhaseTolerance(
  isAsync: boolean,
  layers: readonly (ToleranceInput | undefined)[],
  asyncTolerance?: ToleranceInput,
): Tolerance {
  return isAsync ? layerTolerance(DEFAULT_ASYNC_TOLERANCE, [...layers, asyncTolerance]) : layerTolerance(DEFAULT_TOLERANCE, layers);
}

function layerTolerance(base: Readonly<Tolerance>, layers: readonly (ToleranceInput | undefined)[]): Tolerance {
  const out: Tolerance = { ...base };
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.percent !== undefined) out.percent = layer.percent;
    if (layer.bytes !== undefined) out.bytes = parseByteSize(layer.bytes);
    if (layer.count !== undefined) out.count = layer.count;
  }
  return out;
}

/** A per-file-pattern override of the plugin options. */
export interface FileOverride {
  /** Glob(s) matched against the test file's path relative to the project root, e.g. 'test/oci/**'. */
  files: string | string[];
  tolerance?: ToleranceInput;
  metrics?: Metric[];
}

/** The overrides whose globs match `relativeFile` (forward slashes), in the order given. */
export function matchingOverrides(overrides: readonly FileOverride[], relativeFile: string): FileOverride[] {
  const file = relativeFile.split(path.sep).join('/');
  return overrides.filter((o) => (Array.isArray(o.files) ? o.files : [o.files]).some((glob) => path.posix.matchesGlob(file, glob)));
}

export function allowedChange(metric: Metric, baseline: number, tolerance: Tolerance): number {
  const floor = metric === 'count' ? tolerance.count : tolerance.bytes;
  return Math.max((Math.abs(baseline) * tolerance.percent) / 100, floor);
}

export function compareMetric(metric: Metric, baseline: number, current: number, tolerance: Tolerance): MetricComparison {
  const change = current - baseline;
  const allowed = allowedChange(metric, baseline, tolerance);
  return {
    metric,
    baseline,
    current,
    change,
    changePercent: baseline === 0 ? null : (change / baseline) * 100,
    allowed,
    status: change > allowed ? 'regressed' : -change > allowed ? 'improved' : 'ok',
  };
}

export function comparePhase(
  baseline: BaselineMetrics,
  current: BaselineMetrics,
  metrics: readonly Metric[],
  tolerance: Tolerance,
): PhaseComparison {
  const comparisons: MetricComparison[] = [];
  const skipped: PhaseComparison['skipped'] = [];
  for (const metric of metrics) {
    if (metric === 'count' && (baseline.countMethod === 'off' || current.countMethod === 'off')) {
      skipped.push({ metric, reason: 'no allocation count (counts need samplingInterval 1)' });
      continue;
    }
    if (metric === 'count' && baseline.countMethod !== current.countMethod) {
      skipped.push({
        metric,
        reason: `the count method changed from ${baseline.countMethod} to ${current.countMethod}; update the baselines`,
      });
      continue;
    }
    const base = baseline[metric];
    const now = current[metric];
    if (base === undefined || now === undefined) {
      skipped.push({ metric, reason: 'the baseline has no value for it; update the baselines' });
      continue;
    }
    comparisons.push(compareMetric(metric, base, now, tolerance));
  }
  const status: MetricStatus = comparisons.some((c) => c.status === 'regressed')
    ? 'regressed'
    : comparisons.some((c) => c.status === 'improved')
      ? 'improved'
      : 'ok';
  return { status, comparisons, skipped };
}
