/**
 * Setup file the plugin adds to every project: it makes this worker's runtime (per-test sessions,
 * per-file baseline state), registers the matchers bound to it, and forwards Vitest's hooks to it.
 * It only reads baseline files; the main process writes them.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, inject } from 'vitest';
import { createMatchers } from './matchers.ts';
import { PROVIDE_KEY, type WorkerSettings } from './settings.ts';
import { WorkerRuntime } from './runtime.ts';

const settings = inject(PROVIDE_KEY as 'allocTracker') as WorkerSettings | undefined;
if (!settings) {
  throw new Error(
    'alloc-tracker: the setup file ran without its settings; add allocTracker() to `plugins` in vitest.config ' +
      'instead of listing the setup file yourself',
  );
}
const runtime = new WorkerRuntime(settings);
expect.extend(createMatchers(runtime));

// Fail early and clearly, before any test, when this file's baseline file is unusable.
beforeAll(({}, suite) => {
  runtime.beginFile(suite);
});

beforeEach(({ task }) => {
  runtime.beginTest(task);
});

afterEach(async ({ task }) => {
  await runtime.endTest(task);
});

// Obsolete entries fail the file in CI only (as obsolete snapshots do); locally they are reported and
// update mode removes them. Tests skipped or filtered out still exist, so they are never obsolete.
afterAll(({}, suite) => {
  runtime.endFile(suite);
});
