/**
 * The public surface of `alloc-tracker/vitest`: at run time the plugin only (worker <-> main internals
 * are not exported), and the JSON output's documented version.
 */
import { describe, expect, test } from 'vitest';
import * as plugin from '../../src/vitest/index.ts';
import { BaselineManager } from '../../src/vitest/manager.ts';

describe('alloc-tracker/vitest', () => {
  test('exports the plugin and nothing else at run time', () => {
    expect(Object.keys(plugin).sort()).toEqual(['allocTracker', 'default']);
    expect(plugin.default).toBe(plugin.allocTracker);
  });

  test('the JSON output carries its schema version', () => {
    const { report } = new BaselineManager().finishRun([], { interrupted: true, fallbackEnvironment: 'node26-linux-x64' });
    expect(report.version).toBe(1);
    expect(Object.keys(report).sort()).toEqual(['deterministic', 'environment', 'files', 'mode', 'summary', 'version']);
  });
});
