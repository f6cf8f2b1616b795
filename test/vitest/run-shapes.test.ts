/**
 * The gate in the ways people run a suite (issue 8): a three-file suite records its baselines in a
 * whole run; then one file, `-t` on a middle test, `.only`, a shuffled order, `isolate: false` and shards
 * must not fail unchanged code, never write a baseline from a partial run and never advise `-u` for
 * one; a whole run must still catch a 5% regression in a middle test. bench:gate-noise runs each shape
 * ten times (and with --coverage); here each runs once, on the packed package.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { describeRun, FixtureProject, type RunResult } from './helpers/fixture.ts';
import type { BaselineFileJSON } from '../../src/baseline/types.ts';
import type { RunReport } from '../../src/report/baselines.ts';

const WORK = `import { span } from 'alloc-tracker';
import { readFile } from 'node:fs/promises';
let keep: unknown;
const grow = (test: string): number => (process.env.GROW === test ? 1.05 : 1);
export function build(test: string, items: number): unknown[] {
  return span('build', () => {
    const out = [];
    for (let i = 0; i < Math.round(items * grow(test)); i++) out.push({ id: i, name: 'item-' + (i % 100) });
    return out;
  });
}
export async function load(): Promise<number> {
  return span('load', async () => (await readFile('data.txt', 'utf8')).split('\\n').length);
}
export function hold(value: unknown): void {
  keep = value;
}
`;
const FILES: Record<string, string[]> = { alpha: ['a1', 'a2', 'a3'], beta: ['b1', 'b2', 'b3'], gamma: ['g1', 'g2'] };
const testFile = (name: string, only?: string): string =>
  `import { expect, it } from 'vitest';
import { build, hold, load } from '../src/work.ts';
${FILES[name]!.map(
  (t, i) => `it${t === only ? '.only' : ''}('${t}', async () => {
  hold(build('${name}/${t}', ${3000 + 1000 * i}));
  expect(await load()).toBeGreaterThan(0);
});`,
).join('\n')}
`;
const config = (test = ''): string => `import { defineConfig } from 'vitest/config';
import { allocTracker } from 'alloc-tracker/vitest';
export default defineConfig({
  plugins: [allocTracker({ outputFile: 'alloc-report.json' })],
  test: { maxWorkers: 2, ${test} },
});
`;

function expectExit(result: RunResult, status: number): void {
  expect(result.status, describeRun(result)).toBe(status);
}

describe('run shapes', () => {
  let project: FixtureProject;
  let recorded: string;
  const report = (): RunReport => project.readJson<RunReport>('alloc-report.json');
  const rows = (): { test: string; phase: string; status: string; note?: string }[] => report().files.flatMap((f) => f.rows);
  const baselines = (): string =>
    Object.keys(FILES)
      .map((f) => project.read(`baselines/test/${f}.test.ts.json`))
      .join('\n');

  beforeAll(async () => {
    const files: Record<string, string> = {
      'vitest.config.ts': config(),
      'src/work.ts': WORK,
      'data.txt': Array.from({ length: 3000 }, (_, i) => `line ${i}`).join('\n'),
    };
    for (const name of Object.keys(FILES)) files[`test/${name}.test.ts`] = testFile(name);
    project = await FixtureProject.create('shapes', { files });
    const record = project.run(['run'], { ALLOC_TRACKER_UPDATE: '1' });
    expectExit(record, 0);
    recorded = baselines();
  });

  test('a whole run records each entry with the context it ran in (the tests before it in its file)', () => {
    const beta = project.readJson<BaselineFileJSON>('baselines/test/beta.test.ts.json');
    const env = Object.keys(beta)[0]!;
    const contexts = ['b1', 'b2', 'b3'].map((t) => beta[env]![t]!.build!.context);
    expect(new Set(contexts).size).toBe(3);
    // The first test of every file ran after nothing: the same context everywhere.
    const alpha = project.readJson<BaselineFileJSON>('baselines/test/alpha.test.ts.json');
    expect(alpha[env]!.a1!.build!.context).toBe(contexts[0]);
    expect(beta[env]!.b1!.build!.bytesMethod).toBe('counter');
  });

  test('an unchanged whole run in CI compares every phase and passes', () => {
    const result = project.run(['run'], { CI: 'true' });
    expectExit(result, 0);
    expect(new Set(rows().map((r) => r.status))).toEqual(new Set(['ok']));
  });

  test('one file and shards are whole runs of their files: every phase compared', () => {
    expectExit(project.run(['run', 'test/beta.test.ts'], { CI: 'true' }), 0);
    expect(rows().every((r) => r.status === 'ok')).toBe(true);
    for (const shard of ['1/2', '2/2']) {
      expectExit(project.run(['run', `--shard=${shard}`], { CI: 'true' }), 0);
      expect(rows().every((r) => r.status === 'ok')).toBe(true);
    }
  });

  test('-t on a middle test: not compared (other tests ran before it when recorded), no failure, no -u advice', () => {
    const result = project.run(['run', '-t', 'b2'], { CI: 'true' });
    expectExit(result, 0);
    const b2 = rows().filter((r) => r.test === 'b2');
    expect(b2.map((r) => r.status)).toEqual(['not-compared', 'not-compared']);
    expect(b2[0]!.note).toMatch(/filtered by test name/);
    expect(result.output).not.toMatch(/update-baselines|vitest run -u/);
    // ...while the first test of a file runs after nothing in any run: compared.
    expectExit(project.run(['run', '-t', 'b1'], { CI: 'true' }), 0);
    expect(
      rows()
        .filter((r) => r.test === 'b1')
        .map((r) => r.status),
    ).toEqual(['ok', 'ok']);
  });

  test('.only, a shuffled order and isolate: false neither fail nor write', () => {
    project.write({ 'test/beta.test.ts': testFile('beta', 'b2') });
    expectExit(project.run(['run', 'test/beta.test.ts']), 0);
    expect(rows().find((r) => r.test === 'b2')?.status).toBe('not-compared');
    project.write({ 'test/beta.test.ts': testFile('beta') });

    for (const seed of ['1', '2']) {
      expectExit(project.run(['run', '--sequence.shuffle', `--sequence.seed=${seed}`], { CI: 'true' }), 0);
      expect(rows().every((r) => r.status === 'ok' || r.status === 'not-compared')).toBe(true);
    }

    project.write({ 'vitest.config.ts': config('isolate: false') });
    const shared = project.run(['run'], { CI: 'true' });
    expectExit(shared, 0);
    // Every measured test got its own session in a shared worker.
    expect(shared.output).not.toMatch(/needs an active session/);
    expect(rows()).toHaveLength(16);
    // Which files ran before another in a shared worker differs run to run: measured, never gated.
    expect(rows().every((r) => r.status === 'not-compared' && r.note?.includes('isolate: false'))).toBe(true);
    project.write({ 'vitest.config.ts': config() });

    // An update run that is partial writes nothing.
    expectExit(project.run(['run', '-t', 'b3'], { ALLOC_TRACKER_UPDATE: '1', GROW: 'beta/b3' }), 0);
    expect(baselines()).toBe(recorded);
  });

  test('a whole run catches 5% more allocation in a middle test', () => {
    const result = project.run(['run'], { CI: 'true', GROW: 'beta/b2' });
    expectExit(result, 1);
    expect(rows().find((r) => r.test === 'b2' && r.phase === 'build')?.status).toBe('regressed');
    expect(result.output).toContain('allocation regression in test "b2" (test/beta.test.ts), phase "build"');
  });

  test('a test added before others makes their entries stale: CI fails saying how to re-record, update rewrites', () => {
    FILES.beta = ['b0', 'b1', 'b2', 'b3'];
    project.write({ 'test/beta.test.ts': testFile('beta') });
    const ci = project.run(['run', 'test/beta.test.ts'], { CI: 'true' });
    expectExit(ci, 1);
    expect(rows().find((r) => r.test === 'b2')?.status).toBe('stale');
    expect(ci.output).toMatch(/cannot be compared:\n.*other tests ran before it in its file/);
    expectExit(project.run(['run', 'test/beta.test.ts'], { ALLOC_TRACKER_UPDATE: '1' }), 0);
    expectExit(project.run(['run'], { CI: 'true' }), 0);
  });
});
