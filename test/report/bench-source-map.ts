/**
 * `npm run bench:source-map`: what mapping allocation sites costs. A large real bundle (TypeScript's
 * compiler, minified by rolldown with a source map) is loaded with Node's require and profiled; then
 * the first lookup (reads and parses the map), and lookups of every frame of the profile, cold and cached.
 *
 *   node --single-threaded test/report/bench-source-map.ts
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'rolldown';
import type * as TypeScript from 'typescript';
import { Session, span } from '../../src/index.ts';
import { SourceMapper } from '../../src/core/source-map.ts';
import type { HeapProfileNode } from '../../src/core/types.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'alloc-bench-source-map-'));
try {
  const require = createRequire(import.meta.url);
  let started = performance.now();
  await build({
    input: require.resolve('typescript'),
    output: { dir, format: 'cjs', minify: true, sourcemap: true, entryFileNames: 'ts.cjs' },
    platform: 'node',
    write: true,
    logLevel: 'silent',
  });
  const bundle = path.join(dir, 'ts.cjs');
  console.log(
    `bundle: ${(statSync(bundle).size / 1e6).toFixed(1)} MB, map ${(statSync(`${bundle}.map`).size / 1e6).toFixed(1)} MB ` +
      `(built in ${(performance.now() - started).toFixed(0)} ms)`,
  );
  const ts = require(bundle) as typeof TypeScript;
  const session = new Session({ samplingInterval: 512 });
  const source = 'export interface A { x: number }\n'.repeat(50) + 'export function f(a: A): number { return a.x * 2; }\n'.repeat(200);
  session.run(() => span('transpile', () => ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext } })));
  const profile = session.profile('transpile')!;
  const frames: HeapProfileNode['callFrame'][] = [];
  const walk = (node: HeapProfileNode): void => {
    frames.push(node.callFrame);
    node.children.forEach(walk);
  };
  walk(profile.head);
  const inBundle = frames.filter((f) => f.url.endsWith('ts.cjs'));

  const mapper = new SourceMapper();
  started = performance.now();
  const first = mapper.mapFrame(inBundle[0]!);
  const firstMs = performance.now() - started;
  started = performance.now();
  let mapped = 0;
  for (const frame of frames) if (mapper.mapFrame(frame).kind === 'original') mapped++;
  const allMs = performance.now() - started;
  started = performance.now();
  for (const frame of frames) mapper.mapFrame(frame);
  const cachedMs = performance.now() - started;
  started = performance.now();
  const sites = mapper.mapSites(session.phase('transpile').sites);
  const sitesMs = performance.now() - started;
  console.log(`first lookup in the bundle (reads and parses its map): ${firstMs.toFixed(0)} ms -> ${JSON.stringify(first)}`);
  console.log(
    `profile of ${frames.length} frames (${inBundle.length} in the bundle, ${mapped} mapped): ${allMs.toFixed(1)} ms; again, cached: ${cachedMs.toFixed(2)} ms`,
  );
  console.log(
    `top ${sites.length} sites: ${sitesMs.toFixed(2)} ms; top: ${sites[0]!.functionName} ${sites[0]!.location.replace(dir, '<tmp>')}`,
  );
  started = performance.now();
  new SourceMapper().mapProfile(profile);
  console.log(`mapProfile with a fresh mapper (map parsed again): ${(performance.now() - started).toFixed(0)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
