import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/**/fixture-projects/**', 'test/**/.work/**'],
    // Numbers repeat only without V8's concurrent threads (see README, Determinism).
    pool: 'forks',
    execArgv: ['--single-threaded'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
