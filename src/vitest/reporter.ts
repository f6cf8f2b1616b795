/**
 * Main-process reporter: tells every run's workers its mode, hands the finished modules to the
 * BaselineManager (which merges and writes), then renders the result: the terminal report, the list
 * of accepted changes, the JSON and HTML files, GitHub Actions annotations and job summary, and the
 * exit code.
 */
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import type { Reporter, TestModule, TestRunEndReason, TestSpecification, Vitest } from 'vitest/node';
import { environmentFingerprint } from '../core/environment.ts';
import { writeTextAtomic } from '../report/atomic.ts';
import { formatAccepted, formatRunReport, type RunReport } from '../report/baselines.ts';
import { githubErrors, githubStepSummary } from '../report/github.ts';
import { fromRunReport } from '../report/html/model.ts';
import { renderHtmlReport } from '../report/html/render.ts';
import { BaselineManager, type FinishedModule } from './manager.ts';
import { relativeToRoot } from './runtime.ts';
import {
  FILE_META_KEY,
  PROVIDE_KEY,
  resolveMode,
  type AllocTrackerOptions,
  type FileAllocationMeta,
  type Mode,
  type TestAllocationMeta,
  type WorkerSettings,
} from './settings.ts';

/** What the reporter needs of a Vitest test module (structural: Vitest 4.1 and 5). */
function finishedModule(module: TestModule): FinishedModule {
  return {
    project: module.project.name,
    testFile: module.moduleId,
    tests: [...module.children.allTests()].map((testCase) => ({
      name: testCase.fullName,
      state: testCase.result().state,
      meta: (testCase.meta() as Record<string, unknown>)[PROVIDE_KEY] as TestAllocationMeta | undefined,
    })),
    fileMeta: (module.meta() as Record<string, unknown>)[FILE_META_KEY] as FileAllocationMeta | undefined,
  };
}

/** A project the plugin configured: where its settings go (project.provide). */
export interface ProvidingProject {
  name: string;
  provide: (key: typeof PROVIDE_KEY, value: WorkerSettings) => void;
}

type ReporterEntry = unknown;

function reporterName(entry: ReporterEntry): string | null {
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry) && typeof entry[0] === 'string') return entry[0];
  if (typeof entry === 'object' && entry !== null) return entry.constructor?.name ?? null;
  return null;
}

/** Whether Vitest's reporters include `name` (as 'name', ['name', options], or an instance of its class). */
export function hasReporter(reporters: readonly ReporterEntry[] | undefined, name: 'blob' | 'github-actions'): boolean {
  const className = name === 'blob' ? 'BlobReporter' : 'GithubActionsReporter';
  return (reporters ?? []).some((entry) => {
    const found = reporterName(entry);
    return found === name || found === className;
  });
}

/** Whether Vitest's own github-actions reporter prints annotations (its `displayAnnotations` is on by default). */
export function githubReporterShowsAnnotations(reporters: readonly ReporterEntry[] | undefined): boolean {
  return (reporters ?? []).some((entry) => {
    const found = reporterName(entry);
    if (found !== 'github-actions' && found !== 'GithubActionsReporter') return false;
    const options = Array.isArray(entry) ? (entry[1] as { displayAnnotations?: unknown } | undefined) : undefined;
    return options?.displayAnnotations !== false;
  });
}

export class AllocTrackerReporter implements Reporter {
  private vitest: Vitest | undefined;
  private readonly manager = new BaselineManager();
  private readonly options: AllocTrackerOptions;
  private readonly projects = new Map<string, { project: ProvidingProject; settings: WorkerSettings }>();
  private runMode: Mode | undefined;

  constructor(options: AllocTrackerOptions) {
    this.options = options;
  }

  /** Called by the plugin for every project it configures. */
  addProject(project: ProvidingProject, settings: WorkerSettings): void {
    this.projects.set(project.name, { project, settings });
    this.manager.addProject(project.name, settings);
  }

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  /**
   * Each run's mode follows Vitest's snapshot update state at its start: watch mode's `u` reruns the
   * failed files with it set to 'all', and the next run is back to the configured one.
   */
  onTestRunStart(_specifications: ReadonlyArray<TestSpecification>): void {
    const updateSnapshot = this.vitest?.snapshot?.options?.updateSnapshot;
    const mode = resolveMode({ option: this.options.mode, updateSnapshot, argv: process.argv, env: process.env });
    this.runMode = mode;
    for (const entry of this.projects.values()) {
      if (entry.settings.mode === mode) continue;
      entry.settings = { ...entry.settings, mode };
      entry.project.provide(PROVIDE_KEY, entry.settings);
      this.manager.addProject(entry.project.name, entry.settings);
    }
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, _errors: ReadonlyArray<unknown>, reason: TestRunEndReason): void {
    const config = this.vitest?.config;
    const merged = Boolean(config?.mergeReports);
    const shard = config?.shard ? { index: config.shard.index, count: config.shard.count } : null;
    // A shard whose results go to `vitest --merge-reports` leaves every write to that merge.
    const deferred = shard !== null && !merged && hasReporter(config?.reporters, 'blob');
    const { report, errors } = this.manager.finishRun(testModules.map(finishedModule), {
      interrupted: reason === 'interrupted',
      fallbackEnvironment: environmentFingerprint().key,
      ...(this.runMode ? { mode: this.runMode } : {}),
      write: !deferred,
      shard,
      merged,
    });
    const log = (text: string): void => (this.vitest ? this.vitest.logger.log(text) : console.log(text));
    const logError = (text: string): void => (this.vitest ? this.vitest.logger.error(text) : console.error(text));
    let failed = errors.length > 0;
    for (const error of errors) logError(`\n${error.startsWith('alloc-tracker:') ? error : `alloc-tracker: ${error}`}`);
    const style = this.options.report ?? 'changes';
    if (report.files.length > 0 && style !== 'off') log(`\n${formatRunReport(report, style !== 'full').trimEnd()}`);
    // Whatever the report style: a run that rewrote baselines says what it accepted.
    const accepted = formatAccepted(report);
    if (accepted) log(`\n${accepted.trimEnd()}`);
    const root = config?.root ?? process.cwd();
    // A shard's files would be half a report: the merge writes them for the whole run.
    if (report.files.length > 0 && !deferred) {
      for (const [option, file, text] of [
        ['outputFile', this.options.outputFile, () => `${JSON.stringify(report, null, 2)}\n`],
        ['html', this.options.html, () => this.html(report, root)],
      ] as const) {
        if (!file) continue;
        const target = path.resolve(root, file);
        try {
          writeTextAtomic(target, text());
          log(`alloc-tracker: ${option === 'html' ? 'HTML' : 'JSON'} report written to ${relativeToRoot(root, target)}`);
        } catch (error) {
          failed = true;
          logError(
            `alloc-tracker: could not write the ${option === 'html' ? 'HTML' : 'JSON'} report ${target}: ${(error as Error).message}`,
          );
        }
      }
    }
    if (process.env.GITHUB_ACTIONS === 'true' && !deferred && report.files.length > 0) failed = this.github(report, root, log) || failed;
    // Vitest's summary may say "passed": the lines above say why the run fails.
    if (failed) process.exitCode = 1;
  }

  private html(report: RunReport, root: string): string {
    const title = `alloc-tracker: ${path.basename(root)}`;
    return renderHtmlReport(fromRunReport(report, { root, title, generatedAt: new Date().toISOString() }));
  }

  /** GitHub Actions: annotations on the log, a section in the job summary. Returns true when the summary could not be written. */
  private github(report: RunReport, root: string, log: (text: string) => void): boolean {
    const reporters = this.vitest?.config.reporters as readonly unknown[] | undefined;
    const lines = githubErrors(report, {
      root,
      workspace: process.env.GITHUB_WORKSPACE,
      // Vitest's github-actions reporter annotates every failed assertion, toMatchAllocationBaseline's too.
      skipMatcherFailures: hasReporter(reporters, 'github-actions'),
    });
    for (const line of lines) log(line);
    const summaryFile = process.env.GITHUB_STEP_SUMMARY;
    if (!summaryFile) return false;
    try {
      appendFileSync(summaryFile, `${githubStepSummary(report, { full: this.options.report === 'full', root })}\n`);
    } catch (error) {
      log(`alloc-tracker: could not append to GITHUB_STEP_SUMMARY (${summaryFile}): ${(error as Error).message}`);
      return true;
    }
    return false;
  }
}
