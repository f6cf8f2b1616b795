import { describe, expect, it } from 'vitest';
import { Report, Session, environmentFingerprint, span, type PhaseRecord } from '../../src/index.ts';
import { determinismStatus } from '../../src/core/environment.ts';

function record(name: string, bytes: number, count: number): PhaseRecord {
  return {
    name,
    iterations: 1,
    warmup: 0,
    bytes,
    heapBytes: bytes,
    bytesMethod: 'counter',
    externalBytes: 0,
    count,
    countMethod: 'exact',
    countUnit: 'objects',
    samplingInterval: 1,
    peakBytes: bytes,
    wallMs: 1,
    totalBytes: bytes,
    totalHeapBytes: bytes,
    totalExternalBytes: 0,
    totalCount: count,
    overlapped: false,
    overlappedWith: [],
    parent: null,
    async: false,
    deterministic: true,
    pinnedTiers: true,
    sites: [],
    retainedBytes: null,
    retainedCount: null,
    retainedSites: [],
    growthBytesPerIteration: null,
    retainedProblem: null,
  };
}

describe('Report', () => {
  it('prints the table: sorted rows, names left, numbers right, columns as wide as their widest cell', () => {
    const report = new Report(
      [
        record('scan', 99375505, 607710),
        record('components', 252055871, 1049679),
        record('packing', 9073500, 3033),
        record('oci_build', 29006550, 1106100),
      ],
      environmentFingerprint(),
      determinismStatus(['--single-threaded', '--no-inline-new', '--no-allocation-site-pretenuring']),
    );
    expect(report.toString()).toBe(
      [
        'Allocation statistics:',
        '',
        '| Operation  | Mean bytes | Mean count |',
        '|------------|------------|------------|',
        '| components |  252055871 |    1049679 |',
        '| oci_build  |   29006550 |    1106100 |',
        '| packing    |    9073500 |       3033 |',
        '| scan       |   99375505 |     607710 |',
        '',
      ].join('\n'),
    );
  });

  it('says so when nothing was captured', () => {
    expect(
      new Report(
        [],
        environmentFingerprint(),
        determinismStatus(['--single-threaded', '--no-inline-new', '--no-allocation-site-pretenuring']),
      ).toString(),
    ).toBe('No allocation statistics captured.\n');
  });

  it('warns under the table when the deterministic flags are missing', () => {
    const text = new Report([record('a', 1, 1)], environmentFingerprint(), determinismStatus([])).toString();
    expect(text).toMatch(/\| a {9}\|/);
    expect(text).toMatch(/Note: allocation figures may vary run to run/);
  });

  it('toJSON carries every metric, the environment and the determinism status', () => {
    const session = new Session();
    session.run(() => span('json', () => new ArrayBuffer(1234)));
    const json = JSON.parse(JSON.stringify(session.report())) as ReturnType<Report['toJSON']>;
    const phase = json.phases[0];
    expect(json.environment.key).toBe(environmentFingerprint().key);
    expect(Object.keys(phase ?? {}).sort()).toEqual(
      [
        'async',
        'bytes',
        'bytesMethod',
        'count',
        'countMethod',
        'countUnit',
        'deterministic',
        'pinnedTiers',
        'retainedBytes',
        'retainedCount',
        'retainedSites',
        'growthBytesPerIteration',
        'retainedProblem',
        'externalBytes',
        'heapBytes',
        'iterations',
        'name',
        'overlapped',
        'overlappedWith',
        'parent',
        'peakBytes',
        'samplingInterval',
        'sites',
        'totalBytes',
        'totalCount',
        'totalExternalBytes',
        'totalHeapBytes',
        'wallMs',
        'warmup',
      ].sort(),
    );
    expect(phase?.externalBytes).toBe(1234);
  });
});
