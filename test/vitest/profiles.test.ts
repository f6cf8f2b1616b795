/** Where a failing phase's heap profile is saved (called directly with a real session). */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Session, span } from '../../src/index.ts';
import type { WorkerSettings } from '../../src/vitest/settings.ts';
import { saveFailureProfile, type TaskLike } from '../../src/vitest/runtime.ts';

const root = mkdtempSync(path.join(tmpdir(), 'alloc-profiles-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const settings: WorkerSettings = {
  mode: 'local',
  root,
  baselineDir: 'baselines',
  profileDir: '.alloc-profiles',
  metrics: ['bytes'],
  tolerance: {},
  asyncTolerance: {},
  overrides: [],
  auto: true,
  include: [],
  samplingInterval: 1,
  sites: true,
  topSites: 10,
  retained: false,
  deterministicPool: true,
  pool: 'forks',
  isolate: true,
  keyTags: [],
  timeoutFactor: 3,
  color: false,
  annotationLocation: true,
};

function recorded(): { session: Session; record: ReturnType<Session['phase']> } {
  const session = new Session();
  session.run(() => span('work', () => new Array<object>(1000).fill({})));
  return { session, record: session.phase('work') };
}
function task(name: string, filepath: string): TaskLike {
  return { id: name, name, type: 'test', file: { filepath }, meta: {} };
}
const savedPath = (note: string): string => path.join(root, /: (\S.*\.heapprofile) \(/.exec(note)![1]!);

describe('saveFailureProfile', () => {
  it('mirrors the test file under the profile directory, and writes a DevTools-shaped profile', () => {
    const { session, record } = recorded();
    const file = savedPath(saveFailureProfile(settings, task('plain name', path.join(root, 'test/a.test.ts')), session, record).note);
    expect(file).toBe(path.join(root, '.alloc-profiles/test/a.test.ts/plain name - work.heapprofile'));
    const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: { callFrame: { functionName: string } }; samples: unknown[] };
    expect(profile.head.callFrame.functionName).toBe('(root)');
    expect(profile.samples).toEqual([]);
  });

  it('keeps test files outside the root inside the profile directory', () => {
    const { session, record } = recorded();
    const outside = path.join(path.dirname(root), 'shared', 'x.test.ts');
    const file = savedPath(saveFailureProfile(settings, task('t', outside), session, record).note);
    expect(path.relative(path.join(root, '.alloc-profiles'), file).startsWith(`_outside_root${path.sep}`)).toBe(true);
    expect(existsSync(path.join(path.dirname(root), 'shared'))).toBe(false);
  });

  it('names that only differ in unsafe characters get different files', () => {
    const { session, record } = recorded();
    const a = savedPath(saveFailureProfile(settings, task('a/b', path.join(root, 'test/n.test.ts')), session, record).note);
    const b = savedPath(saveFailureProfile(settings, task('a?b', path.join(root, 'test/n.test.ts')), session, record).note);
    expect(a).not.toBe(b);
    expect(path.dirname(a)).toBe(path.join(root, '.alloc-profiles/test/n.test.ts'));
  });

  it('saves nothing for a record of another session, or with profiles switched off', () => {
    const { session } = recorded();
    const other = recorded().record;
    const bigger = { ...other, totalBytes: other.totalBytes + 1 };
    expect(saveFailureProfile(settings, task('o', path.join(root, 'test/o.test.ts')), session, bigger)).toEqual({ note: '', file: null });
    expect(saveFailureProfile({ ...settings, profileDir: null }, task('o', path.join(root, 'test/o.test.ts')), session, other)).toEqual({
      note: '',
      file: null,
    });
  });
});
