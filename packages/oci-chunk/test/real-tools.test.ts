/**
 * Acceptance against real tools: skopeo reads our archives and copies them to an OCI layout, umoci
 * unpacks that, and the unpacked root filesystem equals the input's. Skipped (with the reason in
 * the test name) only when a tool is absent; scripts/install-system-deps.sh installs them.
 */
import { join } from 'node:path';
import { describe as suite, expect, it } from 'vitest';
import { chunkImage } from '../src/pipeline.ts';
import { hasGetfattr } from '../src/scan/index.ts';
import { DEBIAN_V1, LAYERED, describe, execFileText, imageFiles, scanDirectory, tempDir, toolAvailable } from './helpers.ts';

const haveSkopeo = toolAvailable('skopeo');
const haveUmoci = toolAvailable('umoci');
const missing = [!haveSkopeo && 'skopeo', !haveUmoci && 'umoci'].filter(Boolean).join(', ');
const reason = missing ? ` (SKIPPED: ${missing} not installed; run scripts/install-system-deps.sh)` : '';
const asRoot = process.getuid?.() === 0;

const cases = [
  { name: 'Debian-like image, one layer per component, uncompressed', input: DEBIAN_V1, maxLayers: 64, compressed: false },
  { name: 'Debian-like image, 3 merged gzip layers', input: DEBIAN_V1, maxLayers: 3, compressed: true },
  { name: 'two-layer image with whiteouts', input: LAYERED, maxLayers: 64, compressed: true },
];

suite.skipIf(missing !== '')(`real tools${reason}`, async () => {
  const dir = await tempDir('oci-real-tools');
  const xattrs = await hasGetfattr();

  for (const [i, c] of cases.entries()) {
    it(`skopeo and umoci accept the output and unpack the input's rootfs: ${c.name}`, async () => {
      const out = join(dir, `out-${i}.tar`);
      const result = await chunkImage(c.input, out, { maxLayers: c.maxLayers, compressed: c.compressed, tag: 'chunked' });

      const inspected = JSON.parse(await execFileText('skopeo', ['inspect', `oci-archive:${out}`])) as { Layers: string[]; Os: string };
      expect(inspected.Layers).toEqual(result.layers.map((l) => l.digest));
      expect(inspected.Os).toBe('linux');

      const layout = join(dir, `layout-${i}`);
      await execFileText('skopeo', ['copy', '--quiet', `oci-archive:${out}`, `oci:${layout}:chunked`]);
      const bundle = join(dir, `bundle-${i}`);
      await execFileText('umoci', ['unpack', ...(asRoot ? [] : ['--rootless']), '--image', `${layout}:chunked`, bundle]);

      const expected = await describe(await imageFiles(c.input), { xattrs });
      const actual = await describe(await scanDirectory(join(bundle, 'rootfs')), { xattrs });
      if (!asRoot) {
        // Rootless unpacking cannot set owners: compare everything else.
        for (const d of [...Object.values(expected), ...Object.values(actual)]) d.uid = d.gid = 0;
      }
      expect(actual).toEqual(expected);

      // The OCI layout skopeo wrote is an input too: chunking it again gives the same root filesystem.
      const again = join(dir, `again-${i}.tar`);
      await chunkImage(layout, again, { maxLayers: c.maxLayers });
      expect(await describe(await imageFiles(again), { xattrs })).toEqual(await describe(await imageFiles(c.input), { xattrs }));
    });
  }
});
