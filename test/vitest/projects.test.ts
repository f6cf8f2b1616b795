/**
 * `test.projects` with different plugin settings per project (issue: every pool and isolation setting
 * works or fails loudly): each project gates with its own settings, keeps its own baselines, and the run
 * reports both.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { describeRun, FixtureProject } from './helpers/fixture.ts';
import { WORKLOAD } from './helpers/pipeline-fixture.ts';
import type { BaselineFileJSON } from '../../src/baseline/types.ts';

const ENV = `node${process.versions.node.split('.')[0]}-${process.platform}-${process.arch}`;

const CONFIG = `import { defineConfig } from 'vitest/config';
import { allocTracker } from 'alloc-tracker/vitest';

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [allocTracker({ counts: true })],
        test: { name: 'counting', include: ['test/counting/**/*.test.ts'], pool: 'forks' },
      },
      {
        plugins: [allocTracker({ samplingInterval: 0, tolerance: { percent: 5 } })],
        test: { name: 'bytes', include: ['test/bytes/**/*.test.ts'], pool: 'forks' },
      },
      {
        plugins: [allocTracker()],
        test: { name: 'shared', include: ['test/shared/**/*.test.ts'], pool: 'forks', isolate: false },
      },
    ],
  },
});
`;

const testFile = (items: number): string => `import { test } from 'vitest';
import { build, encode } from '../workload.ts';
test('work', () => {
  build(${items});
  encode(100_000);
});
`;

const COUNTING = 'baselines/test/counting/work.test.ts.json';
const BYTES = 'baselines/test/bytes/work.test.ts.json';

describe('test.projects with different settings per project', () => {
  let project: FixtureProject;
  beforeAll(async () => {
    project = await FixtureProject.create('projects', {
      files: {
        'vitest.config.ts': CONFIG,
        'test/workload.ts': WORKLOAD,
        'test/counting/work.test.ts': testFile(20_000),
        'test/bytes/work.test.ts': testFile(20_000),
        'test/shared/one.test.ts': testFile(10_000),
        'test/shared/two.test.ts': testFile(10_000),
      },
    });
  });

  test('each project records with its own settings, and unchanged reruns pass', () => {
    const first = project.run(['run']);
    expect(first.status, describeRun(first)).toBe(0);
    const counting = project.readJson<BaselineFileJSON>(COUNTING)[ENV]!['work']!;
    const bytes = project.readJson<BaselineFileJSON>(BYTES)[ENV]!['work']!;
    expect(counting.build).toMatchObject({ countMethod: 'exact' });
    expect(counting.build!.count).toBeGreaterThanOrEqual(20_000);
    expect(bytes.build).toMatchObject({ countMethod: 'off' });
    expect(bytes.build!.count).toBe(0);
    // One summary per project, each with its own settings.
    expect(first.stdout).toMatch(/alloc-tracker: 2 phases in 1 file .*: 2 new \(written\)/);
    // isolate: false: measured and reported, never recorded, and the note says what would record them.
    expect(first.stdout).toContain(
      "4 not written: isolate: false lets test files share a worker, and which files ran before differs run to run; measure these files in a project of their own with pool: 'forks' and isolate: true (test.projects)",
    );
    expect(project.exists('baselines/test/shared/one.test.ts.json')).toBe(false);
    for (let i = 0; i < 3; i++) {
      const rerun = project.run(['run'], { CI: 'true' });
      expect(rerun.status, describeRun(rerun)).toBe(0);
    }
  });

  test("a 3% regression fails the counting project's test and passes the one with a 5% tolerance", () => {
    const result = project.run(['run'], { CI: 'true', WORK_SCALE: '1.03' });
    expect(result.status, describeRun(result)).toBe(1);
    expect(result.output).toContain('allocation regression in test "work" (test/counting/work.test.ts), phase "build"');
    expect(result.output).toMatch(/metric count: baseline 200\d\d allocations, current 206\d\d allocations/);
    expect(result.output).not.toContain('(test/bytes/work.test.ts)');
    expect(result.output).not.toContain('(test/shared/');
  });

  test('one project selected with --project gates only its files', () => {
    const result = project.run(['run', '--project', 'bytes'], { CI: 'true', WORK_SCALE: '1.03' });
    expect(result.status, describeRun(result)).toBe(0);
    expect(result.stdout).toMatch(/alloc-tracker: 2 phases in 1 file .*: 2 ok/);
    expect(result.stdout).not.toContain('test/counting/');
  });
});
