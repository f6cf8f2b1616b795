/**
 * Reading OCI images: an oci-archive (a tar of an OCI layout) or an OCI layout directory.
 * Archives are streamed once; every blob is hashed as it passes and either stored on disk or
 * discarded, never held whole in memory (only small JSON blobs are kept).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { HashingPassThrough, UserError, sha256Hex } from '../util.ts';

/**
 * Stop reading a tar whose entries failed: destroy the extractor, let the feeding pipeline settle, and
 * rethrow a user error as it is or any other failure as `<what> (<cause>)`.
 */
async function abandonExtract(extract: tar.Extract, reading: Promise<void>, error: unknown, what: string): Promise<never> {
  extract.destroy();
  await reading.catch(() => {});
  if (error instanceof UserError) throw error;
  throw new UserError(`${what} (${(error as Error).message})`);
}

export const MEDIA_TYPE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_TYPE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_TYPE_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

/** JSON documents (index, manifest, config) larger than this are refused: no real one comes close. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  created?: string;
  architecture?: string;
  os?: string;
  config?: Record<string, unknown>;
  rootfs?: { type: string; diff_ids: string[] };
  history?: Record<string, unknown>[];
  [key: string]: unknown;
}

/** An image whose index, manifest and config are parsed and verified. */
export interface OciImage {
  /** Where it came from (archive path or layout directory), for messages. */
  source: string;
  index: ImageIndex;
  manifestDigest: string;
  manifestSize: number;
  manifest: ImageManifest;
  config: ImageConfig;
  /** Directory holding `blobs/sha256/<hex>` for the layers, or undefined if they were not kept. */
  layoutDir: string | undefined;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function checkDigest(digest: unknown, where: string): string {
  if (typeof digest !== 'string' || !DIGEST_RE.test(digest)) {
    throw new UserError(`${where}: unsupported or malformed digest ${JSON.stringify(digest)}`);
  }
  return digest;
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  if (d === null || typeof d !== 'object') throw new UserError(`${where}: descriptor is not an object`);
  const desc = d as Descriptor;
  checkDigest(desc.digest, where);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new UserError(`${where}: descriptor ${desc.digest} has an invalid size ${JSON.stringify(desc.size)}`);
  }
  return desc;
}

function parseJson(bytes: Buffer, where: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new UserError(`${where}: invalid JSON (${(e as Error).message})`);
  }
}

/** Where blob bytes and small JSON documents are found once an archive or layout has been read. */
interface BlobStore {
  source: string;
  /** Verified size of each blob present. */
  sizes: Map<string, number>;
  /** Bytes of the small blobs (and index.json) kept in memory. */
  small: Map<string, Buffer>;
  layoutDir: string | undefined;
}

async function readJsonBlob(store: BlobStore, desc: Descriptor, what: string): Promise<unknown> {
  const where = `${store.source}: ${what}`;
  const size = store.sizes.get(desc.digest);
  if (size === undefined) throw new UserError(`${where}: blob ${desc.digest} is missing`);
  if (size !== desc.size) {
    throw new UserError(`${where}: blob ${desc.digest} is ${size} bytes but its descriptor says ${desc.size}`);
  }
  if (size > MAX_JSON_BYTES) throw new UserError(`${where}: ${size} bytes is too large for a JSON document`);
  let bytes = store.small.get(desc.digest);
  if (!bytes) {
    if (!store.layoutDir) throw new UserError(`${where}: blob ${desc.digest} was not kept`);
    bytes = await readFile(blobPath(store.layoutDir, desc.digest));
    if (`sha256:${sha256Hex(bytes)}` !== desc.digest) {
      throw new UserError(`${where}: blob ${desc.digest} does not match its digest`);
    }
  }
  return parseJson(bytes, where);
}

export function blobPath(layoutDir: string, digest: string): string {
  return join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

async function imageFromStore(store: BlobStore, indexBytes: Buffer | undefined): Promise<OciImage> {
  if (!indexBytes) throw new UserError(`${store.source}: no index.json (not an OCI image?)`);
  const index = parseJson(indexBytes, `${store.source}: index.json`) as ImageIndex;
  if (!index || !Array.isArray(index.manifests) || index.manifests.length === 0) {
    throw new UserError(`${store.source}: index.json lists no manifests`);
  }
  let desc = checkDescriptor(index.manifests[0], `${store.source}: index.json`);
  let doc = (await readJsonBlob(store, desc, 'manifest')) as ImageManifest | ImageIndex;
  // A nested image index (multi-platform): follow its first manifest.
  if ((doc as ImageIndex).manifests) {
    const nested = (doc as ImageIndex).manifests[0];
    desc = checkDescriptor(nested, `${store.source}: nested index`);
    doc = (await readJsonBlob(store, desc, 'manifest')) as ImageManifest;
  }
  const manifest = doc as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new UserError(`${store.source}: manifest ${desc.digest} has no config or layers`);
  }
  const configDesc = checkDescriptor(manifest.config, `${store.source}: manifest config`);
  manifest.layers.forEach((l, i) => checkDescriptor(l, `${store.source}: layer ${i}`));
  const config = (await readJsonBlob(store, configDesc, 'config')) as ImageConfig;
  for (const layer of manifest.layers) {
    const size = store.sizes.get(layer.digest);
    if (size === undefined) throw new UserError(`${store.source}: layer blob ${layer.digest} is missing`);
    if (size !== layer.size) {
      throw new UserError(`${store.source}: layer ${layer.digest} is ${size} bytes but its descriptor says ${layer.size}`);
    }
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new UserError(`${store.source}: config lists ${diffIds?.length ?? 0} diff_ids for ${manifest.layers.length} layers`);
  }
  diffIds.forEach((d) => checkDigest(d, `${store.source}: config diff_id`));
  return {
    source: store.source,
    index,
    manifestDigest: desc.digest,
    manifestSize: desc.size,
    manifest,
    config,
    layoutDir: store.layoutDir,
  };
}

/**
 * Reads an oci-archive in one streaming pass. Each `blobs/sha256/<hex>` entry is hashed while it
 * passes and must match its name. With `layoutDir`, blobs are written there (an OCI layout); without
 * it, only small blobs are kept in memory (enough for inspect/reuse).
 */
export async function readOciArchive(archivePath: string, layoutDir?: string): Promise<OciImage> {
  const source = archivePath;
  let archiveSize: number;
  try {
    const st = await stat(archivePath);
    if (!st.isFile()) throw new UserError(`${archivePath}: not a file`);
    archiveSize = st.size;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${archivePath}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const store: BlobStore = { source, sizes: new Map(), small: new Map(), layoutDir };
  let indexBytes: Buffer | undefined;
  if (layoutDir) await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });

  const extract = tar.extract();
  const reading = pipeline(createReadStream(archivePath), extract as unknown as Writable);
  // Its failure is reported through the loop below; never let it count as an unhandled rejection
  // while the loop is awaiting something else.
  reading.catch(() => {});
  try {
    for await (const entry of extract) {
      const { name, type, size } = entry.header;
      const clean = name.replace(/^\.\//, '').replace(/\/$/, '');
      if (type === 'directory' || clean === '') {
        entry.resume();
        continue;
      }
      if (size > archiveSize) {
        // A header may claim any size; refusing early gives a clear message instead of "unexpected end".
        throw new UserError(
          `${source}: corrupt or truncated archive: entry "${name}" declares ${size} bytes but the archive has only ${archiveSize}`,
        );
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        throw new UserError(`${source}: unexpected ${type} entry "${name}" in an oci-archive`);
      }
      if (clean === 'index.json' || clean === 'oci-layout') {
        if (size > MAX_JSON_BYTES) throw new UserError(`${source}: ${clean} is too large (${size} bytes)`);
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        const bytes = Buffer.concat(chunks);
        if (clean === 'index.json') indexBytes = bytes;
        if (layoutDir) await writeFile(join(layoutDir, clean), bytes);
        continue;
      }
      const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(clean);
      if (!m) throw new UserError(`${source}: unexpected entry "${name}" in an oci-archive`);
      const digest = `sha256:${m[1]}`;
      const hasher = new HashingPassThrough();
      // Without a layout on disk, small blobs (any of them may be the manifest or config) stay in memory.
      const keep = !layoutDir && size <= MAX_JSON_BYTES;
      const chunks: Buffer[] = [];
      hasher.on('data', (c: Buffer) => {
        if (keep) chunks.push(c);
      });
      const sink = layoutDir ? createWriteStream(blobPath(layoutDir, digest)) : new PassThrough().resume();
      await pipeline(entry as unknown as NodeJS.ReadableStream, hasher, sink);
      const actual = hasher.hash.digest('hex');
      if (actual !== m[1]) {
        throw new UserError(`${source}: blob ${digest} does not match its digest (content hashes to sha256:${actual})`);
      }
      store.sizes.set(digest, hasher.bytes);
      if (keep) store.small.set(digest, Buffer.concat(chunks));
    }
    await reading;
  } catch (e) {
    return abandonExtract(extract, reading, e, `${source}: corrupt or truncated archive`);
  }
  return imageFromStore(store, indexBytes);
}

/** Reads an OCI layout directory (the `oci:` transport of skopeo). Layers are verified when streamed. */
export async function readOciLayout(dir: string): Promise<OciImage> {
  const store: BlobStore = { source: dir, sizes: new Map(), small: new Map(), layoutDir: dir };
  let indexBytes: Buffer;
  try {
    indexBytes = await readFile(join(dir, 'index.json'));
  } catch {
    throw new UserError(`${dir}: no index.json (not an OCI layout)`);
  }
  // Sizes come from the filesystem; digests of JSON blobs are checked on read, layer digests on stream.
  const sizes = store.sizes;
  const index = parseJson(indexBytes, `${dir}: index.json`) as ImageIndex;
  const collect = async (digest: string) => {
    try {
      sizes.set(digest, (await stat(blobPath(dir, digest))).size);
    } catch {
      /* missing: reported by imageFromStore */
    }
  };
  for (const m of index.manifests ?? []) if (DIGEST_RE.test(m.digest)) await collect(m.digest);
  // Manifest referenced blobs: read the manifest once to learn them.
  for (const m of index.manifests ?? []) {
    if (!sizes.has(m.digest)) continue;
    const doc = parseJson(await readFile(blobPath(dir, m.digest)), `${dir}: manifest`) as Partial<ImageManifest> & Partial<ImageIndex>;
    for (const d of [doc.config, ...(doc.layers ?? []), ...(doc.manifests ?? [])]) {
      if (d && typeof d.digest === 'string' && DIGEST_RE.test(d.digest)) await collect(d.digest);
    }
  }
  return imageFromStore(store, indexBytes);
}

/** Header fields plus the entry's content stream, as handed to a layer visitor. */
export type LayerEntryVisitor = (header: tar.Header, body: NodeJS.ReadableStream) => Promise<void>;

/** Reads the first bytes of a file to tell gzip and zstd from plain tar, whatever the media type says. */
async function sniffCompression(path: string): Promise<'gzip' | 'zstd' | 'none'> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && buf.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

export function decompressorFor(kind: 'gzip' | 'zstd' | 'none'): NodeJS.ReadWriteStream {
  if (kind === 'gzip') return zlib.createGunzip();
  if (kind === 'zstd') {
    const z = zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream };
    if (!z.createZstdDecompress) throw new UserError('this Node.js has no zstd support; cannot read a zstd layer');
    return z.createZstdDecompress();
  }
  return new PassThrough();
}

/**
 * Streams the entries of layer `i` of an image to `visit`, in order. The compressed blob is checked
 * against its digest and the uncompressed tar against the config's diff_id, both while streaming.
 */
export async function forEachLayerEntry(image: OciImage, i: number, visit: LayerEntryVisitor): Promise<void> {
  const layer = image.manifest.layers[i];
  const diffId = image.config.rootfs?.diff_ids[i];
  if (!layer || !diffId || !image.layoutDir) throw new Error(`layer ${i} is not available`);
  const path = blobPath(image.layoutDir, layer.digest);
  const where = `${image.source}: layer ${i} (${layer.digest.slice(7, 19)})`;
  const blobHash = new HashingPassThrough();
  const tarHash = new HashingPassThrough();
  const extract = tar.extract();
  let reading: Promise<void>;
  try {
    reading = pipeline(
      createReadStream(path),
      blobHash,
      decompressorFor(await sniffCompression(path)),
      tarHash,
      extract as unknown as Writable,
    );
    reading.catch(() => {});
  } catch (e) {
    throw new UserError(`${where}: ${(e as Error).message}`);
  }
  try {
    for await (const entry of extract) {
      await visit(entry.header, entry as unknown as NodeJS.ReadableStream);
    }
    await reading;
  } catch (e) {
    await abandonExtract(extract, reading, e, `${where}: corrupt or truncated layer`);
  }
  const blobDigest = `sha256:${blobHash.hash.digest('hex')}`;
  if (blobDigest !== layer.digest) throw new UserError(`${where}: blob does not match its digest (got ${blobDigest})`);
  const tarDigest = `sha256:${tarHash.hash.digest('hex')}`;
  if (tarDigest !== diffId) throw new UserError(`${where}: uncompressed content does not match diff_id ${diffId}`);
}

/** Opens an oci-archive file or an OCI layout directory, keeping blobs in `workDir` for archives. */
export async function openImage(input: string, workDir: string): Promise<OciImage> {
  const st = await stat(input).catch(() => undefined);
  if (!st) throw new UserError(`${input}: no such file or directory`);
  if (st.isDirectory()) return readOciLayout(input);
  const layout = join(workDir, 'layout');
  return readOciArchive(input, layout);
}
