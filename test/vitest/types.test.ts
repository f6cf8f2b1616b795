/**
 * The matcher and plugin types compile under Vitest 4.1 and 5 with `skipLibCheck: false`: tsc on a
 * fixture project that uses the packed package's .d.ts files. `@ts-expect-error` lines make the check
 * two-sided: if the matchers were untyped (any), those lines would be errors too.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { FixtureProject, REPO, type VitestVersion } from './helpers/fixture.ts';

const TYPED_TEST = `import { expect, test } from 'vitest';
import { phase, span, type PhaseRecord } from 'alloc-tracker';

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
  await expect(Promise.resolve(record)).resolves.toAllocateLessThan('1 GB');
  expect({ record }).toEqual({ record: expect.toAllocateLessThan('1 GB') });
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
import { allocTracker, type AllocTrackerOptions } from 'alloc-tracker/vitest';

const options: AllocTrackerOptions = {
  baselineDir: 'baselines',
  metrics: ['bytes', 'count'],
  tolerance: { percent: 5, bytes: '16 KiB', count: 128 },
  overrides: [{ files: 'test/oci/**', tolerance: { percent: 2 } }],
  outputFile: 'alloc-report.json',
};

export default defineConfig({
  plugins: [allocTracker(options)],
  test: { include: ['test/**/*.test.ts'] },
});

// @ts-expect-error 'changes-only' is not a report option
allocTracker({ report: 'changes-only' });
`;

function tsconfig(files: string[], types: string[]): string {
  return JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2023',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        allowImportingTsExtensions: true,
        types,
      },
      files,
    },
    null,
    2,
  );
}

function tsc(project: FixtureProject, config: string): { status: number; output: string } {
  try {
    const output = execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', config], {
      cwd: project.root,
      encoding: 'utf8',
    });
    return { status: 0, output };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { status: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

describe.each(['v4', 'v5'] as VitestVersion[])('types on Vitest %s', (version) => {
  test('matchers (augmentation loaded through tsconfig "types") and the plugin options compile', async () => {
    const project = await FixtureProject.create(`types-${version}`, {
      vitest: version,
      files: {
        'test/typed.test.ts': TYPED_TEST,
        'vitest.config.ts': TYPED_CONFIG,
        'tsconfig.test.json': tsconfig(['test/typed.test.ts'], ['node', 'alloc-tracker/vitest']),
        'tsconfig.config.json': tsconfig(['vitest.config.ts'], ['node']),
        // Without the augmentation the matchers must not exist: proves the check can fail.
        'tsconfig.bare.json': tsconfig(['test/typed.test.ts'], ['node']),
      },
    });
    const tests = tsc(project, 'tsconfig.test.json');
    expect(tests.output).toBe('');
    expect(tests.status).toBe(0);
    const config = tsc(project, 'tsconfig.config.json');
    expect(config.output).toBe('');
    expect(config.status).toBe(0);
    const bare = tsc(project, 'tsconfig.bare.json');
    expect(bare.status).not.toBe(0);
    expect(bare.output).toMatch(/Property 'toAllocateLessThan' does not exist/);
  });
});
