/**
 * Sharded CI, for real: `vitest run --shard=i/2 --reporter=blob` twice, then `vitest --merge-reports`,
 * against one unsharded run of the same change, on Vitest 5 and 4.1. The merge gives the same verdict
 * (exit code) and the same report; shards write nothing; the merge writes what the shards' mode allows
 * (nothing for CI shards, every shard's entries for update shards: the entries an unsharded update writes).
 */
import { describe, expect, test } from 'vitest';
import type { RunReport } from '../../src/report/baselines.ts';
import { describeRun, type FixtureProject, type RunResult, type VitestVersion } from './helpers/fixture.ts';
import { createPipelineProject, OTHER_BASELINE, PIPELINE_BASELINE } from './helpers/pipeline-fixture.ts';

function expectExit(result: RunResult, status: number): void {
  expect(result.status, describeRun(result)).toBe(status);
}

/** What must agree between a merged and an unsharded report (not wall times or the full records). */
function essentials(report: RunReport): unknown {
  return {
    mode: report.mode,
    environment: report.environment,
    deterministic: report.deterministic,
    summary: report.summary,
    files: report.files.map((f) => ({
      file: f.file,
      baselineFile: f.baselineFile,
      written: f.written,
      error: f.error,
      rows: f.rows.map((r) => ({
        test: r.test,
        phase: r.phase,
        status: r.status,
        verdict: r.verdict,
        written: r.written,
        note: r.note,
        line: r.line,
        baseline: r.baseline,
        current: r.current && { bytes: r.current.bytes, count: r.current.count },
        failure: r.failure && { kind: r.failure.kind, via: r.failure.via },
      })),
    })),
  };
}

/**
 * A baseline file without `peakBytes`: bytes and counts repeat to the byte, but the peak (an occupancy
 * seen at GCs) moves by a few hundred bytes with what else the process did before the phase.
 */
function entries(project: FixtureProject, file: string): unknown {
  return JSON.parse(project.read(file), (key, value: unknown) => (key === 'peakBytes' ? undefined : value));
}

/**
 * Equal, except heap figures may differ by 0.1%: on Vitest 4.1 a phase of a sharded run measured 192 B
 * (0.04%) less than in the unsharded run, with the same count, in two of two clean-clone CI runs (not
 * explained yet: a tier-up of shared code at another point is the suspect). Counts, statuses, verdicts
 * and every other field must agree exactly.
 */
function expectSameFigures(actual: unknown, expected: unknown, at = 'report'): void {
  if (typeof actual === 'number' && typeof expected === 'number' && /\.(bytes|heapBytes)$/.test(at)) {
    expect(Math.abs(actual - expected), `${at}: ${actual} vs ${expected}`).toBeLessThanOrEqual(Math.max(1, expected * 0.001));
    return;
  }
  if (actual === null || expected === null || typeof actual !== 'object' || typeof expected !== 'object') {
    expect(actual, at).toEqual(expected);
    return;
  }
  expect(Object.keys(actual).sort(), at).toEqual(Object.keys(expected).sort());
  for (const key of Object.keys(expected)) {
    expectSameFigures((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], `${at}.${key}`);
  }
}

function sharded(project: FixtureProject, args: readonly string[], env: Record<string, string>): RunResult[] {
  project.remove('.vitest-reports');
  return [1, 2].map((i) => project.run(['run', `--shard=${i}/2`, '--reporter=blob', ...args], env));
}

describe.each(['v5', 'v4'] as VitestVersion[])('sharded runs on Vitest %s', (version) => {
  test('two shards merged give the unsharded verdict and report; only the merge writes, as the shards’ mode says', async () => {
    const project = await createPipelineProject(`shards-${version}`, version);
    expectExit(project.run(['run']), 0);
    const pristine = { [PIPELINE_BASELINE]: project.read(PIPELINE_BASELINE), [OTHER_BASELINE]: project.read(OTHER_BASELINE) };
    const change = { WORK_SCALE: '1.1', EXTRA_TEST: '1' };

    // CI: regressions and a missing baseline fail; nothing is written anywhere.
    const unsharded = project.run(['run'], { ...change, CI: 'true' });
    expectExit(unsharded, 1);
    const single = project.readJson<RunReport>('alloc-report.json');
    project.remove('alloc-report.json');
    const shards = sharded(project, [], { ...change, CI: 'true' });
    for (const shard of shards) {
      expectExit(shard, 1);
      expect(shard.stdout).toContain('nothing written here (baselines, JSON, HTML, GitHub summary): `vitest --merge-reports` writes them');
    }
    expect(project.exists('alloc-report.json')).toBe(false);
    const merge = project.run(['--merge-reports'], { CI: 'true' });
    expectExit(merge, 1);
    expect(merge.stdout).toMatch(
      /alloc-tracker: 6 phases in 2 files \(node\d+-[^,]+, mode ci, merged shards\): 5 regressed, 1 missing \(not written\)/,
    );
    const merged = project.readJson<RunReport>('alloc-report.json');
    expect(merged.merged).toBe(true);
    expectSameFigures(essentials(merged), essentials(single));
    for (const [file, text] of Object.entries(pristine)) expect(project.read(file)).toBe(text);

    // Update: shards write nothing, the merge (even in a CI job) writes every shard's entries: what one
    // unsharded update run writes.
    const updateOnce = project.run(['run', '-u'], change);
    expectExit(updateOnce, 0);
    const expected = { [PIPELINE_BASELINE]: entries(project, PIPELINE_BASELINE), [OTHER_BASELINE]: entries(project, OTHER_BASELINE) };
    expect(project.read(PIPELINE_BASELINE)).not.toBe(pristine[PIPELINE_BASELINE]);
    project.write(pristine);
    for (const shard of sharded(project, ['-u'], change)) expectExit(shard, 0);
    for (const [file, text] of Object.entries(pristine)) expect(project.read(file)).toBe(text);
    const mergeUpdate = project.run(['--merge-reports'], { CI: 'true' });
    expectExit(mergeUpdate, 0);
    expect(mergeUpdate.stdout).toMatch(/mode update, merged shards\)/);
    expect(mergeUpdate.stdout).toMatch(/this run rewrote baselines \(mode update\); accepted 6 changes:/);
    for (const [file, data] of Object.entries(expected)) expectSameFigures(entries(project, file), data, file);

    // Shards without the blob reporter (no merge to come) write their own files, without losing the other's.
    project.write(pristine);
    for (const i of [1, 2]) expectExit(project.run(['run', `--shard=${i}/2`, '-u'], change), 0);
    for (const [file, data] of Object.entries(expected)) expectSameFigures(entries(project, file), data, file);
  });
});
