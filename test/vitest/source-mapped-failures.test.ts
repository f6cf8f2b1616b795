/**
 * The plugin maps what it reports to the source a person wrote, through real runs of a TypeScript
 * fixture (Vite transforms it: types and blank lines go, so V8's lines are not the file's) on Vitest 5
 * and 4.1: a failure message's top site, the saved heap profile's top frame, and the call trees of the
 * HTML report (written by the `html` option, one tree for every sampled phase) name the original `.ts`
 * line of the allocating function. A dependency without a source map says "generated position".
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import type { HeapProfile, HeapProfileNode } from '../../src/core/types.ts';
import type { RunReport } from '../../src/report/baselines.ts';
import { describeRun, FixtureProject, type VitestVersion } from './helpers/fixture.ts';

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
`;

const TEST = `import { test } from 'vitest';
import { span } from 'alloc-tracker';
import { fill } from 'plain-dep';
import { parseRows } from './work.ts';

const rows = Number(process.env.ROWS ?? 2000);

test('parses', () => {
  span('parse', () => parseRows(rows));
  span('fill', () => fill(rows));
});
`;

const CONFIG = `import { defineConfig } from 'vitest/config';
import { allocTracker } from 'alloc-tracker/vitest';

export default defineConfig({
  plugins: [allocTracker({ outputFile: 'alloc-report.json', html: 'alloc-report/index.html' })],
  test: { include: ['*.test.ts'], testTimeout: 60_000 },
});
`;

/** The node with the most bytes of its own. */
function heaviest(node: HeapProfileNode): HeapProfileNode {
  let best = node;
  for (const child of node.children) {
    const candidate = heaviest(child);
    if (candidate.selfSize > best.selfSize) best = candidate;
  }
  return best;
}

describe.each(['v5', 'v4'] as VitestVersion[])('source-mapped sites, profiles and trees on Vitest %s', (vitest) => {
  test('name the original .ts line of the allocating function; no map says "generated position"', async () => {
    const project = await FixtureProject.create(`mapped-failures-${vitest}`, {
      vitest,
      files: {
        'vitest.config.ts': CONFIG,
        'work.ts': WORK,
        'work.test.ts': TEST,
        'node_modules/plain-dep/package.json': JSON.stringify({ name: 'plain-dep', type: 'module', exports: './index.js' }),
        'node_modules/plain-dep/index.js':
          'export function fill(n) {\n  const out = [];\n  for (let i = 0; i < n; i++) out.push({ i });\n  return out;\n}\n',
      },
    });
    const first = project.run(['run']);
    expect(first.status, describeRun(first)).toBe(0);

    // Every sampled phase of the passing run has its call tree on the page, mapped to work.ts line 9.
    const page = project.read('alloc-report/index.html');
    const data = JSON.parse(/<script type="application\/json" id="alloc-data">(.*?)<\/script>/s.exec(page)![1]!) as {
      s: string[];
      p: ([unknown, unknown[], number[], 0 | 1] | null)[];
    };
    expect(data.p).toHaveLength(2);
    for (const phase of data.p) expect(phase?.[3]).toBe(0);
    expect(data.s).toContain('parseRows');
    expect(data.s.some((s) => /^work\.ts:9:\d+$/.test(s))).toBe(true);
    const report = project.readJson<RunReport>('alloc-report.json');
    const parseRow = report.files[0]!.rows.find((r) => r.phase === 'parse')!;
    expect(JSON.stringify(parseRow.tree)).toMatch(/"functionName":"parseRows","location":"work\.ts:9:\d+"/);

    // 20% more rows: the failure names the original line; the saved profile's heaviest frame too.
    const worse = project.run(['run'], { ROWS: '2400' });
    expect(worse.status, describeRun(worse)).toBe(1);
    const parseFailure = worse.output.slice(worse.output.indexOf('phase "parse"\n'));
    const topSite = /top allocation sites of "parse":\n\s+[\d.]+%\s+[\d.]+ [kM]?B\s+(\S+) \((\S+?)\)\n/.exec(parseFailure);
    expect(topSite, worse.output).not.toBeNull();
    expect(topSite![1]).toBe('parseRows');
    expect(topSite![2]).toMatch(/^work\.ts:9:\d+$/);
    // The dependency has no source map: its site is V8's position, and says so.
    expect(worse.output).toMatch(/fill \(node_modules\/plain-dep\/index\.js:1:\d+, generated position\)/);

    const saved = /heap profile of "parse": (.+?\.heapprofile) \(open in Chrome DevTools/.exec(worse.output);
    expect(saved).not.toBeNull();
    const profile = JSON.parse(readFileSync(path.join(project.root, saved![1]!), 'utf8')) as HeapProfile;
    const top = heaviest(profile.head);
    expect(top.callFrame.functionName).toBe('parseRows');
    expect(top.callFrame.url).toBe(path.join(project.root, 'work.ts'));
    expect(top.callFrame.lineNumber).toBe(8); // 0-based, as DevTools reads it: line 9
  });
});
