import { defineConfig } from 'vitest/config';
// The built package, as users get it: the re-chunker imports `alloc-tracker` (dist) too, and spans and
// sessions must come from one copy of the tracker.
import { allocTracker } from 'alloc-tracker/vitest';

export default defineConfig({
  // Our own product gates the re-chunker's phases; other tests call span() freely and are not measured.
  // ALLOC_TRACKER_JSON: where bench/gate-noise.ts collects each run's figures.
  plugins: [
    allocTracker({
      include: ['packages/oci-chunk/test/allocations.test.ts'],
      outputFile: process.env.ALLOC_TRACKER_JSON,
      overrides: [
        {
          files: 'packages/oci-chunk/test/**',
          // Streaming file I/O: the order in which the thread pool's callbacks complete changes how
          // chunks batch, so a small phase can take one of two paths (oci_build of the two-layer
          // image: 495 or 519 kB, `npm run bench:gate-noise`). A 64 KiB floor absorbs that; 5% still
          // governs every phase above 1.3 MB.
          tolerance: { bytes: '64 KiB' },
        },
      ],
    }),
  ],
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/**/fixture-projects/**', 'test/**/.work/**'],
    // Numbers repeat only without V8's concurrent threads (see README, Determinism).
    pool: 'forks',
    // One id per run: the end-to-end helpers pack the clean checkout and install Vitest once per run.
    globalSetup: ['test/vitest/helpers/global-setup.ts'],
    execArgv: ['--single-threaded'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
