/**
 * Growth of build and extract time on the inputs that were quadratic (issue 14, findings 3 and 4).
 *   npm run bench:hostile [-- 10000 20000 40000]      (sizes; default 10k, 20k, 40k)
 *
 * For each size N, generated gzip oci-archives:
 * - opaque:     N lower directories (each with a file), then N opaque markers and N new files;
 * - replaced:   N lower directories (each with a file), then N files replacing them;
 * - components: a chain of N/1000 symlinks whose targets walk 1000 components each ("x/.." pairs),
 *               and 1000 dpkg .list lines resolved through it: N path components to follow;
 * - dpkg-lines: a package whose .list names N files through a symlinked /bin (merged /usr).
 * Each is built (`chunkImage`) and extracted (`extractImage`); sizes run in alternating order twice
 * and the faster run counts. Linear growth shows as a factor near 2 per doubling (quadratic: 4).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rawOciArchive, rawTar, type RawEntry } from '../scripts/raw-tar.ts';
import { extractImage } from '../src/extract.ts';
import { chunkImage } from '../src/pipeline.ts';
import { makeTempDir, removeQuietly } from '../src/util.ts';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
if (sizes.length === 0) sizes.push(10_000, 20_000, 40_000);

const dir = (name: string): RawEntry => ({ name, typeflag: '5' });
const file = (name: string, data = ''): RawEntry => ({ name, data });

function dpkg(list: string[], extra: RawEntry[]): Buffer {
  return rawTar([
    dir('var/'),
    dir('var/lib/'),
    dir('var/lib/dpkg/'),
    dir('var/lib/dpkg/info/'),
    file('var/lib/dpkg/status', 'Package: pkg\nStatus: install ok installed\nVersion: 1\n'),
    file('var/lib/dpkg/info/pkg.list', list.join('\n') + '\n'),
    ...extra,
  ]);
}

const inputs: Record<string, (n: number) => Buffer[]> = {
  opaque(n) {
    const lower: RawEntry[] = [];
    const upper: RawEntry[] = [];
    for (let i = 0; i < n; i++) {
      lower.push(dir(`d${i}/`), file(`d${i}/old`));
      upper.push(file(`d${i}/.wh..wh..opq`), file(`d${i}/new`));
    }
    return [rawTar(lower), rawTar(upper)];
  },
  replaced(n) {
    const lower: RawEntry[] = [];
    const upper: RawEntry[] = [];
    for (let i = 0; i < n; i++) {
      lower.push(dir(`d${i}/`), file(`d${i}/old`));
      upper.push(file(`d${i}`));
    }
    return [rawTar(lower), rawTar(upper)];
  },
  components(n) {
    const links = Math.max(1, Math.round(n / 1000));
    const extra: RawEntry[] = [dir('usr/'), dir('usr/bin/')];
    for (let i = 0; i < links; i++) {
      extra.push({ name: `l${i}`, typeflag: '2', linkname: `${'x/../'.repeat(500)}${i === links - 1 ? 'usr' : `l${i + 1}`}` });
    }
    const list: string[] = [];
    for (let i = 0; i < 1000; i++) {
      extra.push(file(`usr/bin/f${i}`));
      list.push(`/l0/bin/f${i}`);
    }
    return [dpkg(list, extra)];
  },
  'dpkg-lines'(n) {
    const extra: RawEntry[] = [dir('usr/'), dir('usr/bin/'), { name: 'bin', typeflag: '2', linkname: 'usr/bin' }];
    const list: string[] = [];
    for (let i = 0; i < n; i++) {
      extra.push(file(`usr/bin/f${i}`));
      list.push(`/bin/f${i}`);
    }
    return [dpkg(list, extra)];
  },
};

const work = await makeTempDir('oci-bench-hostile');
try {
  console.log(`sizes ${sizes.join(', ')}; each built and extracted twice (alternating sizes), best run counts\n`);
  console.log('| input      |      N | build s | extract s | build x | extract x |');
  console.log('|------------|--------|---------|-----------|---------|-----------|');
  for (const [name, make] of Object.entries(inputs)) {
    const archives = new Map<number, string>();
    for (const n of sizes) {
      const path = join(work, `${name}-${n}.tar`);
      await writeFile(path, rawOciArchive({ layers: make(n), compression: 'gzip' }));
      archives.set(n, path);
    }
    const best = new Map<number, { build: number; extract: number }>();
    for (let round = 0; round < 2; round++) {
      for (const n of sizes) {
        const archive = archives.get(n) as string;
        const out = join(work, 'out');
        await mkdir(out, { recursive: true });
        let t = performance.now();
        await chunkImage(archive, join(out, 'built.tar'), { epoch: 0, tempDir: work });
        const build = (performance.now() - t) / 1000;
        t = performance.now();
        await extractImage(archive, join(out, 'rootfs'), { tempDir: work });
        const extract = (performance.now() - t) / 1000;
        await rm(out, { recursive: true, force: true });
        const prev = best.get(n);
        best.set(n, { build: Math.min(build, prev?.build ?? Infinity), extract: Math.min(extract, prev?.extract ?? Infinity) });
      }
    }
    let previous: { build: number; extract: number } | undefined;
    for (const n of sizes) {
      const b = best.get(n) as { build: number; extract: number };
      const factor = (now: number, before: number | undefined) => (before === undefined ? '' : (now / before).toFixed(2));
      console.log(
        `| ${name.padEnd(10)} | ${String(n).padStart(6)} | ${b.build.toFixed(2).padStart(7)} | ${b.extract.toFixed(2).padStart(9)} | ${factor(b.build, previous?.build).padStart(7)} | ${factor(b.extract, previous?.extract).padStart(9)} |`,
      );
      previous = b;
    }
  }
  console.log('\nx: time relative to the previous size (2.0 = linear per doubling, 4.0 = quadratic)');
} finally {
  await removeQuietly(work);
}
