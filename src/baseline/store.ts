/**
 * Reading, validating, merging and atomically writing baseline files. No Vitest import: the plugin's
 * main-process reporter writes, workers only read.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CountMethod } from '../core/types.ts';
import type { BaselineFile, BaselineMetrics, EnvironmentBaselines, TestBaselines } from './types.ts';

/** A baseline file that cannot be used. The message names the file and what is wrong with it. */
export class BaselineFileError extends Error {
  readonly file: string;
  constructor(file: string, problem: string) {
    super(
      `alloc-tracker: baseline file ${file} ${problem}. ` + 'It was left untouched; fix it or delete it and rerun with --update-baselines.',
    );
    this.name = 'BaselineFileError';
    this.file = file;
  }
}

/**
 * Where the baselines of a test file live: `<root>/<baselineDir>/<test file relative to root>.json`.
 * Test files outside the root keep their path below `<baselineDir>/_outside_root/`.
 */
export function baselinePathFor(root: string, baselineDir: string, testFile: string): string {
  let relative = path.relative(root, testFile);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    relative = path.join(
      '_outside_root',
      path
        .resolve(testFile)
        .replace(/^[a-zA-Z]:/, '')
        .replace(/^[\\/]+/, ''),
    );
  }
  return path.resolve(root, baselineDir, `${relative}.json`);
}

/** A baseline file whose test file no longer exists. */
export interface OrphanedBaselineFile {
  /** Absolute path of the baseline file. */
  baselineFile: string;
  /** Absolute path of the test file it belongs to, which is gone. */
  testFile: string;
  data: BaselineFile;
}

/**
 * Baseline files under `<root>/<baselineDir>` whose test file does not exist (deleted or renamed), as
 * obsolete snapshot files are. Only valid baseline files with at least one environment count: any
 * other JSON there is not ours to judge, let alone delete. Files kept for tests outside the root
 * (`_outside_root/`) are left alone.
 */
export function orphanedBaselineFiles(root: string, baselineDir: string): OrphanedBaselineFile[] {
  const dir = path.resolve(root, baselineDir);
  if (!existsSync(dir)) return [];
  const orphans: OrphanedBaselineFile[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    // Dot files are our own temporary files of an interrupted write, or not ours.
    if (!entry.isFile() || !entry.name.endsWith('.json') || entry.name.startsWith('.')) continue;
    const baselineFile = path.join(entry.parentPath, entry.name);
    const relative = path.relative(dir, baselineFile);
    if (relative.split(path.sep)[0] === '_outside_root') continue;
    const testFile = path.resolve(root, relative.slice(0, -'.json'.length));
    if (existsSync(testFile)) continue;
    let data: BaselineFile | null;
    try {
      data = readBaselineFile(baselineFile);
    } catch {
      continue;
    }
    if (data && Object.keys(data).length > 0) orphans.push({ baselineFile, testFile, data });
  }
  return orphans.sort((a, b) => (a.baselineFile < b.baselineFile ? -1 : 1));
}

const COUNT_METHODS: readonly CountMethod[] = ['exact', 'off'];
const REQUIRED_NUMBERS = ['bytes', 'count', 'heapBytes', 'externalBytes', 'iterations'] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value) ?? typeof value}`;
}

/** Check the shape of parsed JSON; throws a BaselineFileError naming the JSON path of the first problem. */
export function validateBaselineFile(data: unknown, file: string): BaselineFile {
  const fail = (where: string, problem: string): never => {
    throw new BaselineFileError(file, `does not match the baseline schema: at ${where}: ${problem}`);
  };
  if (!isPlainObject(data)) return fail('the top level', `expected an object keyed by environment, got ${describe(data)}`);
  for (const [env, tests] of Object.entries(data)) {
    const envPath = JSON.stringify(env);
    if (!isPlainObject(tests)) fail(envPath, `expected an object keyed by test name, got ${describe(tests)}`);
    for (const [test, phases] of Object.entries(tests as Record<string, unknown>)) {
      const testPath = `${envPath} > ${JSON.stringify(test)}`;
      if (!isPlainObject(phases)) fail(testPath, `expected an object keyed by phase name, got ${describe(phases)}`);
      for (const [phaseName, metrics] of Object.entries(phases as Record<string, unknown>)) {
        const phasePath = `${testPath} > ${JSON.stringify(phaseName)}`;
        if (!isPlainObject(metrics)) fail(phasePath, `expected an object of metrics, got ${describe(metrics)}`);
        const m = metrics as Record<string, unknown>;
        for (const key of REQUIRED_NUMBERS) {
          const value = m[key];
          if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
            fail(`${phasePath} > ${key}`, `expected a number >= 0, got ${value === undefined ? 'nothing' : describe(value)}`);
          }
        }
        if (m.peakBytes !== undefined && (typeof m.peakBytes !== 'number' || !Number.isFinite(m.peakBytes) || m.peakBytes < 0)) {
          fail(`${phasePath} > peakBytes`, `expected a number >= 0, got ${describe(m.peakBytes)}`);
        }
        if (!COUNT_METHODS.includes(m.countMethod as CountMethod)) {
          fail(
            `${phasePath} > countMethod`,
            `expected one of ${COUNT_METHODS.join(', ')}, got ${m.countMethod === undefined ? 'nothing' : describe(m.countMethod)}`,
          );
        }
      }
    }
  }
  return data as BaselineFile;
}

/** Line and column of a character offset, for JSON syntax errors. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

/**
 * Read and validate a baseline file. Returns null when it does not exist; throws BaselineFileError when
 * it cannot be read, is not JSON (with the line and column), or does not match the schema.
 */
export function readBaselineFile(file: string): BaselineFile | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new BaselineFileError(file, `cannot be read (${code ?? (error as Error).message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    const where = position ? ` at ${lineAndColumn(text, Number(position[1]))}` : '';
    throw new BaselineFileError(file, `is not valid JSON${where}: ${message}`);
  }
  return validateBaselineFile(data, file);
}

/** Recursively sort object keys so that files diff stably. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
  return out;
}

/** The file's text: keys sorted at every level, 2-space indentation, trailing newline. */
export function serializeBaselineFile(data: BaselineFile): string {
  return `${JSON.stringify(sortKeys(data), null, 2)}\n`;
}

/**
 * Write atomically: a temporary file in the same directory, then rename over the target, so readers see
 * the old or the new file and never half of one. An empty baseline set deletes the file.
 */
export function writeBaselineFile(file: string, data: BaselineFile): void {
  if (Object.keys(data).length === 0) {
    rmSync(file, { force: true });
    return;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, serializeBaselineFile(data));
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** The metrics stored for a measured phase. */
export function metricsOf(record: {
  bytes: number;
  count: number;
  peakBytes: number;
  heapBytes: number;
  externalBytes: number;
  iterations: number;
  countMethod: CountMethod;
}): BaselineMetrics {
  return {
    bytes: record.bytes,
    count: record.count,
    peakBytes: record.peakBytes,
    heapBytes: record.heapBytes,
    externalBytes: record.externalBytes,
    iterations: record.iterations,
    countMethod: record.countMethod,
  };
}

/** One change to a baseline file's entries under one environment. */
export type BaselineChange =
  /** Set (add or replace) one phase of one test. */
  | { kind: 'set'; test: string; phase: string; metrics: BaselineMetrics }
  /** Remove one phase of one test. */
  | { kind: 'removePhase'; test: string; phase: string }
  /** Remove a test with all its phases. */
  | { kind: 'removeTest'; test: string };

/**
 * Apply changes to the entries of environment `env`, leaving other environments and untouched tests as
 * they are (filtered runs and skipped tests keep their entries). Returns a new object; empty tests and
 * environments are dropped.
 */
export function mergeBaselines(onDisk: BaselineFile | null, env: string, changes: readonly BaselineChange[]): BaselineFile {
  const merged: BaselineFile = structuredClone(onDisk ?? {});
  const tests: EnvironmentBaselines = merged[env] ?? {};
  for (const change of changes) {
    if (change.kind === 'set') {
      const phases: TestBaselines = tests[change.test] ?? {};
      phases[change.phase] = { ...change.metrics };
      tests[change.test] = phases;
    } else if (change.kind === 'removePhase') {
      const phases = tests[change.test];
      if (phases) {
        delete phases[change.phase];
        if (Object.keys(phases).length === 0) delete tests[change.test];
      }
    } else {
      delete tests[change.test];
    }
  }
  if (Object.keys(tests).length > 0) merged[env] = tests;
  else delete merged[env];
  return merged;
}
