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
import type { FileReport, PhaseRow, RunReport } from '../report/baselines.ts';
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

const byTestThenPhase = (a: PhaseRow, b: PhaseRow): number =>
  a.test === b.test ? (a.phase < b.phase ? -1 : a.phase > b.phase ? 1 : 0) : a.test < b.test ? -1 : 1;

export class BaselineManager {
  private readonly projects = new Map<string, WorkerSettings>();

  addProject(name: string, settings: WorkerSettings): void {
    this.projects.set(name, settings);
  }

  /** Merge and write every module's proposals, then deal with baseline files of deleted test files. */
  finishRun(modules: readonly FinishedModule[], interrupted: boolean, fallbackEnvironment: string): RunOutcome {
    const files: FileReport[] = [];
    const errors: string[] = [];
    let environment: string | undefined;
    let deterministic = true;
    let mode: Mode | undefined;
    for (const module of modules) {
      const settings = this.projects.get(module.project);
      if (!settings || !isMeasured(settings, module.testFile)) continue;
      mode ??= settings.mode;
      const result = this.finishModule(module, settings);
      if (!result) continue;
      environment ??= result.environment ?? undefined;
      if (result.nondeterministic) deterministic = false;
      if (result.report.error) errors.push(result.report.error);
      files.push(result.report);
    }
    environment ??= fallbackEnvironment;
    // An interrupted run may not have collected every file: a baseline file is not judged on that.
    if (!interrupted) {
      for (const orphan of this.finishOrphans(environment)) {
        if (orphan.error) errors.push(orphan.error);
        files.push(orphan);
      }
    }
    const summary = emptySummary();
    for (const file of files) for (const row of file.rows) summary[row.status]++;
    return { report: { version: 1, mode: mode ?? 'local', environment, deterministic, files, summary }, errors };
  }

  private finishModule(
    module: FinishedModule,
    settings: WorkerSettings,
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
        };
        if (phase.note !== undefined) row.note = phase.note;
        if (!passed && proposed.has(phase.name)) {
          row.note = `${phase.status} (not written: the test ${state === 'failed' ? 'failed' : 'did not pass'})`;
        } else if (proposed.has(phase.name)) toWrite.push(row);
        report.rows.push(row);
      }
    }
    for (const entry of proposal?.obsolete ?? []) {
      report.rows.push({
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
      });
    }
    changes.push(...(proposal?.removals ?? []));
    if (environment !== null && changes.length > 0 && !report.error) {
      try {
        report.written = applyBaselineChanges(baselinePath, environment, changes, settings.root) !== 'unchanged';
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
  private finishOrphans(environment: string): FileReport[] {
    const reports: FileReport[] = [];
    const seen = new Set<string>();
    for (const [name, settings] of this.projects) {
      const dirKey = path.resolve(settings.root, settings.baselineDir);
      if (seen.has(dirKey)) continue;
      seen.add(dirKey);
      const decision = decide('obsolete file', settings.mode);
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
            });
          }
        }
        if (decision.store === 'delete file') {
          try {
            if (writeBaselineFile(orphan.baselineFile, new Map(), settings.root) === 'deleted') {
              report.written = true;
              report.deleted = true;
            }
          } catch (error) {
            if (!(error instanceof BaselineFileError || error instanceof BaselineWriteError)) throw error;
            report.error = error.message;
          }
        }
        if (decision.fails === 'run') {
          report.error =
            `${report.baselineFile} belongs to ${relativeToRoot(settings.root, orphan.testFile)}, which no longer exists; ` +
            'delete it, or run with --update-baselines where the tests run';
        }
        reports.push(report);
      }
    }
    return reports;
  }
}
