import { describe, expect, test } from 'vitest';
import { hasUpdateFlag, isCiEnv, resolveMode } from '../../src/vitest/settings.ts';

describe('resolveMode mirrors snapshot semantics', () => {
  const base = { option: undefined, updateSnapshot: 'new', argv: ['node', 'vitest', 'run'], env: {} };

  test('local by default', () => {
    expect(resolveMode(base)).toBe('local');
  });
  test.each([
    ['-u', { updateSnapshot: 'all' }],
    ['-- --update-baselines', { argv: ['node', 'vitest', 'run', '--', '--update-baselines'] }],
    ['ALLOC_TRACKER_UPDATE=1', { env: { ALLOC_TRACKER_UPDATE: '1' } }],
    ['ALLOC_TRACKER_UPDATE=true on CI', { env: { ALLOC_TRACKER_UPDATE: 'true', CI: 'true' }, updateSnapshot: 'none' }],
  ])('update with %s', (_name, patch) => {
    expect(resolveMode({ ...base, ...patch })).toBe('update');
  });
  test.each([
    ['CI=true', { env: { CI: 'true' } }],
    ["Vitest's updateSnapshot 'none' (std-env's isCI)", { updateSnapshot: 'none' }],
  ])('ci with %s', (_name, patch) => {
    expect(resolveMode({ ...base, ...patch })).toBe('ci');
  });
  test('CI=false, CI=0 and an empty CI are not CI', () => {
    for (const CI of ['false', '0', '']) expect(isCiEnv({ CI })).toBe(false);
  });
  test('--update-baselines before "--" belongs to Vitest, not to us', () => {
    expect(hasUpdateFlag(['node', 'vitest', '--update-baselines'])).toBe(false);
    expect(resolveMode({ ...base, env: { ALLOC_TRACKER_UPDATE: '0' } })).toBe('local');
  });
  test('the option wins', () => {
    expect(resolveMode({ ...base, option: 'ci', updateSnapshot: 'all' })).toBe('ci');
  });
});
