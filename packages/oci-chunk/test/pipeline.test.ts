/** End to end: fixtures through the four phases, the output read back, and determinism. */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe as suite, expect, it } from 'vitest';
import { Session } from 'alloc-tracker';
import { readOciArchive } from '../src/archive/index.ts';
import { extractImage } from '../src/extract.ts';
import { chunkImage } from '../src/pipeline.ts';
import { hasGetfattr } from '../src/scan/index.ts';
import { makeFixtures } from '../scripts/make-fixtures.ts';
import { writeImageArchive } from '../scripts/fixture-image.ts';
import * as zlib from 'node:zlib';
import { DEBIAN_V1, FIXTURES, LAYERED, describe, imageFiles, scanDirectory, tempDir } from './helpers.ts';

suite('chunkImage on the Debian-like fixture', async () => {
  const dir = await tempDir();

  it('records the four phases as tracker spans', async () => {
    const session = new Session();
    await session.run(() => chunkImage(DEBIAN_V1, join(dir, 'spans.tar'), { epoch: 0 }));
    expect(session.phaseNames()).toEqual(expect.arrayContaining(['scan', 'components', 'packing', 'oci_build']));
  });

  it('writes one layer per component when the budget allows, named by component', async () => {
    const out = join(dir, 'wide.tar');
    const result = await chunkImage(DEBIAN_V1, out, { epoch: 0 });
    const names = result.layers.map((l) => l.name);
    expect(names).toEqual(
      expect.arrayContaining(['dpkg/glibc', 'dpkg/shadow', 'dpkg/bash', 'xattr/myapp', 'bigfiles/model.bin', 'chunkah/unclaimed']),
    );
    const image = await readOciArchive(out);
    expect(image.manifest.layers.map((l) => l.annotations?.['org.chunkah.component'])).toEqual(names);
    // Most stable first.
    const stabilities = image.manifest.layers.map((l) => Number(l.annotations?.['org.chunkah.stability']));
    expect([...stabilities].sort((a, b) => b - a)).toEqual(stabilities);
    expect(image.config.config?.['Cmd']).toEqual(['/usr/bin/bash']);
    expect(image.config.history?.map((h) => h['comment'])).toEqual(names);
    expect(image.config.created).toBe('1970-01-01T00:00:00Z');
  });

  it('respects --max-layers', async () => {
    const result = await chunkImage(DEBIAN_V1, join(dir, 'narrow.tar'), { maxLayers: 3, compressed: true });
    expect(result.layers.length).toBeLessThanOrEqual(3);
    expect(result.layers.every((l) => l.mediaType.endsWith('+gzip'))).toBe(true);
  });

  it('round-trips: the extracted output equals the input root filesystem', async () => {
    const out = join(dir, 'roundtrip.tar');
    await chunkImage(DEBIAN_V1, out, { maxLayers: 4, compressed: true });
    const target = join(dir, 'rootfs');
    await extractImage(out, target);
    const xattrs = await hasGetfattr();
    const expected = await describe(await imageFiles(DEBIAN_V1), { xattrs });
    const actual = await describe(await scanDirectory(target), { xattrs });
    expect(actual).toEqual(expected);
    // Spot checks of what the comparison must cover.
    expect(expected['/usr/bin/su']?.mode).toBe('4755');
    expect(expected['/usr/bin/uncompress']?.links).toEqual(['/usr/bin/gzip']);
    expect(expected['/bin']?.linkTarget).toBe('usr/bin');
    expect(expected['/home/user']?.uid).toBe(1000);
    expect(expected['/opt/models/model.bin']?.size).toBe(1_536 * 1024);
  });

  it('prune: "/p" drops the subtree, "/p/" keeps the directory only', async () => {
    const out = join(dir, 'pruned.tar');
    await chunkImage(DEBIAN_V1, out, { prune: ['/opt/models', '/usr/share/doc/'] });
    const files = await imageFiles(out);
    expect(files.has('/opt/models')).toBe(false);
    expect(files.has('/opt/models/model.bin')).toBe(false);
    expect(files.get('/usr/share/doc')?.type).toBe('directory');
    expect([...files.keys()].some((p) => p.startsWith('/usr/share/doc/'))).toBe(false);
  });
});

suite('layer application', () => {
  it('applies whiteouts and opaque directories from the two-layer fixture', async () => {
    const files = await imageFiles(LAYERED);
    expect(files.has('/etc/removed.conf')).toBe(false);
    expect(files.has('/etc/keep.conf')).toBe(true);
    expect([...files.keys()].filter((p) => p.startsWith('/var/cache/app/'))).toEqual(['/var/cache/app/new']);
    expect(files.get('/var/cache/app')?.mode).toBe(0o700);
    expect(await readFile((files.get('/usr/bin/tool')!.content as { path: string }).path, 'utf8')).toBe('v2\n');
    expect([...files.keys()].some((p) => p.includes('.wh.'))).toBe(false);
  });

  const zstdAvailable = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
  it.skipIf(!zstdAvailable)(`reads zstd-compressed layers${zstdAvailable ? '' : ' (SKIPPED: this Node has no zstd)'}`, async () => {
    const dir = await tempDir();
    const archive = join(dir, 'zstd.tar');
    await writeImageArchive(
      {
        zstd: true,
        layers: [
          [
            { name: 'etc/', type: 'directory' },
            { name: 'etc/zstd.conf', type: 'file', content: 'compressed with zstd\n' },
          ],
        ],
      },
      archive,
    );
    expect((await readOciArchive(archive)).manifest.layers[0]?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    const files = await imageFiles(archive);
    expect(await readFile((files.get('/etc/zstd.conf')!.content as { path: string }).path, 'utf8')).toBe('compressed with zstd\n');
  });

  it('accepts a root-filesystem directory as input', async () => {
    const dir = await tempDir();
    const rootfs = join(dir, 'rootfs');
    await extractImage(LAYERED, rootfs);
    const out = join(dir, 'from-dir.tar');
    await chunkImage(rootfs, out, { epoch: 0 });
    expect(await describe(await imageFiles(out))).toEqual(await describe(await scanDirectory(rootfs)));
  });
});

suite('determinism', () => {
  it('gives byte-identical archives for the same input and SOURCE_DATE_EPOCH', async () => {
    const dir = await tempDir();
    const previous = process.env['SOURCE_DATE_EPOCH'];
    process.env['SOURCE_DATE_EPOCH'] = '1700000000';
    try {
      for (const compressed of [false, true]) {
        const a = join(dir, `a-${compressed}.tar`);
        const b = join(dir, `b-${compressed}.tar`);
        await chunkImage(DEBIAN_V1, a, { compressed, maxLayers: 5 });
        await chunkImage(DEBIAN_V1, b, { compressed, maxLayers: 5 });
        expect((await readFile(a)).equals(await readFile(b))).toBe(true);
      }
      expect((await readOciArchive(join(dir, 'a-true.tar'))).config.created).toBe('2023-11-14T22:13:20Z');
    } finally {
      if (previous === undefined) delete process.env['SOURCE_DATE_EPOCH'];
      else process.env['SOURCE_DATE_EPOCH'] = previous;
    }
  });

  it('the fixture generator reproduces the committed fixtures byte for byte', async () => {
    const dir = await tempDir();
    const written = await makeFixtures(dir);
    expect(written.length).toBe(4);
    for (const path of written) {
      const committed = join(FIXTURES, path.slice(dir.length + 1));
      expect((await readFile(path)).equals(await readFile(committed)), committed).toBe(true);
    }
  });

  it('keeps committed fixtures small', async () => {
    let total = 0;
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(d, e.name));
        else total += (await stat(join(d, e.name))).size;
      }
    };
    await walk(FIXTURES);
    expect(total).toBeLessThan(2 * 1024 * 1024);
  });
});
