import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/**/fixture-projects/**', 'test/**/.work/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
