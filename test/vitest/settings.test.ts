import { describe, expect, test } from 'vitest';
import { hasUpdateFlag, isCiEnv, resolveMode, swallowedFilter, updateStateFromEnv } from '../../src/vitest/settings.ts';

describe('resolveMode follows Vitest’s snapshot update state', () => {
  const base = { option: undefined, updateSnapshot: 'new', argv: ['node', 'vitest', 'run'], env: {} };

  test('local by default (Vitest: new)', () => {
    expect(resolveMode(base)).toBe('local');
  });
  test.each([
    ['-u / --update / --update=all / UPDATE_SNAPSHOT=all (Vitest: all)', { updateSnapshot: 'all' }],
    ['-- --update-baselines', { argv: ['node', 'vitest', 'run', '--', '--update-baselines'] }],
    ['ALLOC_TRACKER_UPDATE=1', { env: { ALLOC_TRACKER_UPDATE: '1' } }],
    ['ALLOC_TRACKER_UPDATE=all on CI', { env: { ALLOC_TRACKER_UPDATE: 'all', CI: 'true' }, updateSnapshot: 'none' }],
  ])('update with %s', (_name, patch) => {
    expect(resolveMode({ ...base, ...patch })).toBe('update');
  });
  test.each([
    ['--update=none / CI (Vitest: none)', { updateSnapshot: 'none' }],
    ['ALLOC_TRACKER_UPDATE=none', { env: { ALLOC_TRACKER_UPDATE: 'none' } }],
    ['CI=true when Vitest said nothing', { updateSnapshot: undefined, env: { CI: 'true' } }],
  ])('ci with %s', (_name, patch) => {
    expect(resolveMode({ ...base, ...patch })).toBe('ci');
  });
  test('--update=new on CI writes missing baselines, as it writes missing snapshots', () => {
    expect(resolveMode({ ...base, updateSnapshot: 'new', env: { CI: 'true' } })).toBe('local');
    expect(resolveMode({ ...base, updateSnapshot: 'none', env: { ALLOC_TRACKER_UPDATE: 'new' } })).toBe('local');
  });
  test('CI=false, CI=0 and an empty CI are not CI', () => {
    for (const CI of ['false', '0', '']) expect(isCiEnv({ CI })).toBe(false);
  });
  test('--update-baselines before "--" belongs to Vitest, not to us; ALLOC_TRACKER_UPDATE=0 follows Vitest', () => {
    expect(hasUpdateFlag(['node', 'vitest', '--update-baselines'])).toBe(false);
    expect(resolveMode({ ...base, env: { ALLOC_TRACKER_UPDATE: '0' } })).toBe('local');
    expect(resolveMode({ ...base, updateSnapshot: 'all', env: { ALLOC_TRACKER_UPDATE: 'false' } })).toBe('update');
  });
  test('an ALLOC_TRACKER_UPDATE value it does not know is a clear error', () => {
    expect(() => updateStateFromEnv('sometimes')).toThrow(
      'alloc-tracker: ALLOC_TRACKER_UPDATE="sometimes" is not understood; use all (or 1), new or none',
    );
  });
  test('the option wins', () => {
    expect(resolveMode({ ...base, option: 'ci', updateSnapshot: 'all' })).toBe('ci');
  });
});

describe('-u followed by a file filter', () => {
  test('is recognised, with the command that works', () => {
    expect(swallowedFilter('test/a.test.ts')).toBe(
      'alloc-tracker: Vitest read "-u test/a.test.ts" as --update=test/a.test.ts: the file filter is lost and every test file ' +
        'would rewrite its baselines and snapshots. Put the files first: npx vitest run test/a.test.ts -u',
    );
  });
  test.each([[true], [false], [undefined], ['all'], ['new'], ['none']])('%s is an update value, not a filter', (value) => {
    expect(swallowedFilter(value)).toBeNull();
  });
});
