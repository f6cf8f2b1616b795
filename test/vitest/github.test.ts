/**
 * Failures where people look, through real runs of the packed package on Vitest 5 and 4.1: an
 * annotation at the test's own line per failing phase (verbose reporter, JUnit) with the phase's heap
 * profile attached (copied by Vitest for the UI), and in GitHub Actions one `::error` per failing phase
 * plus a job summary section.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { describeRun, type FixtureProject, type RunResult, type VitestVersion } from './helpers/fixture.ts';
import { configFile, createPipelineProject } from './helpers/pipeline-fixture.ts';

function expectExit(result: RunResult, status: number): void {
  expect(result.status, describeRun(result)).toBe(status);
}

const EXPLICIT_TEST = `import { expect, test } from 'vitest';
import { phase } from 'alloc-tracker';
import { encode } from './workload.ts';

test('explicit', () => {
  encode(200_000);
  expect(phase('encode')).toMatchAllocationBaseline();
});
`;

describe.each(['v5', 'v4'] as VitestVersion[])('annotations and GitHub Actions on Vitest %s', (version) => {
  let project: FixtureProject;

  beforeAll(async () => {
    project = await createPipelineProject(`github-${version}`, version, configFile("{ outputFile: 'alloc-report.json' }"));
    project.write({ 'test/explicit.test.ts': EXPLICIT_TEST });
    expectExit(project.run(['run']), 0);
  });

  test('each failing phase is annotated at its test’s line, in the verbose reporter and JUnit, with its heap profile', () => {
    const result = project.run(['run', '--reporter=verbose', '--reporter=junit', '--outputFile.junit=junit.xml'], { WORK_SCALE: '1.1' });
    expectExit(result, 1);
    // The automatic gate (afterEach) at the test's declaration; the matcher's test too.
    expect(result.stdout).toMatch(
      /❯ test\/pipeline\.test\.ts:9:3 alloc-tracker\n\s+↳ phase "build" regressed: bytes \+\d+\.\d\d%, count \+\d+\.\d\d% \(heap profile attached\)\n\s+↳ phase "encode" regressed: bytes \+10\.00% \(heap profile attached\)/,
    );
    expect(result.stdout).toMatch(/❯ test\/pipeline\.test\.ts:16:3 alloc-tracker\n\s+↳ phase "build" regressed/);
    expect(result.stdout).toMatch(
      /❯ test\/explicit\.test\.ts:5:1 alloc-tracker\n\s+↳ phase "encode" regressed: bytes \+\d+\.\d\d% \(heap profile attached\)/,
    );
    const junit = project.read('junit.xml');
    expect(junit).toContain(
      '<property name="alloc-tracker" value="phase &quot;encode&quot; regressed: bytes +10.00% (heap profile attached)">',
    );
    // Vitest copied each attached profile into its attachments directory (what the UI offers).
    const attachmentsDir = path.join(project.root, version === 'v4' ? '.vitest-attachments' : '.vitest/attachments');
    const attachments = readdirSync(attachmentsDir).filter((f) => f.endsWith('.heapprofile'));
    expect(attachments).toHaveLength(6);
    const profile = JSON.parse(readFileSync(path.join(attachmentsDir, attachments[0]!), 'utf8')) as {
      head: { callFrame: { functionName: string } };
    };
    expect(profile.head.callFrame.functionName).toBe('(root)');
  });

  test('GITHUB_ACTIONS=true: one ::error per failing phase at the test’s line, and a job summary', () => {
    const summaryFile = path.join(project.root, 'step-summary.md');
    writeFileSync(summaryFile, 'earlier step\n');
    const result = project.run(['run'], {
      WORK_SCALE: '1.1',
      GITHUB_ACTIONS: 'true',
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_WORKSPACE: project.root,
    });
    expectExit(result, 1);
    const errors = result.stdout.split('\n').filter((line) => line.startsWith('::error '));
    const ours = errors.filter((line) => line.includes('title=alloc-tracker%3A'));
    expect(ours.map((line) => line.slice(0, line.indexOf('::', 2)))).toEqual([
      '::error file=test/other.test.ts,line=7,title=alloc-tracker%3A allocation regression in other work / build',
      '::error file=test/other.test.ts,line=7,title=alloc-tracker%3A allocation regression in other work / encode',
      '::error file=test/pipeline.test.ts,line=9,title=alloc-tracker%3A allocation regression in pipeline > packs / build',
      '::error file=test/pipeline.test.ts,line=9,title=alloc-tracker%3A allocation regression in pipeline > packs / encode',
      '::error file=test/pipeline.test.ts,line=16,title=alloc-tracker%3A allocation regression in pipeline > unpacks / build',
    ]);
    expect(ours[3]).toContain(
      '::alloc-tracker: allocation regression in test "pipeline > packs" (test/pipeline.test.ts), phase "encode"%0A',
    );
    // The matcher's failure is annotated once, by Vitest's github-actions reporter, at the assertion.
    const explicit = errors.filter((line) => line.includes('explicit.test.ts'));
    expect(explicit).toHaveLength(1);
    expect(explicit[0]).toMatch(/^::error file=.*test\/explicit\.test\.ts,title=test\/explicit\.test\.ts > explicit,line=7,column=\d+::/);
    // No duplicate notices of the annotations.
    expect(result.stdout).not.toContain('::notice');

    const summary = readFileSync(summaryFile, 'utf8');
    expect(summary.startsWith('earlier step\n')).toBe(true);
    expect(summary).toContain('## ❌ alloc-tracker: 6 phases in 3 files');
    expect(summary).toContain('mode `ci`: 6 regressed.');
    expect(summary).toMatch(
      /\| pipeline > packs \| encode \| 1\.00 MB \| 1\.10 MB \| \+10\.00% \| \d+ \| \d+ \| [+-]?[\d.]+% \| regressed \|/,
    );
    expect(summary).toContain('<details><summary>Top allocation sites of <code>pipeline &#62; packs / build</code></summary>');
    expect(summary).toMatch(/\| 100\.0% \| [\d.]+ [kM]B \| `\(anonymous\)` \| `test\/workload\.ts:7:\d+` \|/);
  });
});
