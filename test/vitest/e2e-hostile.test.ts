/**
 * Baselines that hostile names and broken disks cannot corrupt (issue 14), through real Vitest runs of
 * the packed package: names equal to Object.prototype members, non-regular files and links in the
 * place of baseline files, and (as root, which can mount) read-only, immutable and full file systems.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { BaselineFileJSON } from '../../src/baseline/types.ts';
import type { RunReport } from '../../src/report/baselines.ts';
import { describeRun, FixtureProject, type RunResult } from './helpers/fixture.ts';
import { configFile, WORKLOAD } from './helpers/pipeline-fixture.ts';

const ENV = `node${process.versions.node.split('.')[0]}-${process.platform}-${process.arch}`;

function expectExit(result: RunResult, status: number): void {
  expect(result.status, describeRun(result)).toBe(status);
}

const HOSTILE = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];

// The config reports, at exit, anything a merge through `obj['__proto__']` put on Object.prototype.
const POLLUTION_CHECK = `
process.on('exit', () => {
  const own = Object.getOwnPropertyNames(Object.prototype).filter((k) => !BUILTIN.includes(k));
  if (own.length > 0) console.log('OBJECT PROTOTYPE POLLUTED: ' + own.join(', '));
});
const BUILTIN = Object.getOwnPropertyNames(Object.prototype);
`;

describe('test and phase names equal to Object.prototype members', () => {
  test('are written, gated locally, present in CI, kept on update, and pollute nothing', async () => {
    const project = await FixtureProject.create('hostile-names', {
      files: {
        'vitest.config.ts': `${configFile()}${POLLUTION_CHECK}`,
        'test/workload.ts': WORKLOAD,
        'test/names.test.ts': `import { test } from 'vitest';
import { span } from 'alloc-tracker';
import { build } from './workload.ts';
for (const name of ${JSON.stringify(HOSTILE)}) test(name, () => { build(1000); });
test('phases named like Object.prototype members', () => {
  for (const name of ${JSON.stringify(HOSTILE)}) span(name, () => Array.from({ length: 100 }, (_, i) => ({ i })));
});
`,
      },
    });
    const file = 'baselines/test/names.test.ts.json';
    const first = project.run(['run']);
    expectExit(first, 0);
    expect(first.output).not.toContain('could not be cloned');
    expect(first.output).not.toContain('POLLUTED');
    const stored = JSON.parse(project.read(file)) as BaselineFileJSON;
    const tests = Object.entries(stored[ENV]!);
    expect(tests.map(([test]) => test).sort()).toEqual([...HOSTILE, 'phases named like Object.prototype members'].sort());
    const phases = tests.find(([test]) => test === 'phases named like Object.prototype members')![1];
    expect(Object.keys(phases).sort()).toEqual([...HOSTILE].sort());
    expect(first.stdout).toMatch(/: 10 new \(written\)/);
    const written = project.read(file);

    // Gated locally: 10 ok, nothing new.
    const again = project.run(['run']);
    expectExit(again, 0);
    expect(again.stdout).toMatch(/10 phases in 1 file .*: 10 ok\n/);
    // CI finds every entry (none "missing").
    const ci = project.run(['run'], { CI: 'true' });
    expectExit(ci, 0);
    expect(ci.stdout).toMatch(/: 10 ok\n/);
    // An update keeps every entry.
    const update = project.run(['run', '-u'], { WORK_SCALE: '2' });
    expectExit(update, 0);
    expect(update.output).not.toContain('POLLUTED');
    const after = JSON.parse(project.read(file)) as BaselineFileJSON;
    expect(Object.keys(after[ENV]!).sort()).toEqual(Object.keys((JSON.parse(written) as BaselineFileJSON)[ENV]!).sort());
    expect(Object.keys(after[ENV]!['phases named like Object.prototype members']!).sort()).toEqual([...HOSTILE].sort());
    const report = project.readJson<RunReport>('alloc-report.json');
    expect(report.files[0]!.rows.filter((r) => r.status === 'updated' || r.status === 'ok')).toHaveLength(10);
  });
});

const ONE_TEST = `import { test } from 'vitest';
import { build } from '../workload.ts';
test('t', () => { build(1000); });
`;

/** A project with one test file per case under test/<case>/x.test.ts, so each has its own baseline directory. */
async function casesProject(name: string, cases: readonly string[]): Promise<FixtureProject> {
  const files: Record<string, string> = { 'vitest.config.ts': configFile(), 'test/workload.ts': WORKLOAD };
  for (const c of cases) files[`test/${c}/x.test.ts`] = ONE_TEST;
  return FixtureProject.create(name, { files });
}
const baselineOf = (c: string): string => `baselines/test/${c}/x.test.ts.json`;

describe('what is in the place of a baseline file', () => {
  test('a FIFO, a socket-like special file, links to files and directories outside: clear errors, nothing followed, the rest written', async () => {
    const project = await casesProject('special-files', ['fifo', 'link', 'dangling', 'linkdir', 'fine']);
    const outside = path.join(project.root, '..', `${path.basename(project.root)}-outside`);
    mkdirSync(path.join(outside, 'dir'), { recursive: true });
    const outsideFile = path.join(outside, 'target.json');
    const stored = JSON.stringify({
      [ENV]: { t: { build: { bytes: 1, count: 1, heapBytes: 1, externalBytes: 0, iterations: 1, countMethod: 'exact' } } },
    });
    writeFileSync(outsideFile, stored);
    for (const c of ['fifo', 'link', 'dangling', 'fine']) mkdirSync(path.join(project.root, `baselines/test/${c}`), { recursive: true });
    execFileSync('mkfifo', [path.join(project.root, baselineOf('fifo'))]);
    symlinkSync(outsideFile, path.join(project.root, baselineOf('link')));
    symlinkSync(path.join(outside, 'created-through-link.json'), path.join(project.root, baselineOf('dangling')));
    symlinkSync(path.join(outside, 'dir'), path.join(project.root, 'baselines/test/linkdir'));

    // A FIFO used to hang Vitest: a short timeout proves it does not.
    const result = project.run(['run'], {}, 'vitest', 60_000);
    expectExit(result, 1);
    const abs = (c: string): string => path.join(project.root, baselineOf(c));
    expect(result.output).toContain(`baseline file ${abs('fifo')} is a FIFO (named pipe), not a regular file`);
    expect(result.output).toContain(`baseline file ${abs('link')} is a symbolic link; baseline files are never followed through links`);
    expect(result.output).toContain(`baseline file ${abs('dangling')} is a symbolic link`);
    expect(result.output).toContain(
      `baseline file ${abs('linkdir')} cannot be read: ${path.join(project.root, 'baselines/test/linkdir')} is a symbolic link, not a directory`,
    );
    expect(result.output).not.toContain('Unhandled Error');
    // Nothing outside was written, created or replaced; the links are still links.
    expect(readFileSync(outsideFile, 'utf8')).toBe(stored);
    expect(existsSync(path.join(outside, 'created-through-link.json'))).toBe(false);
    expect(readdirSync(path.join(outside, 'dir'))).toEqual([]);
    for (const c of ['link', 'dangling']) expect(lstatSync(abs(c)).isSymbolicLink()).toBe(true);
    expect(lstatSync(abs('fifo')).isFIFO()).toBe(true);
    // The file with a regular baseline path was written.
    expect(Object.keys(project.readJson<BaselineFileJSON>(baselineOf('fine'))[ENV]!)).toEqual(['t']);
  });
});

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('baseline writes that fail (as root: tmpfs mounts and immutable files)', () => {
  const cleanups: (() => void)[] = [];
  afterAll(() => {
    for (const cleanup of cleanups.reverse()) {
      try {
        cleanup();
      } catch {
        // best effort: a left mount is removed with the project later
      }
    }
  });

  test('read-only mount, immutable directory, immutable file, full disk: an alloc-tracker error per file, exit 1, nothing lost, the other files written', async () => {
    const cases = ['ro', 'immutable-dir', 'immutable-file', 'full', 'fine'];
    const project = await casesProject('broken-disks', cases);
    const dirOf = (c: string): string => path.join(project.root, `baselines/test/${c}`);
    for (const c of cases) mkdirSync(dirOf(c), { recursive: true });
    // An existing file that needs rewriting (the test's entry is missing), with another environment's entry to keep.
    const foreign = `${JSON.stringify({ 'node0-other-arch': { t: { build: { bytes: 1, count: 1, heapBytes: 1, externalBytes: 0, iterations: 1, countMethod: 'exact' } } } }, null, 2)}\n`;

    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dirOf('ro')]);
    cleanups.push(() => execFileSync('umount', [dirOf('ro')]));
    writeFileSync(path.join(dirOf('ro'), 'x.test.ts.json'), foreign);
    execFileSync('mount', ['-o', 'remount,ro', dirOf('ro')]);

    execFileSync('chattr', ['+i', dirOf('immutable-dir')]);
    cleanups.push(() => execFileSync('chattr', ['-i', dirOf('immutable-dir')]));

    writeFileSync(path.join(dirOf('immutable-file'), 'x.test.ts.json'), foreign);
    execFileSync('chattr', ['+i', path.join(dirOf('immutable-file'), 'x.test.ts.json')]);
    cleanups.push(() => execFileSync('chattr', ['-i', path.join(dirOf('immutable-file'), 'x.test.ts.json')]));

    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32k', 'tmpfs', dirOf('full')]);
    cleanups.push(() => execFileSync('umount', [dirOf('full')]));
    writeFileSync(path.join(dirOf('full'), 'x.test.ts.json'), foreign);
    try {
      writeFileSync(path.join(dirOf('full'), 'filler'), Buffer.alloc(64 * 1024));
    } catch {
      // ENOSPC: the disk is full, as wanted
    }

    const result = project.run(['run']);
    expectExit(result, 1);
    const abs = (c: string): string => path.join(dirOf(c), 'x.test.ts.json');
    expect(result.output).toMatch(
      new RegExp(
        `alloc-tracker: could not write baseline file ${abs('ro')}: EROFS \\(read-only file system\\); the file on disk was left as it was`,
      ),
    );
    expect(result.output).toMatch(new RegExp(`could not write baseline file ${abs('immutable-dir')}: (EPERM|EACCES)`));
    expect(result.output).toMatch(new RegExp(`could not write baseline file ${abs('immutable-file')}: (EPERM|EACCES)`));
    expect(result.output).toMatch(new RegExp(`could not write baseline file ${abs('full')}: ENOSPC \\(no space left on device\\)`));
    expect(result.output).not.toContain('Unhandled Error');
    expect(result.output).not.toMatch(/\.tmp\b/);
    for (const c of ['ro', 'immutable-file', 'full']) expect(readFileSync(abs(c), 'utf8')).toBe(foreign);
    expect(existsSync(abs('immutable-dir'))).toBe(false);
    for (const c of ['ro', 'immutable-dir', 'immutable-file', 'full'])
      expect(readdirSync(dirOf(c)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(Object.keys(project.readJson<BaselineFileJSON>(baselineOf('fine'))[ENV]!)).toEqual(['t']);
    // The report does not claim entries it could not write.
    expect(result.stdout.match(/\| new \(not written: see the error above\)/g)).toHaveLength(4);
    expect(result.stdout.match(/\| new \(written\)/g)).toHaveLength(1);
    // The report names every file that could not be written.
    expect(result.stdout).toMatch(
      new RegExp(`test/full/x\\.test\\.ts  ->  baselines/test/full/x\\.test\\.ts\\.json\\n  ERROR: alloc-tracker: could not write`),
    );
  });
});
