/**
 * The README's table "Every phase recorded in a test is gated automatically" as a test: each row is a
 * case, checked against decide() and, for the rows a worker meets, against a real FileBaselineState
 * judging real figures. The README's row text is part of each case, so the table and the code cannot
 * drift apart silently.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { decide, FileBaselineState, SITUATIONS, type Decision, type Situation } from '../../src/baseline/file-state.ts';
import { baselineFileFromJSON, type BaselineChange } from '../../src/baseline/store.ts';
import { DEFAULT_TOLERANCE } from '../../src/baseline/compare.ts';
import type { BaselineMetrics, Mode } from '../../src/baseline/types.ts';

const README = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
const ENV = 'node26-linux-x64';

/** The README table's rows (cells trimmed) under the heading that introduces it. */
function readmeTable(): string[][] {
  const start = README.indexOf('**Every phase recorded in a test is gated automatically**');
  const lines = README.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
  }
  return rows.slice(2); // header and rule
}

interface Row {
  situation: Situation;
  /** The README's cells: situation, local, CI, update. */
  readme: [string, string, string, string];
  expected: Record<Mode, Decision>;
}

const ROWS: Row[] = [
  {
    situation: 'no baseline',
    readme: ['no baseline yet (or a new environment)', 'written, passes', 'fails, says how to create it, writes nothing', 'written'],
    expected: {
      local: { status: 'new', store: 'write', fails: null },
      ci: { status: 'missing', store: 'nothing', fails: 'test' },
      update: { status: 'updated', store: 'write', fails: null },
    },
  },
  {
    situation: 'within tolerance',
    readme: ['within tolerance', 'passes', 'passes', 'rewritten'],
    expected: {
      local: { status: 'ok', store: 'nothing', fails: null },
      ci: { status: 'ok', store: 'nothing', fails: null },
      update: { status: 'updated', store: 'write', fails: null },
    },
  },
  {
    situation: 'increase beyond tolerance',
    readme: ['increase beyond tolerance', '**fails** (exit 1)', '**fails**', 'rewritten'],
    expected: {
      local: { status: 'regressed', store: 'nothing', fails: 'test' },
      ci: { status: 'regressed', store: 'nothing', fails: 'test' },
      update: { status: 'updated', store: 'write', fails: null },
    },
  },
  {
    situation: 'decrease beyond tolerance',
    readme: ['decrease beyond tolerance', 'passes, reported as improved ("lock in")', 'same', 'rewritten'],
    expected: {
      local: { status: 'improved', store: 'nothing', fails: null },
      ci: { status: 'improved', store: 'nothing', fails: null },
      update: { status: 'updated', store: 'write', fails: null },
    },
  },
  {
    situation: 'other context',
    readme: [
      'recorded after other tests than run before it now, in a whole run of its file',
      'reported as stale',
      '**fails**, says how to re-record',
      'rewritten',
    ],
    expected: {
      local: { status: 'stale', store: 'nothing', fails: null },
      ci: { status: 'stale', store: 'nothing', fails: 'test' },
      update: { status: 'updated', store: 'write', fails: null },
    },
  },
  {
    situation: 'other context, partial run',
    readme: ['the same, in a partial run (`-t`, `.only`, shuffle, `isolate: false`)', 'not compared', 'not compared', 'not written'],
    expected: {
      local: { status: 'not-compared', store: 'nothing', fails: null },
      ci: { status: 'not-compared', store: 'nothing', fails: null },
      update: { status: 'not-compared', store: 'nothing', fails: null },
    },
  },
  {
    situation: 'no baseline, partial run',
    readme: ['no baseline yet, in a partial run', 'reported, not written', 'not compared', 'not written'],
    expected: {
      local: { status: 'new', store: 'nothing', fails: null },
      ci: { status: 'not-compared', store: 'nothing', fails: null },
      update: { status: 'new', store: 'nothing', fails: null },
    },
  },
  {
    situation: 'obsolete entry',
    readme: ['entry of a test that no longer exists', 'reported', '**fails the file**', 'removed'],
    expected: {
      local: { status: 'obsolete', store: 'nothing', fails: null },
      ci: { status: 'obsolete', store: 'nothing', fails: 'file' },
      update: { status: 'removed', store: 'remove', fails: null },
    },
  },
  {
    situation: 'obsolete file',
    readme: ['baseline file of a deleted test file', 'reported', '**fails the run**', 'file deleted'],
    expected: {
      local: { status: 'obsolete', store: 'nothing', fails: null },
      ci: { status: 'obsolete', store: 'nothing', fails: 'run' },
      update: { status: 'removed', store: 'delete file', fails: null },
    },
  },
];

const MODES: Mode[] = ['local', 'ci', 'update'];

const metrics = (bytes: number, context = '0123456789abcdef'): BaselineMetrics => ({
  bytes,
  count: 1000,
  heapBytes: bytes,
  externalBytes: 0,
  iterations: 1,
  countMethod: 'exact',
  peakBytes: bytes,
  bytesMethod: 'counter',
  context,
});

/** A state whose file stores `stored` for test "t" > phase "p" (nothing when null) and one deleted test. */
function stateWith(mode: Mode, stored: BaselineMetrics | null): FileBaselineState {
  const tests: Record<string, Record<string, BaselineMetrics>> = { 'deleted test': { p: metrics(500_000) } };
  if (stored) tests.t = { p: stored };
  return new FileBaselineState(
    {
      mode,
      environment: ENV,
      testFile: 'test/a.test.ts',
      baselineFile: '/project/baselines/test/a.test.ts.json',
      baselineFileShown: 'baselines/test/a.test.ts.json',
      root: '/project',
      color: false,
    },
    baselineFileFromJSON({ [ENV]: tests }),
  );
}

/** The figures (and run) that put phase "p" (stored at 1 MB) into each per-phase situation. */
const MEASURED: Partial<Record<Situation, { stored: BaselineMetrics | null; current: BaselineMetrics; wholeRun?: boolean }>> = {
  'no baseline': { stored: null, current: metrics(1_000_000) },
  'within tolerance': { stored: metrics(1_000_000), current: metrics(1_000_500) },
  'increase beyond tolerance': { stored: metrics(1_000_000), current: metrics(1_100_000) },
  'decrease beyond tolerance': { stored: metrics(1_000_000), current: metrics(900_000) },
  'other context': { stored: metrics(1_000_000), current: metrics(1_100_000, 'fedcba9876543210') },
  'other context, partial run': { stored: metrics(1_000_000), current: metrics(1_500_000, 'fedcba9876543210'), wholeRun: false },
  'no baseline, partial run': { stored: null, current: metrics(1_000_000), wholeRun: false },
};

describe("the README's situation x mode table", () => {
  const table = readmeTable();

  test('has exactly these rows, in this order, with this text', () => {
    expect(table).toEqual(ROWS.map((r) => r.readme));
    expect(ROWS.map((r) => r.situation)).toEqual(SITUATIONS);
  });

  describe.each(ROWS)('$situation', (row) => {
    test.each(MODES)('%s: decide() gives the row', (mode) => {
      expect(decide(row.situation, mode)).toEqual(row.expected[mode]);
    });

    const measured = MEASURED[row.situation];
    if (measured) {
      test.each(MODES)('%s: a FileBaselineState judging real figures does what the row says', (mode) => {
        const expected = row.expected[mode];
        const state = stateWith(mode, measured.stored);
        const judged = state.judge(
          't',
          {
            name: 'p',
            metrics: measured.current,
            sites: [],
            wholeRun: measured.wholeRun ?? true,
            partialBecause: measured.wholeRun === false ? 'the run was filtered by test name (-t)' : '',
            partialRemedy: '',
          },
          {
            tolerance: DEFAULT_TOLERANCE,
            metrics: ['bytes', 'count'],
            gated: true,
          },
        );
        expect(judged.outcome.status).toBe(expected.status);
        expect(judged.failure !== null).toBe(expected.fails === 'test');
        const change: BaselineChange | null =
          expected.store === 'write' ? { kind: 'set', test: 't', phase: 'p', metrics: measured.current } : null;
        expect(judged.change).toEqual(change);
        if (mode === 'ci' && row.situation === 'no baseline') expect(judged.failure).toContain('In CI baselines are never written');
        if (row.situation === 'increase beyond tolerance' && mode !== 'update') {
          expect(judged.failure).toContain('allocation regression in test "t" (test/a.test.ts), phase "p"');
        }
        if (row.situation === 'other context' && mode === 'ci')
          expect(judged.failure).toMatch(/cannot be compared:\n.*other tests ran before it/);
        // Never advise an update because of a filter.
        if (row.situation.endsWith('partial run'))
          expect(`${judged.failure ?? ''}${judged.outcome.note ?? ''}`).not.toMatch(/-u\b|update-baselines/);
      });
    }

    if (row.situation === 'obsolete entry') {
      test.each(MODES)('%s: finishFile() on a file whose test is gone does what the row says', (mode) => {
        const expected = row.expected[mode];
        const state = stateWith(mode, metrics(1_000_000));
        state.finishTest('t', true, ['p']);
        const proposal = state.finishFile([{ name: 't', passed: true }]);
        expect(proposal.obsolete).toEqual([
          { test: 'deleted test', phase: 'p', testDeleted: true, baseline: metrics(500_000), status: expected.status },
        ]);
        expect(proposal.removals).toEqual(expected.store === 'remove' ? [{ kind: 'removeTest', test: 'deleted test' }] : []);
        expect(proposal.failure !== null).toBe(expected.fails === 'file');
      });
    }
  });
});

describe('FileBaselineState beyond the table', () => {
  test('an entry recorded by an earlier version (no method, no context) is stale, never compared', () => {
    const old: BaselineMetrics = {
      bytes: 1_000_000,
      count: 1000,
      heapBytes: 1_000_000,
      externalBytes: 0,
      iterations: 1,
      countMethod: 'exact',
    };
    const judged = stateWith('ci', old).judge(
      't',
      { name: 'p', metrics: metrics(1_000_000), sites: [], wholeRun: true, partialBecause: '', partialRemedy: '' },
      { tolerance: DEFAULT_TOLERANCE, metrics: ['bytes'], gated: true },
    );
    expect(judged.outcome.status).toBe('stale');
    expect(judged.failure).toMatch(/measured by another method/);
  });

  test('a phase a passing test no longer records is obsolete; a failed or skipped test makes nothing obsolete', () => {
    const state = stateWith('update', metrics(1_000_000));
    state.finishTest('t', true, []);
    const proposal = state.finishFile([
      { name: 't', passed: true },
      { name: 'deleted test', passed: false },
    ]);
    expect(proposal.removals).toEqual([{ kind: 'removePhase', test: 't', phase: 'p' }]);

    const failed = stateWith('update', metrics(1_000_000));
    failed.finishTest('t', false, []);
    expect(
      failed.finishFile([
        { name: 't', passed: false },
        { name: 'deleted test', passed: false },
      ]).removals,
    ).toEqual([]);
  });

  test('an ungated phase is unchecked: never fails, never stored', () => {
    const judged = stateWith('ci', null).judge(
      't',
      { name: 'p', metrics: metrics(1), sites: [], wholeRun: true, partialBecause: '', partialRemedy: '' },
      {
        tolerance: DEFAULT_TOLERANCE,
        metrics: ['bytes'],
        gated: false,
      },
    );
    expect(judged.outcome.status).toBe('unchecked');
    expect(judged.failure).toBeNull();
    expect(judged.change).toBeNull();
  });

  test('an update that changes nothing reports ok', () => {
    const judged = stateWith('update', metrics(1_000_000)).judge(
      't',
      { name: 'p', metrics: metrics(1_000_000), sites: [], wholeRun: true, partialBecause: '', partialRemedy: '' },
      {
        tolerance: DEFAULT_TOLERANCE,
        metrics: ['bytes'],
        gated: true,
      },
    );
    expect(judged.outcome.status).toBe('ok');
    expect(judged.change?.kind).toBe('set');
  });
});
