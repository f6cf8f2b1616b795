/**
 * Types of the matchers, for Vitest 4.1 and 5, under every moduleResolution. The matchers exist only on
 * the assertion of a phase record: `expect(phase('parse')).toAllocateLessThan('1 MB')` type-checks,
 * `expect(42).toAllocateLessThan(1)` does not.
 *
 * Vitest's documented way, augmenting `interface Matchers`, cannot be written once for both majors (4:
 * `Matchers<T>`, 5: `Matchers<R, T>`; declarations of one interface must have the same type parameters),
 * and the global `Chai.Assertion` both extend carries no actual type, so matchers declared there accept
 * any value. So this adds call signatures to `ExpectStatic` (the same, non-generic interface in both):
 * `expect(record)` returns Vitest's own assertion of a PhaseRecord plus the matchers, and
 * `expect(promise of a record)` one whose `.resolves` has them. Everything else falls through to Vitest's
 * generic `expect<T>` and has no memory matchers. `AsymmetricMatchersContaining` gives `expect.toAllocateLessThan(...)`.
 */
import type { expect } from 'vitest';
import type { PhaseRecord } from '../core/types.ts';
import type { Metric, ToleranceInput } from '../baseline/types.ts';

/** Bytes as a number, or a string with a unit: '250 MB' (10^6), '250 MiB' (2^20), '512 KiB', '1.5 GB'. */
export type ByteLimit = number | string;

/** Per-call options of toMatchAllocationBaseline. */
export interface BaselineMatchOptions {
  tolerance?: ToleranceInput;
  metrics?: Metric[];
}

/** The memory matchers; `R` is what a call returns (void, or a promise after `.resolves`). */
export interface PhaseMatchers<R = void> {
  /** Passes when the phase record's `bytes` (per iteration) is below `limit`. */
  toAllocateLessThan(limit: ByteLimit): R;
  /** Passes when the phase record's allocation `count` (per iteration) is below `count`. */
  toAllocateFewerThan(count: number): R;
  /** Passes when the phase record's `peakBytes` is below `limit`. */
  toPeakBelow(limit: ByteLimit): R;
  /** Compares the phase record with its stored baseline, with optional per-call tolerance and metrics. */
  toMatchAllocationBaseline(options?: BaselineMatchOptions): R;
  /** Passes when what the phase left behind (`retainedBytes`, reachable after full collections) is below `limit`. */
  toRetainLessThan(limit: ByteLimit): R;
  /** Passes when a repeated phase's live memory grows by less than `limit` per iteration (`growthBytesPerIteration`). */
  toGrowLessThan(limit: ByteLimit): R;
}

/** Vitest's assertion of a value of type T, whatever its major's type parameters are. */
type VitestAssertionOf<T> = ReturnType<typeof expect<T>>;

/** `expect(record)`: Vitest's assertion plus the matchers, also after `.not`. */
export type PhaseAssertion = VitestAssertionOf<PhaseRecord> & PhaseMatchers & { not: PhaseMatchers };

/** `expect(promise)`: the matchers after `.resolves` (and `.resolves.not`), returning promises. */
export type PromisedPhaseAssertion = VitestAssertionOf<PromiseLike<PhaseRecord>> & {
  resolves: PhaseMatchers<Promise<void>> & { not: PhaseMatchers<Promise<void>> };
};

declare module 'vitest' {
  interface ExpectStatic {
    (actual: PhaseRecord, message?: string): PhaseAssertion;
    (actual: PromiseLike<PhaseRecord>, message?: string): PromisedPhaseAssertion;
  }
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the members come from PhaseMatchers
  interface AsymmetricMatchersContaining extends PhaseMatchers {}
}
