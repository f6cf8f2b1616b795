/**
 * The baseline state of one test file in one run, and the one place that decides what happens to a
 * phase in each situation and mode (the README's table). No Vitest import.
 *
 * A worker owns one FileBaselineState per test file: it reads the file once, judges every phase of
 * every test, remembers what each test recorded, and at the end of the file finds obsolete entries.
 * It never writes: it PROPOSES changes (plain arrays that cross to the main process), which the main
 * process merges with what is on disk, only for tests that passed, and writes.
 */
import type { AllocationSite } from '../core/types.ts';
import { comparePhase, type MetricComparison, type PhaseComparison } from './compare.ts';
import { formatMissing, formatObsolete, formatRegression, formatStale, type PhaseContext } from './messages.ts';
import { readBaselineFile, type BaselineChange } from './store.ts';
import type { BaselineFile, BaselineMetrics, EnvironmentBaselines, Metric, Mode, TestBaselines, Tolerance } from './types.ts';

// ---------------------------------------------------------------------------------------------------
// The table: situation x mode -> decision

/** What a phase or a stored entry is in, relative to its baseline. */
export type Situation =
  /** No stored entry for this test and phase (or none for this environment at all). */
  | 'no baseline'
  /** Every gated metric within tolerance. */
  | 'within tolerance'
  /** A gated metric above its baseline by more than the tolerance. */
  | 'increase beyond tolerance'
  /** Gated metrics below their baseline by more than the tolerance, none above. */
  | 'decrease beyond tolerance'
  /**
   * A whole, in-order run of the file, but the stored entry was measured after other tests than ran
   * before this one now (tests added, removed, renamed or reordered before it), or by an earlier method.
   */
  | 'other context'
  /** A partial run (filtered, `.only`, shuffled, not the first file in its worker) in another context than the stored entry. */
  | 'other context, partial run'
  /** No stored entry, in a partial run: the context it would be recorded in is not the whole file's. */
  | 'no baseline, partial run'
  /** A stored entry whose test no longer exists, or a phase a passing test no longer records. */
  | 'obsolete entry'
  /** A baseline file whose test file no longer exists. */
  | 'obsolete file';

/** The statuses a decision gives (see RowStatus in the report). */
export type DecidedStatus =
  'new' | 'missing' | 'updated' | 'ok' | 'regressed' | 'improved' | 'stale' | 'not-compared' | 'obsolete' | 'removed';

export interface Decision {
  status: DecidedStatus;
  /** What the run proposes to do to the stored entry (the main process does it, for passing tests). */
  store: 'write' | 'remove' | 'delete file' | 'nothing';
  /** What fails: the test, the test file, the whole run, or nothing. */
  fails: 'test' | 'file' | 'run' | null;
}

const d = (status: DecidedStatus, store: Decision['store'], fails: Decision['fails'] = null): Decision =>
  Object.freeze({ status, store, fails });

/** The README's table, "Every phase recorded in a test is gated automatically". */
const TABLE: ReadonlyMap<Situation, Readonly<Record<Mode, Decision>>> = new Map<Situation, Record<Mode, Decision>>([
  ['no baseline', { local: d('new', 'write'), ci: d('missing', 'nothing', 'test'), update: d('updated', 'write') }],
  ['within tolerance', { local: d('ok', 'nothing'), ci: d('ok', 'nothing'), update: d('updated', 'write') }],
  [
    'increase beyond tolerance',
    { local: d('regressed', 'nothing', 'test'), ci: d('regressed', 'nothing', 'test'), update: d('updated', 'write') },
  ],
  ['decrease beyond tolerance', { local: d('improved', 'nothing'), ci: d('improved', 'nothing'), update: d('updated', 'write') }],
  ['other context', { local: d('stale', 'nothing'), ci: d('stale', 'nothing', 'test'), update: d('updated', 'write') }],
  [
    'other context, partial run',
    { local: d('not-compared', 'nothing'), ci: d('not-compared', 'nothing'), update: d('not-compared', 'nothing') },
  ],
  ['no baseline, partial run', { local: d('new', 'nothing'), ci: d('not-compared', 'nothing'), update: d('new', 'nothing') }],
  ['obsolete entry', { local: d('obsolete', 'nothing'), ci: d('obsolete', 'nothing', 'file'), update: d('removed', 'remove') }],
  ['obsolete file', { local: d('obsolete', 'nothing'), ci: d('obsolete', 'nothing', 'run'), update: d('removed', 'delete file') }],
]);

export const SITUATIONS: readonly Situation[] = [...TABLE.keys()];

/** What happens in `situation` under `mode`. */
export function decide(situation: Situation, mode: Mode): Decision {
  return TABLE.get(situation)![mode];
}

// ---------------------------------------------------------------------------------------------------
// Shapes that cross from the worker to the main process (arrays and fixed-key objects only)

/** Status of one phase of one test, as shown in the report. */
export type PhaseStatus = 'ok' | 'improved' | 'regressed' | 'new' | 'missing' | 'updated' | 'stale' | 'not-compared' | 'unchecked';

/** One phase of one test, as the worker judged it. */
export interface PhaseOutcome {
  name: string;
  status: PhaseStatus;
  /** Whether this phase was gated (auto or explicit matcher). */
  gated: boolean;
  /** The stored entry before this run, or null. */
  baseline: BaselineMetrics | null;
  /** What this run would store. */
  current: BaselineMetrics;
  comparisons: MetricComparison[];
  tolerance: Tolerance;
  metrics: Metric[];
  /** Why a phase was not compared or not written, for the report; absent otherwise. */
  note?: string;
}

/** What the report says about a phase that was not compared or not written. */
function noteFor(situation: Situation, partialBecause: string, partialRemedy: string): string | undefined {
  switch (situation) {
    case 'other context':
      return 'stale: recorded after other tests than ran before it now (or by an earlier version); re-record with -u';
    case 'other context, partial run':
      return `not compared: ${partialBecause}, so other tests ran before it than when its baseline was recorded`;
    case 'no baseline, partial run':
      return `not written: ${partialBecause}; ${partialRemedy || 'run the whole file to record it'}`;
    default:
      return undefined;
  }
}

/** One phase judged against its stored entry: the outcome, the message when it fails the test, the proposed change. */
export interface PhaseJudgement {
  outcome: PhaseOutcome;
  /** Non-null when the test must fail because of this phase. */
  failure: string | null;
  /** What to store if the test passes; null: nothing. */
  change: BaselineChange | null;
}

/** A stored entry found obsolete at the end of a file. */
export interface ObsoleteEntry {
  test: string;
  phase: string;
  /** The whole test is gone (not only this phase). */
  testDeleted: boolean;
  baseline: BaselineMetrics;
  status: 'obsolete' | 'removed';
}

/** What a worker proposes for a test file once all its tests ran. */
export interface FileProposal {
  environment: string;
  /** Stored entries no test of this file accounts for (reported; removed on update). */
  obsolete: ObsoleteEntry[];
  /** Removals to make (update mode only). */
  removals: BaselineChange[];
  /** The file-level failure (CI), or null. */
  failure: string | null;
}

/** How a phase is gated: the tolerance and metrics in force, and whether it is gated at all. */
export interface PhaseRules {
  tolerance: Tolerance;
  metrics: readonly Metric[];
  gated: boolean;
}

/** A measured phase as the state needs it. */
export interface MeasuredPhase {
  name: string;
  /** The figures, with the context they were measured in. */
  metrics: BaselineMetrics;
  sites: readonly AllocationSite[];
  /**
   * Whether the test ran as in a whole, in-order run of its file in a fresh worker (every test before
   * it ran, nothing else before them). Only such runs record figures: a filtered run's context is not
   * the one a full run has.
   */
  wholeRun: boolean;
  /** Why the run is partial, for messages ('-t filter', '.only', ...); empty for a whole run. */
  partialBecause: string;
  /**
   * What records the phase when running its whole file would not (the worker setup is why: another
   * pool, isolate: false); empty when a whole run of its file does.
   */
  partialRemedy: string;
}

export interface FileStateOptions {
  mode: Mode;
  /** Environment key of this process (`node26-linux-x64`). */
  environment: string;
  /** The test file as shown in messages (relative to the root). */
  testFile: string;
  /** The baseline file, absolute. */
  baselineFile: string;
  /** The baseline file as shown in messages (relative to the root). */
  baselineFileShown: string;
  /** Project root: shown paths of allocation sites are relative to it; baseline directories below it are checked. */
  root: string;
  color: boolean;
}

function sameMetrics(a: BaselineMetrics, b: BaselineMetrics): boolean {
  return (
    a.bytes === b.bytes &&
    a.count === b.count &&
    a.peakBytes === b.peakBytes &&
    a.heapBytes === b.heapBytes &&
    a.externalBytes === b.externalBytes &&
    a.retainedBytes === b.retainedBytes &&
    a.iterations === b.iterations &&
    a.countMethod === b.countMethod &&
    a.bytesMethod === b.bytesMethod &&
    a.context === b.context
  );
}

/** Whether stored figures were measured like the current ones: same context, same method. */
function comparable(stored: BaselineMetrics, current: BaselineMetrics): boolean {
  return stored.context === current.context && (stored.bytesMethod ?? 'heap-delta') === (current.bytesMethod ?? 'heap-delta');
}

const SITUATION_OF: Readonly<Record<PhaseComparison['status'], Situation>> = {
  ok: 'within tolerance',
  regressed: 'increase beyond tolerance',
  improved: 'decrease beyond tolerance',
};

export class FileBaselineState {
  readonly options: Readonly<FileStateOptions>;
  /** This environment's stored entries (empty when none). */
  private readonly stored: EnvironmentBaselines;
  private readonly environmentKnown: boolean;
  /** Gated phases each finished test recorded; null when the test did not pass (cannot tell what is obsolete). */
  private readonly finished = new Map<string, Set<string> | null>();

  /** Read the baseline file. Throws BaselineFileError when it is unusable. */
  static open(options: FileStateOptions): FileBaselineState {
    return new FileBaselineState(options, readBaselineFile(options.baselineFile, options.root));
  }

  constructor(options: FileStateOptions, onDisk: BaselineFile | null) {
    this.options = Object.freeze({ ...options });
    const stored = onDisk?.get(options.environment);
    this.environmentKnown = stored !== undefined;
    this.stored = stored ?? new Map<string, TestBaselines>();
  }

  /** The stored entry of one phase, or null. */
  storedEntry(test: string, phase: string): BaselineMetrics | null {
    return this.stored.get(test)?.get(phase) ?? null;
  }

  /** Judge one phase of one test against its stored entry, in this run's mode. */
  judge(test: string, phase: MeasuredPhase, rules: PhaseRules): PhaseJudgement {
    const { mode } = this.options;
    const stored = this.storedEntry(test, phase.name);
    const current = phase.metrics;
    let comparison: PhaseComparison | null = null;
    let situation: Situation;
    if (stored === null) {
      situation = phase.wholeRun ? 'no baseline' : 'no baseline, partial run';
    } else if (!comparable(stored, current)) {
      situation = phase.wholeRun ? 'other context' : 'other context, partial run';
    } else {
      comparison = comparePhase(stored, current, rules.metrics, rules.tolerance);
      situation = SITUATION_OF[comparison.status];
    }
    const decision = decide(situation, mode);
    const outcome: PhaseOutcome = {
      name: phase.name,
      status: decision.status as PhaseStatus,
      gated: rules.gated,
      baseline: stored,
      current,
      comparisons: comparison?.comparisons ?? [],
      tolerance: rules.tolerance,
      metrics: [...rules.metrics],
    };
    // Not gated: neither compared nor stored, whatever the figures say.
    if (!rules.gated) {
      outcome.status = 'unchecked';
      return { outcome, failure: null, change: null };
    }
    // A rewrite that changes nothing is reported as ok.
    if (mode === 'update' && stored !== null && sameMetrics(stored, current)) outcome.status = 'ok';
    let failure: string | null = null;
    if (decision.fails === 'test') {
      const ctx = this.context(test, phase.name);
      if (situation === 'other context') failure = formatStale(ctx, stored!, current);
      else if (stored === null) failure = formatMissing(ctx, current, this.environmentKnown, phase.partialBecause, phase.partialRemedy);
      else failure = formatRegression(ctx, comparison!, rules.tolerance, stored, current, phase.sites);
    }
    outcome.note = noteFor(situation, phase.partialBecause, phase.partialRemedy);
    const change: BaselineChange | null =
      decision.store === 'write' ? { kind: 'set', test, phase: phase.name, metrics: { ...current } } : null;
    return { outcome, failure, change };
  }

  /**
   * A test finished. `gatedPhases`: the gated phases it recorded (none when it recorded nothing); only
   * a passing test can make stored phases it no longer records obsolete.
   */
  finishTest(test: string, passed: boolean, gatedPhases: Iterable<string>): void {
    this.finished.set(test, passed ? new Set(gatedPhases) : null);
  }

  /**
   * All tests of the file ran. `tests`: every test the file defines (run, skipped or filtered out: those
   * still exist) with whether it passed. Finds obsolete entries and proposes what to do about them.
   */
  finishFile(tests: Iterable<{ name: string; passed: boolean }>): FileProposal {
    const { mode, environment } = this.options;
    const existing = new Map<string, boolean>();
    for (const t of tests) existing.set(t.name, (existing.get(t.name) ?? true) && t.passed);
    const decision = decide('obsolete entry', mode);
    const obsolete: ObsoleteEntry[] = [];
    const removals: BaselineChange[] = [];
    for (const [test, phases] of this.stored) {
      if (!existing.has(test)) {
        for (const [phase, baseline] of phases)
          obsolete.push({ test, phase, testDeleted: true, baseline, status: decision.status as 'obsolete' });
        if (decision.store === 'remove') removals.push({ kind: 'removeTest', test });
        continue;
      }
      // Not run here (skipped, filtered out) or failed: what it records is unknown.
      const recorded = existing.get(test) ? this.finished.get(test) : undefined;
      if (!recorded) continue;
      for (const [phase, baseline] of phases) {
        if (recorded.has(phase)) continue;
        obsolete.push({ test, phase, testDeleted: false, baseline, status: decision.status as 'obsolete' });
        if (decision.store === 'remove') removals.push({ kind: 'removePhase', test, phase });
      }
    }
    let failure: string | null = null;
    if (decision.fails === 'file' && obsolete.length > 0) {
      const entries: { test: string; phase: string | null }[] = [];
      const deletedTests = new Set<string>();
      for (const e of obsolete) {
        if (!e.testDeleted) entries.push({ test: e.test, phase: e.phase });
        else if (!deletedTests.has(e.test)) {
          deletedTests.add(e.test);
          entries.push({ test: e.test, phase: null });
        }
      }
      failure = formatObsolete(this.options.testFile, this.options.baselineFileShown, environment, entries);
    }
    return { environment, obsolete, removals, failure };
  }

  private context(test: string, phase: string): PhaseContext {
    const o = this.options;
    return {
      test,
      file: o.testFile,
      phase,
      baselineFile: o.baselineFileShown,
      environment: o.environment,
      root: o.root,
      color: o.color,
    };
  }
}
