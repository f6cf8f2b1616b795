/**
 * The fixture project of the acceptance tests: a tiny "pipeline" whose phases allocate deterministic
 * amounts (arrays of small objects, Buffers) scaled by WORK_SCALE, so a test can make it allocate 10%
 * more or less. Two test files, so that parallel workers and per-file baselines are exercised.
 */
import { FixtureProject, type VitestVersion } from './fixture.ts';

export const WORKLOAD = `import { span } from 'alloc-tracker';

const scale = Number(process.env.WORK_SCALE ?? '1');

/** About 24 bytes and one allocation per item (plus the array): grows linearly with the scale. */
export function build(items: number): unknown[] {
  return span('build', () => {
    const n = Math.round(items * scale);
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = { id: i, value: i * 2 };
    return out;
  });
}

/** Exactly bytes * scale of external memory. */
export function encode(bytes: number): Buffer {
  return span('encode', () => Buffer.alloc(Math.round(bytes * scale)));
}
`;

/** Each file announces itself and, with PARALLEL_CHECK=1, waits for the other: proof they ran at once. */
const RENDEZVOUS = `import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { beforeAll } from 'vitest';

export function rendezvous(me: string, other: string): void {
  beforeAll(async () => {
    if (process.env.PARALLEL_CHECK !== '1') return;
    mkdirSync('.rendezvous', { recursive: true });
    writeFileSync(\`.rendezvous/\${me}\`, String(process.pid));
    const deadline = Date.now() + 20_000;
    while (!existsSync(\`.rendezvous/\${other}\`)) {
      if (Date.now() > deadline) throw new Error(\`\${other} never ran at the same time as \${me}\`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }, 30_000);
}
`;

export const PIPELINE_TEST = `import { describe, expect, test } from 'vitest';
import { phase } from 'alloc-tracker';
import { build, encode } from './workload.ts';
import { rendezvous } from './rendezvous.ts';

rendezvous('pipeline', 'other');

describe('pipeline', () => {
  test('packs', () => {
    build(30_000);
    encode(1_000_000);
    expect(phase('encode')).toAllocateLessThan('2 MB');
    expect(phase('build')).toAllocateFewerThan(40_000);
  });

  test('unpacks', () => {
    build(20_000);
  });

  if (process.env.EXTRA_TEST === '1') {
    test('brand new', () => {
      build(10_000);
    });
  }
});
`;

export const OTHER_TEST = `import { test } from 'vitest';
import { build, encode } from './workload.ts';
import { rendezvous } from './rendezvous.ts';

rendezvous('other', 'pipeline');

test('other work', () => {
  encode(500_000);
  build(25_000);
});
`;

export function configFile(pluginOptions = "{ outputFile: 'alloc-report.json' }", testOptions = ''): string {
  return `import { defineConfig } from 'vitest/config';
import { allocTracker } from 'alloc-tracker/vitest';

export default defineConfig({
  // Exact counts with sites: these suites check counts, allocation sites and heap profiles.
  plugins: [allocTracker({ counts: true, samplingInterval: 1, ...${pluginOptions} })],
  test: {
    include: ['test/**/*.test.ts'],
    maxWorkers: 2,
    // Exact counting is slow on a loaded machine; the default 5 s is not about this product.
    testTimeout: 60_000,${testOptions}
  },
});
`;
}

export const PIPELINE_BASELINE = 'baselines/test/pipeline.test.ts.json';
export const OTHER_BASELINE = 'baselines/test/other.test.ts.json';

export function createPipelineProject(name: string, vitest: VitestVersion = 'v5', config = configFile()): Promise<FixtureProject> {
  return FixtureProject.create(name, {
    vitest,
    files: {
      'vitest.config.ts': config,
      'test/workload.ts': WORKLOAD,
      'test/rendezvous.ts': RENDEZVOUS,
      'test/pipeline.test.ts': PIPELINE_TEST,
      'test/other.test.ts': OTHER_TEST,
    },
  });
}
