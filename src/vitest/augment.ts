/**
 * Types of the matchers for Vitest 4.1 and 5. Vitest's documented `interface Matchers` augmentations
 * differ between 4 and 5 (TS2428 when both shapes meet), so this augments the global `Chai.Assertion`
 * that both versions' `Assertion` extends, plus `AsymmetricMatchersContaining` for `expect.not.*`.
 */
import type { BaselineMatchOptions } from './runtime.ts';

/** Bytes as a number, or a string with a unit: '250 MB' (10^6), '250 MiB' (2^20), '512 KiB', '1.5 GB'. */
export type ByteLimit = number | string;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Chai {
    interface Assertion {
      /** Passes when the phase record's `bytes` (per iteration) is below `limit`. */
      toAllocateLessThan(limit: ByteLimit): void;
      /** Passes when the phase record's allocation `count` (per iteration) is below `count`. */
      toAllocateFewerThan(count: number): void;
      /** Passes when the phase record's `peakBytes` is below `limit`. */
      toPeakBelow(limit: ByteLimit): void;
      /** Compares the phase record with its stored baseline, with optional per-call tolerance and metrics. */
      toMatchAllocationBaseline(options?: BaselineMatchOptions): void;
      /** Passes when what the phase left behind (`retainedBytes`, reachable after full collections) is below `limit`. */
      toRetainLessThan(limit: ByteLimit): void;
      /** Passes when a repeated phase's live memory grows by less than `limit` per iteration (`growthBytesPerIteration`). */
      toGrowLessThan(limit: ByteLimit): void;
    }
  }
}

declare module 'vitest' {
  interface AsymmetricMatchersContaining {
    toAllocateLessThan(limit: ByteLimit): void;
    toAllocateFewerThan(count: number): void;
    toPeakBelow(limit: ByteLimit): void;
    toMatchAllocationBaseline(options?: BaselineMatchOptions): void;
    toRetainLessThan(limit: ByteLimit): void;
    toGrowLessThan(limit: ByteLimit): void;
  }
}
