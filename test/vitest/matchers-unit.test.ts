/** The matcher functions called directly on real records (the e2e tests cover them inside Vitest runs). */
import { describe, expect, it } from 'vitest';
import { Session, span } from '../../src/index.ts';
import { createMatchers } from '../../src/vitest/matchers.ts';

const matchers = createMatchers(undefined);

function recordOf(samplingInterval: number) {
  const session = new Session({ samplingInterval });
  session.run(() => span('work', () => new ArrayBuffer(100_000)));
  return session.phase('work');
}
const context = { isNot: false };

describe('matchers on real records', () => {
  it('byte limits accept numbers and unit strings, and report the figure', () => {
    const record = recordOf(1);
    expect(matchers.toAllocateLessThan.call(context, record, '1 MB').pass).toBe(true);
    const fail = matchers.toAllocateLessThan.call(context, record, 50_000);
    expect(fail.pass).toBe(false);
    expect(fail.message()).toMatch(/expected phase "work" to allocate less than 50.00 kB \(50000 B\) per iteration, but it allocated/);
    expect(matchers.toPeakBelow.call(context, record, '1 GiB').pass).toBe(true);
  });

  it('rejects a limit it cannot read, listing what it accepts', () => {
    expect(() => matchers.toAllocateLessThan.call(context, recordOf(1), '12 parsecs')).toThrow(/toAllocateLessThan\("12 parsecs"\)/);
  });

  it('toAllocateFewerThan says why there is no count when sampling was not 1', () => {
    expect(() => matchers.toAllocateFewerThan.call(context, recordOf(0), 10)).toThrow(/no allocation count \(samplingInterval 0\)/);
    expect(() => matchers.toAllocateFewerThan.call(context, recordOf(4096), 10)).toThrow(
      /samplingInterval 4096\); turn exact counts on with allocTracker\(\{ counts: true \}\)/,
    );
    expect(matchers.toAllocateFewerThan.call(context, recordOf(1), 1_000_000).pass).toBe(true);
  });

  it('a value that is not a phase record is a clear error', () => {
    expect(() => matchers.toAllocateLessThan.call(context, 42, '1 MB')).toThrow(/expects a phase record, e.g. expect\(phase\('parse'\)\)/);
  });
});
