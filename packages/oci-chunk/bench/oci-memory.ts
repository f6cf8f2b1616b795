/**
 * Memory and throughput of the re-chunker as the image grows.
 *   npm run bench:oci [-- 16 64 256]     (sizes in MiB of uncompressed file data)
 *
 * For each size: a generated single-layer gzip oci-archive is chunked (64 layers; gzip, then plain
 * tar output) in a fresh child process, which reports its peak RSS. Throughput is uncompressed image bytes per second,
 * also given as a ratio to `gzip -dc <layer> | sha256sum` over the same layer (the least any
 * consumer of the image must do). Flat peak RSS across sizes = file data is streamed, not held.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createCipheriv } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST } from '../src/archive/index.ts';
import { writeOciArchive } from '../src/build/index.ts';
import { chunkImage } from '../src/pipeline.ts';
import { HashingPassThrough, canonicalJson, formatBinaryBytes, makeTempDir, removeQuietly, sha256Hex } from '../src/util.ts';

const MiB = 1024 * 1024;

/** Deterministic bytes: half pseudo-random (AES-CTR keystream), half text, so gzip does real work. */
function fileContent(seed: number, size: number): Buffer {
  const key = createHash('sha256').update(`key${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const half = Math.floor(size / 2);
  const random = cipher.update(Buffer.alloc(half));
  const text = Buffer.from(`line ${seed} of some compressible text\n`.repeat(Math.ceil((size - half) / 32))).subarray(0, size - half);
  return Buffer.concat([random, text]);
}

/** Writes a one-layer gzip oci-archive with `totalMiB` of file data; the layer is never whole in memory. */
async function generateImage(dir: string, totalMiB: number): Promise<{ archive: string; layerBlob: string }> {
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const tmpLayer = join(dir, 'layer.tmp');
  const pack = tar.pack();
  const tarHash = new HashingPassThrough();
  const blobHash = new HashingPassThrough();
  const writing = pipeline(
    pack as unknown as NodeJS.ReadableStream,
    tarHash,
    createGzip({ level: 1 }),
    blobHash,
    createWriteStream(tmpLayer),
  );
  const add = (header: Parameters<typeof pack.entry>[0], body: Buffer) =>
    new Promise<void>((res, rej) => pack.entry(header, body, (e) => (e ? rej(e) : res())));
  const mtime = new Date(1_700_000_000_000);
  let written = 0;
  let i = 0;
  for (const d of ['usr/', 'usr/lib/', 'usr/share/', 'opt/'])
    await add({ name: d, type: 'directory', mode: 0o755, mtime }, Buffer.alloc(0));
  while (written < totalMiB * MiB) {
    // Mostly small files in a few hundred "packages" of directories, every 16th file a big one.
    const size = i % 16 === 15 ? 2 * MiB : 32 * 1024 + ((i * 7919) % (96 * 1024));
    const dirName = i % 16 === 15 ? 'opt' : `usr/lib/pkg${i % 200}`;
    if (i < 200 && i % 16 !== 15) await add({ name: `${dirName}/`, type: 'directory', mode: 0o755, mtime }, Buffer.alloc(0));
    await add({ name: `${dirName}/file${i}.bin`, type: 'file', mode: 0o644, mtime }, fileContent(i, size));
    written += size;
    i++;
  }
  pack.finalize();
  await writing;
  const layerDigest = `sha256:${blobHash.hash.digest('hex')}`;
  const layerBlob = join(blobs, layerDigest.slice(7));
  await (await import('node:fs/promises')).rename(tmpLayer, layerBlob);
  const put = async (s: string) => {
    await writeFile(join(blobs, sha256Hex(s)), s);
    return { digest: `sha256:${sha256Hex(s)}`, size: Buffer.byteLength(s) };
  };
  const config = canonicalJson({
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [`sha256:${tarHash.hash.digest('hex')}`] },
  });
  const manifest = canonicalJson({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: { mediaType: MEDIA_TYPE_CONFIG, ...(await put(config)) },
    layers: [{ mediaType: MEDIA_TYPE_LAYER_GZIP, digest: layerDigest, size: blobHash.bytes }],
  });
  await writeFile(
    join(layout, 'index.json'),
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_INDEX,
      manifests: [{ mediaType: MEDIA_TYPE_MANIFEST, ...(await put(manifest)) }],
    }),
  );
  await writeFile(join(layout, 'oci-layout'), canonicalJson({ imageLayoutVersion: '1.0.0' }));
  const archive = join(dir, 'input.tar');
  await writeOciArchive(layout, archive);
  return { archive, layerBlob };
}

function baselineSeconds(layerBlob: string): number {
  const start = process.hrtime.bigint();
  execFileSync('sh', ['-c', 'gzip -dc "$1" | sha256sum >/dev/null', 'sh', layerBlob]);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function child(input: string, output: string, compressed: boolean): Promise<void> {
  const start = process.hrtime.bigint();
  const result = await chunkImage(input, output, { maxLayers: 64, compressed, epoch: 0 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ seconds, maxRssKiB: process.resourceUsage().maxRSS, layers: result.layers.length }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3]!, process.argv[4]!, process.argv[5] === 'gzip');
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const rows: string[][] = [];
  for (const mib of sizes.length ? sizes : [16, 64, 256]) {
    const dir = await makeTempDir('oci-bench');
    try {
      process.stderr.write(`generating ${mib} MiB image...\n`);
      const { archive, layerBlob } = await generateImage(dir, mib);
      const base = baselineSeconds(layerBlob);
      const bytes = mib * MiB;
      for (const output of ['gzip', 'tar']) {
        // A fresh process per run: its peak RSS is this run's alone.
        const run = spawnSync(process.execPath, [import.meta.filename, '--child', archive, join(dir, 'out.tar'), output], {
          encoding: 'utf8',
        });
        if (run.status !== 0) throw new Error(`child failed: ${run.stderr}`);
        const r = JSON.parse(run.stdout) as { seconds: number; maxRssKiB: number; layers: number };
        rows.push([
          `${mib} MiB`,
          formatBinaryBytes((await stat(archive)).size),
          output,
          String(r.layers),
          `${(r.maxRssKiB / 1024).toFixed(0)} MiB`,
          `${r.seconds.toFixed(2)} s`,
          `${(bytes / MiB / r.seconds).toFixed(1)} MiB/s`,
          `${(bytes / MiB / base).toFixed(1)} MiB/s`,
          (base / r.seconds).toFixed(3),
        ]);
      }
    } finally {
      await removeQuietly(dir);
    }
  }
  const header = [
    'image data',
    'input archive',
    'output layers',
    'layers',
    'peak RSS',
    'chunk time',
    'throughput',
    'gzip -dc|sha256sum',
    'ratio',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padStart(widths[i]!)).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

await main();
