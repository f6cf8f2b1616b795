/**
 * The package as users get it: the clean checkout packed (prepack builds dist), installed with vitest
 * into an empty folder by a real `npm install`, and the plugin's lifecycle run there on Vitest 4.1 and
 * 5: the first run writes baselines, a regression fails, the package's bin accepts it. The install
 * holds exactly one Vitest and none of the re-chunker (tar-stream, the oci-chunk bin).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import type { BaselineFileJSON } from '../../src/baseline/types.ts';
import { describeRun, installedBase, npm, VITEST_VERSIONS, type RunResult, type VitestVersion } from './helpers/fixture.ts';
import { createPipelineProject, PIPELINE_BASELINE } from './helpers/pipeline-fixture.ts';

const ENV = `node${process.versions.node.split('.')[0]}-${process.platform}-${process.arch}`;

function expectExit(result: RunResult, status: number): void {
  expect(result.status, describeRun(result)).toBe(status);
}

/** Every installed copy of package `name` below `dir`'s node_modules. */
function copiesOf(dir: string, name: string): string[] {
  const found: string[] = [];
  const walk = (modules: string): void => {
    for (const entry of readdirSync(modules, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === '.bin') continue;
      const full = path.join(modules, entry.name);
      if (entry.name.startsWith('@')) {
        for (const scoped of readdirSync(full, { withFileTypes: true })) {
          if (scoped.isDirectory()) visit(path.join(full, scoped.name), `${entry.name}/${scoped.name}`);
        }
      } else visit(full, entry.name);
    }
  };
  const visit = (pkg: string, pkgName: string): void => {
    if (pkgName === name) found.push(pkg);
    const nested = path.join(pkg, 'node_modules');
    if (readdirSync(pkg).includes('node_modules')) walk(nested);
  };
  walk(path.join(dir, 'node_modules'));
  return found;
}

describe.each(Object.keys(VITEST_VERSIONS) as VitestVersion[])('the packed clean checkout with Vitest %s', (version) => {
  test('installs alone, with one Vitest and nothing of the re-chunker', async () => {
    const base = await installedBase(version);
    const ls = npm(['ls', '--all'], base);
    expect(ls.status, `${ls.stdout}\n${ls.stderr}`).toBe(0);
    expect(ls.stdout).toMatch(/alloc-tracker@0\.1\.0/);
    expect(ls.stdout).toContain(`vitest@${VITEST_VERSIONS[version]}`);
    expect(ls.stdout).not.toContain('tar-stream');
    expect(ls.stdout).not.toContain('oci-chunk');
    const bins = readdirSync(path.join(base, 'node_modules/.bin'));
    expect(bins).toContain('vitest-alloc');
    expect(bins).toContain('alloc-tracker-html');
    expect(bins).toContain('vitest');
    expect(bins).not.toContain('oci-chunk');
    expect(copiesOf(base, 'vitest')).toEqual([path.join(base, 'node_modules/vitest')]);
    expect(copiesOf(base, 'alloc-tracker')).toEqual([path.join(base, 'node_modules/alloc-tracker')]);
    // What the tarball holds: a built dist, no tests, no re-chunker.
    const pkg = path.join(base, 'node_modules/alloc-tracker');
    expect(readdirSync(path.join(pkg, 'dist/vitest'))).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'setup.js', 'bin.js']));
    expect(readdirSync(pkg).sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json', 'src']);
  });

  test('lifecycle: the first run writes baselines, +10% fails, vitest-alloc --update-baselines accepts it', async () => {
    const project = await createPipelineProject(`packed-${version}`, version);
    const first = project.run(['run']);
    expectExit(first, 0);
    expect(first.stdout).toContain(`RUN  v${VITEST_VERSIONS[version]}`);
    const written = project.read(PIPELINE_BASELINE);
    expect(Object.keys((JSON.parse(written) as BaselineFileJSON)[ENV]!)).toEqual(['pipeline > packs', 'pipeline > unpacks']);

    const worse = project.run(['run'], { WORK_SCALE: '1.1' });
    expectExit(worse, 1);
    expect(worse.output).toContain('allocation regression in test "pipeline > packs" (test/pipeline.test.ts), phase "encode"');
    expect(project.read(PIPELINE_BASELINE)).toBe(written);

    const accepted = project.run(['run', '--update-baselines'], { WORK_SCALE: '1.1' }, 'vitest-alloc');
    expectExit(accepted, 0);
    expect(project.readJson<BaselineFileJSON>(PIPELINE_BASELINE)[ENV]!['pipeline > packs']!.encode!.externalBytes).toBe(1_100_000);
    expect(project.run(['run'], { WORK_SCALE: '1.1' }).status).toBe(0);

    // The HTML page of the JSON output, from the package's other bin.
    const html = project.run(['alloc-report.json', '-o', 'page/report.html'], {}, 'alloc-tracker-html');
    expectExit(html, 0);
    expect(html.stdout).toMatch(/alloc-tracker-html: page\/report\.html \(\d+ KiB, 5 phases, 5 call trees\)/);
    expect(project.read('page/report.html').startsWith('<!doctype html>')).toBe(true);
  });
});
