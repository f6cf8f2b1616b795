/**
 * Main-process side of the baselines (no Vitest import; the reporter hands it plain data): it adds up
 * what the workers proposed, merges the changes of tests that passed into the files on disk and writes
 * them, and handles baseline files whose test file is gone (which no worker can see). It makes no
 * decision of the situation x mode table itself: those come from the workers' FileBaselineState, and
 * for deleted test files from the same table (`decide`).
 */
import path from 'node:path';
import { decide } from '../baseline/file-state.ts';
import {
  applyBaselineChanges,
  BaselineFileError,
  BaselineWriteError,
  baselinePathFor,
  orphanedBaselineFiles,
  writeBaselineFile,
  type BaselineChange,
} from '../baseline/store.ts';
import type { PhaseOutcome } from '../baseline/file-state.ts';
import { shellWord } from '../baseline/messages.ts';
import type { FileReport, PhaseRow, RunReport, Verdict } from '../report/baselines.ts';
import { emptySummary } from '../report/baselines.ts';
import { isMeasured, relativeToRoot } from './runtime.ts';
import type { FileAllocationMeta, Mode, TestAllocationMeta, WorkerSettings } from './settings.ts';

/** One test of a finished test module, as the reporter saw it. */
export interface FinishedTest {
  /** Full name (`describe > test`). */
  name: string;
  /** Vitest's final state: passed, failed, skipped, pending. */
  state: string;
  meta: TestAllocationMeta | undefined;
}

/** One finished test module. */
export interface FinishedModule {
  project: string;
  /** Absolute path of the test file. */
  testFile: string;
  tests: FinishedTest[];
  fileMeta: FileAllocationMeta | undefined;
}

export interface RunOutcome {
  report: RunReport;
  /** Problems that fail the run (already in the report's file errors); empty when none. */
  errors: string[];
}

export interface FinishOptions {
  /** The run was interrupted: not every file was collected, so no baseline file is judged obsolete. */
  interrupted: boolean;
  /** Environment key when no test recorded one. */
  fallbackEnvironment: string;
  /** This run's mode in the main process (what workers were told); the workers' own word wins. */
  mode?: Mode;
  /**
   * False in a sharded run whose results go to `vitest --merge-reports` (blob reporter): that merge
   * writes every shard's entries at once, so a shard writes nothing and judges no deleted test file.
   */
  write?: boolean;
  shard?: { index: number; count: number } | null;
  /** This is `vitest --merge-reports`: the modules come from the shards' blobs. */
  merged?: boolean;
}

/** How the figures compared with the stored entry, whatever the mode made of it. */
function verdictOf(outcome: PhaseOutcome): Verdict | null {
  if (!outcome.gated) return null;
  if (outcome.baseline === null) return 'new';
  if (outcome.comparisons.some((c) => c.status === 'regressed')) return 'regressed';
  if (outcome.comparisons.some((c) => c.status === 'improved')) return 'improved';
  return 'ok';
}

const byTestThenPhase = (a: PhaseRow, b: PhaseRow): number =>
  a.test === b.test ? (a.phase < b.phase ? -1 : a.phase > b.phase ? 1 : 0) : a.test < b.test ? -1 : 1;

export class BaselineManager {
  private readonly projects = new Map<string, WorkerSettings>();

  addProject(name: string, settings: WorkerSettings): void {
    this.projects.set(name, settings);
  }

  /** Merge and write every module's proposals, then deal with baseline files of deleted test files. */
  finishRun(modules: readonly FinishedModule[], options: FinishOptions): RunOutcome {
    const files: FileReport[] = [];
    const errors: string[] = [];
    let environment: string | undefined;
    let deterministic = true;
    const write = options.write ?? true;
    // The mode the workers judged in: a merge of shards takes theirs, whatever the merging process's own.
    const modes = new Set<Mode>();
    for (const module of modules) {
      if (module.fileMeta?.mode) modes.add(module.fileMeta.mode);
      for (const test of module.tests) if (test.meta?.mode) modes.add(test.meta.mode);
    }
    if (modes.size > 1) {
      const message =
        `alloc-tracker: the merged runs judged baselines in different modes (${[...modes].sort().join(', ')}); ` +
        'nothing was written. Run every shard with the same update setting (-u / --update=... / CI).';
      return { report: this.emptyReport(options, [...modes][0] ?? 'local', deterministic), errors: [message] };
    }
    const mode: Mode = [...modes][0] ?? options.mode ?? [...this.projects.values()][0]?.mode ?? 'local';
    for (const module of modules) {
      const settings = this.projects.get(module.project);
      if (!settings || !isMeasured(settings, module.testFile)) continue;
      const result = this.finishModule(module, settings, write);
      if (!result) continue;
      environment ??= result.environment ?? undefined;
      if (result.nondeterministic) deterministic = false;
      if (result.report.error) errors.push(result.report.error);
      files.push(result.report);
    }
    // By path, not by the order modules finished in: a merge of shards prints what one run would.
    files.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.project < b.project ? -1 : a.project > b.project ? 1 : 0));
    environment ??= options.fallbackEnvironment;
    // An interrupted run may not have collected every file: a baseline file is not judged on that.
    if (!options.interrupted && write) {
      for (const orphan of this.finishOrphans(environment, mode)) {
        if (orphan.error) errors.push(orphan.error);
        files.push(orphan);
      }
    }
    const summary = emptySummary();
    for (const file of files) for (const row of file.rows) summary[row.status]++;
    const report: RunReport = { version: 1, mode, environment, deterministic, files, summary };
    if (options.shard) report.shard = options.shard;
    if (!write) report.deferred = true;
    if (options.merged) report.merged = true;
    return { report, errors };
  }

  private emptyReport(options: FinishOptions, mode: Mode, deterministic: boolean): RunReport {
    return { version: 1, mode, environment: options.fallbackEnvironment, deterministic, files: [], summary: emptySummary() };
  }

  private finishModule(
    module: FinishedModule,
    settings: WorkerSettings,
    write: boolean,
  ): { report: FileReport; environment: string | null; nondeterministic: boolean } | null {
    const baselinePath = baselinePathFor(settings.root, settings.baselineDir, module.testFile);
    const report: FileReport = {
      file: relativeToRoot(settings.root, module.testFile),
      project: module.project,
      baselineFile: relativeToRoot(settings.root, baselinePath),
      written: false,
      error: module.fileMeta?.error ?? null,
      rows: [],
    };
    const proposal = module.fileMeta?.proposal ?? null;
    const measured = module.tests.filter((t) => t.meta !== undefined);
    if (measured.length === 0 && !report.error && (proposal?.obsolete.length ?? 0) === 0) return null;
    const environment = measured[0]?.meta?.environment ?? proposal?.environment ?? null;
    const changes: BaselineChange[] = [];
    /** Rows whose entry this run writes, to correct if the write fails. */
    const toWrite: PhaseRow[] = [];
    for (const { state, meta } of measured) {
      if (!meta) continue;
      const passed = state === 'passed';
      // Baselines are written only for passing tests: a failed test's figures may be partial.
      if (passed) changes.push(...meta.changes);
      const proposed = new Set(meta.changes.map((c) => (c.kind === 'set' ? c.phase : '')));
      for (const phase of meta.phases) {
        const failure = meta.failures?.find((f) => f.phase === phase.name);
        const tree = meta.trees?.find((t) => t.phase === phase.name)?.tree;
        const row: PhaseRow = {
          test: meta.test,
          phase: phase.name,
          status: phase.status,
          baseline: phase.baseline,
          current: phase.current,
          comparisons: phase.comparisons,
          tolerance: phase.tolerance,
          metrics: phase.metrics,
          record: meta.records.find((r) => r.name === phase.name) ?? null,
          testState: state,
          verdict: verdictOf(phase),
          written: false,
          ...(meta.location ? { line: meta.location.line } : {}),
          ...(failure ? { failure: { kind: failure.kind, via: failure.via, message: failure.message } } : {}),
          ...(tree ? { tree } : {}),
        };
        if (phase.note !== undefined) row.note = phase.note;
        if (!passed && proposed.has(phase.name)) {
          row.note = `${phase.status} (not written: the test ${state === 'failed' ? 'failed' : 'did not pass'})`;
        } else if (proposed.has(phase.name)) toWrite.push(row);
        report.rows.push(row);
      }
    }
    for (const entry of proposal?.obsolete ?? []) {
      const row: PhaseRow = {
        test: entry.test,
        phase: entry.phase,
        status: entry.status,
        baseline: entry.baseline,
        current: null,
        comparisons: [],
        tolerance: null,
        metrics: [],
        record: null,
        testState: entry.testDeleted ? 'deleted' : 'passed',
        verdict: null,
        written: false,
      };
      if (entry.status === 'removed') toWrite.push(row);
      report.rows.push(row);
    }
    changes.push(...(proposal?.removals ?? []));
    if (environment !== null && changes.length > 0 && !report.error && write) {
      try {
        report.written = applyBaselineChanges(baselinePath, environment, changes, settings.root) !== 'unchanged';
        // Rows whose figures equal the stored entry were rewritten as they were: nothing changed for them.
        for (const row of toWrite) row.written = row.status !== 'ok';
      } catch (error) {
        if (!(error instanceof BaselineFileError || error instanceof BaselineWriteError)) throw error;
        report.error = error.message;
        for (const row of toWrite) row.note = `${row.status} (not written: see the error above)`;
      }
    }
    report.rows.sort(byTestThenPhase);
    return { report, environment, nondeterministic: measured.some((m) => m.meta?.nondeterministic) };
  }

  /**
   * Baseline files whose test file is gone: what happens to them is the table's 'obsolete file' row.
   * Whatever the run's filters, a file that does not exist cannot have tests.
   */
  private finishOrphans(environment: string, mode: Mode): FileReport[] {
    const reports: FileReport[] = [];
    const seen = new Set<string>();
    for (const [name, settings] of this.projects) {
      const dirKey = path.resolve(settings.root, settings.baselineDir);
      if (seen.has(dirKey)) continue;
      seen.add(dirKey);
      const decision = decide('obsolete file', mode);
      for (const orphan of orphanedBaselineFiles(settings.root, settings.baselineDir)) {
        const report: FileReport = {
          file: `${relativeToRoot(settings.root, orphan.testFile)} (deleted)`,
          project: name,
          baselineFile: relativeToRoot(settings.root, orphan.baselineFile),
          written: false,
          error: null,
          rows: [],
        };
        for (const [test, phases] of orphan.data.get(environment) ?? []) {
          for (const [phase, baseline] of phases) {
            report.rows.push({
              test,
              phase,
              status: decision.status,
              baseline,
              current: null,
              comparisons: [],
              tolerance: null,
              metrics: [],
              record: null,
              testState: 'deleted',
              verdict: null,
              written: false,
            });
          }
        }
        if (decision.store === 'delete file') {
          try {
            if (writeBaselineFile(orphan.baselineFile, new Map(), settings.root) === 'deleted') {
              report.written = true;
              report.deleted = true;
              for (const row of report.rows) row.written = true;
            }
          } catch (error) {
            if (!(error instanceof BaselineFileError || error instanceof BaselineWriteError)) throw error;
            report.error = error.message;
          }
        }
        if (decision.fails === 'run') {
          report.error =
            `${report.baselineFile} belongs to ${relativeToRoot(settings.root, orphan.testFile)}, which no longer exists; ` +
            `delete it (rm ${shellWord(report.baselineFile)}), or let an update run delete it (npx vitest run -u)`;
        }
        reports.push(report);
      }
    }
    return reports;
  }
}
