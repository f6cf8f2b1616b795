/**
 * The source mapper on real V8 profiles of code made by a real bundler (rolldown, which Vite uses):
 * minified ESM with an external .map file and with an inline data: URL map.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'rolldown';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, span } from '../../src/index.ts';
import {
  commentSourceMaps,
  SourceMapper,
  sourceMapFromComment,
  type LoadedSourceMap,
  type SourceMapProvider,
} from '../../src/core/source-map.ts';
import type { HeapProfile, HeapProfileNode } from '../../src/core/types.ts';

const root = mkdtempSync(path.join(tmpdir(), 'alloc-source-map-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Line 6 holds tokenize's signature; the allocation is its loop on line 8.
const LIBRARY = `export interface Options {
  size: number;
}

/** Splits and repeats: one string per part. */
export function tokenize(text: string, options: Options): string[] {
  const out: string[] = [];
  for (const part of text.split(',')) out.push(part.repeat(options.size));
  return out;
}

export const pairs = (n: number): [number, number][] => Array.from({ length: n }, (_, i): [number, number] => [i, i * 2]);
`;

type Library = {
  tokenize: (text: string, options: { size: number }) => string[];
  pairs: (n: number) => [number, number][];
};

/**
 * CommonJS loaded with Node's own require: Vitest would run an imported file through Vite's module
 * runner (see source-map-vitest.test.ts for that case), as it does not for externalized dependencies.
 */
async function bundle(name: string, sourcemap: 'external' | 'inline'): Promise<{ file: string; library: Library }> {
  const dir = path.join(root, 'node_modules', name);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(path.join(dir, 'src/lib.ts'), LIBRARY);
  await build({
    input: path.join(dir, 'src/lib.ts'),
    output: { dir: path.join(dir, 'dist'), format: 'cjs', minify: true, sourcemap: sourcemap === 'external' ? true : 'inline' },
    write: true,
    logLevel: 'silent',
  });
  const file = path.join(dir, 'dist/lib.js');
  return { file, library: createRequire(import.meta.url)(file) as Library };
}

function topSite(library: Library): { session: Session } {
  const session = new Session();
  session.run(() => span('tokenize', () => library.tokenize('a,b,c,d,'.repeat(400), { size: 3 })));
  session.run(() => span('pairs', () => library.pairs(2000)));
  return { session };
}

let external: { file: string; library: Library };
let inline: { file: string; library: Library };
beforeAll(async () => {
  external = await bundle('external', 'external');
  inline = await bundle('inline', 'inline');
});

describe('SourceMapper on a minified bundle', () => {
  for (const kind of ['external', 'inline'] as const) {
    it(`maps the top site to the original file, line and function name (${kind} map)`, () => {
      const { file, library } = kind === 'external' ? external : inline;
      const { session } = topSite(library);
      const raw = session.phase('tokenize').sites[0]!;
      // What V8 reports: the minified name on line 1 of the bundle.
      expect(raw.location).toMatch(new RegExp(`^${file}:\\d+:\\d+$`));
      expect(raw.functionName).not.toBe('tokenize');
      const mapper = new SourceMapper();
      const [top] = mapper.mapSites(session.phase('tokenize').sites);
      expect(top).toMatchObject({ functionName: 'tokenize', bytes: raw.bytes, share: raw.share });
      expect(top!.location).toMatch(new RegExp(`^${path.join(path.dirname(file), '..', 'src', 'lib.ts')}:6:\\d+$`));
      // An arrow on its own line: the allocating statement's line.
      const pairs = mapper.mapSites(session.phase('pairs').sites);
      expect(pairs[0]!.location).toMatch(/src\/lib\.ts:12:\d+$/);
    });
  }

  it('maps a whole profile for DevTools, keeping every byte', () => {
    const { session } = topSite(external.library);
    const profile = session.profile('tokenize')!;
    const mapped = new SourceMapper().mapProfile(profile);
    const frames = (node: HeapProfileNode): HeapProfileNode['callFrame'][] => [node.callFrame, ...node.children.flatMap(frames)];
    const bytes = (p: HeapProfile): number => {
      const sum = (n: HeapProfileNode): number => n.selfSize + n.children.reduce((a, c) => a + sum(c), 0);
      return sum(p.head);
    };
    expect(bytes(mapped)).toBe(bytes(profile));
    const tokenize = frames(mapped.head).find((f) => f.functionName === 'tokenize')!;
    expect(tokenize.url).toBe(path.join(root, 'node_modules/external/src/lib.ts'));
    expect(tokenize.lineNumber).toBe(5); // 0-based, as in V8's call frames
    expect(frames(profile.head).some((f) => f.functionName === 'tokenize')).toBe(false);
  });
});

describe('SourceMapper without a usable map', () => {
  it('says "generated position" for code without a map, for node: and native frames, and for lines the map leaves out', () => {
    const mapper = new SourceMapper();
    const self = import.meta.filename;
    expect(mapper.mapFrame({ functionName: 'f', url: pathToFileURL(self).href, lineNumber: 3, columnNumber: 1 })).toEqual({
      kind: 'generated',
      reason: 'no source map',
    });
    expect(
      mapper.mapFrame({ functionName: 'nextTick', url: 'node:internal/process/task_queues', lineNumber: 1, columnNumber: 1 }).kind,
    ).toBe('generated');
    expect(mapper.mapLocation('(native)', 'Promise')).toEqual({ location: '(native)', functionName: 'Promise', mapped: false });
    // The bundle has a few lines: line 51 has no mapping, whatever earlier lines say.
    expect(mapper.mapFrame({ functionName: 'e', url: external.file, lineNumber: 50, columnNumber: 0 })).toEqual({
      kind: 'generated',
      reason: 'the source map has no mapping on this line',
    });
  });

  it('reports an unreadable map as the reason, never throws, and asks each provider once per script', () => {
    const broken = path.join(root, 'broken.js');
    writeFileSync(broken, 'export const x = 1;\n//# sourceMappingURL=broken.js.map\n');
    writeFileSync(`${broken}.map`, '{ not json');
    let calls = 0;
    const counting: SourceMapProvider = (url) => {
      calls++;
      return commentSourceMaps(url);
    };
    const mapper = new SourceMapper([counting]);
    const frame = { functionName: 'x', url: pathToFileURL(broken).href, lineNumber: 0, columnNumber: 0 };
    const result = mapper.mapFrame(frame);
    expect(result.kind).toBe('generated');
    expect(result.kind === 'generated' && result.reason).toMatch(/^unreadable source map: /);
    mapper.mapFrame({ ...frame, columnNumber: 7 });
    mapper.mapLocation(`${frame.url}:1:3`, 'x');
    expect(calls).toBe(1);
  });

  it('resolves sources against sourceRoot and the map, and merges sites that meet in one function', () => {
    // Two generated positions (lines 0 and 1) mapped onto the same original function.
    const loaded: LoadedSourceMap = {
      payload: {
        version: 3,
        file: 'out.js',
        sourceRoot: '../src',
        sources: ['a.ts'],
        names: ['work'],
        mappings: 'AAAAA;AAAA',
        sourcesContent: [],
      },
      base: pathToFileURL(path.join(root, 'dist/out.js')).href,
    };
    const mapper = new SourceMapper([() => loaded]);
    const url = pathToFileURL(path.join(root, 'dist/out.js')).href;
    const sites = mapper.mapSites([
      { functionName: 'w', location: `${url}:1:1`, bytes: 100, share: 0.5 },
      { functionName: 'w', location: `${url}:2:1`, bytes: 60, share: 0.3 },
      { functionName: 'other', location: '(native)', bytes: 40, share: 0.2 },
    ]);
    expect(sites).toEqual([
      { functionName: 'w', location: `${path.join(root, 'src/a.ts')}:1:1`, bytes: 160, share: 0.8 },
      { functionName: 'other', location: '(native)', bytes: 40, share: 0.2 },
    ]);
  });

  it('reads data: URL maps, base64 or percent-encoded', () => {
    const map = { version: 3, sources: ['x.ts'], names: [], mappings: 'AAAA' };
    const b64 = sourceMapFromComment(
      `a\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`,
      '/p/x.js',
    );
    const plain = sourceMapFromComment(
      `a\n//# sourceMappingURL=data:application/json,${encodeURIComponent(JSON.stringify(map))}`,
      '/p/x.js',
    );
    expect(b64?.payload).toEqual(map);
    expect(plain?.payload).toEqual(map);
    expect(sourceMapFromComment('no comment here', '/p/x.js')).toBeNull();
  });
});
