/**
 * Baselines follow Vitest's snapshot update state on each supported major, through real runs of the
 * packed package: every way to ask for `all`, `new` or `none` (flags, UPDATE_SNAPSHOT, CI, the
 * plugin's own variable), the list an update run prints of what it accepted, and `-u <file>`, which
 * Vitest reads as an update value.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import type { BaselineFileJSON } from '../../src/baseline/types.ts';
import { describeRun, type FixtureProject, type RunResult, type VitestVersion } from './helpers/fixture.ts';
import { createPipelineProject, OTHER_BASELINE, PIPELINE_BASELINE } from './helpers/pipeline-fixture.ts';

const ENV = `node${process.versions.node.split('.')[0]}-${process.platform}-${process.arch}`;

function expectExit(result: RunResult, status: number): void {
  expect(result.status, describeRun(result)).toBe(status);
}

type Expected = 'all' | 'new' | 'none';
type Form = readonly [name: string, args: readonly string[], env: Record<string, string>, expected: Expected];

const FORMS: readonly Form[] = [
  ['vitest run -u', ['run', '-u'], {}, 'all'],
  ['vitest run --update', ['run', '--update'], {}, 'all'],
  ['vitest run --update=all', ['run', '--update=all'], {}, 'all'],
  ['UPDATE_SNAPSHOT=all vitest run', ['run'], { UPDATE_SNAPSHOT: 'all' }, 'all'],
  ['CI=true vitest run -u (update wins over CI, as for snapshots)', ['run', '-u'], { CI: 'true' }, 'all'],
  ['ALLOC_TRACKER_UPDATE=all vitest run (baselines only)', ['run'], { ALLOC_TRACKER_UPDATE: 'all' }, 'all'],
  ['vitest run --update=new', ['run', '--update=new'], {}, 'new'],
  ['CI=true vitest run --update=new', ['run', '--update=new'], { CI: 'true' }, 'new'],
  ['CI=true UPDATE_SNAPSHOT=new vitest run', ['run'], { CI: 'true', UPDATE_SNAPSHOT: 'new' }, 'new'],
  ['vitest run --update=none', ['run', '--update=none'], {}, 'none'],
  ['UPDATE_SNAPSHOT=none vitest run', ['run'], { UPDATE_SNAPSHOT: 'none' }, 'none'],
  ['CI=true vitest run (the CI default)', ['run'], { CI: 'true' }, 'none'],
  ['ALLOC_TRACKER_UPDATE=none vitest run', ['run'], { ALLOC_TRACKER_UPDATE: 'none' }, 'none'],
];

/** Vitest 4.1 gets the forms that differ in how Vitest reads them; 5 gets all. */
const V4_FORMS = new Set(['vitest run -u', 'vitest run --update=new', 'vitest run --update=none', 'CI=true vitest run (the CI default)']);

function checkForm(project: FixtureProject, pristine: string, other: string, [, args, env, expected]: Form): void {
  project.write({ [PIPELINE_BASELINE]: pristine, [OTHER_BASELINE]: other });
  // 10% more everywhere, a test with no baseline yet, and a stored entry of a test that is gone.
  const result = project.run(args, { WORK_SCALE: '1.1', EXTRA_TEST: '1', ...env });
  const before = (JSON.parse(pristine) as BaselineFileJSON)[ENV]!;
  const after = project.readJson<BaselineFileJSON>(PIPELINE_BASELINE)[ENV]!;
  if (expected === 'all') {
    expectExit(result, 0);
    expect(result.stdout).toMatch(/mode update/);
    expect(Object.keys(after)).toEqual(['pipeline > brand new', 'pipeline > packs', 'pipeline > unpacks']);
    expect(after['pipeline > packs']!.encode!.externalBytes).toBe(1_100_000);
    // Nothing is accepted silently: each accepted change, with old and new figures, regressions first.
    expect(result.stdout).toMatch(/alloc-tracker: this run rewrote baselines \(mode update\); accepted 7 changes:/);
    expect(result.stdout).toMatch(
      /\| test\/pipeline\.test\.ts \| pipeline > packs\s+\| encode \| 1\.00 MB -> 1\.10 MB \(\+10\.00%\)\s+\|.*\| regression\s+\|/,
    );
    expect(result.stdout).toMatch(
      /\| test\/pipeline\.test\.ts \| pipeline > brand new\s+\| build\s+\| new: [\d.]+ [kM]B\s+\|.*\| new entry\s+\|/,
    );
    expect(result.stdout).toMatch(
      /\| test\/pipeline\.test\.ts \| pipeline > deleted test \| build\s+\| [\d.]+ [kM]B -> removed\s+\|.*\| removed\s+\|/,
    );
    const accepted = result.stdout.slice(result.stdout.indexOf('this run rewrote baselines'));
    expect(accepted.indexOf('| regression')).toBeLessThan(accepted.indexOf('| new entry'));
  } else if (expected === 'new') {
    expectExit(result, 1);
    expect(result.stdout).toMatch(/mode local/);
    expect(result.output).toContain('allocation regression in test "pipeline > packs"');
    expect(Object.keys(after)).toEqual(['pipeline > brand new', 'pipeline > deleted test', 'pipeline > packs', 'pipeline > unpacks']);
    expect(after['pipeline > packs']).toEqual(before['pipeline > packs']);
    expect(result.stdout).not.toContain('this run rewrote baselines');
  } else {
    expectExit(result, 1);
    expect(result.stdout).toMatch(/mode ci/);
    expect(result.output).toContain('no baseline for test "pipeline > brand new"');
    expect(project.read(PIPELINE_BASELINE)).toBe(pristine);
  }
}

describe.each(['v5', 'v4'] as VitestVersion[])('update forms on Vitest %s', (version) => {
  let project: FixtureProject;
  let pristine: string;
  let other: string;

  beforeAll(async () => {
    project = await createPipelineProject(`update-forms-${version}`, version);
    expectExit(project.run(['run']), 0);
    other = project.read(OTHER_BASELINE);
    const data = project.readJson<BaselineFileJSON>(PIPELINE_BASELINE);
    data[ENV]!['pipeline > deleted test'] = { build: data[ENV]!['pipeline > unpacks']!.build! };
    pristine = `${JSON.stringify(data, null, 2)}\n`;
  });

  const forms = version === 'v5' ? FORMS : FORMS.filter(([name]) => V4_FORMS.has(name));
  test.each(forms)('%s', (...form) => {
    checkForm(project, pristine, other, form);
  });

  test('vitest run -u <file> is refused before anything runs: Vitest would read the file as the update value', () => {
    project.write({ [PIPELINE_BASELINE]: pristine, [OTHER_BASELINE]: other });
    const result = project.run(['run', '-u', 'test/pipeline.test.ts'], { WORK_SCALE: '1.1' });
    expect(result.status, describeRun(result)).not.toBe(0);
    expect(result.output).toContain(
      'alloc-tracker: Vitest read "-u test/pipeline.test.ts" as --update=test/pipeline.test.ts: the file filter is lost',
    );
    expect(result.output).toContain('Put the files first: npx vitest run test/pipeline.test.ts -u');
    expect(project.read(PIPELINE_BASELINE)).toBe(pristine);

    // The command the message names works: only that file's baselines are rewritten.
    const hinted = project.run(['run', 'test/pipeline.test.ts', '-u'], { WORK_SCALE: '1.1' });
    expectExit(hinted, 0);
    expect(project.readJson<BaselineFileJSON>(PIPELINE_BASELINE)[ENV]!['pipeline > packs']!.encode!.externalBytes).toBe(1_100_000);
    expect(project.read(OTHER_BASELINE)).toBe(other);
  });
});
