/**
 * Acceptance tests of the Vitest plugin on Vitest 5: real Vitest runs on a fixture project that uses
 * the packed package (see helpers/fixture.ts). Steps of one describe share a project and run in order.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { describeRun, FixtureProject, type RunResult } from './helpers/fixture.ts';
import { configFile, createPipelineProject, OTHER_BASELINE, OTHER_TEST, PIPELINE_BASELINE, WORKLOAD } from './helpers/pipeline-fixture.ts';
import type { BaselineFileJSON } from '../../src/baseline/types.ts';
import type { RunReport } from '../../src/report/baselines.ts';

const ENV = `node${process.versions.node.split('.')[0]}-${process.platform}-${process.arch}`;

function expectExit(result: RunResult, status: number): void {
  expect(result.status, describeRun(result)).toBe(status);
}

describe('snapshot-like lifecycle on Vitest 5', () => {
  let project: FixtureProject;
  let pipelineBaseline: string;
  let otherBaseline: string;

  beforeAll(async () => {
    project = await createPipelineProject('lifecycle');
  });

  test("the first local run writes both files' baselines from parallel workers and passes", () => {
    const result = project.run(['run'], { PARALLEL_CHECK: '1' });
    expectExit(result, 0);
    const pipeline = project.readJson<BaselineFileJSON>(PIPELINE_BASELINE);
    expect(Object.keys(pipeline)).toEqual([ENV]);
    expect(Object.keys(pipeline[ENV]!)).toEqual(['pipeline > packs', 'pipeline > unpacks']);
    expect(Object.keys(pipeline[ENV]!['pipeline > packs']!)).toEqual(['build', 'encode']);
    expect(pipeline[ENV]!['pipeline > packs']!.encode).toMatchObject({ externalBytes: 1_000_000, iterations: 1, countMethod: 'exact' });
    expect(project.readJson<BaselineFileJSON>(OTHER_BASELINE)[ENV]!['other work']!.encode!.externalBytes).toBe(500_000);
    expect(result.stdout).toMatch(/alloc-tracker: 5 phases in 2 files .*mode local.*: 5 new \(written\)/);
    pipelineBaseline = project.read(PIPELINE_BASELINE);
    otherBaseline = project.read(OTHER_BASELINE);
    // stable, reviewable files
    expect(pipelineBaseline.endsWith('}\n')).toBe(true);
    expect(pipelineBaseline).toContain('\n  "node');
  });

  test('an unchanged rerun passes 10 times out of 10 and leaves the files byte-identical', () => {
    for (let i = 0; i < 10; i++) {
      const result = project.run(['run']);
      expectExit(result, 0);
      expect(result.stdout).toMatch(/5 phases in 2 files .*: 5 ok\n/);
      expect(result.stdout).toContain("5 unchanged phases (ok) in 2 files not listed; report: 'full' lists every phase");
      expect(project.read(PIPELINE_BASELINE)).toBe(pipelineBaseline);
      expect(project.read(OTHER_BASELINE)).toBe(otherBaseline);
    }
  });

  test('10% more allocation fails with a message naming test, phase, metric and change', () => {
    const result = project.run(['run'], { WORK_SCALE: '1.1' });
    expectExit(result, 1);
    expect(result.output).toContain('allocation regression in test "pipeline > packs" (test/pipeline.test.ts), phase "build"');
    expect(result.output).toMatch(/metric bytes: baseline .* current .* change \+(9|10)\.\d\d% .*tolerance ±1% or 4\.10 kB/);
    expect(result.output).toMatch(/metric count: baseline 300\d\d allocations, current 330\d\d allocations, change \+(9\.9\d|10\.0\d)%/);
    expect(result.output).toContain('phase "encode"');
    expect(result.output).toMatch(/metric bytes: baseline 1\.00 MB \(1\d{6} B\), current 1\.10 MB/);
    // The failing phase's heap profile is saved for DevTools, and the message says where.
    const saved =
      /heap profile of "build": (\.alloc-profiles\/test\/pipeline\.test\.ts\/pipeline _ packs-[0-9a-f]{8} - build\.heapprofile) \(open in Chrome DevTools: Memory > Load profile\)/.exec(
        result.output,
      );
    expect(saved, result.output).not.toBeNull();
    const profilePath = saved![1]!;
    const profile = project.readJson<{ head: { callFrame: { functionName: string }; children: unknown[] }; samples: unknown[] }>(
      profilePath,
    );
    expect(profile.head.callFrame.functionName).toBe('(root)');
    expect(JSON.stringify(profile)).toContain('"functionName":"build"');
    expect(result.output).toContain('top allocation sites of "build"');
    expect(result.output).toMatch(/-\s+externalBytes: 1000000\n.*\+\s+externalBytes: 1100000/);
    expect(result.stdout).toMatch(/\| pipeline > packs\s+\| build\s+\|.*\| regressed/);
    expect(project.read(PIPELINE_BASELINE)).toBe(pipelineBaseline);
  });

  test('10% less allocation passes and is reported as an improvement to lock in', () => {
    const result = project.run(['run'], { WORK_SCALE: '0.9' });
    expectExit(result, 0);
    expect(result.stdout).toMatch(/\| pipeline > packs\s+\| encode\s+\|.*-(9\.9\d|10\.0\d)%.*\| improved\s+\|/);
    expect(result.stdout).toContain('  lock in 3 improvements: npx vitest run test/pipeline.test.ts -u\n');
    const report = project.readJson<RunReport>('alloc-report.json');
    expect(report.summary.improved).toBe(5);
    expect(report.files.flatMap((f) => f.rows.map((r) => r.status))).toEqual(['improved', 'improved', 'improved', 'improved', 'improved']);
    expect(project.read(PIPELINE_BASELINE)).toBe(pipelineBaseline);
  });

  test('CI=true with a missing baseline fails that test, says how to create it and writes nothing', () => {
    const result = project.run(['run'], { CI: 'true', EXTRA_TEST: '1' });
    expectExit(result, 1);
    expect(result.output).toContain(
      `no baseline for test "pipeline > brand new" (test/pipeline.test.ts), phase "build" in ${PIPELINE_BASELINE} for environment ${ENV}`,
    );
    expect(result.output).toContain('In CI baselines are never written');
    expect(result.output).toMatch(/FAIL .*pipeline > brand new/);
    expect(result.output).not.toMatch(/FAIL .*pipeline > packs/);
    expect(project.read(PIPELINE_BASELINE)).toBe(pipelineBaseline);
  });

  test('CI=true in a new environment (no entries for this Node/platform/arch) fails and writes nothing', () => {
    const foreign = pipelineBaseline.replaceAll(ENV, 'node20-win32-arm64');
    project.write({ [PIPELINE_BASELINE]: foreign });
    const result = project.run(['run', 'test/pipeline.test.ts'], { CI: 'true' });
    expectExit(result, 1);
    expect(result.output).toContain('the file has no entries for this environment at all');
    expect(project.read(PIPELINE_BASELINE)).toBe(foreign);
    project.write({ [PIPELINE_BASELINE]: pipelineBaseline });
  });

  test('an obsolete entry fails the file in CI, is only reported locally, and nothing is written', () => {
    const data = JSON.parse(pipelineBaseline) as BaselineFileJSON;
    data[ENV]!['pipeline > deleted test'] = { build: data[ENV]!['pipeline > unpacks']!.build! };
    data[ENV]!['pipeline > unpacks']!.gone = data[ENV]!['pipeline > unpacks']!.build!;
    const withObsolete = `${JSON.stringify(data, null, 2)}\n`;
    project.write({ [PIPELINE_BASELINE]: withObsolete });

    const ci = project.run(['run'], { CI: 'true' });
    expectExit(ci, 1);
    expect(ci.output).toContain(`2 obsolete baseline entries in ${PIPELINE_BASELINE}`);
    expect(ci.output).toContain('- "pipeline > deleted test" (whole test)');
    expect(ci.output).toContain('- "pipeline > unpacks" > phase "gone"');
    expect(ci.output).toMatch(/FAIL\s+test\/pipeline\.test\.ts/);
    expect(project.read(PIPELINE_BASELINE)).toBe(withObsolete);

    const local = project.run(['run']);
    expectExit(local, 0);
    expect(local.stdout).toMatch(/\| pipeline > deleted test\s+\| build\s+\|.*\| obsolete\s+\|/);
    expect(local.stdout).toContain('  remove 2 obsolete entries: npx vitest run test/pipeline.test.ts -u\n');
    expect(project.read(PIPELINE_BASELINE)).toBe(withObsolete);
    project.write({ [PIPELINE_BASELINE]: pipelineBaseline });
  });

  test('a run filtered to one test, in update mode, rewrites nothing it could not compare; a run of one file rewrites that file only', () => {
    // -t runs "unpacks" without "packs" before it: its figures are not those of a whole run, so they
    // neither fail nor replace the stored entry (a cold figure would be stale in the next full run).
    const filtered = project.run(['run', 'test/pipeline.test.ts', '-t', 'unpacks', '-u'], { WORK_SCALE: '1.1' });
    expectExit(filtered, 0);
    expect(filtered.stdout).toMatch(/\| pipeline > unpacks\s+\| build\s+\|.*\| not compared/);
    expect(project.read(PIPELINE_BASELINE)).toBe(pipelineBaseline);

    const oneFile = project.run(['run', 'test/pipeline.test.ts', '-u'], { WORK_SCALE: '1.1' });
    expectExit(oneFile, 0);
    const before = JSON.parse(pipelineBaseline) as BaselineFileJSON;
    const after = project.readJson<BaselineFileJSON>(PIPELINE_BASELINE);
    expect(after[ENV]!['pipeline > unpacks']!.build!.count).toBeGreaterThanOrEqual(22_001);
    expect(after[ENV]!['pipeline > unpacks']!.build!.count).toBeLessThan(22_100);
    expect(after[ENV]!['pipeline > packs']!.build!.count).toBeGreaterThan(before[ENV]!['pipeline > packs']!.build!.count);
    expect(project.read(OTHER_BASELINE)).toBe(otherBaseline);
    project.write({ [PIPELINE_BASELINE]: pipelineBaseline });
  });
});

describe('every way to update rewrites measured entries and removes obsolete ones', () => {
  let project: FixtureProject;
  let pristine: string;

  beforeAll(async () => {
    project = await createPipelineProject('update');
    expectExit(project.run(['run']), 0);
    const data = project.readJson<BaselineFileJSON>(PIPELINE_BASELINE);
    data[ENV]!['pipeline > deleted test'] = { build: data[ENV]!['pipeline > unpacks']!.build! };
    pristine = `${JSON.stringify(data, null, 2)}\n`;
  });

  test.each([
    ['vitest run -u', ['run', '-u'], {}, 'vitest'],
    ['vitest run -- --update-baselines', ['run', '--', '--update-baselines'], {}, 'vitest'],
    ['ALLOC_TRACKER_UPDATE=1 vitest run', ['run'], { ALLOC_TRACKER_UPDATE: '1' }, 'vitest'],
    ['vitest-alloc run --update-baselines', ['run', '--update-baselines'], {}, 'vitest-alloc'],
    ['CI=true vitest run -u (update wins over CI, as for snapshots)', ['run', '-u'], { CI: 'true' }, 'vitest'],
  ] as const)('%s', (_name, args, env, bin) => {
    project.write({ [PIPELINE_BASELINE]: pristine });
    const result = project.run(args, { WORK_SCALE: '1.1', ...env }, bin);
    expectExit(result, 0);
    const after = project.readJson<BaselineFileJSON>(PIPELINE_BASELINE)[ENV]!;
    expect(Object.keys(after)).toEqual(['pipeline > packs', 'pipeline > unpacks']);
    expect(after['pipeline > packs']!.encode!.externalBytes).toBe(1_100_000);
    expect(after['pipeline > packs']!.build!.count).toBeGreaterThanOrEqual(33_001);
    expect(after['pipeline > packs']!.build!.count).toBeLessThan(33_100);
    expect(result.stdout).toMatch(/mode update/);
    expect(result.stdout).toMatch(/\| pipeline > deleted test\s+\| build\s+\|.*\| obsolete \(removed\)/);
  });

  test('vitest run --update-baselines is rejected by Vitest itself, which is why the bin exists', () => {
    const result = project.run(['run', '--update-baselines']);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/Unknown option `--update(-b|B)aselines`/);
  });
});

describe('a baseline file whose test file was deleted', () => {
  test('is reported locally, fails CI without being touched, and is deleted on update', async () => {
    const project = await createPipelineProject('orphan');
    expectExit(project.run(['run']), 0);
    const orphan = project.read(OTHER_BASELINE);
    project.remove('test/other.test.ts');

    const local = project.run(['run']);
    expectExit(local, 0);
    expect(local.stdout).toContain(`test/other.test.ts (deleted)  ->  ${OTHER_BASELINE}\n`);
    expect(local.stdout).toMatch(/\| other work\s+\| encode\s+\|.*\| obsolete\s+\|/);
    expect(local.stdout).toContain(`  delete it: rm ${OTHER_BASELINE}\n`);
    expect(project.read(OTHER_BASELINE)).toBe(orphan);

    const ci = project.run(['run'], { CI: 'true' });
    expectExit(ci, 1);
    expect(ci.output).toContain(`${OTHER_BASELINE} belongs to test/other.test.ts, which no longer exists`);
    expect(project.read(OTHER_BASELINE)).toBe(orphan);

    const update = project.run(['run', '-u']);
    expectExit(update, 0);
    expect(update.stdout).toContain(`test/other.test.ts (deleted)  ->  ${OTHER_BASELINE} (deleted)`);
    expect(project.exists(OTHER_BASELINE)).toBe(false);
    expect(project.exists(PIPELINE_BASELINE)).toBe(true);
  });
});

describe('test names', () => {
  test('two tests of one name in a file fail instead of sharing an entry; a retried test is one test', async () => {
    const project = await FixtureProject.create('names', {
      files: {
        'vitest.config.ts': configFile(),
        'test/workload.ts': WORKLOAD,
        'test/names.test.ts': `import { test } from 'vitest';
import { encode } from './workload.ts';
test('same name', () => { encode(1000); });
test('same name', () => { encode(2000); });
test('name reused by a test that records nothing', () => { encode(500); });
test('name reused by a test that records nothing', () => {});
let attempts = 0;
test('retried', { retry: 1 }, () => {
  encode(3000);
  if (++attempts === 1) throw new Error('first attempt fails');
});
`,
      },
    });
    const result = project.run(['run']);
    expectExit(result, 1);
    expect(result.output).toContain('two tests in this file are named "same name"; their phases would share one baseline entry');
    expect(result.output).toContain('two tests in this file are named "name reused by a test that records nothing"');
    expect(result.output).not.toMatch(/named "retried"/);
    expect(result.output).toMatch(/✓ retried .*\(retry x1\)/);
  });
});

describe('plugin options', () => {
  test('auto: false stores and gates only phases passed to toMatchAllocationBaseline; the rest are unchecked', async () => {
    const project = await FixtureProject.create('explicit', {
      files: {
        'vitest.config.ts': configFile('{ auto: false }'),
        'test/workload.ts': WORKLOAD,
        'test/explicit.test.ts': `import { expect, test } from 'vitest';
import { phase } from 'alloc-tracker';
import { build, encode } from './workload.ts';
test('explicit', () => {
  build(1000);
  encode(10_000);
  expect(phase('encode')).toMatchAllocationBaseline();
});
`,
      },
    });
    const result = project.run(['run']);
    expectExit(result, 0);
    const stored = project.readJson<BaselineFileJSON>('baselines/test/explicit.test.ts.json')[ENV]!;
    expect(Object.keys(stored['explicit']!)).toEqual(['encode']);
    expect(result.stdout).toMatch(/\| explicit \| build\s+\|.*\| unchecked\s+\|/);
    expect(result.stdout).toMatch(/\| explicit \| encode\s+\|.*\| new \(written\)\s+\|/);
    // Tenfold work: only the explicitly checked phase can fail the test.
    const scaled = project.run(['run'], { WORK_SCALE: '10' });
    expectExit(scaled, 1);
    expect(scaled.output).toContain('phase "encode"');
    expect(scaled.output).not.toContain('phase "build"');
  });

  test('counts: true alone counts exactly without sites: gated counts, and a message that says how to get sites', async () => {
    const project = await createPipelineProject('count-only', 'v5', configFile('{ samplingInterval: undefined }'));
    expectExit(project.run(['run']), 0);
    const stored = project.readJson<BaselineFileJSON>(PIPELINE_BASELINE)[ENV]!['pipeline > packs']!;
    // build(30_000): the same count the suites with sites store (see the lifecycle above).
    expect(stored.build).toMatchObject({ countMethod: 'exact' });
    expect(stored.build!.count).toBeGreaterThanOrEqual(30_000);
    expect(stored.build!.count).toBeLessThan(30_100);
    for (let i = 0; i < 3; i++) expectExit(project.run(['run']), 0);
    const result = project.run(['run'], { WORK_SCALE: '1.1' });
    expectExit(result, 1);
    expect(result.output).toMatch(/metric count: baseline 300\d\d allocations, current 330\d\d allocations/);
    expect(result.output).toContain('`counts: true` counted without sites; `samplingInterval: 1` records counts and sites');
    expect(result.output).not.toContain('heap profile of');
  });

  test('a baselineDir outside the project (or the root itself) is refused before anything is written', async () => {
    for (const dir of ['.', '../elsewhere']) {
      const project = await FixtureProject.create('bad-dir', {
        files: {
          'vitest.config.ts': configFile(`{ baselineDir: ${JSON.stringify(dir)} }`),
          'test/workload.ts': WORKLOAD,
          'test/other.test.ts': OTHER_TEST,
        },
      });
      const result = project.run(['run']);
      expect(result.status, describeRun(result)).not.toBe(0);
      expect(result.output).toContain(`allocTracker({ baselineDir: ${JSON.stringify(dir)} }) must be a subdirectory of the project root`);
      expect(project.exists('test/other.test.ts.json')).toBe(false);
    }
  });
});

describe('a corrupt baseline file', () => {
  test.each([
    ['invalid JSON', '{\n  "node": {\n    "pipeline > packs": {,\n', /is not valid JSON at line 3, column \d+/],
    [
      'a schema error',
      JSON.stringify({ [ENV]: { 'pipeline > packs': { build: { bytes: -1 } } } }),
      /does not match the baseline schema: at "node[^"]*" > "pipeline > packs" > "build" > bytes: expected a whole number from 0 to 2\^50, got number -1/,
    ],
  ])('(%s) is a clear error naming the file; the file is byte-identical after, even with -u', async (_kind, content, problem) => {
    const project = await createPipelineProject('corrupt');
    project.write({ [PIPELINE_BASELINE]: content });
    for (const args of [['run'], ['run', '-u']]) {
      const result = project.run(args);
      expectExit(result, 1);
      expect(result.output).toContain(`baseline file ${project.root}/${PIPELINE_BASELINE}`);
      expect(result.output).toMatch(problem);
      expect(result.output).toContain('It was left untouched');
      expect(project.read(PIPELINE_BASELINE)).toBe(content);
    }
    // the other file's baselines are still written
    expect(project.exists(OTHER_BASELINE)).toBe(true);
  });
});
