/**
 * The project uses its own product: the re-chunker's four phases are gated by alloc-tracker's Vitest
 * plugin (see vitest.config.ts). Each test's phases are compared with baselines/packages/oci-chunk/test/
 * allocations.test.ts.json; absolute budgets below catch gross regressions even on a new environment.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { phase } from 'alloc-tracker';
import { chunkImage } from '../src/pipeline.ts';
import { DEBIAN_V1, DEBIAN_V3, LAYERED, tempDir } from './helpers.ts';

const PHASES = ['scan', 'components', 'packing', 'oci_build'] as const;

describe('re-chunker allocations per phase', async () => {
  const dir = await tempDir('oci-alloc');

  it('debian-v1, 8 gzip layers', async () => {
    await chunkImage(DEBIAN_V1, join(dir, 'v1.tar'), { maxLayers: 8, compressed: true, epoch: 0 });
    for (const name of PHASES) expect(phase(name).iterations).toBe(1);
    expect(phase('scan')).toAllocateLessThan('32 MB');
    expect(phase('components')).toAllocateLessThan('16 MB');
    expect(phase('packing')).toAllocateLessThan('2 MB');
    // File data is streamed: building layers must not allocate anything like the image size per file.
    expect(phase('oci_build')).toAllocateLessThan('32 MB');
    expect(phase('oci_build')).toPeakBelow('64 MiB');
  });

  it('debian-v3, one layer per component, uncompressed', async () => {
    await chunkImage(DEBIAN_V3, join(dir, 'v3.tar'), { epoch: 0 });
    expect(phase('packing')).toAllocateFewerThan(50_000);
    expect(phase('oci_build')).toAllocateLessThan('32 MB');
  });

  it('two-layer image with whiteouts', async () => {
    await chunkImage(LAYERED, join(dir, 'layered.tar'), { maxLayers: 4, epoch: 0 });
    expect(phase('scan')).toAllocateLessThan('32 MB');
  });
});
