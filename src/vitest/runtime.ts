/**
 * The worker side of the plugin, as one object per worker (WorkerRuntime): the settings, one Session
 * per running test, and one FileBaselineState per test file. The setup file drives it from Vitest's
 * hooks and the matchers call into it; it decides nothing about baselines itself (the file state
 * does) and writes no baseline (the main process does).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { determinismStatus, environmentFingerprint } from '../core/environment.ts';
import { Session } from '../core/session.ts';
import { collectGarbage } from '../core/retention.ts';
import type { PhaseRecord } from '../core/types.ts';
import { matchingOverrides, resolvePhaseTolerance } from '../baseline/compare.ts';
import { FileBaselineState, type MeasuredPhase, type PhaseJudgement, type PhaseRules } from '../baseline/file-state.ts';
import { BaselineFileError, baselinePathFor, metricsOf } from '../baseline/store.ts';
import type { SourceMapper } from '../core/source-map.ts';
import { writeTextAtomic } from '../report/atomic.ts';
import { savedProfilePath } from '../report/html/files.ts';
import { flameTreeFromProfile, pruneFlameTree } from '../report/html/model.ts';
import { annotate, testLocation, type Annotation } from './annotations.ts';
import type { BaselineMatchOptions } from './augment.ts';
import {
  FILE_META_KEY,
  PROVIDE_KEY,
  type FileAllocationMeta,
  type PhaseFailureMeta,
  type TestAllocationMeta,
  type WorkerSettings,
} from './settings.ts';
import { mapRecord, workerSourceMapper } from './source-maps.ts';

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
  meta?: object;
}

export type { BaselineMatchOptions };

/** `describe > test`, the key of a test in baseline files. */
export function fullTestName(task: TaskLike): string {
  if (typeof task.fullTestName === 'string' && task.fullTestName !== '') return task.fullTestName;
  const names = [task.name];
  for (let s = task.suite; s && s.filepath === undefined; s = s.suite) if (s.name) names.unshift(s.name);
  return names.join(' > ');
}

/** `file` relative to `root`, with forward slashes: how paths are shown and matched against globs. */
export function relativeToRoot(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

/** Whether the plugin measures tests of this file (`include` option). */
export function isMeasured(settings: WorkerSettings, testFile: string): boolean {
  if (settings.include.length === 0) return true;
  const file = relativeToRoot(settings.root, testFile);
  return settings.include.some((glob) => path.posix.matchesGlob(file, glob));
}

/** Tolerance and metrics for a phase: defaults < plugin options < file overrides < per-call options. */
export function effectiveRules(
  settings: WorkerSettings,
  testFile: string,
  call: BaselineMatchOptions | undefined,
  gated: boolean,
  isAsync = false,
): PhaseRules {
  const overrides = matchingOverrides(settings.overrides, relativeToRoot(settings.root, testFile));
  let metrics = settings.metrics;
  for (const o of overrides) if (o.metrics) metrics = o.metrics;
  if (call?.metrics) metrics = call.metrics;
  const tolerance = resolvePhaseTolerance(
    isAsync,
    [settings.tolerance, ...overrides.map((o) => o.tolerance), call?.tolerance],
    settings.asyncTolerance,
  );
  return { tolerance, metrics, gated };
}

/** A saved heap profile: the line for the failure message, and the file (absolute) when one was written. */
export interface SavedProfile {
  note: string;
  file: string | null;
}

/**
 * Save a failing phase's heap profile (Chrome DevTools: Memory > Load) under the profile directory,
 * mirroring the test file's path, with call frames mapped to the original source when `mapper` is
 * given. Returns a line for the failure message ('' when none was saved) and the file.
 */
export function saveFailureProfile(
  settings: WorkerSettings,
  task: TaskLike,
  session: Session,
  record: PhaseRecord,
  mapper?: SourceMapper,
): SavedProfile {
  const none: SavedProfile = { note: '', file: null };
  const phase = record.name;
  // The record may come from another session (an explicit Session.run): then this one's profile is not its.
  if (settings.profileDir === null || !session.has(phase) || session.phase(phase).totalBytes !== record.totalBytes) return none;
  const raw = session.profile(phase);
  if (!raw) return none;
  const profile = mapper ? mapper.mapProfile(raw) : raw;
  // Mirror the test file's path as baselines do (test files outside the root go under _outside_root/);
  // the same rule the HTML report uses to find the file again.
  const file = savedProfilePath(
    settings.root,
    settings.profileDir,
    task.file?.filepath ?? path.join(settings.root, 'unknown'),
    fullTestName(task),
    phase,
  );
  const profileRoot = path.resolve(settings.root, settings.profileDir);
  if (path.relative(profileRoot, file).startsWith('..')) return none;
  try {
    // Atomic, like every file the plugin writes: a viewer never loads half a profile.
    writeTextAtomic(file, JSON.stringify(profile));
  } catch (error) {
    return { note: `\n  (could not save the heap profile of "${phase}": ${(error as Error).message})`, file: null };
  }
  return {
    note: `\n  heap profile of "${phase}": ${relativeToRoot(settings.root, file)} (open in Chrome DevTools: Memory > Load profile)`,
    file,
  };
}

/** An error whose message says everything: a code frame of the setup file would only distract. */
export function withoutStack(message: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  return error;
}

/** What gates tests whose worker setup never records (another pool, isolate: false). */
const SETUP_REMEDY = "measure these files in a project of their own with pool: 'forks' and isolate: true (test.projects)";

/**
 * Every test that started in this process, in order (`file :: full name`). How much a test allocates
 * depends on how warm earlier tests left the code (JIT tiers, feedback, caches), so a test's figures
 * are compared only with figures taken after the same tests. Shared through the global object: with
 * isolate: false the setup file and this module are evaluated again for every test file.
 */
const HISTORY_KEY = Symbol.for('alloc-tracker.test-history.v1');
const history: string[] =
  ((globalThis as Record<symbol, unknown>)[HISTORY_KEY] as string[] | undefined) ??
  ((globalThis as Record<symbol, unknown>)[HISTORY_KEY] = []);

/** The hash stored with a baseline entry: the tests that ran before this one in its worker. */
export function contextOf(before: readonly string[]): string {
  const hash = createHash('sha256');
  for (const entry of before) hash.update(entry).update('\u0000');
  return hash.digest('hex').slice(0, 16);
}

/** Vitest's runtime config in this worker (not public API: read defensively; the same on 4.1 and 5). */
function workerConfig(): { testNamePattern?: unknown; sequence?: { shuffle?: unknown } } {
  const worker = (globalThis as { __vitest_worker__?: { config?: object } }).__vitest_worker__;
  return worker?.config ?? {};
}

/** Whether the file uses `.only` (Vitest 5 says so on the file; 4.1 does not, so its source is read). */
function fileUsesOnly(file: SuiteLike & { containsOnly?: boolean }): boolean {
  if (typeof file.containsOnly === 'boolean') return file.containsOnly;
  try {
    return /\b(?:it|test|describe|suite)\s*\.\s*only\b/.test(readFileSync(file.filepath ?? '', 'utf8'));
  } catch {
    return false;
  }
}

/** The tests of a suite in the order they run (depth first), with their mode. */
function testsInOrder(suite: SuiteLike, into: TaskLike[] = []): TaskLike[] {
  for (const task of suite.tasks ?? []) {
    if (task.type === 'test') into.push(task as TaskLike);
    else testsInOrder(task, into);
  }
  return into;
}

interface RunningTest {
  task: TaskLike;
  session: Session;
  /** The context its figures are measured in (see contextOf). */
  context: string;
  /** Whether this run is whole, and why not. */
  wholeRun: boolean;
  partialBecause: string;
  /** What records its phases when the worker setup is why the run is partial (see MeasuredPhase). */
  partialRemedy: string;
  deactivate: () => void;
  /** Phases a matcher already checked against their baseline (with its per-call options), so the end of the test does not fail them twice. */
  explicit: Map<string, BaselineMatchOptions>;
  /** Phases whose toMatchAllocationBaseline failed (regressed or missing), with the matcher's message. */
  explicitFailures: Map<string, string>;
  /** Another test was running in this isolate at the same time (test.concurrent). */
  concurrent: boolean;
}

interface FileRun {
  /** Null when the baseline file could not be used (the error failed the file). */
  state: FileBaselineState | null;
  /** Which test (task id) owns each full name, and whether it recorded phases. */
  owners: Map<string, { id: string; recorded: boolean }>;
  /** Source maps of this file's modules (one module graph per test file when isolated). */
  mapper: SourceMapper;
}

function collectTests(suite: SuiteLike, into: { name: string; passed: boolean }[]): { name: string; passed: boolean }[] {
  for (const task of suite.tasks ?? []) {
    if (task.type === 'test') into.push({ name: fullTestName(task as TaskLike), passed: task.result?.state === 'pass' });
    else collectTests(task, into);
  }
  return into;
}

/** Shortest useful text for a phase name inside an annotation (Vitest names attachment copies after it). */
function shortName(name: string): string {
  return name.length > 60 ? `${name.slice(0, 57)}...` : name;
}

/** One line for the annotation of a failing phase: what failed and by how much. */
function annotationMessage(outcome: PhaseJudgement['outcome'], profileSaved: boolean): string {
  const phase = shortName(outcome.name);
  if (outcome.baseline === null) return `no baseline for phase "${phase}" (this run writes none)`;
  const worst = outcome.comparisons.filter((c) => c.status === 'regressed');
  const parts = worst.map((c) => {
    const pct = c.changePercent === null ? 'from 0' : `${c.changePercent >= 0 ? '+' : ''}${c.changePercent.toFixed(2)}%`;
    return `${c.metric} ${pct}`;
  });
  return `phase "${phase}" regressed: ${parts.join(', ')}${profileSaved ? ' (heap profile attached)' : ''}`;
}

export class WorkerRuntime {
  readonly settings: WorkerSettings;
  /** The baseline key: Node major, platform, arch and figure-changing flags, plus this project's tags. */
  readonly environment: string;
  private readonly running = new Map<string, RunningTest>();
  private readonly files = new Map<string, FileRun>();
  /** Whether a group of concurrently running tests recorded any phase (see endTest). */
  private concurrentGroupRecorded = false;

  constructor(settings: WorkerSettings) {
    this.settings = settings;
    this.environment = [environmentFingerprint().key, ...settings.keyTags].join('+');
  }

  /** A test file starts: read its baselines (a corrupt file fails the file before any test runs). */
  beginFile(suite: SuiteLike): void {
    const filepath = suite.filepath;
    if (!filepath || !isMeasured(this.settings, filepath)) return;
    const s = this.settings;
    const baselineFile = baselinePathFor(s.root, s.baselineDir, filepath);
    const run: FileRun = { state: null, owners: new Map(), mapper: workerSourceMapper() };
    this.files.set(filepath, run);
    try {
      run.state = FileBaselineState.open({
        mode: s.mode,
        environment: this.environment,
        testFile: relativeToRoot(s.root, filepath),
        baselineFile,
        baselineFileShown: relativeToRoot(s.root, baselineFile),
        root: s.root,
        color: s.color,
      });
    } catch (error) {
      if (error instanceof BaselineFileError) this.fileMeta(suite, { error: error.message, proposal: null, mode: s.mode });
      throw error;
    }
  }

  /**
   * A test starts: it joins this process's history, and a measured one gets a fresh session, ambient for
   * every span() it reaches, with the context it runs in.
   */
  beginTest(task: TaskLike): void {
    const filepath = task.file?.filepath ?? '';
    const entry = `${relativeToRoot(this.settings.root, filepath)} :: ${fullTestName(task)}`;
    const before = [...history];
    history.push(entry);
    if (!isMeasured(this.settings, filepath)) return;
    // A full collection first: V8 empties caches at major GCs (number-to-string, regexp results), and
    // whether one ran since the last test depends on the runner's own messages, that is on timing. From
    // an emptied cache, 'line ' + i allocates the same in every run (bench:fidelity: a string phase's
    // spread fell from 115 kB to 288 B over its reruns). Not when counting: there the phases repeated
    // without it (11 of 11 reruns of the fidelity suite under a CPU burner, strings included), and with
    // it a Map phase lost 65 allocations in 2 of 12 and an object loop one in 2 of 12.
    if (this.settings.samplingInterval !== 1) collectGarbage();
    const { wholeRun, partialBecause, partialRemedy, setup } = this.wholeRun(task, before);
    const retained = this.settings.retained || (task.file ? this.usesRetention(task.file) : false);
    const session = new Session({
      // Retention runs V8's sampler on live objects, and V8 allows one sampler: no sites then.
      samplingInterval: retained ? 0 : this.settings.samplingInterval,
      sites: this.settings.sites,
      topSites: this.settings.topSites,
      retained,
    });
    const concurrent = this.running.size > 0;
    for (const other of this.running.values()) other.concurrent = true;
    this.running.set(task.id, {
      task,
      session,
      // A worker set up otherwise (another pool, shared between files) is another context whatever ran.
      context: contextOf(setup === '' ? before : [setup, ...before]),
      wholeRun,
      partialBecause,
      partialRemedy,
      deactivate: session.activate(),
      explicit: new Map(),
      explicitFailures: new Map(),
      concurrent,
    });
  }

  private readonly retentionFiles = new Map<string, boolean>();
  /** Whether a test file uses a retention matcher: its phases then track what they leave behind. */
  private usesRetention(file: { filepath: string }): boolean {
    let uses = this.retentionFiles.get(file.filepath);
    if (uses === undefined) {
      try {
        uses = /\bto(?:RetainLessThan|GrowLessThan)\b/.test(readFileSync(file.filepath, 'utf8'));
      } catch {
        uses = false;
      }
      this.retentionFiles.set(file.filepath, uses);
    }
    return uses;
  }

  /**
   * Whether a test runs as in a whole, in-order run of its file in a fresh worker: no name filter, no
   * `.only`, no shuffling, and exactly the runnable tests before it in its file ran before it in this
   * process. Only such runs record baselines (a filtered run's context is not the one a full run has).
   */
  private wholeRun(
    task: TaskLike,
    before: readonly string[],
  ): { wholeRun: boolean; partialBecause: string; partialRemedy: string; setup: string } {
    const s = this.settings;
    const partialRemedy = SETUP_REMEDY;
    // Settings under which what runs before a test differs from run to run, whatever the test names say:
    // phases are measured and reported, never gated (their context carries the setup, so no recorded
    // context matches).
    const setup = `pool=${s.pool};isolate=${String(s.isolate)}`;
    if (!s.deterministicPool) {
      return {
        wholeRun: false,
        setup,
        partialRemedy,
        partialBecause: `the '${s.pool}' pool cannot give workers the flags that make figures exact`,
      };
    }
    if (!s.isolate) {
      return {
        wholeRun: false,
        setup,
        partialRemedy,
        partialBecause: 'isolate: false lets test files share a worker, and which files ran before differs run to run',
      };
    }
    if (s.pool !== 'forks') {
      return { wholeRun: false, setup, partialRemedy, partialBecause: `the '${s.pool}' pool reuses a worker process across test files` };
    }
    return { ...this.partOfFile(task, before), partialRemedy: '', setup: '' };
  }

  /** Whether the tests before this one in its file ran, in order, and nothing else (forks pool, isolated). */
  private partOfFile(task: TaskLike, before: readonly string[]): { wholeRun: boolean; partialBecause: string } {
    const config = workerConfig();
    const file = task.file as (SuiteLike & { containsOnly?: boolean }) | undefined;
    const pattern = config.testNamePattern;
    if ((pattern instanceof RegExp && pattern.source !== '(?:)') || (typeof pattern === 'string' && pattern !== '')) {
      return { wholeRun: false, partialBecause: 'the run was filtered by test name (-t)' };
    }
    const shuffle = config.sequence?.shuffle;
    if (shuffle === true || (typeof shuffle === 'object' && shuffle !== null && (shuffle as { tests?: boolean }).tests)) {
      return { wholeRun: false, partialBecause: 'the tests ran in shuffled order (sequence.shuffle)' };
    }
    if (file && fileUsesOnly(file)) return { wholeRun: false, partialBecause: 'the file uses .only' };
    const prefix = `${relativeToRoot(this.settings.root, file?.filepath ?? '')} :: `;
    if (before.some((entry) => !entry.startsWith(prefix))) {
      return { wholeRun: false, partialBecause: 'other test files ran before it in the same worker (isolate: false)' };
    }
    const expected: string[] = [];
    for (const t of file ? testsInOrder(file) : []) {
      if (t.id === task.id) break;
      if (t.mode === 'run') expected.push(`${prefix}${fullTestName(t)}`);
    }
    if (expected.length !== before.length || expected.some((e, i) => e !== before[i])) {
      return { wholeRun: false, partialBecause: 'not every test before it in its file ran first (a retry, or tests skipped by a filter)' };
    }
    return { wholeRun: true, partialBecause: '' };
  }

  /** The session of a running test, if it is measured. */
  sessionOf(task: TaskLike): Session | undefined {
    return this.running.get(task.id)?.session;
  }

  /** The source mapper of the test's file (a fresh one outside measured files). */
  mapperOf(task: TaskLike): SourceMapper {
    return this.files.get(task.file?.filepath ?? '')?.mapper ?? workerSourceMapper();
  }

  /**
   * toMatchAllocationBaseline: judge one phase now, with per-call options; the end of the test will not
   * fail it again. Runs at matcher time, after the phase closed: its sites are mapped to the source.
   */
  matchBaseline(task: TaskLike, record: PhaseRecord, call: BaselineMatchOptions): PhaseJudgement {
    const filepath = task.file?.filepath ?? '';
    const file = this.files.get(filepath);
    const state = file?.state;
    if (!file || !state) {
      throw new Error(
        `toMatchAllocationBaseline: ${relativeToRoot(this.settings.root, filepath)} is not measured by alloc-tracker ` +
          '(see the include option of allocTracker())',
      );
    }
    const running = this.running.get(task.id);
    running?.explicit.set(record.name, call);
    const judgement = state.judge(
      fullTestName(task),
      this.measured(mapRecord(file.mapper, record), running),
      effectiveRules(this.settings, filepath, call, true, record.async),
    );
    if (judgement.failure !== null) running?.explicitFailures.set(record.name, judgement.failure);
    return judgement;
  }

  /**
   * A test ended: judge its phases, attach what it measured and proposes to its meta, annotate each
   * failing phase at the test's line (with its heap profile), fail the test when a gate failed.
   */
  async endTest(task: TaskLike): Promise<void> {
    const running = this.running.get(task.id);
    if (!running) return;
    running.deactivate();
    this.running.delete(task.id);
    const rawRecords = running.session.records();
    const testFailed = task.result?.state === 'fail' || (task.result?.errors?.length ?? 0) > 0;
    // A timeout of a measured test names the plugin: measuring may be what made it slow.
    const timedOut = (task.result?.errors ?? []).some((e) => /timed out in \d+ ?ms/i.test(String((e as { message?: unknown })?.message)));
    if (timedOut) {
      throw withoutStack(
        `alloc-tracker measured this test, which makes allocation-heavy code slower (every allocation goes through V8's ` +
          `runtime${this.settings.samplingInterval === 1 ? ', and exact counts sample each one' : ''}); its timeout was already ` +
          `raised ${this.settings.timeoutFactor}x. Raise it further with allocTracker({ timeoutFactor }) or the test's own timeout` +
          (this.settings.samplingInterval === 1 && this.settings.sites
            ? ', or count without sites (counts: true, no samplingInterval)'
            : '') +
          (this.settings.samplingInterval === 1 ? ', or measure without counts (counts: false)' : '') +
          ', or leave the file out of allocTracker({ include }).',
      );
    }
    const name = fullTestName(task);
    const filepath = task.file?.filepath ?? '';
    const file = this.files.get(filepath);
    const state = file?.state ?? null;
    if (running.concurrent) {
      // The ambient session is per isolate: spans of concurrent tests land in whichever session was
      // activated last, so every test of the group is suspect once any of them recorded a phase.
      this.concurrentGroupRecorded ||=
        rawRecords.length > 0 || [...this.running.values()].some((other) => other.session.phaseNames().length > 0);
      const spoiled = this.concurrentGroupRecorded;
      if (this.running.size === 0) this.concurrentGroupRecorded = false;
      state?.finishTest(name, false, []);
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
    const recorded = rawRecords.length > 0;
    const owner = file?.owners.get(name);
    if (owner !== undefined && owner.id !== task.id && (recorded || owner.recorded)) {
      state?.finishTest(name, false, []);
      throw withoutStack(
        `alloc-tracker: two tests in this file are named "${name}"; their phases would share one baseline entry. ` +
          'Give them different names.',
      );
    }
    file?.owners.set(name, { id: task.id, recorded: recorded || (owner?.recorded ?? false) });
    if (!recorded || !state || !file) {
      state?.finishTest(name, !testFailed, []);
      return;
    }
    // Every phase is closed now: mapping (which reads files and allocates) measures nothing.
    const records = rawRecords.map((record) => mapRecord(file.mapper, record));
    const location = testLocation(task);
    const meta: TestAllocationMeta = {
      test: name,
      environment: this.environment,
      mode: this.settings.mode,
      phases: [],
      records,
      nondeterministic: !determinismStatus().deterministic,
      changes: [],
      failures: [],
      trees: [],
      ...(location ? { location: { line: location.line, column: location.column } } : {}),
    };
    const failures: string[] = [];
    const annotations: Annotation[] = [];
    for (const record of records) {
      const explicit = running.explicit.get(record.name);
      const gated = this.settings.auto || explicit !== undefined;
      const judgement = state.judge(
        name,
        this.measured(record, running),
        effectiveRules(this.settings, filepath, explicit, gated, record.async),
      );
      meta.phases.push(judgement.outcome);
      if (judgement.change) meta.changes.push(judgement.change);
      // A phase checked by toMatchAllocationBaseline already passed or failed there.
      const explicitFailure = running.explicitFailures.get(record.name);
      const failure = explicit === undefined ? judgement.failure : (explicitFailure ?? null);
      if (failure === null) continue;
      const saved =
        explicit === undefined
          ? saveFailureProfile(this.settings, task, running.session, record, file.mapper)
          : { note: '', file: this.savedProfileFile(task, record) };
      const message = failure + saved.note;
      if (explicit === undefined) failures.push(message);
      const kind: PhaseFailureMeta['kind'] = judgement.outcome.baseline === null ? 'missing' : 'regressed';
      meta.failures.push({ phase: record.name, kind, via: explicit === undefined ? 'gate' : 'matcher', message });
      annotations.push({
        message: annotationMessage(judgement.outcome, saved.file !== null),
        type: 'alloc-tracker',
        ...(location && this.settings.annotationLocation ? { location } : {}),
        ...(saved.file ? { attachment: { path: saved.file, contentType: 'application/json' } } : {}),
      });
    }
    // Every sampled phase gets its call tree (source-mapped, pruned as the HTML page would draw it).
    for (const record of records) {
      if (record.samplingInterval === 0) continue;
      const profile = running.session.profile(record.name);
      if (!profile) continue;
      const tree = pruneFlameTree(flameTreeFromProfile(file.mapper.mapProfile(profile), this.settings.root));
      if (tree) meta.trees.push({ phase: record.name, tree });
    }
    (task.meta as Record<string, unknown>)[PROVIDE_KEY] = meta;
    // Only gated phases are stored, so only they can make a stored entry current.
    state.finishTest(
      name,
      !testFailed,
      meta.phases.filter((p) => p.gated).map((p) => p.name),
    );
    await annotate(task, annotations);
    if (failures.length > 0 && !testFailed) throw withoutStack(failures.join('\n\n'));
  }

  /** All tests of a file ran: propose what to do about obsolete entries; fail the file where the mode says so. */
  endFile(suite: SuiteLike): void {
    const filepath = suite.filepath;
    const state = filepath ? this.files.get(filepath)?.state : undefined;
    if (!filepath || !state) return;
    this.files.delete(filepath);
    const proposal = state.finishFile(collectTests(suite, []));
    this.fileMeta(suite, { error: null, proposal, mode: this.settings.mode });
    if (proposal.failure !== null) throw withoutStack(proposal.failure);
  }

  /** The profile a failing matcher saved for this test and phase (same path rule), if it exists. */
  private savedProfileFile(task: TaskLike, record: PhaseRecord): string | null {
    return this.profilesSaved.get(`${task.id}\u0000${record.name}`) ?? null;
  }

  /** Profiles saved by failing matchers, by test id and phase. */
  private readonly profilesSaved = new Map<string, string>();

  /** Called by the matchers when they saved a failing phase's profile. */
  rememberProfile(task: TaskLike, phase: string, file: string | null): void {
    if (file) this.profilesSaved.set(`${task.id}\u0000${phase}`, file);
  }

  private fileMeta(suite: SuiteLike, meta: FileAllocationMeta): void {
    if (suite.meta) (suite.meta as Record<string, unknown>)[FILE_META_KEY] = meta;
  }

  private measured(record: PhaseRecord, running: RunningTest | undefined): MeasuredPhase {
    return {
      name: record.name,
      metrics: metricsOf(record, running?.context ?? contextOf([])),
      sites: record.sites,
      wholeRun: running?.wholeRun ?? false,
      partialBecause: running?.partialBecause ?? 'the test ran outside the plugin',
      partialRemedy: running?.partialRemedy ?? '',
    };
  }
}
