/**
 * Main-process reporter: hands the finished modules to the BaselineManager (which merges and writes),
 * then renders the result: the terminal report, the JSON output file, and the exit code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Reporter, TestModule, TestRunEndReason, Vitest } from 'vitest/node';
import { environmentFingerprint } from '../core/environment.ts';
import { formatRunReport } from '../report/baselines.ts';
import { BaselineManager, type FinishedModule } from './manager.ts';
import { relativeToRoot } from './runtime.ts';
import {
  FILE_META_KEY,
  PROVIDE_KEY,
  type AllocTrackerOptions,
  type FileAllocationMeta,
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

export class AllocTrackerReporter implements Reporter {
  private vitest: Vitest | undefined;
  private readonly manager = new BaselineManager();
  private readonly options: AllocTrackerOptions;

  constructor(options: AllocTrackerOptions) {
    this.options = options;
  }

  /** Called by the plugin for every project it configures. */
  addProject(name: string, settings: WorkerSettings): void {
    this.manager.addProject(name, settings);
  }

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, _errors: ReadonlyArray<unknown>, reason: TestRunEndReason): void {
    const { report, errors } = this.manager.finishRun(
      testModules.map(finishedModule),
      reason === 'interrupted',
      environmentFingerprint().key,
    );
    const log = (text: string): void => (this.vitest ? this.vitest.logger.log(text) : console.log(text));
    const logError = (text: string): void => (this.vitest ? this.vitest.logger.error(text) : console.error(text));
    let failed = errors.length > 0;
    for (const error of errors) logError(`\n${error.startsWith('alloc-tracker:') ? error : `alloc-tracker: ${error}`}`);
    if (report.files.length > 0 && (this.options.report ?? 'full') !== 'off') {
      log(`\n${formatRunReport(report, this.options.report === 'changes')}`);
    }
    if (this.options.outputFile && report.files.length > 0) {
      const root = this.vitest?.config.root ?? process.cwd();
      const target = path.resolve(root, this.options.outputFile);
      try {
        mkdirSync(path.dirname(target), { recursive: true });
        writeFileSync(target, `${JSON.stringify(report, null, 2)}\n`);
        log(`alloc-tracker: JSON report written to ${relativeToRoot(root, target)}`);
      } catch (error) {
        failed = true;
        logError(`alloc-tracker: could not write the JSON report ${target}: ${(error as Error).message}`);
      }
    }
    // Vitest's summary may say "passed": the lines above say why the run fails.
    if (failed) process.exitCode = 1;
  }
}
