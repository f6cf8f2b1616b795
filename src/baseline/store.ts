/**
 * Reading, validating, merging and atomically writing baseline files. No Vitest import: workers only
 * read, the plugin's main process writes.
 *
 * Baselines are held in Maps end to end (names are user text). Files are opened only as regular files:
 * a symbolic link, FIFO, socket or directory in a baseline file's place, or a symbolic link among the
 * directories below the project root, is an error naming the path, never followed or replaced. Writes
 * go to a temporary file in the same directory, are fsynced, renamed over the target, and the directory
 * is fsynced; temporary files of killed runs are removed by the next write.
 */
import { parse as parseJsonAst, type AnyNode, type ObjectNode } from '@humanwhocodes/momoa';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import type { BytesMethod, CountMethod } from '../core/types.ts';
import type { BaselineFile, BaselineFileJSON, BaselineMetrics, EnvironmentBaselines, TestBaselines } from './types.ts';

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

/** A baseline file that could not be written (read-only disk, full disk, ...). What was there is unchanged. */
export class BaselineWriteError extends Error {
  readonly file: string;
  constructor(file: string, problem: string, cause?: unknown) {
    super(`alloc-tracker: could not write baseline file ${file}: ${problem}; the file on disk was left as it was`, { cause });
    this.name = 'BaselineWriteError';
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

// ---------------------------------------------------------------------------------------------------
// Paths: only real directories and regular files

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

function kindOf(stats: Stats): string {
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** `EROFS (read-only file system)`: the code and its meaning, without Node's syscall and temporary path. */
function errnoOf(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (!e.code) return String(e.message ?? error);
  const meaning = /^[A-Z0-9_]+: ([^,]+)/.exec(e.message ?? '');
  return meaning ? `${e.code} (${meaning[1]})` : e.code;
}

/**
 * The directories between `root` (exclusive) and `dir` (inclusive), checked with lstat: each must be a
 * real directory. Returns false when one is missing (and `create` is off); creates them with `create`.
 * A symbolic link or non-directory among them is an error: baselines never leave the project through one.
 */
function checkDirectories(root: string | undefined, dir: string, create: boolean, file: string, forWrite: boolean): boolean {
  const base = root === undefined ? path.dirname(dir) : path.resolve(root);
  const relative = path.relative(base, dir);
  const parts = relative === '' ? [] : relative.split(path.sep);
  if (parts[0] === '..' || path.isAbsolute(relative)) parts.length = 0; // not below root: only the file itself is checked
  let current = base;
  for (const part of parts) {
    current = path.join(current, part);
    let stats: Stats | undefined;
    try {
      stats = lstatSync(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw forWrite
          ? new BaselineWriteError(file, `cannot inspect ${current} (${errnoOf(error)})`, error)
          : new BaselineFileError(file, `cannot be read: cannot inspect ${current} (${errnoOf(error)})`);
      }
    }
    if (stats === undefined) {
      if (!create) return false;
      try {
        mkdirSync(current);
      } catch (error) {
        throw new BaselineWriteError(file, `cannot create the directory ${current} (${errnoOf(error)})`, error);
      }
      continue;
    }
    if (!stats.isDirectory()) {
      throw new BaselineFileError(
        file,
        `cannot be ${forWrite ? 'written' : 'read'}: ${current} is ${kindOf(stats)}, not a directory (baseline paths are never followed through links)`,
      );
    }
  }
  return true;
}

/** Baseline files are small; anything this big is not one (and would only exhaust memory). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/**
 * The text of a baseline file, or null when it does not exist. Opened without following a symbolic
 * link and without blocking on a FIFO; anything but a regular file is a BaselineFileError.
 */
function readRegularFile(file: string, root: string | undefined): string | null {
  if (!checkDirectories(root, path.dirname(file), false, file, false)) return null;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new BaselineFileError(file, 'is a symbolic link; baseline files are never followed through links');
    if (code === 'ENXIO') throw new BaselineFileError(file, 'is a socket or FIFO without a reader, not a regular file');
    throw new BaselineFileError(file, `cannot be read (${code ?? (error as Error).message})`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new BaselineFileError(file, `is ${kindOf(stats)}, not a regular file`);
    if (stats.size > MAX_FILE_BYTES) throw new BaselineFileError(file, `is ${stats.size} bytes, larger than any baseline file (64 MiB)`);
    return readFileSync(fd, 'utf8');
  } catch (error) {
    if (error instanceof BaselineFileError) throw error;
    throw new BaselineFileError(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------
// Parsing and validation

const COUNT_METHODS: readonly CountMethod[] = ['exact', 'off'];
/** Every stored figure is a whole number (means are rounded) below a pebibyte: anything larger is not a measurement. */
export const MAX_FIGURE = 2 ** 50;
const FIGURE_KEYS = ['bytes', 'count', 'heapBytes', 'externalBytes', 'iterations', 'peakBytes', 'retainedBytes'] as const;
const REQUIRED_KEYS = new Set(['bytes', 'count', 'heapBytes', 'externalBytes', 'iterations', 'countMethod']);
const ALLOWED_KEYS = new Set([...REQUIRED_KEYS, 'peakBytes', 'retainedBytes', 'bytesMethod', 'context']);
const BYTES_METHODS: readonly BytesMethod[] = ['counter', 'heap-delta'];
/** A context is a hash written by the plugin (see BaselineMetrics.context). */
const CONTEXT_PATTERN = /^[0-9a-f]{16}$/;

function describeNode(node: AnyNode): string {
  switch (node.type) {
    case 'Null':
      return 'null';
    case 'Array':
      return 'an array';
    case 'Object':
      return 'an object';
    case 'String':
      return `the string ${JSON.stringify(node.value)}`;
    case 'Boolean':
      return `boolean ${String(node.value)}`;
    case 'Number':
      return `number ${sourceNumber(node)}`;
    default:
      return node.type;
  }
}

let currentText = '';
function sourceNumber(node: AnyNode): string {
  return currentText.slice(node.range?.[0] ?? node.loc.start.offset, node.range?.[1] ?? node.loc.end.offset);
}

/** The members of an object node as [name, value] pairs; duplicate names are an error (JSON.parse would keep the last silently). */
function membersOf(node: ObjectNode, where: string, fail: (where: string, problem: string) => never): [string, AnyNode][] {
  const seen = new Set<string>();
  const out: [string, AnyNode][] = [];
  for (const member of node.members) {
    const name = member.name.type === 'String' ? member.name.value : member.name.name;
    if (seen.has(name)) fail(where, `duplicate key ${JSON.stringify(name)} (line ${member.loc.start.line})`);
    seen.add(name);
    out.push([name, member.value]);
  }
  return out;
}

/**
 * Parse and check the text of a baseline file: strict JSON, no duplicate keys, objects keyed by
 * environment, test and phase, and per phase exactly the known metrics as whole numbers within
 * [0, 2^50] (iterations >= 1). Throws a BaselineFileError naming the JSON path of the first problem.
 */
export function parseBaselineText(text: string, file: string): BaselineFile {
  const fail = (where: string, problem: string): never => {
    throw new BaselineFileError(file, `does not match the baseline schema: at ${where}: ${problem}`);
  };
  let body: AnyNode;
  try {
    body = parseJsonAst(text, { mode: 'json', ranges: true }).body;
  } catch (error) {
    const e = error as Error & { line?: number; column?: number };
    const where = e.line !== undefined ? ` at line ${e.line}, column ${e.column ?? 0}` : '';
    throw new BaselineFileError(file, `is not valid JSON${where}: ${e.message.replace(/\s*\(\d+:\d+\)$/, '')}`);
  }
  currentText = text;
  try {
    if (body.type !== 'Object') return fail('the top level', `expected an object keyed by environment, got ${describeNode(body)}`);
    const result: BaselineFile = new Map();
    for (const [env, testsNode] of membersOf(body, 'the top level', fail)) {
      const envPath = JSON.stringify(env);
      if (testsNode.type !== 'Object') return fail(envPath, `expected an object keyed by test name, got ${describeNode(testsNode)}`);
      const tests: EnvironmentBaselines = new Map();
      for (const [test, phasesNode] of membersOf(testsNode, envPath, fail)) {
        const testPath = `${envPath} > ${JSON.stringify(test)}`;
        if (phasesNode.type !== 'Object') return fail(testPath, `expected an object keyed by phase name, got ${describeNode(phasesNode)}`);
        const phases: TestBaselines = new Map();
        for (const [phaseName, metricsNode] of membersOf(phasesNode, testPath, fail)) {
          const phasePath = `${testPath} > ${JSON.stringify(phaseName)}`;
          if (metricsNode.type !== 'Object') return fail(phasePath, `expected an object of metrics, got ${describeNode(metricsNode)}`);
          phases.set(phaseName, metricsFromNode(metricsNode, phasePath, fail));
        }
        tests.set(test, phases);
      }
      result.set(env, tests);
    }
    return result;
  } finally {
    currentText = '';
  }
}

function metricsFromNode(node: ObjectNode, where: string, fail: (where: string, problem: string) => never): BaselineMetrics {
  const values = new Map(membersOf(node, where, fail));
  for (const key of values.keys()) {
    if (!ALLOWED_KEYS.has(key)) fail(where, `unknown key ${JSON.stringify(key)}; a phase has ${[...ALLOWED_KEYS].join(', ')}`);
  }
  const figures = new Map<string, number>();
  for (const key of FIGURE_KEYS) {
    const value = values.get(key);
    if (value === undefined) continue;
    const min = key === 'iterations' ? 1 : 0;
    const ok = value.type === 'Number' && Number.isSafeInteger(value.value) && value.value >= min && value.value <= MAX_FIGURE;
    if (!ok) fail(`${where} > ${key}`, `expected a whole number from ${min} to 2^50, got ${describeNode(value)}`);
    figures.set(key, (value as { value: number }).value);
  }
  const method = values.get('countMethod');
  if (method !== undefined && (method.type !== 'String' || !(COUNT_METHODS as readonly string[]).includes(method.value))) {
    fail(`${where} > countMethod`, `expected one of ${COUNT_METHODS.join(', ')}, got ${describeNode(method)}`);
  }
  const bytesMethod = values.get('bytesMethod');
  if (bytesMethod !== undefined && (bytesMethod.type !== 'String' || !(BYTES_METHODS as readonly string[]).includes(bytesMethod.value))) {
    fail(`${where} > bytesMethod`, `expected one of ${BYTES_METHODS.join(', ')}, got ${describeNode(bytesMethod)}`);
  }
  const context = values.get('context');
  if (context !== undefined && (context.type !== 'String' || !CONTEXT_PATTERN.test(context.value))) {
    fail(`${where} > context`, `expected 16 hexadecimal digits, got ${describeNode(context)}`);
  }
  for (const key of REQUIRED_KEYS) if (!values.has(key)) fail(`${where} > ${key}`, 'missing');
  const metrics: BaselineMetrics = {
    bytes: figures.get('bytes')!,
    count: figures.get('count')!,
    heapBytes: figures.get('heapBytes')!,
    externalBytes: figures.get('externalBytes')!,
    iterations: figures.get('iterations')!,
    countMethod: (method as { value: string }).value as CountMethod,
  };
  const peak = figures.get('peakBytes');
  if (peak !== undefined) metrics.peakBytes = peak;
  const retained = figures.get('retainedBytes');
  if (retained !== undefined) metrics.retainedBytes = retained;
  if (bytesMethod !== undefined) metrics.bytesMethod = (bytesMethod as { value: string }).value as BytesMethod;
  if (context !== undefined) metrics.context = (context as { value: string }).value;
  return metrics;
}

/**
 * Read and validate a baseline file. Returns null when it does not exist; throws BaselineFileError when
 * it is not a regular file, cannot be read, is not JSON (with the line and column), or does not match
 * the schema. With `root`, every directory between it and the file must be a real directory.
 */
export function readBaselineFile(file: string, root?: string): BaselineFile | null {
  const text = readRegularFile(file, root);
  return text === null ? null : parseBaselineText(text, file);
}

// ---------------------------------------------------------------------------------------------------
// Writing

/** The metrics stored for a measured phase: exactly the schema's keys (a copy). */
export function metricsOf(
  record: {
    bytes: number;
    count: number;
    peakBytes?: number;
    heapBytes: number;
    externalBytes: number;
    retainedBytes?: number | null;
    iterations: number;
    countMethod: CountMethod;
    bytesMethod?: BytesMethod;
    context?: string;
  },
  context = record.context,
): BaselineMetrics {
  const metrics: BaselineMetrics = {
    bytes: record.bytes,
    count: record.count,
    heapBytes: record.heapBytes,
    externalBytes: record.externalBytes,
    iterations: record.iterations,
    countMethod: record.countMethod,
  };
  if (record.peakBytes !== undefined) metrics.peakBytes = record.peakBytes;
  if (record.retainedBytes !== undefined && record.retainedBytes !== null) metrics.retainedBytes = record.retainedBytes;
  if (record.bytesMethod !== undefined) metrics.bytesMethod = record.bytesMethod;
  if (context !== undefined) metrics.context = context;
  return metrics;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The on-disk shape, keys sorted at every level, in null-prototype objects (a `__proto__` name stays a key). */
export function baselineFileToJSON(data: BaselineFile): BaselineFileJSON {
  const out = Object.create(null) as BaselineFileJSON;
  for (const env of [...data.keys()].sort(byCodeUnit)) {
    const tests = Object.create(null) as BaselineFileJSON[string];
    const envTests = data.get(env)!;
    for (const test of [...envTests.keys()].sort(byCodeUnit)) {
      const phases = Object.create(null) as BaselineFileJSON[string][string];
      const testPhases = envTests.get(test)!;
      for (const phase of [...testPhases.keys()].sort(byCodeUnit)) {
        const entry = testPhases.get(phase)!;
        const m = metricsOf(entry);
        const sorted = Object.create(null) as Record<string, unknown>;
        for (const key of Object.keys(m).sort(byCodeUnit)) sorted[key] = m[key as keyof BaselineMetrics];
        phases[phase] = sorted as unknown as BaselineMetrics;
      }
      tests[test] = phases;
    }
    out[env] = tests;
  }
  return out;
}

/** Maps from the on-disk shape (e.g. for tests); validated like a file's text. */
export function baselineFileFromJSON(json: BaselineFileJSON, file = '(in memory)'): BaselineFile {
  return parseBaselineText(JSON.stringify(json), file);
}

/** The file's text: keys sorted at every level, 2-space indentation, trailing newline. */
export function serializeBaselineFile(data: BaselineFile): string {
  return `${JSON.stringify(baselineFileToJSON(data), null, 2)}\n`;
}

function isEmpty(data: BaselineFile): boolean {
  for (const tests of data.values()) for (const phases of tests.values()) if (phases.size > 0) return false;
  return true;
}

/** fsync a directory so that a rename or unlink in it survives a crash; not possible everywhere (Windows). */
function fsyncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY);
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF') throw error;
  } finally {
    closeSync(fd);
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return false; // writes are synchronous: a temp file of ours is a leftover
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Temporary files of `file` left by writers that were killed between writing and renaming. */
function removeStaleTemps(file: string): void {
  const dir = path.dirname(file);
  const pattern = new RegExp(`^\\.${escapeRegExp(path.basename(file))}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);
  for (const name of readdirSync(dir)) {
    const match = pattern.exec(name);
    if (!match || isAlive(Number(match[1]))) continue;
    const temp = path.join(dir, name);
    try {
      if (lstatSync(temp).isFile()) unlinkSync(temp);
    } catch {
      // Gone already, or not ours to remove: the orphan scan and readers ignore dot files anyway.
    }
  }
}

/** What writeBaselineFile did. */
export type WriteOutcome = 'written' | 'deleted' | 'unchanged';

/**
 * Write atomically and durably: a temporary file in the same directory (created exclusively, never
 * through a link), fsync, rename over the target, fsync of the directory; readers see the old or the new
 * file and never half of one. An empty baseline set deletes the file. A target that is not a regular
 * file is never replaced (BaselineFileError); I/O failures are BaselineWriteErrors naming the file.
 * With `root`, directories between it and the file are created as real directories, never followed.
 */
export function writeBaselineFile(file: string, data: BaselineFile, root?: string): WriteOutcome {
  const dir = path.dirname(file);
  const empty = isEmpty(data);
  if (!checkDirectories(root, dir, !empty, file, true)) return 'unchanged';
  let target: Stats | undefined;
  try {
    target = lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new BaselineWriteError(file, errnoOf(error), error);
  }
  if (target !== undefined && !target.isFile()) {
    throw new BaselineFileError(file, `cannot be replaced: it is ${kindOf(target)}, not a regular file`);
  }
  try {
    removeStaleTemps(file);
  } catch {
    // A directory we cannot list is reported by the write below.
  }
  if (empty) {
    if (target === undefined) return 'unchanged';
    try {
      unlinkSync(file);
      fsyncDirectory(dir);
    } catch (error) {
      throw new BaselineWriteError(file, `cannot delete it (${errnoOf(error)})`, error);
    }
    return 'deleted';
  }
  try {
    writeTextAtomic(file, serializeBaselineFile(data));
  } catch (error) {
    throw new BaselineWriteError(file, errnoOf(error), error);
  }
  return 'written';
}

/**
 * Writes a file atomically and durably: a temporary file beside it (created exclusively, never through a
 * link), written, fsynced, renamed over the target, then the directory fsynced. A reader sees the old
 * file or the new one, never half of one; on failure the temporary file is removed when possible (the
 * next write's clean-up takes what is left) and the error is thrown as it came.
 */
export function writeTextAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let created = false;
  try {
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o666);
    created = true;
    try {
      const bytes = Buffer.from(text, 'utf8');
      for (let offset = 0; offset < bytes.length;) offset += writeSync(fd, bytes, offset, bytes.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
    created = false;
    fsyncDirectory(dir);
  } catch (error) {
    if (created) {
      try {
        unlinkSync(temp);
      } catch {
        // Left for the next write's clean-up.
      }
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// Merging

/** One change to a baseline file's entries under one environment. Plain data: it crosses processes. */
export type BaselineChange =
  /** Set (add or replace) one phase of one test. */
  | { kind: 'set'; test: string; phase: string; metrics: BaselineMetrics }
  /** Remove one phase of one test. */
  | { kind: 'removePhase'; test: string; phase: string }
  /** Remove a test with all its phases. */
  | { kind: 'removeTest'; test: string };

/** A deep copy (new Maps, copied metrics). */
export function cloneBaselines(data: BaselineFile | null): BaselineFile {
  const out: BaselineFile = new Map();
  for (const [env, tests] of data ?? []) {
    const envCopy: EnvironmentBaselines = new Map();
    for (const [test, phases] of tests) {
      envCopy.set(test, new Map([...phases].map(([phase, m]) => [phase, metricsOf(m)] as const)));
    }
    out.set(env, envCopy);
  }
  return out;
}

/**
 * Apply changes to the entries of environment `env`, leaving other environments and untouched tests as
 * they are (filtered runs and skipped tests keep their entries). Returns a new value; empty tests and
 * environments are dropped.
 */
export function mergeBaselines(onDisk: BaselineFile | null, env: string, changes: readonly BaselineChange[]): BaselineFile {
  const merged = cloneBaselines(onDisk);
  const tests: EnvironmentBaselines = merged.get(env) ?? new Map<string, TestBaselines>();
  for (const change of changes) {
    if (change.kind === 'set') {
      const phases: TestBaselines = tests.get(change.test) ?? new Map<string, BaselineMetrics>();
      phases.set(change.phase, metricsOf(change.metrics));
      tests.set(change.test, phases);
    } else if (change.kind === 'removePhase') {
      const phases = tests.get(change.test);
      if (phases) {
        phases.delete(change.phase);
        if (phases.size === 0) tests.delete(change.test);
      }
    } else {
      tests.delete(change.test);
    }
  }
  if (tests.size > 0) merged.set(env, tests);
  else merged.delete(env);
  return merged;
}

// ---------------------------------------------------------------------------------------------------
// Baseline files of deleted test files

/** A baseline file whose test file no longer exists. */
export interface OrphanedBaselineFile {
  /** Absolute path of the baseline file. */
  baselineFile: string;
  /** Absolute path of the test file it belongs to, which is gone. */
  testFile: string;
  data: BaselineFile;
}

/**
 * Regular `*.json` files below `dir`, not following links (Node's recursive readdir follows linked
 * directories, which would judge and delete files outside the project). Dot files are our own
 * temporary files of an interrupted write, or not ours.
 */
function regularJsonFiles(dir: string): string[] {
  const out: string[] = [];
  const pending = [dir];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (entry.isFile() && entry.name.endsWith('.json') && !entry.name.startsWith('.')) out.push(full);
    }
  }
  return out;
}

function exists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Baseline files under `<root>/<baselineDir>` whose test file does not exist (deleted or renamed), as
 * obsolete snapshot files are. Only valid regular baseline files with at least one entry count: any
 * other file there is not ours to judge, let alone delete. Links are not followed. Files kept for tests
 * outside the root (`_outside_root/`) are left alone.
 */
export function orphanedBaselineFiles(root: string, baselineDir: string): OrphanedBaselineFile[] {
  const dir = path.resolve(root, baselineDir);
  try {
    if (!checkDirectories(root, dir, false, dir, false)) return [];
  } catch {
    return []; // a linked baseline directory: every test file reports it when it reads its baselines
  }
  const orphans: OrphanedBaselineFile[] = [];
  for (const baselineFile of regularJsonFiles(dir)) {
    const relative = path.relative(dir, baselineFile);
    if (relative.split(path.sep)[0] === '_outside_root') continue;
    const testFile = path.resolve(root, relative.slice(0, -'.json'.length));
    if (exists(testFile)) continue;
    let data: BaselineFile | null;
    try {
      data = readBaselineFile(baselineFile, root);
    } catch {
      continue;
    }
    if (data && !isEmpty(data)) orphans.push({ baselineFile, testFile, data });
  }
  return orphans.sort((a, b) => byCodeUnit(a.baselineFile, b.baselineFile));
}

/**
 * Merge `changes` (of environment `env`) into the baseline file on disk and write it when its text
 * changes. Throws BaselineFileError when the file on disk is unusable (it is left untouched) and
 * BaselineWriteError when it cannot be written.
 */
export function applyBaselineChanges(file: string, env: string, changes: readonly BaselineChange[], root?: string): WriteOutcome {
  if (changes.length === 0) return 'unchanged';
  const onDisk = readBaselineFile(file, root);
  const merged = mergeBaselines(onDisk, env, changes);
  const before = onDisk && !isEmpty(onDisk) ? serializeBaselineFile(onDisk) : '';
  const after = isEmpty(merged) ? '' : serializeBaselineFile(merged);
  if (before === after) return 'unchanged';
  return writeBaselineFile(file, merged, root);
}
