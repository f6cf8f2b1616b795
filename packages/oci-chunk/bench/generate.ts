/**
 * Generated one-layer gzip oci-archives for the benchmarks: Debian-like (a dpkg database whose
 * packages own the files, with changelogs), entries in walk order as image builders write them,
 * file contents half pseudo-random and half text so that gzip does real work. Written as a stream:
 * nothing is held in memory whatever the size.
 *
 * Two shapes: by size (files of 32-128 KiB, every 16th a 2 MiB file in /opt, which becomes a
 * `bigfiles/` component) and by count (files of 256 B - 1.8 KiB, 100 per package directory).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import { MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST } from '../src/archive/index.ts';
import { writeOciArchive } from '../src/build/index.ts';
import { END_OF_TAR, encodeHeader, padding, type EntryHeader } from '../src/build/tar-format.ts';
import { HashingPassThrough, canonicalJson, sha256Hex } from '../src/util.ts';

const MiB = 1024 * 1024;
const MTIME = 1_700_000_000;

export type ImageShape = { kind: 'size'; dataBytes: number } | { kind: 'count'; files: number };

interface FileSpec {
  name: string;
  size: number;
  seed: number;
}

/** Deterministic bytes: half pseudo-random (AES-CTR keystream), half text. */
function fileContent(seed: number, size: number): Buffer {
  const half = Math.floor(size / 2);
  const key = createHash('sha256').update(`key${seed}`).digest();
  const random = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(half));
  const line = `line ${seed} of some compressible text\n`;
  const text = Buffer.from(line.repeat(Math.ceil((size - half) / line.length))).subarray(0, size - half);
  return Buffer.concat([random, text]);
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** The packages and their files, in walk order within each package. */
function layout(shape: ImageShape): { packages: number; big: FileSpec[]; files: (p: number) => FileSpec[] } {
  if (shape.kind === 'count') {
    const packages = Math.max(1, Math.ceil(shape.files / 100));
    return {
      packages,
      big: [],
      files: (p) => {
        const out: FileSpec[] = [];
        for (let i = p * 100; i < Math.min(shape.files, (p + 1) * 100); i++) {
          out.push({ name: `usr/lib/pkg${pad(p, 5)}/file${pad(i, 7)}`, size: 256 + ((i * 7919) % 1536), seed: i });
        }
        return out;
      },
    };
  }
  // By size: file i has a fixed size; every 16th is big. Count files until the total is reached.
  const sizeOf = (i: number) => (i % 16 === 15 ? 2 * MiB : 32 * 1024 + ((i * 7919) % (96 * 1024)));
  let n = 0;
  for (let total = 0; total < shape.dataBytes; n++) total += sizeOf(n);
  const packages = 200;
  const big: FileSpec[] = [];
  for (let i = 15; i < n; i += 16) big.push({ name: `opt/big${pad(i, 7)}.bin`, size: sizeOf(i), seed: i });
  return {
    packages,
    big,
    files: (p) => {
      const out: FileSpec[] = [];
      for (let i = p; i < n; i += packages)
        if (i % 16 !== 15) out.push({ name: `usr/lib/pkg${pad(p, 5)}/file${pad(i, 7)}.bin`, size: sizeOf(i), seed: i });
      return out;
    },
  };
}

/** A Debian changelog with a few uploads, gzipped. */
function changelog(p: number): Buffer {
  const entries: string[] = [];
  for (let k = 0; k < 4; k++) {
    const date = new Date((MTIME - (p * 3 + k * 41) * 86_400) * 1000).toUTCString().replace('GMT', '+0000');
    entries.push(`pkg${pad(p, 5)} (1.${k}) unstable; urgency=medium\n\n  * Change ${k}.\n\n -- Maintainer <m@example.org>  ${date}\n`);
  }
  return gzipSync(entries.join('\n'), { level: 9 });
}

/**
 * Writes the image as an oci-archive at `archive`; returns the layer blob's path (kept beside it,
 * for `gzip -dc`) and the counts.
 */
export async function generateImage(
  shape: ImageShape,
  dir: string,
): Promise<{ archive: string; layerBlob: string; files: number; dataBytes: number }> {
  const plan = layout(shape);
  const layoutDir = join(dir, 'layout');
  const blobs = join(layoutDir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const tmpLayer = join(dir, 'layer.tmp');
  const tar = new PassThrough({ highWaterMark: MiB });
  const tarHash = new HashingPassThrough();
  const blobHash = new HashingPassThrough();
  const writing = pipeline(tar, tarHash, createGzip({ level: 1 }), blobHash, createWriteStream(tmpLayer));
  const put = async (data: Buffer) => {
    if (!tar.write(data)) await new Promise((resolve) => tar.once('drain', resolve));
  };
  let files = 0;
  let dataBytes = 0;
  const add = async (h: Partial<EntryHeader> & Pick<EntryHeader, 'name' | 'type'>, body?: Buffer) => {
    await put(encodeHeader({ mode: h.type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, size: body?.length ?? 0, mtime: MTIME, ...h }));
    if (body && body.length > 0) {
      await put(body);
      if (padding(body.length)) await put(Buffer.alloc(padding(body.length)));
      files++;
      dataBytes += body.length;
    }
  };
  const dirs = async (...names: string[]) => {
    for (const name of names) await add({ name, type: 'directory' });
  };
  const lists: string[][] = [];
  if (plan.big.length > 0) {
    await dirs('opt/');
    for (const f of plan.big) await add({ name: f.name, type: 'file' }, fileContent(f.seed, f.size));
  }
  await dirs('usr/', 'usr/lib/');
  for (let p = 0; p < plan.packages; p++) {
    const dirName = `usr/lib/pkg${pad(p, 5)}`;
    await add({ name: `${dirName}/`, type: 'directory' });
    const list = [`/${dirName}`];
    for (const f of plan.files(p)) {
      await add({ name: f.name, type: 'file' }, fileContent(f.seed, f.size));
      list.push(`/${f.name}`);
    }
    lists.push(list);
  }
  await dirs('usr/share/', 'usr/share/doc/');
  for (let p = 0; p < plan.packages; p++) {
    const doc = `usr/share/doc/pkg${pad(p, 5)}`;
    await add({ name: `${doc}/`, type: 'directory' });
    await add({ name: `${doc}/changelog.Debian.gz`, type: 'file' }, changelog(p));
    lists[p]?.push(`/${doc}`, `/${doc}/changelog.Debian.gz`);
  }
  await dirs('var/', 'var/lib/', 'var/lib/dpkg/', 'var/lib/dpkg/info/');
  for (let p = 0; p < plan.packages; p++) {
    await add(
      { name: `var/lib/dpkg/info/pkg${pad(p, 5)}.list`, type: 'file' },
      Buffer.from(`/.\n/usr\n/usr/lib\n${(lists[p] ?? []).join('\n')}\n`),
    );
  }
  const status = Array.from(
    { length: plan.packages },
    (_, p) =>
      `Package: pkg${pad(p, 5)}\nStatus: install ok installed\nSource: src${pad(Math.floor(p / 2), 5)}\nVersion: 1.3\nArchitecture: amd64\n`,
  ).join('\n');
  await add({ name: 'var/lib/dpkg/status', type: 'file' }, Buffer.from(status));
  await put(END_OF_TAR);
  tar.end();
  await writing;

  const layerDigest = `sha256:${blobHash.hash.digest('hex')}`;
  const layerBlob = join(blobs, layerDigest.slice(7));
  await rename(tmpLayer, layerBlob);
  const putBlob = async (s: string) => {
    await writeFile(join(blobs, sha256Hex(s)), s);
    return { digest: `sha256:${sha256Hex(s)}`, size: Buffer.byteLength(s) };
  };
  const config = canonicalJson({
    architecture: 'amd64',
    os: 'linux',
    created: new Date(MTIME * 1000).toISOString(),
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${tarHash.hash.digest('hex')}`] },
  });
  const manifest = canonicalJson({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: { mediaType: MEDIA_TYPE_CONFIG, ...(await putBlob(config)) },
    layers: [{ mediaType: MEDIA_TYPE_LAYER_GZIP, digest: layerDigest, size: blobHash.bytes }],
  });
  await writeFile(
    join(layoutDir, 'index.json'),
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_INDEX,
      manifests: [
        { mediaType: MEDIA_TYPE_MANIFEST, ...(await putBlob(manifest)), annotations: { 'org.opencontainers.image.ref.name': 'bench' } },
      ],
    }),
  );
  await writeFile(join(layoutDir, 'oci-layout'), canonicalJson({ imageLayoutVersion: '1.0.0' }));
  const archive = join(dir, 'input.tar');
  await writeOciArchive(layoutDir, archive);
  return { archive, layerBlob, files, dataBytes };
}
