/**
 * Acceptance against real tools: skopeo reads our archives and copies them to an OCI layout, umoci
 * unpacks that, and the unpacked root filesystem equals the input's. Skipped (with the reason in
 * the test name) only when a tool is absent; scripts/install-system-deps.sh installs them.
 */
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { describe as suite, expect, it } from 'vitest';
import type { Compression } from '../src/build/index.ts';
import { chunkImage } from '../src/pipeline.ts';
import { hasGetfattr } from '../src/scan/index.ts';
import { DEBIAN_V1, LAYERED, describe, execFileText, imageFiles, scanDirectory, tempDir, toolAvailable } from './helpers.ts';

const haveSkopeo = toolAvailable('skopeo');
const haveUmoci = toolAvailable('umoci');
const missing = [!haveSkopeo && 'skopeo', !haveUmoci && 'umoci'].filter(Boolean).join(', ');
const reason = missing ? ` (SKIPPED: ${missing} not installed; run scripts/install-system-deps.sh)` : '';
const asRoot = process.getuid?.() === 0;

const hasZstd = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';
const cases: { name: string; input: string; maxLayers: number; compression: Compression }[] = [
  { name: 'Debian-like image, one layer per component, uncompressed', input: DEBIAN_V1, maxLayers: 64, compression: 'none' },
  { name: 'Debian-like image, 3 merged gzip layers', input: DEBIAN_V1, maxLayers: 3, compression: 'gzip' },
  { name: 'two-layer image with whiteouts', input: LAYERED, maxLayers: 64, compression: 'gzip' },
  // umoci 0.4 refuses zstd layers ("blob is not correct mediatype"): skopeo only, then our reader.
  ...(hasZstd
    ? [{ name: 'Debian-like image, 8 zstd layers (skopeo only)', input: DEBIAN_V1, maxLayers: 8, compression: 'zstd' as const }]
    : []),
];

suite.skipIf(missing !== '')(`real tools${reason}`, async () => {
  const dir = await tempDir('oci-real-tools');
  const xattrs = await hasGetfattr();

  for (const [i, c] of cases.entries()) {
    const withUmoci = c.compression !== 'zstd';
    it(`skopeo${withUmoci ? ' and umoci accept the output and unpack' : ' accepts the output, which holds'} the input's rootfs: ${c.name}`, async () => {
      const out = join(dir, `out-${i}.tar`);
      const result = await chunkImage(c.input, out, { maxLayers: c.maxLayers, compression: c.compression, tag: 'chunked' });
      const manifest = JSON.parse(await execFileText('skopeo', ['inspect', '--raw', `oci-archive:${out}`])) as {
        layers: { mediaType: string }[];
      };
      const suffix = { none: '.tar', gzip: '.tar+gzip', zstd: '.tar+zstd' }[c.compression];
      for (const layer of manifest.layers) expect(layer.mediaType).toBe(`application/vnd.oci.image.layer.v1${suffix}`);

      const inspected = JSON.parse(await execFileText('skopeo', ['inspect', `oci-archive:${out}`])) as { Layers: string[]; Os: string };
      expect(inspected.Layers).toEqual(result.layers.map((l) => l.digest));
      expect(inspected.Os).toBe('linux');

      const layout = join(dir, `layout-${i}`);
      await execFileText('skopeo', ['copy', '--quiet', `oci-archive:${out}`, `oci:${layout}:chunked`]);
      const bundle = join(dir, `bundle-${i}`);
      if (withUmoci) await execFileText('umoci', ['unpack', ...(asRoot ? [] : ['--rootless']), '--image', `${layout}:chunked`, bundle]);

      if (withUmoci) {
        const expected = await describe(await imageFiles(c.input), { xattrs });
        const actual = await describe(await scanDirectory(join(bundle, 'rootfs')), { xattrs });
        if (!asRoot) {
          // Rootless unpacking cannot set owners: compare everything else.
          for (const d of [...Object.values(expected), ...Object.values(actual)]) d.uid = d.gid = 0;
        }
        expect(actual).toEqual(expected);
      }

      // The OCI layout skopeo wrote is an input too: chunking it again gives the same root filesystem.
      const again = join(dir, `again-${i}.tar`);
      await chunkImage(layout, again, { maxLayers: c.maxLayers });
      expect(await describe(await imageFiles(again), { xattrs })).toEqual(await describe(await imageFiles(c.input), { xattrs }));
    });
  }
});
