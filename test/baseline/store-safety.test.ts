/**
 * Baseline files that hostile names, strange files and broken disks cannot corrupt (issue 14): real
 * files in a temporary directory, real FIFOs, sockets and links, real processes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs, { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  applyBaselineChanges,
  BaselineFileError,
  baselineFileToJSON,
  mergeBaselines,
  orphanedBaselineFiles,
  parseBaselineText,
  readBaselineFile,
  serializeBaselineFile,
  writeBaselineFile,
} from '../../src/baseline/store.ts';
import type { BaselineMetrics } from '../../src/baseline/types.ts';
import { emptySummary, formatRunReport, type PhaseRow, type RunReport } from '../../src/report/baselines.ts';

const ENV = 'node26-linux-x64';
const metrics = (bytes: number): BaselineMetrics => ({
  bytes,
  count: 3,
  heapBytes: bytes,
  externalBytes: 0,
  iterations: 1,
  countMethod: 'exact',
  peakBytes: bytes,
});
const METRICS_TEXT = JSON.stringify(metrics(100));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'alloc-safety-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('names equal to Object.prototype members are keys like any other', () => {
  const HOSTILE = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

  test('read, merged, written and read back without loss or pollution', () => {
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype);
    const file = path.join(dir, 'a.test.ts.json');
    let data = mergeBaselines(null, ENV, []);
    for (const test of HOSTILE)
      for (const phase of HOSTILE) data = mergeBaselines(data, ENV, [{ kind: 'set', test, phase, metrics: metrics(7) }]);
    expect(writeBaselineFile(file, data, dir)).toBe('written');
    // Nothing landed on Object.prototype (a merge through `tests['__proto__']` would have put phases there).
    expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(prototypeBefore);
    for (const name of HOSTILE) expect(Object.prototype.hasOwnProperty.call({}, name)).toBe(false);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);

    const text = readFileSync(file, 'utf8');
    for (const name of HOSTILE) expect(text).toContain(`"${name}": {`);
    const back = readBaselineFile(file, dir)!;
    expect([...back.get(ENV)!.keys()].sort()).toEqual([...HOSTILE].sort());
    for (const test of HOSTILE) expect([...back.get(ENV)!.get(test)!.keys()].sort()).toEqual([...HOSTILE].sort());
    expect(back.get(ENV)!.get('constructor')!.get('toString')).toEqual(metrics(7));
    expect(serializeBaselineFile(back)).toBe(text);
  });

  test('a stored test named "constructor" is found; an unstored one is not mistaken for Object', () => {
    const data = parseBaselineText(JSON.stringify({ [ENV]: { constructor: { toString: metrics(5) } } }), 'f.json');
    expect(data.get(ENV)!.get('constructor')!.get('toString')).toEqual(metrics(5));
    expect(data.get(ENV)!.get('toString')).toBeUndefined();
    expect(data.get('__proto__')).toBeUndefined();
  });

  test('removing a test named "__proto__" removes that entry only', () => {
    const data = parseBaselineText(JSON.stringify({ [ENV]: { ['__proto__']: { p: metrics(1) }, kept: { p: metrics(2) } } }), 'f.json');
    expect(data.get(ENV)!.has('__proto__')).toBe(true);
    const merged = mergeBaselines(data, ENV, [{ kind: 'removeTest', test: '__proto__' }]);
    expect([...merged.get(ENV)!.keys()]).toEqual(['kept']);
    expect(Object.keys(baselineFileToJSON(merged)[ENV]!)).toEqual(['kept']);
  });
});

describe('strict validation', () => {
  const phase = (body: string): string => `{"${ENV}": {"t": {"p": ${body}}}}`;
  const without = (key: string): string => JSON.stringify(Object.fromEntries(Object.entries(metrics(100)).filter(([k]) => k !== key)));
  test.each([
    [
      'bytes: 1e308',
      phase(METRICS_TEXT.replace('"bytes":100', '"bytes":1e308')),
      '> bytes: expected a whole number from 0 to 2^50, got number 1e308',
    ],
    [
      'bytes: 2^60',
      phase(METRICS_TEXT.replace('"bytes":100', '"bytes":1152921504606846976')),
      '> bytes: expected a whole number from 0 to 2^50, got number 1152921504606846976',
    ],
    ['bytes: 1e400 (Infinity)', phase(METRICS_TEXT.replace('"bytes":100', '"bytes":1e400')), 'got number 1e400'],
    [
      'count: 1.5',
      phase(METRICS_TEXT.replace('"count":3', '"count":1.5')),
      '> count: expected a whole number from 0 to 2^50, got number 1.5',
    ],
    [
      'iterations: 0',
      phase(METRICS_TEXT.replace('"iterations":1', '"iterations":0')),
      '> iterations: expected a whole number from 1 to 2^50, got number 0',
    ],
    [
      'peakBytes: -1',
      phase(METRICS_TEXT.replace('"peakBytes":100', '"peakBytes":-1')),
      '> peakBytes: expected a whole number from 0 to 2^50',
    ],
    ['an unknown key', phase(METRICS_TEXT.replace('{', '{"rss":5,')), 'at "node26-linux-x64" > "t" > "p": unknown key "rss"'],
    ['a missing key', phase(without('heapBytes')), '> heapBytes: missing'],
    ['a duplicate metric', phase(METRICS_TEXT.replace('{', '{"bytes":5,')), 'at "node26-linux-x64" > "t" > "p": duplicate key "bytes"'],
    [
      'a duplicate phase',
      `{"${ENV}": {"t": {"p": ${METRICS_TEXT}, "p": ${METRICS_TEXT}}}}`,
      'at "node26-linux-x64" > "t": duplicate key "p"',
    ],
    ['a duplicate test', `{"${ENV}": {"t": {}, "t": {}}}`, 'at "node26-linux-x64": duplicate key "t"'],
    ['a duplicate environment', `{"${ENV}": {}, "${ENV}": {}}`, 'at the top level: duplicate key "node26-linux-x64"'],
    [
      'a count method nobody knows',
      phase(METRICS_TEXT.replace('"exact"', '"guessed"')),
      'countMethod: expected one of exact, off, got the string "guessed"',
    ],
    ['a comment (JSON has none)', `// hi\n{}`, 'is not valid JSON at line 1, column 1'],
  ])('%s is an error naming the file and the place', (_name, text, problem) => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, text);
    expect(() => readBaselineFile(file, dir)).toThrow(BaselineFileError);
    expect(() => readBaselineFile(file, dir)).toThrow(`baseline file ${file} `);
    expect(() => readBaselineFile(file, dir)).toThrow(problem);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  test('the largest sane figures are accepted', () => {
    const max = { ...metrics(2 ** 50), count: 2 ** 50, iterations: 2 ** 50 };
    expect(
      parseBaselineText(JSON.stringify({ [ENV]: { t: { p: max } } }), 'f')
        .get(ENV)!
        .get('t')!
        .get('p'),
    ).toEqual(max);
  });
});

describe('only regular files are baseline files', () => {
  const stored = JSON.stringify({ [ENV]: { t: { p: metrics(1) } } });

  test('a FIFO in the place of a baseline file is an error, never a hang, and is not replaced', () => {
    const file = path.join(dir, 'a.test.ts.json');
    execFileSync('mkfifo', [file]);
    expect(() => readBaselineFile(file, dir)).toThrow(`baseline file ${file} is a FIFO (named pipe), not a regular file`);
    expect(() => writeBaselineFile(file, parseBaselineText(stored, file), dir)).toThrow(`${file} cannot be replaced: it is a FIFO`);
    expect(lstatSync(file).isFIFO()).toBe(true);
  });

  test('a socket in the place of a baseline file is an error', async () => {
    const file = path.join(dir, 's.json');
    const server = net.createServer().listen(file);
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      expect(() => readBaselineFile(file, dir)).toThrow(`baseline file ${file} is a socket or FIFO without a reader, not a regular file`);
      expect(() => writeBaselineFile(file, parseBaselineText(stored, file), dir)).toThrow('cannot be replaced: it is a socket');
    } finally {
      server.close();
    }
  });

  test('a directory in the place of a baseline file is an error and is not replaced', () => {
    const file = path.join(dir, 'd.json');
    mkdirSync(file);
    expect(() => readBaselineFile(file, dir)).toThrow(`baseline file ${file} is a directory, not a regular file`);
    expect(() => writeBaselineFile(file, new Map(), dir)).toThrow('cannot be replaced: it is a directory');
    expect(lstatSync(file).isDirectory()).toBe(true);
  });

  test('a symbolic link to a file outside is neither read nor written through nor replaced', () => {
    const outside = path.join(dir, 'outside.json');
    writeFileSync(outside, stored);
    const project = path.join(dir, 'project');
    mkdirSync(path.join(project, 'baselines'), { recursive: true });
    const file = path.join(project, 'baselines', 'a.test.ts.json');
    symlinkSync(outside, file);
    expect(() => readBaselineFile(file, project)).toThrow(`baseline file ${file} is a symbolic link; baseline files are never followed`);
    const changes = [{ kind: 'set', test: 'x', phase: 'p', metrics: metrics(2) }] as const;
    expect(() => applyBaselineChanges(file, ENV, changes, project)).toThrow('is a symbolic link');
    expect(() => writeBaselineFile(file, parseBaselineText(stored, file), project)).toThrow('cannot be replaced: it is a symbolic link');
    expect(readFileSync(outside, 'utf8')).toBe(stored);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
  });

  test('a dangling symbolic link creates nothing where it points', () => {
    const project = path.join(dir, 'project');
    mkdirSync(path.join(project, 'baselines'), { recursive: true });
    const file = path.join(project, 'baselines', 'a.test.ts.json');
    const target = path.join(dir, 'elsewhere.json');
    symlinkSync(target, file);
    expect(readBaselineFile.bind(null, file, project)).toThrow('is a symbolic link');
    expect(() => writeBaselineFile(file, parseBaselineText(stored, file), project)).toThrow('cannot be replaced: it is a symbolic link');
    expect(existsSync(target)).toBe(false);
  });

  test('a linked baseline directory is neither read, written through, nor scanned for orphans', () => {
    const outside = path.join(dir, 'outside');
    mkdirSync(path.join(outside, 'test'), { recursive: true });
    writeFileSync(path.join(outside, 'test', 'gone.test.ts.json'), stored);
    const project = path.join(dir, 'project');
    mkdirSync(project);
    symlinkSync(outside, path.join(project, 'baselines'));
    const file = path.join(project, 'baselines', 'test', 'a.test.ts.json');
    expect(() => readBaselineFile(file, project)).toThrow(
      `cannot be read: ${path.join(project, 'baselines')} is a symbolic link, not a directory`,
    );
    expect(() => writeBaselineFile(file, parseBaselineText(stored, file), project)).toThrow(
      `cannot be written: ${path.join(project, 'baselines')} is a symbolic link, not a directory`,
    );
    expect(readdirSync(path.join(outside, 'test'))).toEqual(['gone.test.ts.json']);
    expect(orphanedBaselineFiles(project, 'baselines')).toEqual([]);
  });

  test('a linked directory below the baseline directory is not followed by the orphan scan', () => {
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'gone.test.ts.json'), stored);
    const project = path.join(dir, 'project');
    mkdirSync(path.join(project, 'baselines'), { recursive: true });
    symlinkSync(outside, path.join(project, 'baselines', 'linked'));
    writeFileSync(path.join(project, 'baselines', 'deleted.test.ts.json'), stored);
    expect(orphanedBaselineFiles(project, 'baselines').map((o) => path.basename(o.baselineFile))).toEqual(['deleted.test.ts.json']);
  });
});

describe('atomic, durable writes', () => {
  test('write, fsync the file, rename, fsync the directory', () => {
    const file = path.join(dir, 'a.test.ts.json');
    const calls: string[] = [];
    const original = { openSync: fs.openSync, fsyncSync: fs.fsyncSync, renameSync: fs.renameSync };
    const opened = new Map<number, string>();
    fs.openSync = ((p: fs.PathLike, ...rest: never[]) => {
      const fd = (original.openSync as (...args: unknown[]) => number)(p, ...rest);
      opened.set(fd, String(p));
      return fd;
    }) as typeof fs.openSync;
    fs.fsyncSync = (fd: number) => {
      const p = opened.get(fd) ?? '?';
      calls.push(`fsync ${p === dir ? 'dir' : path.basename(p).endsWith('.tmp') ? 'temp' : p}`);
      original.fsyncSync(fd);
    };
    fs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
      calls.push(`rename ${path.basename(String(from)).endsWith('.tmp') ? 'temp' : String(from)} -> ${path.basename(String(to))}`);
      original.renameSync(from, to);
    };
    syncBuiltinESMExports();
    try {
      writeBaselineFile(file, parseBaselineText(JSON.stringify({ [ENV]: { t: { p: metrics(1) } } }), file), dir);
    } finally {
      Object.assign(fs, original);
      syncBuiltinESMExports();
    }
    expect(calls).toEqual(['fsync temp', 'rename temp -> a.test.ts.json', 'fsync dir']);
  });

  test("temporary files of a killed writer are removed by the next write; a live writer's are kept", () => {
    const file = path.join(dir, 'a.test.ts.json');
    // A process that no longer exists: run one and let it end.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const stale = path.join(dir, `.a.test.ts.json.${dead}.0badc0de.tmp`);
    const live = path.join(dir, `.a.test.ts.json.${process.ppid}.0badc0de.tmp`);
    const other = path.join(dir, `.b.test.ts.json.${dead}.0badc0de.tmp`);
    for (const temp of [stale, live, other]) writeFileSync(temp, '{"half": ');
    // Readers and the orphan scan never look at them.
    expect(readBaselineFile(file, dir)).toBeNull();
    expect(orphanedBaselineFiles(dir, '.')).toEqual([]);
    writeBaselineFile(file, parseBaselineText(JSON.stringify({ [ENV]: { t: { p: metrics(1) } } }), file), dir);
    expect(readdirSync(dir).sort()).toEqual([path.basename(live), path.basename(other), 'a.test.ts.json'].sort());
  });
});

describe('the end-of-run report', () => {
  test('renders 300,000 rows without overflowing the stack', () => {
    const rows: PhaseRow[] = [];
    for (let i = 0; i < 300_000; i++) {
      rows.push({
        test: `test ${i}`,
        phase: 'p',
        status: 'ok',
        baseline: metrics(i),
        current: metrics(i),
        comparisons: [],
        tolerance: null,
        metrics: [],
        record: null,
        testState: 'passed',
      });
    }
    const summary = emptySummary();
    summary.ok = rows.length;
    const report: RunReport = {
      version: 1,
      mode: 'local',
      environment: ENV,
      deterministic: true,
      files: [{ file: 'a.test.ts', project: '', baselineFile: 'baselines/a.test.ts.json', written: false, error: null, rows }],
      summary,
    };
    const text = formatRunReport(report, false);
    expect(text.split('\n').filter((l) => l.startsWith('  | test ')).length).toBe(300_000);
    expect(text).toContain('| test 299999 | p     |');
  });
});
