import { describe, expect, test } from 'vitest';
import {
  DEFAULT_ASYNC_TOLERANCE,
  DEFAULT_TOLERANCE,
  resolvePhaseTolerance,
  compareMetric,
  comparePhase,
  matchingOverrides,
  resolveTolerance,
  validateMetrics,
  validateTolerance,
} from '../../src/baseline/compare.ts';
import { formatChange, formatRegression } from '../../src/baseline/messages.ts';
import type { BaselineMetrics } from '../../src/baseline/types.ts';

const m = (bytes: number, count: number, extra: Partial<BaselineMetrics> = {}): BaselineMetrics => ({
  bytes,
  count,
  heapBytes: bytes,
  externalBytes: 0,
  iterations: 1,
  countMethod: 'exact',
  peakBytes: bytes,
  ...extra,
});

describe('compareMetric', () => {
  test('the default tolerance of a synchronous phase fails a 2% increase and passes the largest spread measured', () => {
    expect(compareMetric('bytes', 1_000_000, 1_020_000, DEFAULT_TOLERANCE).status).toBe('regressed');
    // strings with exact counts: 4840 B of 6.38 MB, 25 of 176k allocations over unchanged reruns
    expect(compareMetric('bytes', 6_380_084, 6_380_084 + 4840, DEFAULT_TOLERANCE).status).toBe('ok');
    expect(compareMetric('count', 176_000, 176_025, DEFAULT_TOLERANCE).status).toBe('ok');
    expect(compareMetric('bytes', 1_000_000, 980_000, DEFAULT_TOLERANCE).status).toBe('improved');
    expect(compareMetric('count', 10_000, 10_200, DEFAULT_TOLERANCE).status).toBe('regressed');
  });

  test('an async phase gets its own default: it passes the spreads measured for file reads, gzip streams and timers', () => {
    const tolerance = resolvePhaseTolerance(true, []);
    expect(tolerance).toEqual(DEFAULT_ASYNC_TOLERANCE);
    expect(compareMetric('bytes', 2_237_866, 2_237_866 + 30_382, tolerance).status).toBe('ok');
    expect(compareMetric('count', 6_500, 6_934, tolerance).status).toBe('ok');
    expect(compareMetric('bytes', 1_025_578, 1_025_578 + 22_740, tolerance).status).toBe('ok');
    expect(compareMetric('bytes', 4_000_000, 4_200_000, tolerance).status).toBe('regressed');
    // the user's tolerance applies to async phases too, and asyncTolerance after it
    expect(resolvePhaseTolerance(true, [{ percent: 2 }], { bytes: '1 KiB' })).toEqual({ percent: 2, bytes: 1024, count: 1024 });
    expect(resolvePhaseTolerance(false, [{ percent: 2 }], { bytes: '1 KiB' })).toEqual({ ...DEFAULT_TOLERANCE, percent: 2 });
  });

  test('the absolute floor protects small phases', () => {
    const c = compareMetric('bytes', 1000, 3000, { percent: 5, bytes: 4096, count: 32 });
    expect(c).toMatchObject({ status: 'ok', allowed: 4096, change: 2000, changePercent: 200 });
    expect(compareMetric('count', 10, 50, { percent: 5, bytes: 4096, count: 32 }).status).toBe('regressed');
    // a small phase: 3 kB more of 30 kB is within the 4 KiB floor
    expect(compareMetric('bytes', 30_000, 33_000, DEFAULT_TOLERANCE).status).toBe('ok');
  });

  test('a zero baseline has no percentage', () => {
    expect(compareMetric('bytes', 0, 100_000, DEFAULT_TOLERANCE)).toMatchObject({ changePercent: null, status: 'regressed' });
  });
});

describe('comparePhase', () => {
  test('the worst metric decides and skipped metrics say why', () => {
    const result = comparePhase(m(1000_000, 100, { countMethod: 'off' }), m(1200_000, 100), ['bytes', 'count'], DEFAULT_TOLERANCE);
    expect(result.status).toBe('regressed');
    expect(result.skipped).toEqual([{ metric: 'count', reason: expect.stringContaining('no allocation count') as unknown }]);
  });
  test('a baseline without peakBytes skips that metric', () => {
    const { peakBytes: _omit, ...noPeak } = m(100, 1);
    expect(comparePhase(noPeak, m(100, 1), ['peakBytes'], DEFAULT_TOLERANCE).skipped[0]?.metric).toBe('peakBytes');
  });
});

describe('tolerance layering and validation', () => {
  test('later layers override the fields they set; byte floors accept units', () => {
    expect(resolveTolerance({ percent: 10 }, undefined, { bytes: '1 MiB' })).toEqual({
      percent: 10,
      bytes: 2 ** 20,
      count: DEFAULT_TOLERANCE.count,
    });
  });
  test('file overrides match globs relative to the root', () => {
    const overrides = [
      { files: 'test/oci/**', tolerance: { percent: 1 } },
      { files: ['**/*.bench.ts'], metrics: ['bytes' as const] },
    ];
    expect(matchingOverrides(overrides, 'test/oci/pipeline.test.ts')).toEqual([overrides[0]]);
    expect(matchingOverrides(overrides, 'test/other.test.ts')).toEqual([]);
  });
  test('bad options name the option and the field', () => {
    expect(() => validateTolerance({ percent: -1 }, 'allocTracker({ tolerance })')).toThrow(
      'allocTracker({ tolerance }).percent must be a number >= 0',
    );
    expect(() => validateTolerance({ pct: 1 }, 'x')).toThrow('unknown field "pct"');
    expect(() => validateTolerance({ bytes: 'lots' }, 'x')).toThrow(/x.bytes: .*cannot read "lots"/);
    expect(() => validateMetrics(['bytes', 'rss'], 'metrics')).toThrow(`metrics must be a non-empty array of 'bytes', 'count'`);
  });
});

describe('messages', () => {
  test('a regression names test, file, phase, metric, values, change, tolerance, sites and the entry diff', () => {
    const baseline = m(1_000_000, 100);
    const current = m(1_100_000, 100);
    const tolerance = DEFAULT_TOLERANCE;
    const text = formatRegression(
      {
        test: 'pipeline > packs',
        file: 'test/a.test.ts',
        phase: 'compress',
        baselineFile: 'baselines/test/a.test.ts.json',
        environment: 'node26-linux-x64',
        root: '/repo',
        color: false,
      },
      comparePhase(baseline, current, ['bytes', 'count'], tolerance),
      tolerance,
      baseline,
      current,
      [{ functionName: 'deflate', location: 'file:///repo/src/z.ts:10:3', bytes: 900_000, share: 0.9 }],
    );
    expect(text).toContain('allocation regression in test "pipeline > packs" (test/a.test.ts), phase "compress"');
    expect(text).toContain(
      'metric bytes: baseline 1.00 MB (1000000 B), current 1.10 MB (1100000 B), change +10.00% (+100.0 kB); tolerance ±1% or 4.10 kB',
    );
    expect(text).toMatch(/90\.0%\s+900\.0 kB\s+deflate \(src\/z\.ts:10:3\)/);
    expect(text).toMatch(/-\s+bytes: 1000000\n\s+\+\s+bytes: 1100000/);
    expect(text).not.toContain('\u001b[');
    expect(text).toContain('accept it: npx vitest run test/a.test.ts -u');
  });
  test('changes carry a sign', () => {
    expect(formatChange({ metric: 'count', change: -5, changePercent: -10 })).toBe('-10.00% (-5)');
  });
});
