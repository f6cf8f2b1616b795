import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  BaselineFileError,
  baselineFileFromJSON,
  baselineFileToJSON,
  baselinePathFor,
  mergeBaselines,
  readBaselineFile,
  serializeBaselineFile,
  writeBaselineFile,
} from '../../src/baseline/store.ts';
import type { BaselineFile, BaselineFileJSON, BaselineMetrics } from '../../src/baseline/types.ts';

/** Maps from a literal of the on-disk shape. */
const file = (json: BaselineFileJSON): BaselineFile => baselineFileFromJSON(json);

const metrics = (bytes: number): BaselineMetrics => ({
  bytes,
  count: 3,
  heapBytes: bytes,
  externalBytes: 0,
  iterations: 1,
  countMethod: 'exact',
  peakBytes: bytes,
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'alloc-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('baselinePathFor', () => {
  test('mirrors the test file below the baseline directory', () => {
    expect(baselinePathFor('/repo', 'baselines', '/repo/test/oci/pipeline.test.ts')).toBe('/repo/baselines/test/oci/pipeline.test.ts.json');
  });
  test('keeps files outside the root below _outside_root', () => {
    expect(baselinePathFor('/repo', 'baselines', '/elsewhere/a.test.ts')).toBe('/repo/baselines/_outside_root/elsewhere/a.test.ts.json');
  });
});

describe('serialisation', () => {
  test('sorts keys at every level, indents by 2 and ends with a newline', () => {
    const data = file({ 'node26-linux-x64': { 'b > t': { z: metrics(2), a: metrics(1) }, 'a > t': { m: metrics(3) } } });
    const text = serializeBaselineFile(data);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.indexOf('"a > t"')).toBeLessThan(text.indexOf('"b > t"'));
    expect(text.indexOf('"a": {')).toBeLessThan(text.indexOf('"z": {'));
    expect(text).toContain('\n      "a": {\n        "bytes": 1,\n        "count": 3,\n        "countMethod": "exact",');
    expect(JSON.parse(text)).toEqual(baselineFileToJSON(data));
  });
});

describe('what an entry records besides figures', () => {
  test('the context, the bytes method and retained bytes survive merging, writing and reading back', () => {
    const entry: BaselineMetrics = { ...metrics(100), bytesMethod: 'counter', context: '0123456789abcdef', retainedBytes: 40 };
    const merged = mergeBaselines(null, 'env', [{ kind: 'set', test: 't', phase: 'p', metrics: entry }]);
    const target = path.join(dir, 'b.json');
    writeBaselineFile(target, merged);
    expect(readBaselineFile(target)?.get('env')?.get('t')?.get('p')).toEqual(entry);
    expect(JSON.parse(readFileSync(target, 'utf8'))).toEqual({ env: { t: { p: entry } } });
  });

  test('a context that is not 16 hex digits, or an unknown bytes method, is an error naming the path', () => {
    const bad = (extra: object) => {
      const target = path.join(dir, 'bad.json');
      writeFileSync(target, JSON.stringify({ env: { t: { p: { ...metrics(1), ...extra } } } }));
      return () => readBaselineFile(target);
    };
    expect(bad({ context: 'not-a-hash' })).toThrow(/at "env" > "t" > "p" > context: expected 16 hexadecimal digits/);
    expect(bad({ bytesMethod: 'guess' })).toThrow(/> bytesMethod: expected one of counter, heap-delta/);
  });
});

describe('readBaselineFile', () => {
  test('returns null when the file does not exist', () => {
    expect(readBaselineFile(path.join(dir, 'none.json'))).toBeNull();
  });

  test('names the file and the line and column of a JSON syntax error', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{\n  "node26-linux-x64": {,\n}\n');
    expect(() => readBaselineFile(file)).toThrow(BaselineFileError);
    expect(() => readBaselineFile(file)).toThrow(new RegExp(`${file} is not valid JSON at line 2, column \\d+`));
  });

  test('names the JSON path of a schema problem', () => {
    const file = path.join(dir, 'schema.json');
    writeFileSync(file, JSON.stringify({ env: { 'suite > t': { parse: { ...metrics(1), bytes: 'many' } } } }));
    expect(() => readBaselineFile(file)).toThrow(
      `at "env" > "suite > t" > "parse" > bytes: expected a whole number from 0 to 2^50, got the string "many"`,
    );
    writeFileSync(file, '[]');
    expect(() => readBaselineFile(file)).toThrow('at the top level: expected an object keyed by environment, got an array');
    writeFileSync(file, JSON.stringify({ env: { t: { p: { ...metrics(1), countMethod: 'guessed' } } } }));
    expect(() => readBaselineFile(file)).toThrow('countMethod: expected one of exact, off');
  });

  test('reports a directory in the place of a baseline file, naming it', () => {
    expect(() => readBaselineFile(dir)).toThrow(`baseline file ${dir} is a directory, not a regular file`);
  });
});

describe('writeBaselineFile', () => {
  test('writes atomically through a temporary file that does not remain', () => {
    const target = path.join(dir, 'nested', 'a.test.ts.json');
    const data = file({ env: { t: { p: metrics(1) } } });
    expect(writeBaselineFile(target, data, dir)).toBe('written');
    expect(readFileSync(target, 'utf8')).toBe(serializeBaselineFile(data));
    expect(readdirSync(path.dirname(target))).toEqual(['a.test.ts.json']);
    expect(readBaselineFile(target, dir)).toEqual(data);
  });

  test('deletes the file when nothing is left to store', () => {
    const target = path.join(dir, 'a.json');
    writeBaselineFile(target, file({ env: { t: { p: metrics(1) } } }));
    expect(writeBaselineFile(target, new Map())).toBe('deleted');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('mergeBaselines', () => {
  const onDisk = file({
    'node26-linux-x64': { kept: { p: metrics(1) }, changed: { p: metrics(2), gone: metrics(3) } },
    'node24-darwin-arm64': { other: { p: metrics(9) } },
  });

  test('changes only the named entries of one environment and never mutates the input', () => {
    const before = structuredClone(onDisk);
    const merged = mergeBaselines(onDisk, 'node26-linux-x64', [
      { kind: 'set', test: 'changed', phase: 'p', metrics: metrics(20) },
      { kind: 'removePhase', test: 'changed', phase: 'gone' },
      { kind: 'set', test: 'new', phase: 'q', metrics: metrics(5) },
    ]);
    expect(onDisk).toEqual(before);
    expect(baselineFileToJSON(merged)).toEqual({
      'node26-linux-x64': { kept: { p: metrics(1) }, changed: { p: metrics(20) }, new: { q: metrics(5) } },
      'node24-darwin-arm64': { other: { p: metrics(9) } },
    });
  });

  test('drops tests and environments that become empty', () => {
    const merged = mergeBaselines(onDisk, 'node24-darwin-arm64', [{ kind: 'removeTest', test: 'other' }]);
    expect([...merged.keys()]).toEqual(['node26-linux-x64']);
    expect(mergeBaselines(null, 'env', [{ kind: 'removeTest', test: 'x' }]).size).toBe(0);
  });
});
