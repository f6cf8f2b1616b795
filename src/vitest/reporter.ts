/**
 * Main-process reporter: the only writer of baseline files. At the end of a run it merges each test
 * file's measured entries into what is on disk (filtered and skipped tests keep theirs), writes
 * atomically, prints the report and writes the JSON output file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Reporter, TestModule, TestRunEndReason, Vitest } from 'vitest/node';
import { environmentFingerprint } from '../core/environment.ts';
import {
  BaselineFileError,
  baselinePathFor,
  mergeBaselines,
  orphanedBaselineFiles,
  readBaselineFile,
  serializeBaselineFile,
  writeBaselineFile,
  type BaselineChange,
} from '../baseline/store.ts';
import type { BaselineFile } from '../baseline/types.ts';
import { emptySummary, formatRunReport, type FileReport, type PhaseRow, type RunReport } from '../report/baselines.ts';
import { isMeasured, relativeToRoot } from './worker.ts';
import { PROVIDE_KEY, type AllocTrackerOptions, type Mode, type TestAllocationMeta, type WorkerSettings } from './settings.ts';

export class AllocTrackerReporter implements Reporter {
  private vitest: Vitest | undefined;
  private readonly projects = new Map<string, WorkerSettings>();
  private readonly options: AllocTrackerOptions;

  constructor(options: AllocTrackerOptions) {
    this.options = options;
  }

  /** Called by the plugin for every project it configures. */
  addProject(name: string, settings: WorkerSettings): void {
    this.projects.set(name, settings);
  }

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, _errors: ReadonlyArray<unknown>, reason: TestRunEndReason): void {
    const files: FileReport[] = [];
    let environment = environmentFingerprint().key;
    let deterministic = true;
    let mode: Mode | undefined;
    let failed = false;
    for (const module of testModules) {
      const settings = this.projects.get(module.project.name);
      if (!settings) continue;
      mode ??= settings.mode;
      const result = this.handleModule(module, settings, reason);
      if (!result) continue;
      if (result.environment) environment = result.environment;
      if (result.nondeterministic) deterministic = false;
      if (result.report.error) failed = true;
      files.push(result.report);
    }
    if (reason !== 'interrupted') {
      const orphans = this.handleOrphans(environment);
      if (orphans.some((file) => file.error)) failed = true;
      files.push(...orphans);
    }
    if (files.length === 0) return;
    const summary = emptySummary();
    for (const file of files) for (const row of file.rows) summary[row.status]++;
    const report: RunReport = { version: 1, mode: mode ?? 'local', environment, deterministic, files, summary };
    const log = (text: string): void => (this.vitest ? this.vitest.logger.log(text) : console.log(text));
    if ((this.options.report ?? 'full') !== 'off') log(`\n${formatRunReport(report, this.options.report === 'changes')}`);
    if (this.options.outputFile) {
      const root = this.vitest?.config.root ?? process.cwd();
      const target = path.resolve(root, this.options.outputFile);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, `${JSON.stringify(report, null, 2)}\n`);
      log(`alloc-tracker: JSON report written to ${relativeToRoot(root, target)}`);
    }
    // A baseline file that cannot be used fails the run even if no test noticed it.
    if (failed) process.exitCode = 1;
  }

  /**
   * Baseline files whose test file is gone: reported locally, removed on update, a failure in CI (as
   * obsolete snapshot files). Whatever the run's filters, a file that does not exist cannot have tests.
   */
  private handleOrphans(environment: string): FileReport[] {
    const reports: FileReport[] = [];
    const seen = new Set<string>();
    for (const [name, settings] of this.projects) {
      const dirKey = path.resolve(settings.root, settings.baselineDir);
      if (seen.has(dirKey)) continue;
      seen.add(dirKey);
      for (const orphan of orphanedBaselineFiles(settings.root, settings.baselineDir)) {
        const report: FileReport = {
          file: `${relativeToRoot(settings.root, orphan.testFile)} (deleted)`,
          project: name,
          baselineFile: relativeToRoot(settings.root, orphan.baselineFile),
          written: false,
          error: null,
          rows: [],
        };
        for (const [test, phases] of Object.entries(orphan.data[environment] ?? {})) {
          for (const [phase, baseline] of Object.entries(phases)) {
            report.rows.push({
              test,
              phase,
              status: settings.mode === 'update' ? 'removed' : 'obsolete',
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
        if (settings.mode === 'update') {
          writeBaselineFile(orphan.baselineFile, {});
          report.written = true;
          report.deleted = true;
        } else if (settings.mode === 'ci') {
          report.error =
            `${report.baselineFile} belongs to ${relativeToRoot(settings.root, orphan.testFile)}, which no longer exists; ` +
            'delete it, or run with --update-baselines where the tests run';
          this.vitest?.logger.error(`\nalloc-tracker: obsolete baseline file: ${report.error}`);
        }
        reports.push(report);
      }
    }
    return reports;
  }

  private handleModule(
    module: TestModule,
    settings: WorkerSettings,
    reason: TestRunEndReason,
  ): { report: FileReport; environment: string | null; nondeterministic: boolean } | null {
    const testFile = module.moduleId;
    if (!isMeasured(settings, testFile)) return null;
    const baselinePath = baselinePathFor(settings.root, settings.baselineDir, testFile);
    const report: FileReport = {
      file: relativeToRoot(settings.root, testFile),
      project: module.project.name,
      baselineFile: relativeToRoot(settings.root, baselinePath),
      written: false,
      error: null,
      rows: [],
    };
    const tests = [...module.children.allTests()];
    const measured = tests.map((testCase) => ({
      testCase,
      state: testCase.result().state,
      meta: (testCase.meta() as Record<string, unknown>)[PROVIDE_KEY] as TestAllocationMeta | undefined,
    }));
    let onDisk: BaselineFile | null;
    try {
      onDisk = readBaselineFile(baselinePath);
    } catch (error) {
      if (!(error instanceof BaselineFileError)) throw error;
      report.error = error.message;
      this.vitest?.logger.error(`\n${error.message}`);
      return { report, environment: null, nondeterministic: false };
    }
    const withMeta = measured.filter((m) => m.meta !== undefined);
    if (withMeta.length === 0 && !onDisk) return null;
    const environment = withMeta[0]?.meta?.environment ?? environmentFingerprint().key;
    const stored = onDisk?.[environment] ?? {};
    const changes: BaselineChange[] = [];
    const existing = new Set(tests.map((t) => t.fullName));
    // A module that failed to load lists no tests: its entries are not obsolete, they are unknown.
    const trustworthy = module.errors().length === 0 && reason !== 'interrupted';

    for (const { state, meta } of measured) {
      if (!meta) continue;
      for (const phase of meta.phases) {
        const record = meta.records.find((r) => r.name === phase.name) ?? null;
        const row: PhaseRow = {
          test: meta.test,
          phase: phase.name,
          status: phase.status,
          baseline: phase.baseline,
          current: phase.current,
          comparisons: phase.comparisons,
          tolerance: phase.tolerance,
          metrics: phase.metrics,
          record,
          testState: state,
        };
        // Baselines are written only for passing tests: a failed test's figures may be partial.
        if (state !== 'passed' && (phase.status === 'new' || phase.status === 'updated')) {
          row.note = `${phase.status} (not written: the test ${state === 'failed' ? 'failed' : 'did not pass'})`;
        }
        if (state === 'passed' && phase.gated) {
          if (settings.mode === 'update') changes.push({ kind: 'set', test: meta.test, phase: phase.name, metrics: phase.current });
          else if (settings.mode === 'local' && phase.status === 'new') {
            changes.push({ kind: 'set', test: meta.test, phase: phase.name, metrics: phase.current });
          }
        }
        report.rows.push(row);
      }
    }

    // Obsolete: stored tests that no longer exist, and stored phases a passing test no longer records.
    const obsolete: { test: string; phase: string | null }[] = [];
    if (trustworthy) {
      const passedPhases = new Map<string, Set<string>>();
      for (const { testCase, state, meta } of measured) {
        if (state !== 'passed') continue;
        passedPhases.set(meta?.test ?? testCase.fullName, new Set(meta?.phases.filter((p) => p.gated).map((p) => p.name) ?? []));
      }
      for (const [test, phases] of Object.entries(stored)) {
        if (!existing.has(test)) {
          obsolete.push({ test, phase: null });
          continue;
        }
        const recorded = passedPhases.get(test);
        if (!recorded) continue;
        for (const phase of Object.keys(phases)) if (!recorded.has(phase)) obsolete.push({ test, phase });
      }
    }
    for (const entry of obsolete) {
      const phases = entry.phase === null ? Object.keys(stored[entry.test] ?? {}) : [entry.phase];
      for (const phase of phases) {
        report.rows.push({
          test: entry.test,
          phase,
          status: settings.mode === 'update' ? 'removed' : 'obsolete',
          baseline: stored[entry.test]?.[phase] ?? null,
          current: null,
          comparisons: [],
          tolerance: null,
          metrics: [],
          record: null,
          testState: entry.phase === null ? 'deleted' : 'passed',
        });
      }
      if (settings.mode === 'update') {
        changes.push(
          entry.phase === null ? { kind: 'removeTest', test: entry.test } : { kind: 'removePhase', test: entry.test, phase: entry.phase },
        );
      }
    }

    if (settings.mode !== 'ci' && changes.length > 0) {
      const merged = mergeBaselines(onDisk, environment, changes);
      const before = onDisk ? serializeBaselineFile(onDisk) : '';
      const after = Object.keys(merged).length ? serializeBaselineFile(merged) : '';
      if (before !== after) {
        writeBaselineFile(baselinePath, merged);
        report.written = true;
      }
    }
    report.rows.sort((a, b) => (a.test === b.test ? (a.phase < b.phase ? -1 : 1) : a.test < b.test ? -1 : 1));
    return { report, environment, nondeterministic: withMeta.some((m) => m.meta?.nondeterministic) };
  }
}
