/**
 * Once per test run: an id that end-to-end helpers key their packed tarball and Vitest installs by, so
 * each run packs and installs once (shared by parallel test files) and never reuses an older run's.
 */
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  interface ProvidedContext {
    allocTrackerE2eRun: string;
  }
}

export default function setup(project: TestProject): void {
  project.provide('allocTrackerE2eRun', `${Date.now().toString(36)}-${process.pid}`);
}
