/**
 * The end-of-run texts, from RunReport shapes: the terminal report (compact and full), the list of
 * accepted changes, the GitHub workflow commands and job summary. Messages a person acts on: every
 * count agrees with the rows, nothing unmeasured reads as a change, every command works as written.
 */
import { describe, expect, test } from 'vitest';
import type { BaselineMetrics } from '../../src/baseline/types.ts';
import { acceptedRows, emptySummary, formatAccepted, formatRunReport, type PhaseRow, type RunReport } from '../../src/report/baselines.ts';
import { githubErrors, githubStepSummary } from '../../src/report/github.ts';

const m = (bytes: number, count: number, countMethod: 'exact' | 'off' = 'exact'): BaselineMetrics => ({
  bytes,
  count,
  heapBytes: bytes,
  externalBytes: 0,
  iterations: 1,
  countMethod,
});

function row(patch: Partial<PhaseRow>): PhaseRow {
  return {
    test: 't',
    phase: 'p',
    status: 'ok',
    baseline: m(1000, 10),
    current: m(1000, 10),
    comparisons: [],
    tolerance: null,
    metrics: ['bytes', 'count'],
    record: null,
    testState: 'passed',
    ...patch,
  };
}

function report(rows: PhaseRow[], patch: Partial<RunReport> = {}): RunReport {
  const summary = emptySummary();
  for (const r of rows) summary[r.status]++;
  return {
    version: 1,
    mode: 'local',
    environment: 'node26-linux-x64',
    deterministic: true,
    files: [{ file: 'test/a.test.ts', project: '', baselineFile: 'baselines/test/a.test.ts.json', written: false, error: null, rows }],
    summary,
    ...patch,
  };
}

describe('the terminal report', () => {
  test('counts that were not measured (samplingInterval 0) say so instead of a change', () => {
    const text = formatRunReport(report([row({ status: 'ok', baseline: m(1000, 25_000), current: m(1010, 0, 'off') })]), false);
    expect(text).toMatch(/\|\s+25000 \| not measured \| not measured \| ok\s+\|/);
    expect(text).not.toContain('-100.00%');
  });

  test('the summary counts what the rows say: new entries of a failed test are not "written"', () => {
    const rows = [
      row({ test: 'a', status: 'new', baseline: null, written: true, verdict: 'new' }),
      row({ test: 'b', status: 'new', baseline: null, note: 'new (not written: the test failed)', testState: 'failed' }),
      row({ test: 'c', status: 'new', baseline: null, note: 'new (not written: the test failed)', testState: 'failed' }),
    ];
    const text = formatRunReport(report(rows), false);
    expect(text).toContain(': 1 new (written), 2 new (not written: the test failed)\n');
    expect(text.match(/\| new \(not written: the test failed\) \|/g)).toHaveLength(2);
    expect(text.match(/\| new \(written\)\s+\|/g)).toHaveLength(1);
  });

  test('compact by default: changed phases in the table, unchanged ones in one line; full lists all', () => {
    const rows = [row({ test: 'a' }), row({ test: 'b' }), row({ test: 'c', status: 'improved', current: m(800, 10), verdict: 'improved' })];
    const compact = formatRunReport(report(rows), true);
    expect(compact).toMatch(/\| c {4}\| p {5}\|.*\| improved \|/);
    expect(compact).not.toMatch(/\| a /);
    expect(compact).toContain("2 unchanged phases (ok) in 1 file not listed; report: 'full' lists every phase");
    expect(compact).toContain('  lock in 1 improvement: npx vitest run test/a.test.ts -u\n');
    const full = formatRunReport(report(rows), false);
    expect(full).toMatch(/\| a {4}\| p/);
    expect(full).not.toContain('not listed');
  });

  test('update commands quote file names a shell would split', () => {
    const r = report([row({ status: 'obsolete', current: null })]);
    r.files[0]!.file = "test/it's here.test.ts";
    expect(formatRunReport(r, true)).toContain(`remove 1 obsolete entry: npx vitest run 'test/it'\\''s here.test.ts' -u`);
  });

  test('a shard that defers to --merge-reports says that nothing was written here', () => {
    const text = formatRunReport(report([row({})], { shard: { index: 1, count: 2 }, deferred: true }), true);
    expect(text).toContain('(node26-linux-x64, mode local, shard 1/2)');
    expect(text).toContain('nothing written here (baselines, JSON, HTML, GitHub summary): `vitest --merge-reports` writes them');
  });
});

describe('what an update run accepted', () => {
  test('lists changed entries with old and new figures, regressions first; within-tolerance rewrites in one line', () => {
    const rows = [
      row({ test: 'improved', status: 'updated', verdict: 'improved', current: m(900, 9), written: true }),
      row({ test: 'same', status: 'updated', verdict: 'ok', current: m(1001, 10), written: true }),
      row({ test: 'new', status: 'updated', verdict: 'new', baseline: null, current: m(500, 5), written: true }),
      row({ test: 'worse', status: 'updated', verdict: 'regressed', current: m(1200, 12), written: true }),
      row({ test: 'gone', status: 'removed', current: null, written: true }),
      row({
        test: 'failed',
        status: 'updated',
        verdict: 'regressed',
        current: m(5000, 50),
        note: 'updated (not written: the test failed)',
      }),
    ];
    const text = formatAccepted(report(rows, { mode: 'update' }));
    expect(text).toContain('alloc-tracker: this run rewrote baselines (mode update); accepted 4 changes:');
    const lines = text.split('\n').filter((l) => l.startsWith('  | test/'));
    expect(lines.map((l) => l.split('|')[2]!.trim())).toEqual(['worse', 'improved', 'new', 'gone']);
    expect(lines[0]).toMatch(/\| 1\.00 kB -> 1\.20 kB \(\+20\.00%\) \| 10 -> 12 \(\+20\.00%\) \| regression\s+\|/);
    expect(lines[2]).toMatch(/\| new: 500 B\s+\| new: 5\s+\| new entry\s+\|/);
    expect(lines[3]).toMatch(/\| 1\.00 kB -> removed\s+\| 10 -> removed\s+\| removed\s+\|/);
    expect(text).toContain('  1 entry rewritten within tolerance');
    expect(acceptedRows(report(rows)).some(({ row: r }) => r.test === 'failed')).toBe(false);
  });

  test('prints nothing when nothing was rewritten', () => {
    expect(formatAccepted(report([row({})]))).toBe('');
  });
});

describe('GitHub Actions output', () => {
  const failing = row({
    test: 'suite > a, b: c',
    phase: 'build',
    status: 'regressed',
    line: 12,
    current: m(1200, 12),
    failure: { kind: 'regressed', via: 'gate', message: 'alloc-tracker: allocation regression 100%\nsecond line' },
    record: {
      sites: [{ functionName: 'parse', location: '/repo/src/parse.ts:3:10', bytes: 1200, share: 1 }],
    } as unknown as PhaseRow['record'],
  });
  const viaMatcher = row({ test: 'm', status: 'regressed', line: 20, failure: { kind: 'regressed', via: 'matcher', message: 'x' } });

  test('one ::error per failing phase at the test’s line, escaped as workflow commands require', () => {
    const lines = githubErrors(report([failing, viaMatcher]), { root: '/repo', workspace: '/repo', skipMatcherFailures: true });
    expect(lines).toEqual([
      '::error file=test/a.test.ts,line=12,title=alloc-tracker%3A allocation regression in suite > a%2C b%3A c / build::alloc-tracker: allocation regression 100%25%0Asecond line',
    ]);
    // Without Vitest's github-actions reporter nobody else annotates the matcher's failure.
    expect(githubErrors(report([failing, viaMatcher]), { root: '/repo', skipMatcherFailures: false })).toHaveLength(2);
  });

  test('the job summary: verdict, a table of what is not ok, the top sites of each regression', () => {
    const text = githubStepSummary(report([failing, row({ test: 'fine' })]), { root: '/repo' });
    expect(text).toContain('## ❌ alloc-tracker: 2 phases in 1 file');
    expect(text).toContain('| suite > a, b: c | build | 1.00 kB | 1.20 kB | +20.00% | 10 | 12 | +20.00% | regressed |');
    expect(text).not.toContain('| fine |');
    expect(text).toContain('1 unchanged phase (ok) not listed.');
    expect(text).toContain('<summary>Top allocation sites of <code>suite &#62; a, b: c / build</code></summary>');
    expect(text).toContain('| 100.0% | 1.20 kB | `parse` | `src/parse.ts:3:10` |');
    expect(githubStepSummary(report([row({})]))).toContain('## ✅ alloc-tracker: 1 phase in 1 file');
  });
});

describe('what a local run wrote', () => {
  test('new entries are counted, so that a run with report: off does not write them unannounced', () => {
    const text = formatAccepted(report([row({ status: 'new', baseline: null, written: true, verdict: 'new' }), row({ test: 'u' })]));
    expect(text).toBe('alloc-tracker: this run wrote baselines (mode local):\n  1 new entry written (no baseline before)\n');
  });
});
