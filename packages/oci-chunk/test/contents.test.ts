/**
 * The contents the components phase reads from an image (package databases, changelogs): kept in
 * memory by the scan within a budget, fetched from the layers past it. Both routes must give the
 * same components as a directory scan of the same tree would.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openImage } from '../src/archive/index.ts';
import { assignComponents } from '../src/components/index.ts';
import { ImageContents, scanImage } from '../src/scan/index.ts';
import { DEBIAN_V1, tempDir } from './helpers.ts';

async function componentsWith(budget: number, scratch: string) {
  const image = await openImage(DEBIAN_V1);
  const contents = new ImageContents(image, scratch, budget);
  const files = await scanImage(image, undefined, { contents });
  const components = await assignComponents(files, { contents, now: 1_710_000_000 });
  contents.release();
  return { components, files };
}

describe('ImageContents', () => {
  it('gives the same components whether the databases are kept in memory or fetched to scratch files', async () => {
    const dir = await tempDir('oci-contents');
    const kept = await componentsWith(16 * 1024 * 1024, join(dir, 'kept'));
    // Nothing kept: every database is fetched in a second pass over its layer and spooled.
    const fetched = await componentsWith(0, join(dir, 'fetched'));
    expect(kept.components.length).toBeGreaterThan(3);
    expect(fetched.components).toEqual(kept.components);
    // The budget was honoured: with none, the files read were spooled to scratch files.
    const spooled = await readdir(join(dir, 'fetched'));
    expect(spooled.length).toBeGreaterThan(0);
    await expect(readdir(join(dir, 'kept'))).rejects.toThrow(/ENOENT/);
    const status = fetched.files.get('/var/lib/dpkg/status');
    expect(status?.content.kind).toBe('path');
    expect(kept.files.get('/var/lib/dpkg/status')?.content.kind).toBe('layer');
  });

  it('drops what it kept on release', async () => {
    const image = await openImage(DEBIAN_V1);
    const contents = new ImageContents(image, join(await tempDir('oci-contents'), 'x'));
    const files = await scanImage(image, undefined, { contents });
    const status = files.get('/var/lib/dpkg/status');
    expect(status).toBeDefined();
    expect(contents.bytes(status!)?.length).toBe(status!.size);
    contents.release();
    expect(contents.bytes(status!)).toBeUndefined();
  });
});
