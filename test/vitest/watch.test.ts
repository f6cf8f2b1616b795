/**
 * Watch mode in a real terminal (tmux): pressing `u` after a failed run updates the baselines of the
 * files Vitest reruns, as it updates their snapshots, and lists what it accepted; the next run (`r`)
 * is back to the normal mode and passes on the new figures. On Vitest 5 and 4.1.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { BaselineFileJSON } from '../../src/baseline/types.ts';
import { describeRun, TerminalSession, type VitestVersion } from './helpers/fixture.ts';
import { createPipelineProject, OTHER_BASELINE, PIPELINE_BASELINE } from './helpers/pipeline-fixture.ts';

const ENV = `node${process.versions.node.split('.')[0]}-${process.platform}-${process.arch}`;

let session: TerminalSession | undefined;
afterEach(() => {
  session?.close();
  session = undefined;
});

describe.each(['v5', 'v4'] as VitestVersion[])('watch mode on Vitest %s', (version) => {
  test("pressing u accepts the failed files' allocation changes; the next run is local again", async () => {
    const project = await createPipelineProject(`watch-${version}`, version);
    const first = project.run(['run']);
    expect(first.status, describeRun(first)).toBe(0);
    const before = project.read(PIPELINE_BASELINE);

    session = new TerminalSession(project, [], { WORK_SCALE: '1.2' });
    const failed = await session.waitFor(/Watching for file changes/);
    expect(failed).toContain('allocation regression in test "pipeline > packs"');
    expect(failed).toMatch(/mode local\)/);
    expect(failed).toContain('If the increase is intended, accept it: npx vitest run test/pipeline.test.ts -u (in watch mode: press u;');
    expect(project.read(PIPELINE_BASELINE)).toBe(before);

    let mark = session.output().length;
    session.press('u');
    const updated = await session.waitFor(/Waiting for file changes/, mark);
    expect(updated).toMatch(/RERUN .*update snapshot/);
    expect(updated).toMatch(/mode update\): 5 updated: regression accepted/);
    expect(updated).toMatch(/this run rewrote baselines \(mode update\); accepted 5 changes:/);
    const after = project.readJson<BaselineFileJSON>(PIPELINE_BASELINE)[ENV]!;
    expect(after['pipeline > packs']!.encode!.externalBytes).toBe(1_200_000);
    expect(project.readJson<BaselineFileJSON>(OTHER_BASELINE)[ENV]!['other work']!.encode!.externalBytes).toBe(600_000);

    mark = session.output().length;
    session.press('r');
    const again = await session.waitFor(/Waiting for file changes/, mark);
    expect(again).toMatch(/mode local\): 5 ok\n/);
    expect(again).not.toContain('this run rewrote baselines');
    session.press('q');
    await session.waitFor(/EXIT \d+/, mark);
  });
});
