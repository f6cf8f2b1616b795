/**
 * The plugin on Vitest 4.1 (installed in the fixture projects), plus matcher behaviour and the threads-pool
 * degradation, all through real runs of the packed package.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { describeRun, FixtureProject, type RunResult } from './helpers/fixture.ts';
import { configFile, createPipelineProject, PIPELINE_BASELINE, WORKLOAD } from './helpers/pipeline-fixture.ts';
import type { BaselineFileJSON } from '../../src/baseline/types.ts';
import type { RunReport } from '../../src/report/baselines.ts';

const ENV = `node${process.versions.node.split('.')[0]}-${process.platform}-${process.arch}`;

function expectExit(result: RunResult, status: number): void {
  expect(result.status, describeRun(result)).toBe(status);
}

describe('Vitest 4.1 end to end', () => {
  let project: FixtureProject;

  beforeAll(async () => {
    project = await createPipelineProject('v4', 'v4');
  });

  test('writes baselines, passes unchanged, fails 10% more with a named test, phase, metric and change', () => {
    const first = project.run(['run']);
    expectExit(first, 0);
    expect(first.stdout).toContain('RUN  v4.1.');
    const written = project.read(PIPELINE_BASELINE);
    expect(Object.keys((JSON.parse(written) as BaselineFileJSON)[ENV]!)).toEqual(['pipeline > packs', 'pipeline > unpacks']);

    const again = project.run(['run']);
    expectExit(again, 0);
    expect(again.stdout).toMatch(/: 5 ok\n/);

    const worse = project.run(['run'], { WORK_SCALE: '1.1' });
    expectExit(worse, 1);
    expect(worse.output).toContain('allocation regression in test "pipeline > packs" (test/pipeline.test.ts), phase "encode"');
    expect(worse.output).toMatch(/metric bytes: baseline 1\.00 MB .* change \+(9\.9\d|10\.0\d)%/);
    expect(project.read(PIPELINE_BASELINE)).toBe(written);

    const updated = project.run(['run', '-u'], { WORK_SCALE: '1.1' });
    expectExit(updated, 0);
    expect(project.readJson<BaselineFileJSON>(PIPELINE_BASELINE)[ENV]!['pipeline > packs']!.encode!.externalBytes).toBe(1_100_000);
  });
});

const MATCHERS_TEST = `import { describe, expect, test } from 'vitest';
import { phase, span } from 'alloc-tracker';
import { encode } from './workload.ts';

test('limits that hold, with .not', () => {
  encode(1_000_000);
  expect(phase('encode')).toAllocateLessThan('1.1 MB');
  expect(phase('encode')).toAllocateLessThan(2 ** 20);
  expect(phase('encode')).not.toAllocateLessThan('900 kB');
  expect(phase('encode')).toAllocateFewerThan(100);
  expect(phase('encode')).toPeakBelow('2 MiB');
  expect(phase('encode')).toMatchAllocationBaseline({ tolerance: { percent: 1 } });
});

test('too much memory', () => {
  encode(1_000_000);
  expect(phase('encode')).toAllocateLessThan('512 KiB');
});

test('a limit with a unit that does not exist', () => {
  encode(1_000);
  expect(phase('encode')).toAllocateLessThan('5 parsecs');
});

test('a phase that was never recorded', () => {
  span('parse', () => [1, 2, 3]);
  phase('pasre');
});

describe.concurrent('concurrent tests', () => {
  const slowly = (name: string) => span(name, async () => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    return Buffer.alloc(10);
  });
  test('first concurrent', async () => {
    await slowly('c1');
  });
  test('second concurrent', async () => {
    await slowly('c2');
  });
});

test('per-call tolerance is stricter than the global one', () => {
  encode(Number(process.env.STRICT_BYTES ?? 1_000_000));
  expect(phase('encode')).toMatchAllocationBaseline({ tolerance: { percent: 1, bytes: 0 } });
});
`;

describe('matchers through real runs (Vitest 4.1)', () => {
  let project: FixtureProject;
  let result: RunResult;

  beforeAll(async () => {
    project = await FixtureProject.create('matchers', {
      vitest: 'v4',
      files: { 'vitest.config.ts': configFile(), 'test/workload.ts': WORKLOAD, 'test/matchers.test.ts': MATCHERS_TEST },
    });
    // The first (local) run writes the baselines of the passing tests; the failing ones fail on purpose.
    expectExit(project.run(['run']), 1);
    expect(project.exists('baselines/test/matchers.test.ts.json')).toBe(true);
    result = project.run(['run'], { STRICT_BYTES: '1030000' });
  });

  test('passing limits and .not pass', () => {
    expect(result.output).toMatch(/✓ limits that hold, with \.not/);
  });

  test('a failed limit names the phase, the limit and the figure, with allocation sites', () => {
    expect(result.output).toMatch(
      /expected phase "encode" to allocate less than 524\.3 kB \(524288 B\) per iteration, but it allocated 1\.00 MB \(100\d{4} B\)/,
    );
    expect(result.output).toContain('top allocation sites:');
    expect(result.output).toMatch(/heap profile of "encode": \.alloc-profiles\/test\/matchers\.test\.ts\/[^\n]* - encode\.heapprofile/);
  });

  test('a bad unit is a clear error listing the units', () => {
    expect(result.output).toContain('toAllocateLessThan("5 parsecs"): alloc-tracker: cannot read "5 parsecs" as a byte size');
    expect(result.output).toContain('units: B, kB/KB, MB, GB, TB, KiB, MiB, GiB, TiB');
  });

  test('concurrent tests that record phases fail: their allocations cannot be told apart', () => {
    for (const which of ['first', 'second']) {
      expect(result.output).toContain(`alloc-tracker: test "concurrent tests > ${which} concurrent" ran concurrently with other tests`);
      expect(result.output).toMatch(new RegExp(`FAIL .*concurrent tests > ${which} concurrent`));
    }
  });

  test("a failed test's new phase is reported as not written", () => {
    expect(result.stdout).toMatch(/\| too much memory\s+\| encode .*\| new \(not written: the test failed\)/);
  });

  test('phase() of an unrecorded name lists the recorded phases', () => {
    expect(result.output).toContain('no phase "pasre" was recorded; recorded phases: "parse"');
  });

  test('the per-call tolerance fails a 3% change the default tolerance would pass', () => {
    expect(result.output).toMatch(
      /allocation regression in test "per-call tolerance is stricter than the global one" .*phase "encode"\n.*change \+(2\.\d\d|3\.0\d)% .*tolerance ±1% or 0 B/,
    );
    expect(result.status).toBe(1);
  });
});

describe('threads pool', () => {
  test('warns once, still works, and marks figures non-deterministic', async () => {
    const project = await createPipelineProject(
      'threads',
      'v5',
      configFile("{ outputFile: 'alloc-report.json' }", "\n    pool: 'threads',"),
    );
    const result = project.run(['run']);
    expectExit(result, 0);
    const warnings = result.output.match(/the 'threads' pool cannot give workers --single-threaded/g) ?? [];
    expect(warnings).toHaveLength(1);
    expect(result.stdout).toContain('note: workers ran without --single-threaded');
    const report = project.readJson<RunReport>('alloc-report.json');
    expect(report.deterministic).toBe(false);
    expect(report.files.flatMap((f) => f.rows.map((r) => r.record?.deterministic))).toEqual([false, false, false, false, false]);
  });

  test('the forks pool gets --single-threaded and records are deterministic', async () => {
    const project = await createPipelineProject('forks', 'v5', configFile("{ outputFile: 'alloc-report.json', report: 'off' }"));
    const result = project.run(['run']);
    expectExit(result, 0);
    expect(result.stdout).not.toContain('alloc-tracker: 5 phases'); // report: 'off'
    const report = project.readJson<RunReport>('alloc-report.json');
    expect(report.deterministic).toBe(true);
    expect(report.files.flatMap((f) => f.rows.map((r) => r.record?.deterministic))).toEqual([true, true, true, true, true]);
  });
});
