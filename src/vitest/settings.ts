/**
 * Options of the plugin, the serialisable settings it hands to workers (project.provide/inject), the
 * messages workers attach to tests and files (task.meta), and how the mode (local / update / CI) is
 * decided. Internal to the plugin: the package exports only AllocTrackerOptions (and Mode) from here.
 */
import type { PhaseRecord } from '../core/types.ts';
import type { FileOverride } from '../baseline/compare.ts';
import type { FileProposal, PhaseOutcome } from '../baseline/file-state.ts';
import type { BaselineChange } from '../baseline/store.ts';
import type { Metric, Mode, ToleranceInput } from '../baseline/types.ts';

export type { Mode };

/** The environment variable that switches on update mode (`1`/`true`/`yes`). */
export const UPDATE_ENV = 'ALLOC_TRACKER_UPDATE';
/** The argument, after `--` on the vitest command line or anywhere for `vitest-alloc`, that updates. */
export const UPDATE_FLAG = '--update-baselines';
/** Key for project.provide / inject and for task.meta. */
export const PROVIDE_KEY = 'allocTracker';

export interface AllocTrackerOptions {
  /** Directory of baseline files, relative to the project root (default `baselines`). */
  baselineDir?: string;
  /**
   * Where a failing phase's heap profile is saved (`.heapprofile`, for Chrome DevTools), relative to the
   * project root (default `.alloc-profiles`); `false` saves none.
   */
  profiles?: string | false;
  /**
   * Metrics gated against baselines (default `['bytes']`, and `'count'` with `counts: true`). Also
   * `peakBytes`, `heapBytes`, `externalBytes`, and `retainedBytes` (which turns `retained` on).
   */
  metrics?: Metric[];
  /**
   * Global tolerance: a change passes while within `percent` of the baseline or the absolute floor
   * (`bytes` for byte metrics, `count` for counts), whichever is larger. Default: see DEFAULT_TOLERANCE.
   */
  tolerance?: ToleranceInput;
  /**
   * Tolerance of asynchronous phases, over `tolerance` (default 3% / 64 KiB / 1024: while a phase awaits,
   * the runner's own messages and the order of async I/O move its figures a little).
   */
  asyncTolerance?: ToleranceInput;
  /** Per-file-pattern tolerance or metrics; globs are matched against paths relative to the project root. Later entries win. */
  overrides?: FileOverride[];
  /**
   * Compare every phase recorded in every test with its baseline (default true). When false, only phases
   * passed to `toMatchAllocationBaseline()` are gated and stored.
   */
  auto?: boolean;
  /**
   * Globs (relative to the project root) of the test files whose tests get a session, are gated and
   * stored. Default: every test file of the project. Tests elsewhere run as if the plugin were absent.
   */
  include?: string[];
  /** Force a mode instead of deriving it from -u / --update-baselines / ALLOC_TRACKER_UPDATE / CI. */
  mode?: Mode;
  /**
   * Exact allocation counts (V8's sampler at interval 1): gated as `count` and shown next to bytes.
   * Costs time and memory on allocation-heavy code (see the README's costs); default false.
   */
  counts?: boolean;
  /**
   * Track what each phase leaves behind (`retainedBytes`, `retainedSites`, growth per iteration of
   * `Session.measure`), for the retention matchers and the `retainedBytes` metric. Full garbage
   * collections when a test ends; default false, and on for test files that use a retention matcher.
   */
  retained?: boolean;
  /**
   * Pin V8's JIT to its interpreter (`--max-opt=0 --no-lazy-feedback-allocation`): figures then hardly
   * depend on how warm earlier tests left the code, at a price (hot loops ran 13-22x slower). Default false.
   */
  pinTiers?: boolean;
  /**
   * Sampling interval of each test's session in bytes: 1 counts exactly (as `counts: true`), N > 1 gives
   * allocation sites for failure messages and flame graphs (default 4096), 0 switches sampling off.
   */
  samplingInterval?: number;
  /**
   * Measured tests run slower (every allocation goes through V8's runtime, and counting samples each
   * one): their timeout is multiplied by this (default 3, 10 with counts).
   */
  timeoutFactor?: number;
  /** Allocation sites kept per phase for failure messages (default 10). */
  topSites?: number;
  /** End-of-run terminal report: 'full' (default: every phase), 'changes' (only phases not ok), 'off'. */
  report?: 'full' | 'changes' | 'off';
  /** Write the run's results as JSON to this file (relative to the root of the first project). */
  outputFile?: string;
}

/** What each worker gets via inject(PROVIDE_KEY). Plain JSON. */
export interface WorkerSettings {
  mode: Mode;
  root: string;
  baselineDir: string;
  /** Directory for failing phases' heap profiles, relative to root; null: none are saved. */
  profileDir: string | null;
  metrics: Metric[];
  tolerance: ToleranceInput;
  asyncTolerance: ToleranceInput;
  overrides: FileOverride[];
  auto: boolean;
  /** Globs of measured test files; empty means all. */
  include: string[];
  samplingInterval: number;
  topSites: number;
  /** Track retention for every measured test (else only in files that use a retention matcher). */
  retained: boolean;
  /** Whether workers were given the deterministic flags (forks pools). */
  deterministicPool: boolean;
  pool: string;
  /** Vitest's `isolate`: false when test files share a worker (and their modules). */
  isolate: boolean;
  /** Added to the environment key: settings of this project that change figures (`vmForks`, `coverage`). */
  keyTags: string[];
  /** The factor measured tests' timeouts were raised by, for the message when one still times out. */
  timeoutFactor: number;
  color: boolean;
}

/**
 * What a worker attaches to `task.meta.allocTracker` of every measured test that recorded phases.
 * Arrays and fixed-key objects only: names never become property keys.
 */
export interface TestAllocationMeta {
  /** Full test name, `describe > test`: the key in the baseline file. */
  test: string;
  /** Environment key (`node26-linux-x64`). */
  environment: string;
  phases: PhaseOutcome[];
  records: PhaseRecord[];
  /** True when the worker lacked the deterministic flags. */
  nondeterministic: boolean;
  /** What to store if this test passes (the main process checks that it did). */
  changes: BaselineChange[];
}

/** What a worker attaches to the test module's `meta.allocTrackerFile` when the file's tests ran. */
export interface FileAllocationMeta {
  /** The baseline file could not be used (it was left untouched), or null. */
  error: string | null;
  /** Obsolete entries and removals; null when the file ended before its tests ran. */
  proposal: FileProposal | null;
}

/** Key of the per-file message on the test module's meta. */
export const FILE_META_KEY = 'allocTrackerFile';

declare module 'vitest' {
  interface ProvidedContext {
    allocTracker: WorkerSettings;
  }
  interface TaskMeta {
    allocTracker?: TestAllocationMeta;
    allocTrackerFile?: FileAllocationMeta;
  }
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

/** std-env semantics for the plain CI variable: set and not "false"/"0". */
export function isCiEnv(env: Readonly<Record<string, string | undefined>>): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/** `--update-baselines` after `--` on the command line (Vitest ignores what follows `--`). */
export function hasUpdateFlag(argv: readonly string[]): boolean {
  const separator = argv.indexOf('--');
  return separator !== -1 && argv.slice(separator + 1).includes(UPDATE_FLAG);
}

/**
 * The mode, mirroring snapshots: update when asked (-u, `-- --update-baselines`, ALLOC_TRACKER_UPDATE,
 * option); otherwise CI when Vitest would not write snapshots ('none', std-env's isCI) or CI is set;
 * otherwise local.
 */
export function resolveMode(input: {
  option: Mode | undefined;
  updateSnapshot: string | undefined;
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}): Mode {
  if (input.option !== undefined) return input.option;
  if (truthy(input.env[UPDATE_ENV]) || hasUpdateFlag(input.argv) || input.updateSnapshot === 'all') return 'update';
  if (input.updateSnapshot === 'none' || isCiEnv(input.env)) return 'ci';
  return 'local';
}
