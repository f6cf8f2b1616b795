/**
 * Source-mapped allocation sites inside real Vitest workers (5.1.1 and 4.1.12): TypeScript transformed
 * by Vite, whose positions V8 reports in the transformed code under the .ts path, and a minified
 * dependency in node_modules with its .map file, which Node loads itself.
 */
import path from 'node:path';
import { build } from 'rolldown';
import { describe, expect, test } from 'vitest';
import type { AllocationSite } from '../../src/core/types.ts';
import { describeRun, FixtureProject, type VitestVersion } from '../vitest/helpers/fixture.ts';

// Types and blank lines above the functions: Vite's transform drops them, so generated lines differ.
const WORK = `export interface Row {
  id: number;
  name: string;
}

type Id = number;

/** One object and one string per row. */
export function parseRows(count: Id): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    rows.push({ id: i, name: \`row \${i}\` });
  }
  return rows;
}

// The allocating statement is this arrow, on line 18.
export const makeRows = (count: Id): Row[] => Array.from({ length: count }, (_, id): Row => ({ id, name: 'x' + id }));
`;

const LIBRARY = `export interface Options {
  size: number;
}

/** Splits and repeats: one string per part. */
export function tokenize(text: string, options: Options): string[] {
  const out: string[] = [];
  for (const part of text.split(',')) out.push(part.repeat(options.size));
  return out;
}
`;

const TEST = `import { test } from 'vitest';
import { writeFileSync } from 'node:fs';
import { Session, span } from 'alloc-tracker';
import { tokenize } from 'tok';
import { parseRows, makeRows } from './work.ts';
// Not a public entry of the package yet: loaded by path.
const { workerSourceMapper } = await import(new URL('./node_modules/alloc-tracker/dist/vitest/source-maps.js', import.meta.url).href);

test('sites', () => {
  const session = new Session();
  session.run(() => {
    span('parse', () => parseRows(2000));
    span('make', () => makeRows(2000));
    span('tokenize', () => tokenize('a,b,c,d,'.repeat(500), { size: 3 }));
  });
  const mapper = workerSourceMapper();
  const out = {};
  for (const name of ['parse', 'make', 'tokenize']) {
    const sites = session.phase(name).sites;
    out[name] = { raw: sites, mapped: mapper.mapSites(sites) };
  }
  writeFileSync('sites.json', JSON.stringify(out, null, 1));
});
`;

type Sites = Record<'parse' | 'make' | 'tokenize', { raw: AllocationSite[]; mapped: AllocationSite[] }>;

const lineOf = (site: AllocationSite | undefined): number => Number(/:(\d+):\d+$/.exec(site?.location ?? '')?.[1]);

describe.each(['v5', 'v4'] as VitestVersion[])('source-mapped sites on Vitest %s', (vitest) => {
  test('the top site names the original line of the allocating statement', async () => {
    const project = await FixtureProject.create(`source-maps-${vitest}`, {
      vitest,
      files: {
        'vitest.config.ts': `import { defineConfig } from 'vitest/config';\nexport default defineConfig({ test: { include: ['*.test.ts'] } });\n`,
        'work.ts': WORK,
        'sites.test.ts': TEST,
        'node_modules/tok/package.json': JSON.stringify({ name: 'tok', type: 'module', exports: './dist/lib.js' }),
        'node_modules/tok/src/lib.ts': LIBRARY,
      },
    });
    await build({
      input: path.join(project.root, 'node_modules/tok/src/lib.ts'),
      output: { dir: path.join(project.root, 'node_modules/tok/dist'), format: 'esm', minify: true, sourcemap: true },
      write: true,
      logLevel: 'silent',
    });
    const result = project.run(['run']);
    expect(result.status, describeRun(result)).toBe(0);
    const sites = project.readJson<Sites>('sites.json');
    const work = path.join(project.root, 'work.ts');

    // Without the map: the transformed code's lines under the .ts path.
    expect(sites.make.raw[0]!.location.startsWith(`${work}:`)).toBe(true);
    expect(lineOf(sites.make.raw[0])).not.toBe(18);
    // With it: the arrow's own line, and parseRows' signature on line 9.
    expect(sites.make.mapped[0]).toMatchObject({ functionName: '(anonymous)', bytes: sites.make.raw[0]!.bytes });
    expect(sites.make.mapped[0]!.location).toMatch(new RegExp(`^${work}:18:\\d+$`));
    expect(sites.make.mapped.find((s) => s.functionName === 'makeRows')?.location).toMatch(new RegExp(`^${work}:18:\\d+$`));
    expect(lineOf(sites.parse.raw[0])).not.toBe(9);
    expect(sites.parse.mapped[0]).toMatchObject({ functionName: 'parseRows' });
    expect(sites.parse.mapped[0]!.location).toMatch(new RegExp(`^${work}:9:\\d+$`));
    // The test file itself: span('parse', ...) is on line 12.
    expect(sites.parse.mapped.find((s) => s.location.includes('sites.test.ts'))?.location).toMatch(/sites\.test\.ts:12:\d+$/);

    // The minified dependency: V8 says `e` on line 1 of dist/lib.js; its map says tokenize, line 6.
    expect(sites.tokenize.raw[0]!.location).toMatch(/node_modules\/tok\/dist\/lib\.js:1:\d+$/);
    expect(sites.tokenize.raw[0]!.functionName).not.toBe('tokenize');
    expect(sites.tokenize.mapped[0]).toMatchObject({ functionName: 'tokenize' });
    expect(sites.tokenize.mapped[0]!.location).toMatch(new RegExp(`^${path.join(project.root, 'node_modules/tok/src/lib.ts')}:6:\\d+$`));
  });
});
