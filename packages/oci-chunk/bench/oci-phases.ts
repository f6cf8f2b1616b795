/**
 * Where a build's time and memory go, phase by phase (the same steps as chunkImage, timed one by
 * one), for one input:
 *   node packages/oci-chunk/bench/oci-phases.ts <input> [--compressed | --zstd] [--max-layers N]
 * Prints each phase's wall time, the process's RSS after it, the peak RSS so far, and the V8 heap
 * and ArrayBuffer bytes in use after a forced GC (with --expose-gc) to tell live data from garbage.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openImage } from '../src/archive/index.ts';
import { buildLayout, writeOciArchive, type Compression } from '../src/build/index.ts';
import { assignComponents } from '../src/components/index.ts';
import { packComponents } from '../src/packing/index.ts';
import { ImageContents, scanDirectory, scanImage } from '../src/scan/index.ts';
import { makeTempDir, removeQuietly } from '../src/util.ts';
import { stat } from 'node:fs/promises';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    compressed: { type: 'boolean' },
    zstd: { type: 'boolean' },
    'max-layers': { type: 'string' },
    prune: { type: 'string', multiple: true },
  },
});
const input = positionals[0];
if (!input) throw new Error('usage: oci-phases.ts <input> [--compressed | --zstd] [--max-layers N]');
const compression: Compression = values.zstd ? 'zstd' : values.compressed ? 'gzip' : 'none';
const gc = (globalThis as { gc?: () => void }).gc;

let last = performance.now();
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
/**
 * This process's peak resident set (VmHWM). Not resourceUsage().maxRSS: Linux carries the maximum over
 * execve, so a process forked from a larger one (npm, a test worker) reports its parent's peak.
 */
const peakBytes = (): number => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;
function report(phase: string, extra = ''): void {
  const now = performance.now();
  const rss = process.memoryUsage().rss;
  gc?.();
  const m = process.memoryUsage();
  process.stdout.write(
    `${phase.padEnd(12)} ${((now - last) / 1000).toFixed(2).padStart(6)} s  rss ${mib(rss).padStart(10)}  peak ${mib(peakBytes()).padStart(10)}` +
      `  heap ${mib(m.heapUsed).padStart(9)} of ${mib(m.heapTotal).padStart(9)}  arrayBuffers ${mib(m.arrayBuffers).padStart(9)} ${extra}\n`,
  );
  last = performance.now();
}

report('start');
const work = await makeTempDir('oci-phases');
try {
  const isRootfs = (await stat(input)).isDirectory() && !(await stat(join(input, 'oci-layout')).catch(() => undefined));
  const image = isRootfs ? undefined : await openImage(input);
  report('open');
  const prune = (values.prune ?? []).map((p) => ({ path: p.replace(/\/$/, ''), keepSelf: p.endsWith('/') }));
  const contents = image ? new ImageContents(image, join(work, 'fetched')) : undefined;
  const files = image
    ? await scanImage(image, undefined, { prune, skipSpecial: true, contents })
    : await scanDirectory(input, { prune, skipSpecial: true });
  report('scan', `${files.size} paths`);
  const components = await assignComponents(files, { contents });
  contents?.release();
  report('components', `${components.length} components`);
  const groups = packComponents(components, Number(values['max-layers'] ?? 64));
  report('packing', `${groups.length} groups`);
  const built = await buildLayout(files, groups, { workDir: work, epoch: 0, compression, image, inputConfig: image?.config });
  report('layers', `${built.result.layers.length} layers`);
  await writeOciArchive(built.layoutDir, join(work, 'out.tar'));
  report('archive');
} finally {
  await removeQuietly(work);
}
