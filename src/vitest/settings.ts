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
import type { FlameNode } from '../report/html/model.ts';

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
  /**
   * Force a mode instead of following Vitest's snapshot update state (-u / --update=all|new|none /
   * UPDATE_SNAPSHOT / CI) and ALLOC_TRACKER_UPDATE.
   */
  mode?: Mode;
  /**
   * Exact allocation counts (V8's sampler at interval 1, without sites): gated as `count` and shown next
   * to bytes. Phases then have no allocation sites or call trees; `samplingInterval: 1` gives counts
   * and sites, at several times the cost (see the README's costs). Default false.
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
   * Sampling interval of each test's session in bytes: 1 counts exactly and keeps every allocation's
   * site (`counts: true` counts without sites, cheaper), N > 1 gives allocation sites for failure
   * messages and flame graphs (default 4096), 0 switches sampling off.
   */
  samplingInterval?: number;
  /**
   * Measured tests run slower (every allocation goes through V8's runtime, and counting samples each
   * one): their timeout is multiplied by this (default 3, 10 with counts).
   */
  timeoutFactor?: number;
  /** Allocation sites kept per phase for failure messages (default 10). */
  topSites?: number;
  /**
   * End-of-run terminal report: 'changes' (default: phases that are not ok, then one line for the
   * unchanged ones), 'full' (a row for every phase), 'off'. Accepted changes of update runs are always listed.
   */
  report?: 'changes' | 'full' | 'off';
  /** Write the run's results as JSON to this file (relative to the root of the first project). */
  outputFile?: string;
  /** Write the run's results as one self-contained HTML page to this file (relative to the root), e.g. 'alloc-report/index.html'. */
  html?: string;
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
  /** Whether phases get sites and call trees; false at interval 1 with `counts: true`. */
  sites: boolean;
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
  /**
   * Whether annotations carry the test's location. Off in GitHub Actions when Vitest's github-actions
   * reporter runs: it would repeat each one as a notice next to the plugin's own ::error.
   */
  annotationLocation: boolean;
}

/** A phase that failed its test through the baseline gate (automatic, or toMatchAllocationBaseline). */
export interface PhaseFailureMeta {
  phase: string;
  kind: 'regressed' | 'missing';
  /** 'gate': the automatic gate failed the test in afterEach; 'matcher': toMatchAllocationBaseline did. */
  via: 'gate' | 'matcher';
  /** The failure message (the test's error). */
  message: string;
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
  /** The mode the worker judged in (a merge of sharded runs writes what the shards' mode says). */
  mode: Mode;
  /** Phases that failed through the baseline gate. */
  failures: PhaseFailureMeta[];
  /** Call tree of every sampled phase, source-mapped and pruned (paths under 0.1% folded). */
  trees: { phase: string; tree: FlameNode }[];
  /** The test's line in its file (when Vitest collected locations). */
  location?: { line: number; column: number };
}

/** What a worker attaches to the test module's `meta.allocTrackerFile` when the file's tests ran. */
export interface FileAllocationMeta {
  /** The baseline file could not be used (it was left untouched), or null. */
  error: string | null;
  /** Obsolete entries and removals; null when the file ended before its tests ran. */
  proposal: FileProposal | null;
  /** The mode the worker judged in. */
  mode: Mode;
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

/** Vitest's snapshot update state, as `-u` / `--update=…` / UPDATE_SNAPSHOT / CI leave it: 'all', 'new' or 'none'. */
export type UpdateState = 'all' | 'new' | 'none';

const MODE_OF_UPDATE: Readonly<Record<UpdateState, Mode>> = { all: 'update', new: 'local', none: 'ci' };

/**
 * ALLOC_TRACKER_UPDATE: `all` (or 1/true/yes/on) updates baselines only, `new` writes missing ones,
 * `none` writes nothing; unset, empty, 0/false/no/off: follow Vitest. Anything else is an error.
 */
export function updateStateFromEnv(value: string | undefined): UpdateState | null {
  const v = (value ?? '').trim().toLowerCase();
  if (['', '0', 'false', 'no', 'off'].includes(v)) return null;
  if (['1', 'true', 'yes', 'on', 'all'].includes(v)) return 'all';
  if (v === 'new' || v === 'none') return v;
  throw new TypeError(
    `alloc-tracker: ${UPDATE_ENV}=${JSON.stringify(value)} is not understood; use all (or 1), new or none, or leave it unset to follow vitest -u`,
  );
}

/**
 * The mode of a run, mirroring snapshots: Vitest's update state ('all' with -u / --update / --update=all
 * / UPDATE_SNAPSHOT=all, 'new' locally or with --update=new, 'none' on CI or with --update=none) maps to
 * update / local / ci. Baselines-only overrides win over it: the option, ALLOC_TRACKER_UPDATE, and
 * `-- --update-baselines` (what the vitest-alloc bin passes on).
 */
export function resolveMode(input: {
  option: Mode | undefined;
  updateSnapshot: string | undefined;
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}): Mode {
  if (input.option !== undefined) return input.option;
  const fromEnv = updateStateFromEnv(input.env[UPDATE_ENV]);
  if (fromEnv !== null) return MODE_OF_UPDATE[fromEnv];
  if (hasUpdateFlag(input.argv)) return 'update';
  const state = input.updateSnapshot;
  if (state === 'all' || state === 'new' || state === 'none') return MODE_OF_UPDATE[state];
  return isCiEnv(input.env) ? 'ci' : 'local';
}

/**
 * Vitest's `-u` / `--update` takes an optional value, so `vitest run -u test/a.test.ts` reads the file as
 * the update type: the file filter is gone and every test file runs in update mode. Returns the
 * one-line explanation when the resolved `update` looks like that, null otherwise.
 */
export function swallowedFilter(update: unknown): string | null {
  if (typeof update !== 'string') return null;
  if (['all', 'new', 'none', 'true', 'false', ''].includes(update)) return null;
  return (
    `alloc-tracker: Vitest read "-u ${update}" as --update=${update}: the file filter is lost and every test file ` +
    `would rewrite its baselines and snapshots. Put the files first: npx vitest run ${update} -u`
  );
}

/** The Vitest versions the plugin works with; the peer dependency says the same. */
export const SUPPORTED_VITEST = '^4.1.0 || ^5.0.0';

/**
 * Vitest 4.1 or later, or a one-line error saying why not. Tried on 3.2.7 (Node 26): its hooks get other
 * arguments (`beforeAll(suite)`), forks-pool flags live in poolOptions.forks.execArgv, `-u` takes no
 * value (and UPDATE_SNAPSHOT=none means "update all" there), annotations go through another RPC and
 * modules run through vite-node, whose source maps the plugin does not read. A second code path for all
 * of that would put the guarantees (no silent update, original positions) at risk, so 3.x is refused.
 */
export function assertSupportedVitest(version: string | undefined): void {
  const [major = 0, minor = 0] = (version ?? '').split('.').map((part) => Number.parseInt(part, 10));
  if (major > 4 || (major === 4 && minor >= 1)) return;
  throw new Error(
    `alloc-tracker: Vitest ${version ?? '(unknown version)'} is not supported: the plugin needs Vitest 4.1 or later (${SUPPORTED_VITEST}); ` +
      'upgrade with npm install -D vitest@latest. On 3.x its update semantics differ (-u takes no value, ' +
      'UPDATE_SNAPSHOT=none updates everything), setup-file hooks get other arguments, worker flags and annotations ' +
      'go through other APIs, and allocation sites could not be mapped to the source (vite-node).',
  );
}
