/**
 * `alloc-tracker/vitest`: the Vitest plugin. `plugins: [allocTracker(options)]` wires every project it
 * is configured for: a setup file (per-test sessions, matchers, baseline gate), the flags that make
 * figures repeat (forks pools), the settings workers read, and one reporter per Vitest instance.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VitestPluginContext } from 'vitest/node';
import { deterministicFlags } from '../core/environment.ts';
import { validateMetrics, validateTolerance } from '../baseline/compare.ts';
import { AllocTrackerReporter, githubReporterShowsAnnotations } from './reporter.ts';
import {
  assertSupportedVitest,
  PROVIDE_KEY,
  resolveMode,
  swallowedFilter,
  type AllocTrackerOptions,
  type WorkerSettings,
} from './settings.ts';
import './augment.ts';

// The public surface: the plugin, its options, the matchers' option types, and the JSON output file's
// contract. Nothing of what workers and the main process exchange.
export type { AllocTrackerOptions, Mode } from './settings.ts';
export type { ByteLimit, BaselineMatchOptions, PhaseMatchers, PhaseAssertion, PromisedPhaseAssertion } from './augment.ts';
export type { FileOverride, MetricComparison } from '../baseline/compare.ts';
export type { Metric, MetricStatus, Tolerance, ToleranceInput, BaselineFileJSON, BaselineMetrics } from '../baseline/types.ts';
export type { RunReport, FileReport, PhaseRow, RowStatus, Verdict } from '../report/baselines.ts';
export type { FlameNode } from '../report/html/model.ts';
export type { PhaseRecord, AllocationSite, CountMethod } from '../core/types.ts';

/** The setup file next to this module: setup.js in the built package, setup.ts when run from source. */
function setupFilePath(): string {
  for (const name of ['./setup.js', './setup.ts']) {
    const candidate = fileURLToPath(new URL(name, import.meta.url));
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`alloc-tracker: cannot find the setup file next to ${fileURLToPath(import.meta.url)}`);
}

const FORK_POOLS = new Set(['forks', 'vmForks']);

/** This package's name, as user code imports it. */
const PACKAGE_NAME = 'alloc-tracker';

/** Sampling interval for allocation sites when counts are off: about one sample per 4 KiB allocated. */
const DEFAULT_SITES_INTERVAL = 4096;

function validateOptions(options: AllocTrackerOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('alloc-tracker: allocTracker(options) takes an object');
  if (options.metrics !== undefined) validateMetrics(options.metrics, 'allocTracker({ metrics })');
  if (options.tolerance !== undefined) validateTolerance(options.tolerance, 'allocTracker({ tolerance })');
  if (options.asyncTolerance !== undefined) validateTolerance(options.asyncTolerance, 'allocTracker({ asyncTolerance })');
  for (const [i, o] of (options.overrides ?? []).entries()) {
    const where = `allocTracker({ overrides[${i}] })`;
    const globs = Array.isArray(o.files) ? o.files : [o.files];
    if (globs.length === 0 || !globs.every((g) => typeof g === 'string' && g !== '')) {
      throw new TypeError(`alloc-tracker: ${where}.files must be a glob or a non-empty array of globs`);
    }
    if (o.tolerance !== undefined) validateTolerance(o.tolerance, `${where}.tolerance`);
    if (o.metrics !== undefined) validateMetrics(o.metrics, `${where}.metrics`);
  }
  if (
    options.include !== undefined &&
    (!Array.isArray(options.include) || !options.include.every((g) => typeof g === 'string' && g !== ''))
  ) {
    throw new TypeError(`alloc-tracker: allocTracker({ include }) must be an array of globs, got ${JSON.stringify(options.include)}`);
  }
  if (options.mode !== undefined && !['local', 'update', 'ci'].includes(options.mode)) {
    throw new TypeError(`alloc-tracker: allocTracker({ mode }) must be 'local', 'update' or 'ci', got ${JSON.stringify(options.mode)}`);
  }
  for (const flag of ['counts', 'retained', 'pinTiers'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      throw new TypeError(`alloc-tracker: allocTracker({ ${flag} }) must be true or false, got ${JSON.stringify(options[flag])}`);
    }
  }
  if (
    options.timeoutFactor !== undefined &&
    (typeof options.timeoutFactor !== 'number' || !Number.isFinite(options.timeoutFactor) || options.timeoutFactor < 1)
  ) {
    throw new RangeError(
      `alloc-tracker: allocTracker({ timeoutFactor }) must be a number >= 1, got ${JSON.stringify(options.timeoutFactor)}`,
    );
  }
  const interval = options.samplingInterval ?? 0;
  if (!Number.isInteger(interval) || interval < 0) {
    throw new RangeError(`alloc-tracker: allocTracker({ samplingInterval }) must be a whole number >= 0, got ${String(interval)}`);
  }
  if (options.report !== undefined && !['full', 'changes', 'off'].includes(options.report)) {
    throw new TypeError(
      `alloc-tracker: allocTracker({ report }) must be 'changes', 'full' or 'off', got ${JSON.stringify(options.report)}`,
    );
  }
  for (const key of ['outputFile', 'html'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new TypeError(`alloc-tracker: allocTracker({ ${key} }) must be a file path, got ${JSON.stringify(value)}`);
    }
  }
}

/** The plugin object; structurally a Vite plugin with Vitest's `configureVitest` hook. */
export interface AllocTrackerPlugin {
  name: 'alloc-tracker';
  config: () => { test: { server: { deps: { inline: string[] } } } };
  configureVitest: (context: VitestPluginContext) => void;
}

export function allocTracker(options: AllocTrackerOptions = {}): AllocTrackerPlugin {
  validateOptions(options);
  const reporters = new WeakMap<object, AllocTrackerReporter>();
  const warned = new WeakSet<object>();
  const setupFile = setupFilePath();
  // Sites by default (cheap, and what failure messages and flame graphs show); exact counts when asked.
  // `counts: true` counts without sites (V8 then keeps neither stacks nor dead objects' samples); an
  // explicit `samplingInterval: 1` keeps a sampled stack for every allocation, as the core does.
  const samplingInterval = options.samplingInterval ?? (options.counts ? 1 : DEFAULT_SITES_INTERVAL);
  const counting = samplingInterval === 1;
  const sites = samplingInterval > 1 || (counting && options.samplingInterval === 1);
  const metrics = options.metrics ?? (counting ? ['bytes', 'count'] : ['bytes']);
  const retained = options.retained ?? metrics.includes('retainedBytes');
  const timeoutFactor = options.timeoutFactor ?? (counting ? 10 : 3);
  const flags = deterministicFlags({ pinTiers: options.pinTiers ?? false });

  return {
    name: 'alloc-tracker',
    // Without isolation a worker keeps its modules from file to file, and a package Vitest leaves to Node
    // is evaluated once: the setup file's hooks would then apply to each worker's first file only.
    // Inlined, the setup file runs for every test file (the tracker's own state is per process anyway).
    // It must be set before the config is resolved: configureVitest is too late for it.
    config: () => ({ test: { server: { deps: { inline: [PACKAGE_NAME] } } } }),
    // Runs once per project, after configs and projects are resolved (see the integration notes):
    // the pool is final here, and reporters are not created yet.
    configureVitest({ vitest, project }) {
      assertSupportedVitest(vitest.version);
      const config = project.config;
      const pool = String(config.pool ?? 'forks');
      const deterministicPool = FORK_POOLS.has(pool);
      if (deterministicPool) {
        for (const flag of flags) if (!config.execArgv.includes(flag)) config.execArgv.push(flag);
      } else if (!warned.has(vitest)) {
        warned.add(vitest);
        vitest.logger.warn(
          `alloc-tracker: the '${pool}' pool cannot give workers ${flags.join(' ')} ` +
            '(V8 flags are rejected in worker threads), so allocation figures may vary run to run; they are ' +
            "kept apart from forks-pool baselines. Use pool: 'forks' (Vitest's default) for stable baselines.",
        );
      }
      // Measured tests are slower: raise the project's default timeouts so that measuring never turns a
      // passing test into a timed-out one (an explicit per-test timeout is the user's to raise).
      config.testTimeout = Math.round(config.testTimeout * timeoutFactor);
      config.hookTimeout = Math.round(config.hookTimeout * timeoutFactor);
      // Settings of this project that change figures go into the baseline key (see the README).
      const keyTags: string[] = [];
      if (pool !== 'forks') keyTags.push(pool);
      // Coverage instruments the code under test (V8's block counters, or istanbul's rewritten source):
      // figures move (0.3% on plain object loops in bench:gate-noise), so they get baselines of their own.
      const coverage = (vitest.config as { coverage?: { enabled?: boolean; provider?: string } }).coverage;
      if (coverage?.enabled) keyTags.push(`coverage-${coverage.provider ?? 'v8'}`);
      if (!config.setupFiles.includes(setupFile)) config.setupFiles.push(setupFile);
      // Annotations and GitHub errors point at the test's own line: Vitest records it only when asked.
      config.includeTaskLocation = true;

      const swallowed = swallowedFilter((vitest.config as { update?: unknown }).update);
      if (swallowed) throw new Error(swallowed);
      const mode = resolveMode({
        option: options.mode,
        updateSnapshot: vitest.config.snapshotOptions?.updateSnapshot,
        argv: process.argv,
        env: process.env,
      });
      const baselineDir = options.baselineDir ?? 'baselines';
      const profileDir = options.profiles === false ? null : (options.profiles ?? '.alloc-profiles');
      // These directories are ours to write (and baselines to prune): real subdirectories of the project.
      for (const [option, dir] of [
        ['baselineDir', baselineDir],
        ['profiles', profileDir],
      ] as const) {
        if (dir === null) continue;
        const resolvedDir = path.resolve(config.root, dir);
        const relativeDir = path.relative(config.root, resolvedDir);
        if (
          relativeDir === '' ||
          relativeDir.startsWith('..') ||
          path.isAbsolute(relativeDir) ||
          relativeDir.split(path.sep).includes('node_modules')
        ) {
          throw new Error(
            `alloc-tracker: allocTracker({ ${option}: ${JSON.stringify(dir)} }) must be a subdirectory of the ` +
              `project root ${config.root} (and not inside node_modules), e.g. '${option === 'baselineDir' ? 'baselines' : '.alloc-profiles'}'`,
          );
        }
      }
      const settings: WorkerSettings = {
        mode,
        root: config.root,
        baselineDir,
        profileDir,
        metrics: [...metrics],
        tolerance: { ...options.tolerance },
        asyncTolerance: { ...options.asyncTolerance },
        overrides: (options.overrides ?? []).map((o) => ({ ...o })),
        auto: options.auto ?? true,
        include: [...(options.include ?? [])],
        samplingInterval,
        sites,
        topSites: options.topSites ?? 10,
        retained,
        deterministicPool,
        pool,
        isolate: config.isolate !== false,
        keyTags,
        timeoutFactor,
        color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
        annotationLocation: !(process.env.GITHUB_ACTIONS === 'true' && githubReporterShowsAnnotations(vitest.config.reporters)),
      };
      project.provide(PROVIDE_KEY, settings);

      let reporter = reporters.get(vitest);
      if (!reporter) {
        reporter = new AllocTrackerReporter(options);
        reporters.set(vitest, reporter);
        // A bare instance (not [instance, options]) is what Vitest accepts here on 4.1 and 5.
        (vitest.config.reporters as unknown[]).push(reporter);
      }
      reporter.addProject(project, settings);
    },
  };
}

export default allocTracker;
