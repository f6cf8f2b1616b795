import { defineConfig } from 'vitest/config';
// The built package, as users get it: the re-chunker imports `alloc-tracker` (dist) too, and spans and
// sessions must come from one copy of the tracker.
import { allocTracker } from 'alloc-tracker/vitest';

export default defineConfig({
  // Our own product gates the re-chunker's phases, with exact counts (the allocation test asserts one);
  // other tests call span() freely and are not measured. The phases stream files, so they are async
  // phases and get the async tolerance (3% / 64 KiB / 1024 allocations; `npm run bench:gate-noise`).
  // ALLOC_TRACKER_JSON: where bench/gate-noise.ts collects each run's figures.
  plugins: [
    allocTracker({
      include: ['packages/oci-chunk/test/allocations.test.ts'],
      counts: true,
      outputFile: process.env.ALLOC_TRACKER_JSON,
      overrides: [
        {
          files: 'packages/oci-chunk/test/**',
          // The re-chunker frees its stream buffers itself (ArrayBuffer#transfer(0)) when libuv's pool is
          // done with them, which can fall just after a phase ended: external bytes are what a phase
          // allocated minus what it freed outside a GC, so ~170 kB moved between scan and components in
          // one clean-clone CI run. Heap bytes and counts do not depend on that timing.
          metrics: ['heapBytes', 'count'],
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
