/**
 * Worker-side state: one Session per running test, baseline files read (never written) and cached per
 * file, and the comparison of a test's phases with their baselines. Used by the setup file and matchers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { environmentFingerprint } from '../core/environment.ts';
import { Session } from '../core/session.ts';
import type { PhaseRecord } from '../core/types.ts';
import { comparePhase, matchingOverrides, resolveTolerance, type PhaseComparison } from '../baseline/compare.ts';
import { formatMissing, formatRegression, type PhaseContext } from '../baseline/messages.ts';
import { createHash } from 'node:crypto';
import { baselinePathFor, metricsOf, readBaselineFile } from '../baseline/store.ts';
import type { BaselineFile, BaselineMetrics, Metric, Tolerance, ToleranceInput } from '../baseline/types.ts';
import type { PhaseOutcome, PhaseStatus, WorkerSettings } from './settings.ts';

/** The parts of a Vitest test task this module reads (structural, so it fits Vitest 4.1 and 5). */
export interface TaskLike {
  id: string;
  name: string;
  type: string;
  mode?: string;
  fullTestName?: string;
  suite?: SuiteLike;
  file?: { filepath: string };
  result?: { state?: string; errors?: unknown[] };
  meta: object;
}
export interface SuiteLike {
  name: string;
  type: string;
  filepath?: string;
  suite?: SuiteLike;
  tasks?: readonly (TaskLike | SuiteLike)[];
  result?: { state?: string };
}

/** Per-call options of toMatchAllocationBaseline. */
export interface BaselineMatchOptions {
  tolerance?: ToleranceInput;
  metrics?: Metric[];
}

/** A phase a matcher already checked against its baseline, so afterEach does not gate it twice. */
export interface ExplicitCheck {
  options: BaselineMatchOptions;
}

export interface TestState {
  task: TaskLike;
  session: Session;
  deactivate: () => void;
  explicit: Map<string, ExplicitCheck>;
  /** Another test was running in this isolate at the same time (test.concurrent). */
  concurrent: boolean;
}

export const running = new Map<string, TestState>();

/** `describe > test`, the key of a test in baseline files. */
export function fullTestName(task: TaskLike): string {
  if (typeof task.fullTestName === 'string' && task.fullTestName !== '') return task.fullTestName;
  const names = [task.name];
  for (let s = task.suite; s && s.filepath === undefined; s = s.suite) if (s.name) names.unshift(s.name);
  return names.join(' > ');
}

const baselineCache = new Map<string, BaselineFile | null>();

export function clearBaselineCache(): void {
  baselineCache.clear();
}

/** The baselines of a test file (null when it has none). Throws BaselineFileError for a corrupt file. */
export function baselinesOf(settings: WorkerSettings, testFile: string): BaselineFile | null {
  const file = baselinePathFor(settings.root, settings.baselineDir, testFile);
  if (!baselineCache.has(file)) baselineCache.set(file, readBaselineFile(file));
  return baselineCache.get(file) ?? null;
}

/** `file` relative to `root`, with forward slashes: how paths are shown and matched against globs. */
export function relativeToRoot(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

/** Tolerance and metrics for a phase: defaults < plugin options < file overrides < per-call options. */
export function effectiveRules(
  settings: WorkerSettings,
  testFile: string,
  call?: BaselineMatchOptions,
): { tolerance: Tolerance; metrics: Metric[] } {
  const overrides = matchingOverrides(settings.overrides, relativeToRoot(settings.root, testFile));
  let metrics = settings.metrics;
  for (const o of overrides) if (o.metrics) metrics = o.metrics;
  if (call?.metrics) metrics = call.metrics;
  const tolerance = resolveTolerance(settings.tolerance, ...overrides.map((o) => o.tolerance), call?.tolerance);
  return { tolerance, metrics };
}

export const environmentKey = (): string => environmentFingerprint().key;

/** One phase judged against its stored entry, with the message to show when it fails the test. */
export interface PhaseJudgement {
  outcome: PhaseOutcome;
  /** Non-null when the test must fail because of this phase. */
  failure: string | null;
}

export function judgePhase(
  settings: WorkerSettings,
  task: TaskLike,
  record: PhaseRecord,
  call: BaselineMatchOptions | undefined,
  gated: boolean,
): PhaseJudgement {
  const testFile = task.file?.filepath ?? '';
  const test = fullTestName(task);
  const environment = environmentKey();
  const baselines = baselinesOf(settings, testFile);
  const stored: BaselineMetrics | null = baselines?.[environment]?.[test]?.[record.name] ?? null;
  const current = metricsOf(record);
  const { tolerance, metrics } = effectiveRules(settings, testFile, call);
  const ctx: PhaseContext = {
    test,
    file: relativeToRoot(settings.root, testFile),
    phase: record.name,
    baselineFile: relativeToRoot(settings.root, baselinePathFor(settings.root, settings.baselineDir, testFile)),
    environment,
    root: settings.root,
    color: settings.color,
  };
  let status: PhaseStatus;
  let comparison: PhaseComparison | null = null;
  let failure: string | null = null;
  if (stored === null) {
    status = settings.mode === 'update' ? 'updated' : settings.mode === 'ci' ? 'missing' : 'new';
    if (status === 'missing' && gated) failure = formatMissing(ctx, current, baselines?.[environment] !== undefined);
  } else {
    comparison = comparePhase(stored, current, metrics, tolerance);
    if (settings.mode === 'update') {
      status = JSON.stringify(stored) === JSON.stringify(current) ? 'ok' : 'updated';
    } else {
      status = comparison.status;
      if (status === 'regressed' && gated) failure = formatRegression(ctx, comparison, tolerance, stored, current, record.sites);
    }
  }
  // Not gated: neither compared nor stored, whatever the figures say.
  if (!gated) status = 'unchecked';
  return {
    outcome: {
      name: record.name,
      status,
      gated,
      baseline: stored,
      current,
      comparisons: comparison?.comparisons ?? [],
      tolerance,
      metrics,
    },
    failure,
  };
}

/** A file-name-safe form of a test or phase name; a short hash keeps altered names apart (`a/b`, `a?b`). */
function fileNamePart(name: string): string {
  const safe =
    name
      .replace(/[^A-Za-z0-9._ -]+/g, '_')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 120) || '_';
  return safe === name ? safe : `${safe}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/**
 * Save a failing phase's heap profile (Chrome DevTools: Memory > Load) under the profile directory,
 * mirroring the test file's path. Returns a line for the failure message, or '' when none was saved.
 */
export function saveFailureProfile(settings: WorkerSettings, task: TaskLike, session: Session, record: PhaseRecord): string {
  const phase = record.name;
  // The record may come from another session (an explicit Session.run): then this one's profile is not its.
  if (settings.profileDir === null || !session.has(phase) || session.phase(phase).totalBytes !== record.totalBytes) return '';
  const profile = session.profile(phase);
  if (!profile) return '';
  // Mirror the test file's path as baselines do (test files outside the root go under _outside_root/).
  const dir = baselinePathFor(settings.root, settings.profileDir, task.file?.filepath ?? path.join(settings.root, 'unknown')).slice(
    0,
    -'.json'.length,
  );
  const file = path.join(dir, `${fileNamePart(fullTestName(task))} - ${fileNamePart(phase)}.heapprofile`);
  const profileRoot = path.resolve(settings.root, settings.profileDir);
  if (path.relative(profileRoot, file).startsWith('..')) return '';
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
  } catch (error) {
    return `\n  (could not save the heap profile of "${phase}": ${(error as Error).message})`;
  }
  return `\n  heap profile of "${phase}": ${relativeToRoot(settings.root, file)} (open in Chrome DevTools: Memory > Load profile)`;
}

/** Whether the plugin measures tests of this file (`include` option). */
export function isMeasured(settings: WorkerSettings, testFile: string): boolean {
  if (settings.include.length === 0) return true;
  const file = relativeToRoot(settings.root, testFile);
  return settings.include.some((glob) => path.posix.matchesGlob(file, glob));
}

/** A fresh session for a test, made ambient for every span() it reaches. */
export function startTest(settings: WorkerSettings, task: TaskLike): void {
  const session = new Session({ samplingInterval: settings.samplingInterval, topSites: settings.topSites });
  const concurrent = running.size > 0;
  for (const other of running.values()) other.concurrent = true;
  running.set(task.id, { task, session, deactivate: session.activate(), explicit: new Map(), concurrent });
}
