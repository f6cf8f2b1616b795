/**
 * Options of the plugin, the serialisable settings it hands to workers (project.provide/inject), the
 * data workers attach to each test (task.meta), and how the mode (local / update / CI) is decided.
 */
import type { PhaseRecord } from '../core/types.ts';
import type { FileOverride, MetricComparison } from '../baseline/compare.ts';
import type { BaselineMetrics, Metric, Tolerance, ToleranceInput } from '../baseline/types.ts';

/** local: missing baselines are written, drift fails. update: measured entries are rewritten and obsolete
 * ones removed. ci: nothing is written; missing and obsolete entries fail. */
export type Mode = 'local' | 'update' | 'ci';

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
  /** Metrics gated against baselines (default `['bytes', 'count']`). */
  metrics?: Metric[];
  /**
   * Global tolerance: a change passes while within `percent` of the baseline or the absolute floor
   * (`bytes` for byte metrics, `count` for counts), whichever is larger. Default 5% / 16 KiB / 128.
   */
  tolerance?: ToleranceInput;
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
  /** Sampling interval of each test's session: 1 (default) counts exactly, 0 switches counts and sites off. */
  samplingInterval?: number;
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
  overrides: FileOverride[];
  auto: boolean;
  /** Globs of measured test files; empty means all. */
  include: string[];
  samplingInterval: number;
  topSites: number;
  /** Whether workers were given the deterministic flags (forks pools). */
  deterministicPool: boolean;
  pool: string;
  color: boolean;
}

/** Status of one phase of one test, as shown in the report. */
export type PhaseStatus = 'ok' | 'improved' | 'regressed' | 'new' | 'missing' | 'updated' | 'unchecked';

/** One phase of one test, as a worker saw it. */
export interface PhaseOutcome {
  name: string;
  status: PhaseStatus;
  /** Whether this phase was gated (auto or explicit matcher). */
  gated: boolean;
  /** The stored entry before this run, or null. */
  baseline: BaselineMetrics | null;
  /** What this run would store. */
  current: BaselineMetrics;
  comparisons: MetricComparison[];
  tolerance: Tolerance;
  metrics: Metric[];
}

/** What a worker attaches to `task.meta.allocTracker` of every test that recorded phases. */
export interface TestAllocationMeta {
  /** Full test name, `describe > test`: the key in the baseline file. */
  test: string;
  /** Environment key (`node26-linux-x64`). */
  environment: string;
  mode: Mode;
  phases: PhaseOutcome[];
  records: PhaseRecord[];
  /** True when the worker lacked the deterministic flags. */
  nondeterministic: boolean;
}

declare module 'vitest' {
  interface ProvidedContext {
    allocTracker: WorkerSettings;
  }
  interface TaskMeta {
    allocTracker?: TestAllocationMeta;
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
