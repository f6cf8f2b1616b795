/**
 * The matcher and plugin types compile under Vitest 4.1 and 5, for each moduleResolution (node10,
 * node16, nodenext, bundler), with the augmentation loaded through tsconfig "types" and without
 * "types" (through vitest.config.ts in the program): tsc on a fixture project that uses the packed
 * package's .d.ts files. `@ts-expect-error` lines make the check two-sided: the matchers exist only on
 * what phase() returns, and a bad option is an error (types that silently became `any` would pass them).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { FixtureProject, REPO, type VitestVersion } from './helpers/fixture.ts';

const TYPED_TEST = `import { expect, test } from 'vitest';
import { phase, span, Session, type PhaseRecord } from 'alloc-tracker';

test('matchers are typed', async () => {
  span('p', () => [1, 2, 3]);
  const record: PhaseRecord = phase('p');
  expect(record).toAllocateLessThan('250 MB');
  expect(record).toAllocateLessThan(1024);
  expect(record).not.toAllocateLessThan('1 B');
  expect(record).toAllocateFewerThan(10);
  expect(record).toPeakBelow('1 MiB');
  expect(record).toMatchAllocationBaseline();
  expect(record).toMatchAllocationBaseline({ tolerance: { percent: 2, bytes: '4 KiB', count: 8 }, metrics: ['bytes', 'peakBytes'] });
  expect(new Session().phase('x')).toAllocateLessThan(1);
  expect(record).toEqual(record);
  await expect(Promise.resolve(record)).resolves.toAllocateLessThan('1 GB');
  await expect(Promise.resolve(record)).resolves.not.toPeakBelow(1);
  expect({ record }).toEqual({ record: expect.toAllocateLessThan('1 GB') });
  // @ts-expect-error the matchers take what phase() returns, not any value
  expect(42).toAllocateLessThan(1);
  // @ts-expect-error not an object that merely looks similar either
  expect({ bytes: 1 }).toAllocateFewerThan(1);
  // @ts-expect-error a limit is a number or a string
  expect(record).toAllocateLessThan(true);
  // @ts-expect-error a count is a number
  expect(record).toAllocateFewerThan('10');
  // @ts-expect-error 'rss' is not a metric
  expect(record).toMatchAllocationBaseline({ metrics: ['rss'] });
  // @ts-expect-error unknown tolerance field
  expect(record).toMatchAllocationBaseline({ tolerance: { pct: 1 } });
});
`;

const TYPED_CONFIG = `import { defineConfig } from 'vitest/config';
import { allocTracker, type AllocTrackerOptions, type RunReport } from 'alloc-tracker/vitest';

const options: AllocTrackerOptions = {
  baselineDir: 'baselines',
  metrics: ['bytes', 'count'],
  tolerance: { percent: 5, bytes: '16 KiB', count: 128 },
  overrides: [{ files: 'test/oci/**', tolerance: { percent: 2 } }],
  outputFile: 'alloc-report.json',
  html: 'alloc-report/index.html',
  report: 'full',
};

export default defineConfig({
  plugins: [allocTracker(options)],
  test: { include: ['test/**/*.test.ts'] },
});

export const version: RunReport['version'] = 1;
// @ts-expect-error 'changes-only' is not a report option
allocTracker({ report: 'changes-only' });
`;

type Resolution = 'node10' | 'node16' | 'nodenext' | 'bundler';
const MODULE: Record<Resolution, string> = { node10: 'esnext', node16: 'node16', nodenext: 'nodenext', bundler: 'esnext' };

/**
 * One program per setting. Library files are checked (skipLibCheck: false) in the nodenext program:
 * that is where our .d.ts files must compile cleanly against Vitest's; the others skip them, which is
 * three times faster and still compiles the test file (the matchers' types, both ways) in each mode.
 * With node10, Vitest's own .d.ts files import 'vite' subpaths that resolution cannot find: Vitest
 * itself needs skipLibCheck there.
 */
function tsconfig(resolution: Resolution, files: string[], types: string[] | null, checkLibraries = false): string {
  return JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2023',
        lib: ['ES2023'],
        module: MODULE[resolution],
        moduleResolution: resolution,
        strict: true,
        skipLibCheck: !checkLibraries,
        noEmit: true,
        allowImportingTsExtensions: true,
        ...(types ? { types } : {}),
      },
      files,
    },
    null,
    2,
  );
}

const run = promisify(execFile);

async function tsc(project: FixtureProject, config: string): Promise<{ status: number; output: string }> {
  try {
    const { stdout } = await run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', config], {
      cwd: project.root,
      encoding: 'utf8',
    });
    return { status: 0, output: stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { status: e.code, output: `${e.stdout}${e.stderr}` };
  }
}

const RESOLUTIONS: Resolution[] = ['node10', 'node16', 'nodenext', 'bundler'];

describe.each(['v4', 'v5'] as VitestVersion[])('types on Vitest %s', (version) => {
  test('matchers and plugin options compile under every moduleResolution, with "types" and without', async () => {
    const files: Record<string, string> = { 'test/typed.test.ts': TYPED_TEST, 'vitest.config.ts': TYPED_CONFIG };
    const configs: string[] = [];
    for (const resolution of RESOLUTIONS) {
      files[`tsconfig.${resolution}.types.json`] = tsconfig(
        resolution,
        ['test/typed.test.ts', 'vitest.config.ts'],
        ['node', 'alloc-tracker/vitest'],
        resolution === 'nodenext',
      );
      files[`tsconfig.${resolution}.config.json`] = tsconfig(resolution, ['test/typed.test.ts', 'vitest.config.ts'], null);
      configs.push(`tsconfig.${resolution}.types.json`, `tsconfig.${resolution}.config.json`);
    }
    // Without the augmentation the matchers must not exist: proves the check can fail.
    files['tsconfig.bare.json'] = tsconfig('nodenext', ['test/typed.test.ts'], ['node']);
    const project = await FixtureProject.create(`types-${version}`, { vitest: version, files });
    // Two at a time: the machine has two cores.
    const results: Record<string, { status: number; output: string }> = {};
    for (let i = 0; i < configs.length; i += 2) {
      const pair = configs.slice(i, i + 2);
      const done = await Promise.all(pair.map((config) => tsc(project, config)));
      pair.forEach((config, j) => (results[config] = done[j]!));
    }
    for (const config of configs) expect({ config, ...results[config] }).toEqual({ config, status: 0, output: '' });
    const bare = await tsc(project, 'tsconfig.bare.json');
    expect(bare.status).not.toBe(0);
    expect(bare.output).toMatch(/Property 'toAllocateLessThan' does not exist/);
  });
});
