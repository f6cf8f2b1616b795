/**
 * Writing small OCI images from an in-memory description, deterministically (fixed mtimes, gzip
 * with no timestamp, canonical JSON). Used by scripts/make-fixtures.ts and by the tests that need
 * hand-made (including hostile) images.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import {
  MEDIA_TYPE_CONFIG,
  MEDIA_TYPE_INDEX,
  MEDIA_TYPE_LAYER,
  MEDIA_TYPE_LAYER_GZIP,
  MEDIA_TYPE_LAYER_ZSTD,
  MEDIA_TYPE_MANIFEST,
} from '../src/archive/index.ts';
import { writeOciArchive } from '../src/build/index.ts';
import { canonicalJson, makeTempDir, removeQuietly, sha256Hex } from '../src/util.ts';

export interface EntrySpec {
  /** Name as written in the tar (no leading `/`); hostile tests may pass anything. */
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  content?: string | Buffer;
  /** Symlink target or hardlink target name. */
  linkname?: string;
  /** Extended attributes as text values. */
  xattrs?: Record<string, string>;
}

export const FIXTURE_MTIME = 1_700_000_000;

/** A layer tar in memory (fixtures are small). */
export async function layerTar(entries: EntrySpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const content = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    const pax = e.xattrs ? Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v])) : undefined;
    const header = {
      name: e.name,
      type: e.type,
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date((e.mtime ?? FIXTURE_MTIME) * 1000),
      linkname: e.linkname,
      size: e.type === 'file' ? content.length : 0,
      pax,
    };
    await new Promise<void>((resolve, reject) =>
      pack.entry(header, e.type === 'file' ? content : Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export interface ImageSpec {
  layers: EntrySpec[][];
  gzip?: boolean;
  /** zstd layers (Node >= 22.15 / 23.8); takes precedence over gzip. */
  zstd?: boolean;
  created?: string;
  config?: Record<string, unknown>;
  architecture?: string;
}

/** Writes an OCI layout directory for `spec` and returns its path (inside `parent`). */
export async function writeLayout(spec: ImageSpec, dir: string): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Buffer | string) => {
    const hex = sha256Hex(bytes);
    await writeFile(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(bytes) };
  };
  const layers = [];
  const diffIds = [];
  for (const entries of spec.layers) {
    const raw = await layerTar(entries);
    diffIds.push(`sha256:${sha256Hex(raw)}`);
    const zstdSync = (zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer }).zstdCompressSync;
    if (spec.zstd && !zstdSync) throw new Error('this Node.js has no zstd');
    const blob = spec.zstd ? zstdSync!(raw) : spec.gzip ? zlib.gzipSync(raw, { level: 9 }) : raw;
    const mediaType = spec.zstd ? MEDIA_TYPE_LAYER_ZSTD : spec.gzip ? MEDIA_TYPE_LAYER_GZIP : MEDIA_TYPE_LAYER;
    layers.push({ mediaType, ...(await put(blob)) });
  }
  const config = {
    created: spec.created ?? '2024-01-01T00:00:00Z',
    architecture: spec.architecture ?? 'amd64',
    os: 'linux',
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: spec.layers.map(() => ({ created: spec.created ?? '2024-01-01T00:00:00Z', created_by: 'fixture' })),
  };
  const configDesc = { mediaType: MEDIA_TYPE_CONFIG, ...(await put(canonicalJson(config))) };
  const manifest = { schemaVersion: 2, mediaType: MEDIA_TYPE_MANIFEST, config: configDesc, layers };
  const manifestDesc = { mediaType: MEDIA_TYPE_MANIFEST, ...(await put(canonicalJson(manifest))) };
  await writeFile(join(dir, 'index.json'), canonicalJson({ schemaVersion: 2, mediaType: MEDIA_TYPE_INDEX, manifests: [manifestDesc] }));
  await writeFile(join(dir, 'oci-layout'), canonicalJson({ imageLayoutVersion: '1.0.0' }));
}

/** Writes `spec` as an oci-archive at `output`. */
export async function writeImageArchive(spec: ImageSpec, output: string): Promise<void> {
  const dir = await makeTempDir('fixture-layout');
  try {
    await writeLayout(spec, dir);
    await writeOciArchive(dir, output);
  } finally {
    await removeQuietly(dir);
  }
}
