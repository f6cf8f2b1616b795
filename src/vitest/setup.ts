/**
 * Setup file the plugin adds to every project: a fresh Session per test (spans reached from the test
 * land in it), the matchers, the baseline gate after each test, and the obsolete-entry check per file.
 * It only reads baseline files; the main process writes them.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, inject } from 'vitest';
import { baselinePathFor } from '../baseline/store.ts';
import { formatObsolete } from '../baseline/messages.ts';
import { matchers, useSettings } from './matchers.ts';
import { PROVIDE_KEY, type TestAllocationMeta, type WorkerSettings } from './settings.ts';
import {
  baselinesOf,
  clearBaselineCache,
  environmentKey,
  fullTestName,
  isMeasured,
  judgePhase,
  relativeToRoot,
  running,
  saveFailureProfile,
  startTest,
  type SuiteLike,
  type TaskLike,
} from './worker.ts';
import { determinismStatus } from '../core/environment.ts';

const settings = inject(PROVIDE_KEY as 'allocTracker') as WorkerSettings | undefined;
if (!settings) {
  throw new Error(
    'alloc-tracker: the setup file ran without its settings; add allocTracker() to `plugins` in vitest.config ' +
      'instead of listing the setup file yourself',
  );
}
useSettings(settings);
expect.extend(matchers);

/** An error whose message says everything: a code frame of this setup file would only distract. */
function withoutStack(message: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  return error;
}

/** Whether a group of concurrently running tests recorded any phase (see afterEach). */
let concurrentGroupRecorded = false;

/** Phases each finished test of this file recorded, for the obsolete check; null when it did not pass. */
const finished = new Map<string, Set<string> | null>();

/** Which test (task id) owns each full name in this file, and whether it recorded phases. */
const owners = new Map<string, { id: string; recorded: boolean }>();

// Fail early and clearly, before any test, when this file's baseline file is unusable; and re-read
// baselines per file (a reused worker must not see a previous run's cached files).
beforeAll(({}, suite) => {
  finished.clear();
  owners.clear();
  clearBaselineCache();
  const file = suite as unknown as SuiteLike;
  if (file.filepath && isMeasured(settings, file.filepath)) baselinesOf(settings, file.filepath);
});

beforeEach(({ task }) => {
  const test = task as unknown as TaskLike;
  if (isMeasured(settings, test.file?.filepath ?? '')) startTest(settings, test);
});

afterEach(({ task: rawTask }) => {
  const task = rawTask as unknown as TaskLike;
  const state = running.get(task.id);
  if (!state) return;
  state.deactivate();
  running.delete(task.id);
  const records = state.session.records();
  const testFailed = task.result?.state === 'fail' || (task.result?.errors?.length ?? 0) > 0;
  const name = fullTestName(task);
  if (state.concurrent) {
    // The ambient session is per isolate: spans of concurrent tests land in whichever session was
    // activated last, so every test of the group is suspect once any of them recorded a phase.
    concurrentGroupRecorded ||= records.length > 0 || [...running.values()].some((other) => other.session.phaseNames().length > 0);
    const spoiled = concurrentGroupRecorded;
    if (running.size === 0) concurrentGroupRecorded = false;
    finished.set(name, null);
    if (spoiled) {
      throw withoutStack(
        `alloc-tracker: test "${name}" ran concurrently with other tests in the same worker while phases were recorded; ` +
          'allocations of concurrent tests cannot be told apart. Run tests that record phases sequentially ' +
          '(no test.concurrent / sequence.concurrent), or measure with an explicit Session.run().',
      );
    }
    return;
  }
  // Two tests of one name would share one baseline entry (and one would make the other's look obsolete),
  // as soon as either records phases. Retries of one test keep their id.
  const owner = owners.get(name);
  const recorded = records.length > 0;
  if (owner !== undefined && owner.id !== task.id && (recorded || owner.recorded)) {
    finished.set(name, null);
    throw withoutStack(
      `alloc-tracker: two tests in this file are named "${name}"; their phases would share one baseline entry. ` +
        'Give them different names.',
    );
  }
  owners.set(name, { id: task.id, recorded: recorded || (owner?.recorded ?? false) });
  if (!recorded) {
    finished.set(name, testFailed ? null : new Set());
    return;
  }
  const failures: string[] = [];
  const meta: TestAllocationMeta = {
    test: name,
    environment: environmentKey(),
    mode: settings.mode,
    phases: [],
    records,
    nondeterministic: !determinismStatus().deterministic,
  };
  for (const record of records) {
    const explicit = state.explicit.get(record.name);
    const gated = settings.auto || explicit !== undefined;
    const { outcome, failure } = judgePhase(settings, task, record, explicit?.options, gated);
    meta.phases.push(outcome);
    // A phase checked by toMatchAllocationBaseline already passed or failed there.
    if (failure !== null && explicit === undefined) failures.push(failure + saveFailureProfile(settings, task, state.session, record));
  }
  (task.meta as Record<string, unknown>)[PROVIDE_KEY] = meta;
  // Only gated phases are stored, so only they can make a stored entry current (as in the reporter).
  finished.set(name, testFailed ? null : new Set(meta.phases.filter((p) => p.gated).map((p) => p.name)));
  if (failures.length > 0 && !testFailed) throw withoutStack(failures.join('\n\n'));
});

function collectTestNames(suite: SuiteLike, into: Set<string>): Set<string> {
  for (const task of suite.tasks ?? []) {
    if (task.type === 'test') into.add(fullTestName(task as TaskLike));
    else collectTestNames(task, into);
  }
  return into;
}

// Obsolete entries fail the file in CI only (as obsolete snapshots do); locally the reporter lists them
// and update mode removes them. Tests skipped or filtered out still exist, so they are never obsolete.
afterAll(({}, suite) => {
  const file = suite as unknown as SuiteLike;
  if (settings.mode !== 'ci' || !file.filepath || !isMeasured(settings, file.filepath)) return;
  const baselines = baselinesOf(settings, file.filepath);
  const environment = environmentKey();
  const stored = baselines?.[environment];
  if (!stored) return;
  const existing = collectTestNames(file, new Set());
  const obsolete: { test: string; phase: string | null }[] = [];
  for (const [test, phases] of Object.entries(stored)) {
    if (!existing.has(test)) {
      obsolete.push({ test, phase: null });
      continue;
    }
    const recorded = finished.get(test);
    if (!recorded) continue; // not run here, or failed: cannot tell
    for (const phaseName of Object.keys(phases)) if (!recorded.has(phaseName)) obsolete.push({ test, phase: phaseName });
  }
  if (obsolete.length > 0) {
    const baselineFile = relativeToRoot(settings.root, baselinePathFor(settings.root, settings.baselineDir, file.filepath));
    throw withoutStack(formatObsolete(relativeToRoot(settings.root, file.filepath), baselineFile, environment, obsolete));
  }
});
