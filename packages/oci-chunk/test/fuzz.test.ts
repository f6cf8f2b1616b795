/**
 * Property test of the OCI reader and everything behind it: hostile oci-archives (mutated tar
 * headers, names, sizes, type flags, PAX records, whiteouts, links, gzip/zstd layers, JSON
 * documents, truncations, flipped bytes) go through inspect, extract and build. Whatever the input:
 *
 * - every failure is a UserError with a one-line message free of control characters;
 * - nothing is written outside the case's own sandbox (a canary directory beside it, which
 *   symlinks in the archives point at, stays as it was) and no scratch file is left;
 * - no case takes longer than CASE_MS (a hang or a quadratic blow-up);
 * - the process's resident memory stays below MAX_RSS.
 *
 * Seeded: OCI_FUZZ_SEED (default 14, the issue) and OCI_FUZZ_RUNS (default 500) replay or widen a
 * run; a failure prints the seed, the path and the counterexample. OCI_FUZZ_SHRINK=1 shrinks it.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { rawOciArchive, rawTar, type Compression, type RawEntry, type RawImage } from '../scripts/raw-tar.ts';
import { extractImage } from '../src/extract.ts';
import { inspectArchive } from '../src/inspect.ts';
import { chunkImage } from '../src/pipeline.ts';
import { UserError } from '../src/util.ts';
import { tempDir } from './helpers.ts';

const SEED = Number(process.env['OCI_FUZZ_SEED'] ?? 14);
const RUNS = Number(process.env['OCI_FUZZ_RUNS'] ?? 500);
const CASE_MS = 30_000;
const MAX_RSS = 1024 * 1024 * 1024;
const hasZstd = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

const root = await tempDir('oci-fuzz');
const canary = join(root, 'canary');
await mkdir(canary);
await writeFile(join(canary, 'keep'), 'untouched');

// ---- arbitraries ---------------------------------------------------------------------------

const gz = (text: string) => zlib.gzipSync(text, { level: 1 });

const names = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'a',
      'b',
      'd/',
      'd/f',
      'd/sub/',
      'd/sub/g',
      'etc/',
      'etc/x',
      'link',
      'link/pwned',
      'usr/bin/tool',
      'var/lib/dpkg/status',
      'var/lib/dpkg/info/pkg.list',
      'usr/share/doc/pkg/changelog.Debian.gz',
      'lib/apk/db/installed',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom('.wh.a', '.wh.d', 'd/.wh..wh..opq', '.wh..wh..opq', 'd/.wh.f', '.wh.', '.wh..', '.wh...', 'd/.wh..wh.x'),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '../evil',
      '/abs',
      'a/../../b',
      './',
      '.',
      '',
      '//',
      'a//b/./c',
      'x\x1b[31m\r',
      'nul\0name',
      'caf\u00e9',
      '\u202ertl',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.nat({ max: 2500 }).map((n) => `${'a/'.repeat(n)}z`) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) => Buffer.from(b)) },
);

const linkTargets = fc.oneof(
  fc.constantFrom(
    'a',
    'd',
    'd/f',
    'etc/x',
    'link',
    '../../etc/passwd',
    '/etc/passwd',
    canary,
    `${canary}/keep`,
    '',
    '.',
    '..',
    'x'.repeat(150),
  ),
  fc.nat({ max: 2500 }).map((n) => 'a/'.repeat(n)),
  names.map((n) => Buffer.from(n)),
);

const numericField = (max: number) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.nat({ max }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'zz',
        ' 12 ',
        '',
        '\x80\0\0\0\0\0\0\x01',
        '\xff\xff\xff\xff\xff\xff\xff\xff',
        '0x10',
        '-7',
        '7777777777777',
      ),
    },
  );

const contents = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('', 'x', 'hello\n') },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 700 }).map((b) => Buffer.from(b)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'Package: pkg\nStatus: install ok installed\nSource: src (1.0)\nArchitecture: amd64\n',
      'Package: pkg\nStatus: install ok installed\n\nPackage: two\nStatus: install ok installed\n',
      'Package: pkg\nthis is not a field\n',
      'Package: p/../../x\nStatus: install ok installed\n',
      ' continuation first\n',
      '/etc/x\n/link/../a\n/d/f\n/usr/bin/tool\n',
      `/${'a/'.repeat(3000)}\n`,
      'P:a\nF:etc\nR:x\n\nP:b\no:src\nF:////d///\nR:f\n',
      'P:a\nnot apk\n',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      gz('pkg (1.0) unstable; urgency=low\n\n  * x\n\n -- A <a@b.c>  Mon, 01 Jan 2024 12:00:00 +0000\n'),
      gz(' -- A <a@b.c>  Mon, 99 Foo 2024 99:00:00 +9999\n'),
      Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]),
    ),
  },
);

const paxRecords = fc.array(
  fc.oneof(
    fc.tuple(fc.constant('SCHILY.xattr.user.component'), fc.constantFrom('app', 'other', '', '  ', '\0\0x', 'a\x1b[2Jb')),
    fc.tuple(fc.constant('SCHILY.xattr.user.update-interval'), fc.constantFrom('weekly', 'fortnightly', '0', '1e9', '-1', '3.5')),
    fc.tuple(
      fc.constant('SCHILY.xattr.user.bin'),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    ),
    fc.tuple(
      fc.constantFrom(
        'SCHILY.xattr.evil',
        'SCHILY.xattr.user.a\nb',
        'SCHILY.xattr.security.selinux',
        'SCHILY.xattr.trusted.x',
        'SCHILY.xattr.user.',
      ),
      fc.constant('v'),
    ),
    fc.tuple(
      fc.constant('path'),
      names.map((n) => Buffer.from(n)),
    ),
    fc.tuple(
      fc.constant('linkpath'),
      linkTargets.map((n) => Buffer.from(n)),
    ),
    fc.tuple(fc.constant('size'), fc.constantFrom('0', '5', 'abc', '99999999999999999999', '', '1000000')),
    fc.tuple(fc.constantFrom('mtime', 'uid', 'gid'), fc.constantFrom('1.5', '-3', 'x', '4294967296', '0', '1e3')),
    fc.tuple(fc.constantFrom('GNU.sparse.size', 'comment', 'hdrcharset'), fc.constant('1')),
  ),
  { maxLength: 3 },
);

/** Entries a sane tar writer could produce: they carry the case through to the later phases. */
const fileNames = fc.constantFrom(
  'a',
  'b',
  'd/f',
  'd/sub/g',
  'etc/x',
  'usr/bin/tool',
  'var/lib/dpkg/status',
  'var/lib/dpkg/info/pkg.list',
  'usr/share/doc/pkg/changelog.Debian.gz',
  'lib/apk/db/installed',
);
const dirNames = fc.constantFrom('d/', 'd/sub/', 'etc/', 'usr/', 'usr/bin/', 'var/', 'var/lib/dpkg/');
const common = {
  mode: fc.constantFrom(0o644, 0o755, 0o4755, 0o600),
  uid: fc.constantFrom(0, 0, 1000, 65534),
  gid: fc.constantFrom(0, 0, 1000),
  pax: fc.oneof({ weight: 4, arbitrary: fc.constant<[string, string | Buffer][]>([]) }, { weight: 1, arbitrary: paxRecords }),
};
const benignEntries: fc.Arbitrary<RawEntry> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ name: fileNames, typeflag: fc.constant('0'), data: contents, ...common }) },
  { weight: 3, arbitrary: fc.record({ name: dirNames, typeflag: fc.constant('5'), ...common }) },
  {
    weight: 2,
    arbitrary: fc.record({
      name: fc.oneof(fileNames, fc.constantFrom('link', 'bin')),
      typeflag: fc.constant('2'),
      linkname: fc.constantFrom('a', 'd/f', '../usr', '/usr/bin', 'usr/bin', canary, `${canary}/keep`, 'link/x'),
      ...common,
    }),
  },
  { weight: 1, arbitrary: fc.record({ name: fileNames, typeflag: fc.constant('1'), linkname: fileNames, ...common }) },
  {
    weight: 1,
    arbitrary: fc.record({
      name: fc.constantFrom('.wh.a', 'd/.wh..wh..opq', 'd/.wh.f', '.wh.d', 'usr/.wh..wh..opq'),
      typeflag: fc.constant('0'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ name: fc.constantFrom('link/pwned', 'bin/sh'), typeflag: fc.constant('0'), data: fc.constant('x') }),
  },
);

const hostileEntries: fc.Arbitrary<RawEntry> = fc.record(
  {
    name: names,
    typeflag: fc.constantFrom(
      '0',
      '0',
      '0',
      '0',
      '5',
      '5',
      '2',
      '2',
      '1',
      '6',
      '3',
      '4',
      '7',
      '\0',
      'V',
      'S',
      'D',
      'x',
      'g',
      'L',
      'K',
      'Z',
    ),
    mode: fc.nat({ max: 0o7777 }),
    uid: numericField(70_000),
    gid: numericField(70_000),
    mtime: numericField(2_000_000_000),
    size: fc.option(fc.oneof(fc.nat({ max: 1200 }), fc.constantFrom('77777777777', 'zz', '')), { nil: undefined, freq: 5 }),
    linkname: linkTargets,
    data: contents,
    pax: paxRecords,
    format: fc.constantFrom<'ustar' | 'gnu' | 'v7'>('ustar', 'ustar', 'ustar', 'ustar', 'gnu', 'v7'),
  },
  { requiredKeys: ['name'] },
);

interface LayerCase {
  entries: RawEntry[];
  /** How the layer's bytes are damaged after they are written. */
  damage:
    | { kind: 'none' }
    | { kind: 'truncate'; at: number }
    | { kind: 'flip'; at: number; byte: number }
    | { kind: 'append'; bytes: Buffer }
    | { kind: 'noEnd' };
}

const layerCases: fc.Arbitrary<LayerCase> = fc.record({
  entries: fc.array(fc.oneof({ weight: 12, arbitrary: benignEntries }, { weight: 1, arbitrary: hostileEntries }), { maxLength: 7 }),
  damage: fc.oneof(
    { weight: 24, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 1, arbitrary: fc.nat().map((at) => ({ kind: 'truncate' as const, at })) },
    { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.nat({ max: 255 })).map(([at, byte]) => ({ kind: 'flip' as const, at, byte })) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ minLength: 1, maxLength: 600 }).map((b) => ({ kind: 'append' as const, bytes: Buffer.from(b) })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'noEnd' as const }) },
  ),
});

function layerBytes(layer: LayerCase): Buffer {
  const tar = rawTar(layer.entries, { end: layer.damage.kind !== 'noEnd' });
  switch (layer.damage.kind) {
    case 'truncate':
      return tar.subarray(0, tar.length === 0 ? 0 : layer.damage.at % tar.length);
    case 'flip': {
      const copy = Buffer.from(tar);
      if (copy.length > 0) copy[layer.damage.at % copy.length] = layer.damage.byte;
      return copy;
    }
    case 'append':
      return Buffer.concat([tar, layer.damage.bytes]);
    default:
      return tar;
  }
}

const deepJson = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

type DocumentChange = (doc: Record<string, unknown>) => void;

const configChanges: fc.Arbitrary<DocumentChange | string | undefined> = fc.oneof(
  { weight: 60, arbitrary: fc.constant(undefined) },
  {
    weight: 4,
    arbitrary: fc.constantFrom<DocumentChange>(
      (c) => void (c['config'] = { Labels: { a: 'b' }, Env: ['A=1'], Cmd: ['/bin/sh'], User: '0' }),
      (c) => void (c['config'] = { Labels: 5 }),
      (c) => void (c['config'] = { Env: 'A=1' }),
      (c) => void (c['config'] = { Entrypoint: [1, 2] }),
      (c) => void (c['config'] = 'nope'),
      (c) => void (c['created'] = 12),
      (c) => void (c['created'] = '+275760-09-13T00:00:00Z'),
      (c) => void (c['architecture'] = { x: 1 }),
      (c) => void delete c['rootfs'],
      (c) => void ((c['rootfs'] as { diff_ids: string[] }).diff_ids = ['sha256:nope']),
      (c) => void (c['rootfs'] as { diff_ids: string[] }).diff_ids.push(`sha256:${'0'.repeat(64)}`),
      (c) => void (c['config'] = { Labels: { deep: JSON.parse(deepJson(40)) as unknown } }),
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 400 }).map((depth) => `{"config":{"Labels":{"x":${deepJson(depth)}}}}`) },
  { weight: 1, arbitrary: fc.constantFrom('', 'null', '[]', '{', '{"rootfs": 7}', '\u0000') },
);

const manifestChanges: fc.Arbitrary<DocumentChange | undefined> = fc.oneof(
  { weight: 80, arbitrary: fc.constant(undefined) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<DocumentChange>(
      (m) => void ((m['layers'] as { size: number }[])[0] ? ((m['layers'] as { size: number }[])[0]!.size += 1) : 0),
      (m) => void ((m['layers'] as { size: number }[])[0] ? ((m['layers'] as { size: number }[])[0]!.size = -1) : 0),
      (m) =>
        void ((m['layers'] as { annotations?: unknown }[])[0]
          ? ((m['layers'] as { annotations?: unknown }[])[0]!.annotations = { 'org.chunkah.component': 7 })
          : 0),
      (m) =>
        void ((m['layers'] as { annotations?: unknown }[])[0]
          ? ((m['layers'] as { annotations?: unknown }[])[0]!.annotations = {
              'org.chunkah.component': 'x\x1b[2J',
              'org.chunkah.stability': 'NaN',
            })
          : 0),
      (m) => void ((m['layers'] as { digest: string }[])[0] ? ((m['layers'] as { digest: string }[])[0]!.digest = 'md5:abc') : 0),
      (m) => void (m['layers'] = 'none'),
      (m) => void delete m['config'],
      (m) => void (m['manifests'] = []),
    ),
  },
);

const indexBytes = fc.oneof(
  { weight: 30, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '{}',
      '{"manifests":[]}',
      '{"manifests":"x"}',
      '{"manifests":[{"digest":"sha256:zz","size":1}]}',
      deepJson(100),
      '\u00ff',
    ),
  },
);

interface FuzzCase {
  layers: LayerCase[];
  compression: Compression;
  config: DocumentChange | string | undefined;
  manifest: DocumentChange | undefined;
  index: string | undefined;
  /** Damage to the whole oci-archive. */
  outer: { kind: 'none' } | { kind: 'truncate'; at: number } | { kind: 'flip'; at: number; byte: number };
  skipSpecial: boolean;
}

const cases: fc.Arbitrary<FuzzCase> = fc.record({
  layers: fc.array(layerCases, { minLength: 1, maxLength: 3 }),
  compression: fc.constantFrom<Compression>(...(hasZstd ? (['none', 'gzip', 'zstd'] as const) : (['none', 'gzip'] as const))),
  config: configChanges,
  manifest: manifestChanges,
  index: indexBytes,
  outer: fc.oneof(
    { weight: 30, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 1, arbitrary: fc.nat().map((at) => ({ kind: 'truncate' as const, at })) },
    { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.nat({ max: 255 })).map(([at, byte]) => ({ kind: 'flip' as const, at, byte })) },
  ),
  skipSpecial: fc.boolean(),
});

function archiveBytes(c: FuzzCase): Buffer {
  const image: RawImage = { layers: c.layers.map(layerBytes), compression: c.compression, indexBytes: c.index };
  if (typeof c.config === 'string') image.configBytes = c.config;
  else if (c.config) image.config = c.config;
  if (c.manifest) image.manifest = c.manifest;
  const bytes = rawOciArchive(image);
  if (c.outer.kind === 'truncate') return bytes.subarray(0, c.outer.at % bytes.length);
  if (c.outer.kind === 'flip') {
    const copy = Buffer.from(bytes);
    copy[c.outer.at % copy.length] = c.outer.byte;
    return copy;
  }
  return bytes;
}

// ---- the property ---------------------------------------------------------------------------

/** Runs `step`; a failure must be a UserError with a clean one-line message. */
async function allowedFailure(what: string, step: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${CASE_MS} ms`)), CASE_MS);
  });
  try {
    await Promise.race([step(), deadline]);
    return true;
  } catch (e) {
    if (!(e instanceof UserError)) throw new Error(`${what}: not a UserError: ${(e as Error)?.stack ?? String(e)}`, { cause: e });
    if (process.env['OCI_FUZZ_DEBUG']) process.stdout.write(`FAIL ${what}: ${e.message.replace(/\/tmp\/\S+/g, 'P').slice(0, 110)}\n`);
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    if (/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/.test(e.message)) {
      throw new Error(`${what}: unescaped control character in ${JSON.stringify(e.message)}`, { cause: e });
    }
    return false;
  } finally {
    clearTimeout(timer);
  }
}

let caseNumber = 0;
let stats = { cases: 0, extracted: 0, built: 0, inspected: 0 };
const times = { inspect: 0, extract: 0, build: 0 };
let slowest = { what: '', ms: 0, index: -1 };
const timed = async <T>(key: keyof typeof times, f: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  try {
    return await f();
  } finally {
    const ms = performance.now() - t;
    times[key] += ms;
    if (ms > slowest.ms) slowest = { what: key, ms, index: caseNumber - 1 };
  }
};

async function check(c: FuzzCase): Promise<void> {
  const n = caseNumber++;
  const box = join(root, `box-${n}`);
  const tmp = join(box, 'tmp');
  await mkdir(tmp, { recursive: true });
  const archive = join(root, `case-${n}.tar`);
  await writeFile(archive, archiveBytes(c));
  try {
    const extractedBefore = stats.extracted;
    if (await timed('inspect', () => allowedFailure('inspect', () => inspectArchive(archive)))) stats.inspected++;
    if (
      await timed('extract', () =>
        allowedFailure('extract', () => extractImage(archive, join(box, 'target'), { tempDir: tmp, skipSpecial: c.skipSpecial })),
      )
    )
      stats.extracted++;
    // A build reads what extract read: only worth its time when extract got through.
    if (stats.extracted > extractedBefore) {
      const built = await timed('build', () =>
        allowedFailure('build', () =>
          chunkImage(archive, join(box, 'out.tar'), { tempDir: tmp, epoch: 0, skipSpecial: c.skipSpecial, maxLayers: 3 }),
        ),
      );
      if (built) stats.built++;
    }
    stats.cases++;
    // Nothing outside the box but the case's own archive; nothing in the box but its outputs.
    expect((await readdir(box)).filter((n) => !['tmp', 'target', 'out.tar'].includes(n))).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
    expect(await readdir(canary)).toEqual(['keep']);
    expect(await readFile(join(canary, 'keep'), 'utf8')).toBe('untouched');
    expect((await readdir(root)).filter((name) => name !== 'canary' && name !== `case-${n}.tar` && name !== `box-${n}`)).toEqual([]);
    expect(process.memoryUsage().rss).toBeLessThan(MAX_RSS);
  } finally {
    await rm(box, { recursive: true, force: true });
    await rm(archive, { force: true });
  }
}

it(
  `hostile oci-archives: ${RUNS} cases, seed ${SEED}, only UserErrors, no writes outside, no hang, bounded memory`,
  { timeout: 300_000 },
  async () => {
    stats = { cases: 0, extracted: 0, built: 0, inspected: 0 };
    const started = Date.now();
    try {
      await fc.assert(fc.asyncProperty(cases, check), { numRuns: RUNS, seed: SEED, endOnFailure: process.env['OCI_FUZZ_SHRINK'] !== '1' });
    } catch (e) {
      throw new Error(`fuzz failure (replay: OCI_FUZZ_SEED=${SEED} OCI_FUZZ_RUNS=${RUNS}): ${(e as Error).message}`, { cause: e });
    }
    const seconds = (Date.now() - started) / 1000;
    const ms = (n: number) => Math.round(n);
    process.stdout.write(
      `oci fuzz: ms in inspect ${ms(times.inspect)}, extract ${ms(times.extract)}, build ${ms(times.build)}; slowest: ${slowest.what} of case ${slowest.index}, ${ms(slowest.ms)} ms\n`,
    );
    process.stdout.write(
      `oci fuzz: ${stats.cases} cases in ${seconds.toFixed(1)} s (inspect ok ${stats.inspected}, extract ok ${stats.extracted}, build ok ${stats.built}), seed ${SEED}\n`,
    );
    expect(stats.cases).toBe(RUNS);
    // Enough cases must get through the archive to the scan, components and build to test them.
    expect(stats.extracted).toBeGreaterThan(RUNS / 8);
    expect(stats.built).toBeGreaterThan(RUNS / 10);
  },
);
