/**
 * The memory matchers, bound to a worker's runtime (or to none: the limit matchers work without the
 * plugin). The actual value is a PhaseRecord, as returned by `phase('name')`.
 */
import { parseByteSize } from '../format/units.ts';
import type { PhaseRecord } from '../core/types.ts';
import { validateMetrics, validateTolerance } from '../baseline/compare.ts';
import { formatBytes } from '../format/table.ts';
import { formatSites } from '../baseline/messages.ts';
import { saveFailureProfile, type BaselineMatchOptions, type TaskLike, type WorkerRuntime } from './runtime.ts';
import { mapSites, workerSourceMapper } from './source-maps.ts';

/** The subset of Vitest's matcher context used here (same on 4.1 and 5). */
interface MatcherContext {
  isNot?: boolean;
  task?: TaskLike;
}
interface MatcherResult {
  pass: boolean;
  message: () => string;
  actual?: unknown;
  expected?: unknown;
}

function isPhaseRecord(value: unknown): value is PhaseRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.name === 'string' &&
    typeof r.bytes === 'number' &&
    typeof r.count === 'number' &&
    typeof r.peakBytes === 'number' &&
    Array.isArray(r.sites)
  );
}

function requireRecord(matcher: string, actual: unknown): PhaseRecord {
  if (!isPhaseRecord(actual)) {
    let shown: string;
    try {
      shown = JSON.stringify(actual) ?? String(actual);
    } catch {
      shown = String(actual);
    }
    throw new TypeError(
      `alloc-tracker: ${matcher} expects a phase record, e.g. expect(phase('parse')).${matcher}(...), got ${shown.slice(0, 200)}`,
    );
  }
  return actual;
}

function limitOf(matcher: string, limit: unknown): number {
  try {
    return parseByteSize(limit as number | string);
  } catch (error) {
    throw new TypeError(`${matcher}(${JSON.stringify(limit)}): ${(error as Error).message}`, { cause: error });
  }
}

function nondeterministicNote(record: PhaseRecord): string {
  return record.deterministic ? '' : '\n  note: this worker lacked --single-threaded; figures may vary run to run';
}

/** The record's retained figures, or an error saying how to get them. */
function retainedOf(matcher: string, record: PhaseRecord, figure: 'retainedBytes' | 'growthBytesPerIteration'): number {
  const value = record[figure];
  if (value !== null) return value;
  if (record.retainedProblem) throw new Error(`${matcher}: phase "${record.name}" has no retained figures: ${record.retainedProblem}`);
  if (figure === 'growthBytesPerIteration' && record.retainedBytes !== null) {
    throw new Error(
      `${matcher}: phase "${record.name}" has no growth per iteration: growth comes from repetition, ` +
        `measure it with Session.measure(name, fn, { iterations: 10, warmup: 2, retained: true }) (at least 3 iterations)`,
    );
  }
  throw new Error(
    `${matcher}: phase "${record.name}" was measured without retention: the plugin tracks it in test files that use ` +
      'a retention matcher, or everywhere with allocTracker({ retained: true }); with a Session, pass { retained: true }',
  );
}

function retainedSitesNote(record: PhaseRecord, root: string, runtime: WorkerRuntime | undefined, task: TaskLike | undefined): string {
  // Buffer and ArrayBuffer stores live outside the heap and have no allocation site: say what the sites leave out.
  const sited = record.retainedSites.reduce((sum, site) => sum + site.bytes, 0);
  const unsited = (record.retainedBytes ?? 0) - sited;
  const externalNote =
    unsited >= 1024
      ? `\n  ${formatBytes(unsited)} of it is not in these sites: smaller sites, and Buffer/ArrayBuffer memory (outside the V8 heap, it has no site)`
      : '';
  if (record.retainedSites.length === 0) return externalNote;
  const mapper = runtime && task ? runtime.mapperOf(task) : workerSourceMapper();
  return `\n  still allocated, by the site that allocated it:\n${formatSites(mapSites(mapper, record.retainedSites), root).join('\n')}${externalNote}`;
}

/** Top sites of a failing phase, mapped to the source (matcher time: the phase is closed). */
function sitesNote(record: PhaseRecord, root: string, runtime: WorkerRuntime | undefined, task: TaskLike | undefined): string {
  if (record.sites.length === 0) return '';
  const mapper = runtime && task ? runtime.mapperOf(task) : workerSourceMapper();
  return `\n  top allocation sites:\n${formatSites(mapSites(mapper, record.sites), root).join('\n')}`;
}

/** The matchers for `expect.extend`, bound to `runtime` (undefined: no plugin, no baselines or profiles). */
export function createMatchers(runtime: WorkerRuntime | undefined) {
  const root = runtime?.settings.root ?? process.cwd();

  /** When an assertion fails, save the phase's heap profile; the line to add to the message. */
  function profileNote(context: MatcherContext, record: PhaseRecord, pass: boolean): string {
    // Vitest 4.1 leaves isNot undefined on a plain assertion.
    const failed = pass === (context.isNot === true);
    const task = context.task;
    const session = task ? runtime?.sessionOf(task) : undefined;
    if (!failed || !runtime || !task || !session) return '';
    const saved = saveFailureProfile(runtime.settings, task, session, record, runtime.mapperOf(task));
    runtime.rememberProfile(task, record.name, saved.file);
    return saved.note;
  }

  function byteLimitMatcher(matcher: string, metric: 'bytes' | 'peakBytes', verb: string) {
    return function (this: MatcherContext, actual: unknown, limit: number | string): MatcherResult {
      const record = requireRecord(matcher, actual);
      const max = limitOf(matcher, limit);
      const value = record[metric];
      const pass = value < max;
      const profile = profileNote(this, record, pass);
      return {
        pass,
        actual: value,
        expected: max,
        message: () =>
          `expected phase "${record.name}" ${this.isNot ? 'not ' : ''}to ${verb} ${formatBytes(max)} (${max} B)` +
          `${metric === 'bytes' ? ' per iteration' : ''}, but it ${metric === 'bytes' ? 'allocated' : 'peaked at'} ` +
          `${formatBytes(value)} (${value} B)` +
          (pass ? '' : sitesNote(record, root, runtime, this.task)) +
          profile +
          nondeterministicNote(record),
      };
    };
  }

  return {
    /** What the phase left behind (reachable after full collections, per iteration) is below `limit`. */
    toRetainLessThan(this: MatcherContext, actual: unknown, limit: number | string): MatcherResult {
      const record = requireRecord('toRetainLessThan', actual);
      const max = limitOf('toRetainLessThan', limit);
      const value = retainedOf('toRetainLessThan', record, 'retainedBytes');
      const pass = value < max;
      return {
        pass,
        actual: value,
        expected: max,
        message: () =>
          `expected phase "${record.name}" ${this.isNot ? 'not ' : ''}to leave behind less than ${formatBytes(max)} (${max} B)` +
          `${record.iterations > 1 ? ' per iteration' : ''}, but ${formatBytes(value)} (${value} B) it allocated was still reachable ` +
          'after full garbage collections' +
          (pass ? '' : retainedSitesNote(record, root, runtime, this.task)) +
          nondeterministicNote(record),
      };
    },

    /**
     * The live memory a repeated phase (`Session.measure` with `retained`) leaves behind grows by less than
     * `limit` per iteration: the leak check. `.not.toGrowLessThan(...)` asserts that it does grow.
     */
    toGrowLessThan(this: MatcherContext, actual: unknown, limit: number | string): MatcherResult {
      const record = requireRecord('toGrowLessThan', actual);
      const max = limitOf('toGrowLessThan', limit);
      const value = retainedOf('toGrowLessThan', record, 'growthBytesPerIteration');
      const pass = value < max;
      return {
        pass,
        actual: value,
        expected: max,
        message: () =>
          `expected phase "${record.name}" ${this.isNot ? 'not ' : ''}to grow by less than ${formatBytes(max)} (${max} B) per ` +
          `iteration, but what it leaves behind grew by ${formatBytes(value)} (${value} B) per iteration over ${record.iterations} ` +
          'iterations (the median of iterations 2 and on)' +
          (pass ? '' : retainedSitesNote(record, root, runtime, this.task)) +
          nondeterministicNote(record),
      };
    },

    toAllocateLessThan: byteLimitMatcher('toAllocateLessThan', 'bytes', 'allocate less than'),
    toPeakBelow: byteLimitMatcher('toPeakBelow', 'peakBytes', 'peak below'),

    toAllocateFewerThan(this: MatcherContext, actual: unknown, count: number): MatcherResult {
      const record = requireRecord('toAllocateFewerThan', actual);
      if (typeof count !== 'number' || !Number.isFinite(count) || count < 0) {
        throw new TypeError(`toAllocateFewerThan(${JSON.stringify(count)}): the limit must be a number of allocations >= 0`);
      }
      if (record.countMethod === 'off') {
        throw new Error(
          `toAllocateFewerThan: phase "${record.name}" has no allocation count (samplingInterval ${record.samplingInterval}); ` +
            'turn exact counts on with allocTracker({ counts: true }) (or new Session({ samplingInterval: 1 }))',
        );
      }
      const pass = record.count < count;
      const profile = profileNote(this, record, pass);
      return {
        pass,
        actual: record.count,
        expected: count,
        message: () =>
          `expected phase "${record.name}" ${this.isNot ? 'not ' : ''}to make fewer than ${count} allocations per iteration, ` +
          `but it made ${record.count}` +
          (pass ? '' : sitesNote(record, root, runtime, this.task)) +
          profile +
          nondeterministicNote(record),
      };
    },

    toMatchAllocationBaseline(this: MatcherContext, actual: unknown, options: BaselineMatchOptions = {}): MatcherResult {
      const record = requireRecord('toMatchAllocationBaseline', actual);
      const task = this.task;
      if (!runtime || !task) {
        throw new Error('toMatchAllocationBaseline needs the alloc-tracker plugin: add allocTracker() to the plugins of vitest.config');
      }
      if (typeof options !== 'object' || options === null) {
        throw new TypeError(`toMatchAllocationBaseline(options): options must be an object, got ${JSON.stringify(options)}`);
      }
      const call: BaselineMatchOptions = {};
      if (options.tolerance !== undefined)
        call.tolerance = validateTolerance(options.tolerance, 'toMatchAllocationBaseline({ tolerance })');
      if (options.metrics !== undefined) call.metrics = validateMetrics(options.metrics, 'toMatchAllocationBaseline({ metrics })');
      const { outcome, failure } = runtime.matchBaseline(task, record, call);
      const pass = failure === null;
      const profile = profileNote(this, record, pass);
      return {
        pass,
        message: () =>
          pass
            ? `expected phase "${record.name}" not to match its allocation baseline, but it did (status ${outcome.status})${profile}`
            : `${failure}${profile}`,
      };
    },
  };
}

export type AllocationMatchers = ReturnType<typeof createMatchers>;
