/**
 * Reading OCI images: an oci-archive (a tar of an OCI layout) or an OCI layout directory.
 * Archives are streamed once; every blob is hashed as it passes and either stored on disk or
 * discarded, never held in memory (JSON documents are read back from disk, bounded in size and
 * nesting). Inputs are opened only as regular files and never read past the size they had when
 * opened, so a FIFO, a device or a growing file cannot stall or flood the reader.
 */
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { MAX_ARCHIVE_ENTRIES, MAX_IMAGE_LAYERS, MAX_JSON_BYTES, MAX_JSON_DEPTH } from '../limits.ts';
import {
  HashingPassThrough,
  InputFileError,
  UserError,
  escapeControl,
  fsProblem,
  isFsError,
  makeTempDir,
  openRegularFile,
  quote,
  releaseArrayBuffer,
  releaseBuffer,
  type InputFile,
  removeQuietly,
  sha256Hex,
} from '../util.ts';
import { forEachTarEntry, readTarEntries, type FileRange, type TarEntry, type TarHeader } from './tar-reader.ts';

export { MAX_JSON_BYTES } from '../limits.ts';
export type { TarEntry, TarHeader } from './tar-reader.ts';

export const MEDIA_TYPE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_TYPE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_TYPE_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

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
  /** An oci-archive read in place (see indexOciArchive): digest -> where its bytes start in `source`. */
  archiveOffsets?: Map<string, number>;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function checkDigest(digest: unknown, where: string): string {
  if (typeof digest !== 'string' || !DIGEST_RE.test(digest)) {
    throw new UserError(`${where}: unsupported or malformed digest ${quote(String(JSON.stringify(digest)), 100)}`);
  }
  return digest;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function checkStringMap(value: unknown, where: string, what: string): void {
  if (value === undefined) return;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new UserError(`${where}: ${what} must be an object of strings`);
  }
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  if (!isObject(d)) throw new UserError(`${where}: descriptor is not an object`);
  const desc = d as unknown as Descriptor;
  checkDigest(desc.digest, where);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new UserError(`${where}: descriptor ${desc.digest} has an invalid size ${quote(String(JSON.stringify(desc.size)), 60)}`);
  }
  if (desc.mediaType !== undefined && typeof desc.mediaType !== 'string')
    throw new UserError(`${where}: descriptor mediaType is not a string`);
  checkStringMap(desc.annotations, where, 'descriptor annotations');
  return desc;
}

/**
 * How deeply `text` nests arrays and objects, found by one pass that skips strings. Checked before
 * JSON.parse so that nothing recursive (canonical JSON, structured clone, printing) ever meets a
 * document deeper than MAX_JSON_DEPTH.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

export function parseJson(bytes: Buffer, where: string): unknown {
  if (bytes.length > MAX_JSON_BYTES)
    throw new UserError(`${where}: ${bytes.length} bytes is too large for a JSON document (at most ${MAX_JSON_BYTES})`);
  const text = bytes.toString('utf8');
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new UserError(`${where}: JSON nested ${depth} levels deep (at most ${MAX_JSON_DEPTH})`);
  try {
    return JSON.parse(text);
  } catch (e) {
    // V8's message quotes the offending text: escape it like any other input.
    throw new UserError(`${where}: invalid JSON (${escapeControl((e as Error).message)})`);
  }
}

/** Where blob bytes can be read once an archive or layout has been read. */
interface BlobStore {
  source: string;
  /** Verified size of each blob present (archives) or its size on disk (layouts). */
  sizes: Map<string, number>;
  /** Directory with `blobs/sha256/<hex>` files: the layout, or a scratch copy of small blobs. */
  blobDir: string | undefined;
  /** Small blobs kept in memory (inspect), within MEMORY_BUDGET in all. */
  memory: Map<string, Buffer>;
  /** Without a layout: the blobs written to blobDir. Undefined: every blob is there. */
  spilled: Set<string> | undefined;
  /** An archive read in place: digest -> offset of the blob's bytes in the archive `source`. */
  offsets?: Map<string, number>;
}

/** Bytes of JSON-looking blobs inspect keeps in memory before it spills them to a scratch directory. */
const MEMORY_BUDGET = 2 * MAX_JSON_BYTES;

/** Reads at most `size` bytes of an input file opened as a regular file; shorter means it changed. */
async function readRegularFile(path: string, maxBytes: number, what: string): Promise<Buffer> {
  const file = await openRegularFile(path, what);
  const size = file.size;
  try {
    if (size > maxBytes) throw new UserError(`${path}: ${what} is ${size} bytes, more than the ${maxBytes} allowed`);
    const buffer = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const bytesRead = await file.read(buffer, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buffer.subarray(0, got);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: cannot read ${what}: ${fsProblem(e)}`);
  } finally {
    file.close();
  }
}

async function readJsonBlob(store: BlobStore, desc: Descriptor, what: string): Promise<unknown> {
  const where = `${store.source}: ${what}`;
  const size = store.sizes.get(desc.digest);
  if (size === undefined) throw new UserError(`${where}: blob ${desc.digest} is missing`);
  if (size !== desc.size) {
    throw new UserError(`${where}: blob ${desc.digest} is ${size} bytes but its descriptor says ${desc.size}`);
  }
  if (size > MAX_JSON_BYTES) throw new UserError(`${where}: ${size} bytes is too large for a JSON document (at most ${MAX_JSON_BYTES})`);
  const offset = store.offsets?.get(desc.digest);
  const kept = offset === undefined ? store.memory.get(desc.digest) : await readArchiveRange(store.source, offset, size);
  const onDisk = store.blobDir !== undefined && (store.spilled === undefined || store.spilled.has(desc.digest));
  if (!kept && !onDisk) throw new UserError(`${where}: blob ${desc.digest} is not a JSON document (it does not start with "{")`);
  const bytes = kept ?? (await readRegularFile(blobPath(store.blobDir as string, desc.digest), MAX_JSON_BYTES, 'blob'));
  if (`sha256:${sha256Hex(bytes)}` !== desc.digest) {
    throw new UserError(`${where}: blob ${desc.digest} does not match its digest`);
  }
  return parseJson(bytes, where);
}

/** `size` bytes at `offset` of an archive (a small blob read in place); shorter means the archive changed. */
async function readArchiveRange(archive: string, offset: number, size: number): Promise<Buffer> {
  const file = await openRegularFile(archive, 'archive');
  try {
    const buffer = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = await file.read(buffer, got, size - got, offset + got);
      if (n === 0) throw new UserError(`${archive}: corrupt or truncated archive (it shrank while being read)`);
      got += n;
    }
    return buffer;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${archive}: cannot read archive: ${fsProblem(e)}`);
  } finally {
    file.close();
  }
}

export function blobPath(layoutDir: string, digest: string): string {
  return join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** The user-facing config fields copied into outputs, with the types the OCI image spec gives them. */
const CONFIG_FIELD_TYPES: Readonly<Record<string, 'string' | 'strings' | 'set' | 'map'>> = {
  User: 'string',
  WorkingDir: 'string',
  StopSignal: 'string',
  Entrypoint: 'strings',
  Cmd: 'strings',
  Env: 'strings',
  ExposedPorts: 'set',
  Volumes: 'set',
  Labels: 'map',
};

function checkConfig(config: unknown, where: string): ImageConfig {
  if (!isObject(config)) throw new UserError(`${where}: config is not a JSON object`);
  for (const key of ['created', 'architecture', 'os', 'variant']) {
    if (config[key] !== undefined && typeof config[key] !== 'string') throw new UserError(`${where}: config ${key} is not a string`);
  }
  const user = config['config'];
  if (user !== undefined && user !== null) {
    if (!isObject(user)) throw new UserError(`${where}: config "config" is not an object`);
    for (const [key, kind] of Object.entries(CONFIG_FIELD_TYPES)) {
      const v = user[key];
      if (v === undefined || v === null) continue;
      const ok =
        kind === 'string'
          ? typeof v === 'string'
          : kind === 'strings'
            ? Array.isArray(v) && v.every((s) => typeof s === 'string')
            : kind === 'map'
              ? isObject(v) && Object.values(v).every((s) => typeof s === 'string')
              : isObject(v) && Object.values(v).every((s) => isObject(s));
      if (!ok) {
        const expected = { string: 'a string', strings: 'an array of strings', map: 'an object of strings', set: 'an object of objects' }[
          kind
        ];
        throw new UserError(`${where}: config ${key} must be ${expected}`);
      }
    }
  }
  const rootfs = config['rootfs'];
  if (rootfs !== undefined && !isObject(rootfs)) throw new UserError(`${where}: config rootfs is not an object`);
  return config;
}

async function imageFromStore(store: BlobStore, indexBytes: Buffer | undefined, layoutDir: string | undefined): Promise<OciImage> {
  if (!indexBytes) throw new UserError(`${store.source}: no index.json (not an OCI image?)`);
  const index = parseJson(indexBytes, `${store.source}: index.json`) as ImageIndex;
  if (!isObject(index) || !Array.isArray(index.manifests) || index.manifests.length === 0) {
    throw new UserError(`${store.source}: index.json lists no manifests`);
  }
  let desc = checkDescriptor(index.manifests[0], `${store.source}: index.json`);
  let doc = (await readJsonBlob(store, desc, 'manifest')) as ImageManifest | ImageIndex;
  if (!isObject(doc)) throw new UserError(`${store.source}: manifest ${desc.digest} is not a JSON object`);
  // A nested image index (multi-platform): follow its first manifest.
  if ((doc as ImageIndex).manifests !== undefined) {
    const nested = (doc as ImageIndex).manifests;
    if (!Array.isArray(nested) || nested.length === 0)
      throw new UserError(`${store.source}: nested index ${desc.digest} lists no manifests`);
    desc = checkDescriptor(nested[0], `${store.source}: nested index`);
    doc = (await readJsonBlob(store, desc, 'manifest')) as ImageManifest;
    if (!isObject(doc)) throw new UserError(`${store.source}: manifest ${desc.digest} is not a JSON object`);
  }
  const manifest = doc as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new UserError(`${store.source}: manifest ${desc.digest} has no config or layers`);
  }
  if (manifest.layers.length > MAX_IMAGE_LAYERS) {
    throw new UserError(`${store.source}: manifest lists ${manifest.layers.length} layers (at most ${MAX_IMAGE_LAYERS})`);
  }
  checkStringMap(manifest.annotations, `${store.source}: manifest`, 'annotations');
  const configDesc = checkDescriptor(manifest.config, `${store.source}: manifest config`);
  manifest.layers.forEach((l, i) => checkDescriptor(l, `${store.source}: layer ${i}`));
  const config = checkConfig(await readJsonBlob(store, configDesc, 'config'), `${store.source}: config`);
  for (const layer of manifest.layers) {
    const size = store.sizes.get(layer.digest);
    if (size === undefined) throw new UserError(`${store.source}: layer blob ${layer.digest} is missing`);
    if (size !== layer.size) {
      throw new UserError(`${store.source}: layer ${layer.digest} is ${size} bytes but its descriptor says ${layer.size}`);
    }
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    const count = Array.isArray(diffIds) ? diffIds.length : 0;
    throw new UserError(`${store.source}: config lists ${count} diff_ids for ${manifest.layers.length} layers`);
  }
  diffIds.forEach((d) => checkDigest(d, `${store.source}: config diff_id`));
  return {
    source: store.source,
    index,
    manifestDigest: desc.digest,
    manifestSize: desc.size,
    manifest,
    config,
    layoutDir,
    archiveOffsets: store.offsets,
  };
}

/**
 * Reads an oci-archive in one streaming pass. Each `blobs/sha256/<hex>` entry is hashed while it
 * passes and must match its name. With `layoutDir`, blobs are written there (an OCI layout); without
 * it (inspect, reuse), only blobs that could be a JSON document are kept: up to MEMORY_BUDGET bytes
 * in memory, the rest in a scratch directory removed before returning. Memory stays flat whatever
 * the archive holds.
 */
export async function readOciArchive(archivePath: string, layoutDir?: string): Promise<OciImage> {
  const source = archivePath;
  const file = await openRegularFile(archivePath, 'archive');
  const archiveSize = file.size;
  let scratch: string | undefined;
  try {
    const store: BlobStore = {
      source,
      sizes: new Map(),
      blobDir: layoutDir,
      memory: new Map(),
      spilled: layoutDir ? undefined : new Set(),
    };
    let memoryLeft = MEMORY_BUDGET;
    /** The directory blobs are written to, created on first use (inspect rarely needs one). */
    const blobDirNow = async (): Promise<string> => {
      if (store.blobDir === undefined) store.blobDir = scratch = await makeTempDir('oci-read');
      if (!madeBlobDir) {
        const dir = store.blobDir;
        await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true }).catch((e: unknown) => {
          throw (writeFailure = new UserError(`${dir}: cannot create scratch directory: ${fsProblem(e)}`));
        });
        madeBlobDir = true;
      }
      return store.blobDir;
    };
    let madeBlobDir = false;
    let indexBytes: Buffer | undefined;
    const seen = new Set<string>();
    const where = `${source}: corrupt or truncated archive`;
    /** Set when writing a scratch file failed: that is the disk's fault, not the archive's. */
    let writeFailure: UserError | undefined;

    // Read through one reused buffer (RangeSource): a piece is valid until the next read, so what is
    // kept is copied and what is dropped is only hashed. Streamed chunks, each a fresh buffer, waited
    // for a GC: inspect of 512 MiB of dropped blobs peaked at 143-147 MiB RSS, now 130-131.
    const consume = async (): Promise<void> => {
      for await (const entry of readTarEntries({ file, start: 0, length: archiveSize }, where)) {
        const kind = classifyArchiveEntry(entry.header, seen, source, archiveSize);
        if (kind === null) continue;
        const size = entry.header.size;
        if (kind.json) {
          const clean = kind.json;
          const chunksOf: Buffer[] = [];
          for await (const c of entry.body) chunksOf.push(Buffer.from(c));
          const bytes = Buffer.concat(chunksOf);
          if (clean === 'index.json') indexBytes = bytes;
          if (layoutDir) {
            await blobDirNow();
            await writeFile(join(layoutDir, clean), bytes).catch((e: unknown) => {
              throw (writeFailure = new UserError(`${join(layoutDir, clean)}: cannot write scratch file: ${fsProblem(e)}`));
            });
          }
          continue;
        }
        await storeBlob(entry, kind.digest, size);
      }
    };

    const verifyBlob = (digest: string, actual: string): void => {
      if (`sha256:${actual}` !== digest) {
        throw new UserError(`${source}: blob ${digest} does not match its digest (content hashes to sha256:${actual})`);
      }
    };
    const storeBlob = async (entry: TarEntry, digest: string, size: number): Promise<void> => {
      // Without a layout, only what could be a JSON document (small, and starting with "{") is kept
      // for reading back: layers (gzip, zstd, tar) are hashed and dropped.
      const chunks = entry.body[Symbol.asyncIterator]();
      const first = await chunks.next();
      const head = first.done ? Buffer.alloc(0) : first.value;
      const keep = layoutDir !== undefined || (size <= MAX_JSON_BYTES && mayBeJson(head));
      /** The whole body again, head first; each piece is valid until the next is asked for. */
      const pieces = async function* (): AsyncGenerator<Buffer, void, undefined> {
        if (!first.done) yield head;
        for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
      };
      if (!keep) {
        // Hashed where it lies, before the next read reuses the buffer.
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const piece of pieces()) {
          hash.update(piece);
          bytes += piece.length;
        }
        verifyBlob(digest, hash.digest('hex'));
        store.sizes.set(digest, bytes);
        return;
      }
      const hasher = new HashingPassThrough();
      const inMemory = layoutDir === undefined && size <= memoryLeft;
      if (inMemory) memoryLeft -= size;
      // Copies: the pipeline reads ahead of its sink.
      const body = (async function* () {
        for await (const piece of pieces()) yield Buffer.from(piece);
      })();
      const path = inMemory ? '' : blobPath(await blobDirNow(), digest);
      const held: Buffer[] = [];
      const sink: Writable = inMemory
        ? new Writable({
            write(chunk: Buffer, _encoding, callback) {
              held.push(chunk);
              callback();
            },
          })
        : createWriteStream(path, { flags: 'wx' });
      let sinkError: unknown;
      sink.once('error', (e) => (sinkError = e));
      try {
        await pipeline(body, hasher, sink);
      } catch (e) {
        if (sinkError !== undefined && isFsError(sinkError)) {
          throw (writeFailure = new UserError(`${path}: cannot write scratch file: ${fsProblem(sinkError)}`));
        }
        throw e;
      }
      verifyBlob(digest, hasher.hash.digest('hex'));
      store.sizes.set(digest, hasher.bytes);
      if (inMemory) store.memory.set(digest, Buffer.concat(held));
      else store.spilled?.add(digest);
    };

    try {
      await consume();
    } catch (e) {
      if (writeFailure) throw writeFailure;
      if (e instanceof UserError) throw e;
      if (isFsError(e)) throw new UserError(`${source}: cannot read archive: ${fsProblem(e)}`);
      throw new UserError(`${where} (${(e as Error).message})`);
    }
    return await imageFromStore(store, indexBytes, layoutDir);
  } finally {
    file.close();
    if (scratch) await removeQuietly(scratch);
  }
}

/**
 * Reads an oci-archive in place: one pass over its tar headers, each blob's position noted and its
 * bytes skipped without reading them; the index, manifest and config are then read from their
 * positions and checked against their digests. Layer blobs are verified whenever they are read
 * (forEachLayerEntry), so nothing is copied and the archive's layers are read only by the passes
 * that need them. The same entries are refused as by readOciArchive.
 */
export async function indexOciArchive(archivePath: string): Promise<OciImage> {
  const source = archivePath;
  const file = await openRegularFile(archivePath, 'archive');
  const archiveSize = file.size;
  const where = `${source}: corrupt or truncated archive`;
  const store: BlobStore = { source, sizes: new Map(), blobDir: undefined, memory: new Map(), spilled: undefined, offsets: new Map() };
  let indexBytes: Buffer | undefined;
  try {
    const seen = new Set<string>();
    for await (const entry of readTarEntries({ file, start: 0, length: archiveSize }, where)) {
      const kind = classifyArchiveEntry(entry.header, seen, source, archiveSize);
      if (kind === null) continue;
      if (kind.json) {
        if (kind.json === 'index.json') {
          const chunks: Buffer[] = [];
          for await (const c of entry.body) chunks.push(Buffer.from(c));
          indexBytes = Buffer.concat(chunks);
        }
        continue;
      }
      store.sizes.set(kind.digest, entry.header.size);
      store.offsets?.set(kind.digest, entry.offset);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    if (isFsError(e)) throw new UserError(`${source}: cannot read archive: ${fsProblem(e)}`);
    throw new UserError(`${where} (${(e as Error).message})`);
  } finally {
    file.close();
  }
  return imageFromStore(store, indexBytes, undefined);
}

/** What an oci-archive entry holds: one of its two JSON files, or a blob (`json` empty) by digest. */
type ArchiveEntryKind = { json: 'index.json' | 'oci-layout'; digest: '' } | { json: ''; digest: string };

/**
 * The checks every entry of an oci-archive passes, whoever reads it: entry count, no name twice, a
 * size the archive can hold, regular files only, JSON files within bounds, blobs named by digest.
 * Null for what is skipped (directories, the root).
 */
function classifyArchiveEntry(header: TarHeader, seen: Set<string>, source: string, archiveSize: number): ArchiveEntryKind | null {
  const { name, type, size } = header;
  const clean = name.replace(/^\.\//, '').replace(/\/$/, '');
  if (seen.size >= MAX_ARCHIVE_ENTRIES) throw new UserError(`${source}: more than ${MAX_ARCHIVE_ENTRIES} entries in an oci-archive`);
  if (seen.has(clean)) throw new UserError(`${source}: entry ${quote(name)} appears twice in the archive`);
  seen.add(clean);
  if (type === 'directory' || clean === '') return null;
  if (size > archiveSize) {
    // A header may claim any size; refusing early gives a clear message instead of "unexpected end".
    throw new UserError(
      `${source}: corrupt or truncated archive: entry ${quote(name)} declares ${size} bytes but the archive has only ${archiveSize}`,
    );
  }
  if (type !== 'file') {
    const what = type === 'unknown' ? `an entry of unknown tar type ${quote(header.typeflag)}` : `a ${type} entry`;
    throw new UserError(`${source}: unexpected ${what} ${quote(name)} in an oci-archive`);
  }
  if (clean === 'index.json' || clean === 'oci-layout') {
    if (size > MAX_JSON_BYTES) throw new UserError(`${source}: ${clean} is too large (${size} bytes)`);
    return { json: clean, digest: '' };
  }
  const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(clean);
  if (!m) throw new UserError(`${source}: unexpected entry ${quote(name)} in an oci-archive`);
  return { json: '', digest: `sha256:${m[1]}` };
}

/** True when `head` (a blob's first bytes) starts like a JSON object: white space, then "{". */
function mayBeJson(head: Buffer): boolean {
  for (const byte of head) {
    if (byte === 0x7b) return true;
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false;
  }
  return head.length === 0;
}

/** Reads an OCI layout directory (the `oci:` transport of skopeo). Layers are verified when streamed. */
export async function readOciLayout(dir: string): Promise<OciImage> {
  const store: BlobStore = { source: dir, sizes: new Map(), blobDir: dir, memory: new Map(), spilled: undefined };
  let indexBytes: Buffer;
  try {
    indexBytes = await readRegularFile(join(dir, 'index.json'), MAX_JSON_BYTES, 'index.json');
  } catch (e) {
    if (e instanceof InputFileError && e.reason === 'missing') throw new UserError(`${dir}: no index.json (not an OCI layout)`);
    throw e;
  }
  // Sizes come from the blobs opened as regular files; digests are checked when the blobs are read.
  const sizes = store.sizes;
  const index = parseJson(indexBytes, `${dir}: index.json`) as Partial<ImageIndex>;
  const collect = async (digest: string) => {
    if (sizes.has(digest)) return;
    let opened;
    try {
      opened = await openRegularFile(blobPath(dir, digest), 'blob');
    } catch (e) {
      // Missing: reported by imageFromStore. Present but not a regular file, or unreadable: said now.
      if (e instanceof InputFileError && e.reason === 'missing') return;
      throw e;
    }
    sizes.set(digest, opened.size);
    opened.close();
  };
  const manifests = isObject(index) && Array.isArray(index.manifests) ? index.manifests.slice(0, 1) : [];
  for (const m of manifests) if (isObject(m) && typeof m.digest === 'string' && DIGEST_RE.test(m.digest)) await collect(m.digest);
  // Referenced blobs: read the first manifest (and a nested index's first manifest) to learn them.
  const visit = async (descs: unknown[], depth: number): Promise<void> => {
    for (const m of descs) {
      if (!isObject(m) || typeof m.digest !== 'string' || !sizes.has(m.digest)) continue;
      const size = sizes.get(m.digest) as number;
      if (size > MAX_JSON_BYTES) continue;
      const doc = parseJson(await readRegularFile(blobPath(dir, m.digest), MAX_JSON_BYTES, 'manifest'), `${dir}: manifest`);
      if (!isObject(doc)) continue;
      const refs: unknown[] = [doc['config'], ...(Array.isArray(doc['layers']) ? (doc['layers'] as unknown[]) : [])];
      if (Array.isArray(doc['manifests'])) refs.push((doc['manifests'] as unknown[])[0]);
      for (const d of refs) if (isObject(d) && typeof d.digest === 'string' && DIGEST_RE.test(d.digest)) await collect(d.digest);
      if (depth === 0 && Array.isArray(doc['manifests'])) await visit((doc['manifests'] as unknown[]).slice(0, 1), 1);
    }
  };
  await visit(manifests, 0);
  return imageFromStore(store, indexBytes, dir);
}

export function decompressorFor(kind: 'gzip' | 'zstd', chunkSize?: number): zlib.Gunzip | zlib.ZstdDecompress {
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize });
  const z = zlib as Partial<typeof zlib>;
  if (!z.createZstdDecompress) throw new UserError('this Node.js has no zstd support; cannot read a zstd layer');
  return z.createZstdDecompress({ chunkSize });
}

/** Tells gzip and zstd from plain tar by the first bytes, whatever the media type says. */
function compressionOf(head: Buffer): 'gzip' | 'zstd' | 'none' {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * Receives each entry of a layer in order; the body may be read or left (it is skipped). Returns a
 * promise only when it has something to wait for: most entries are handled without one.
 */
export type LayerEntryVisitor = (entry: TarEntry) => Promise<void> | undefined;

/**
 * Bytes read per call: two such buffers are reused for a whole layer. Read on the main thread
 * (InputFile.readNow): through libuv's pool, 1 MiB reads were needed to make the Debian build as fast
 * (about 8% faster than 256 KiB), and they cost 1.5 MiB more peak RSS (`/usr/bin/time`, alternating).
 */
const READ_BUFFER_BYTES = 256 * 1024;
/** Bytes per chunk out of a decompressor (fewer, larger chunks: less per-chunk work downstream). */
const DECOMPRESSED_CHUNK_BYTES = 1024 * 1024;

/**
 * The bytes of a file range, read into two buffers used in turn (no allocation per read) and fed to
 * `hash`. A chunk is valid until the one after the next is asked for.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- a stream like decompressedChunks; its reads are synchronous (readNow)
async function* rangeChunks(range: FileRange, hash: Hash): AsyncGenerator<Buffer, void, undefined> {
  const buffers = readBuffers(range.length);
  try {
    let done = 0;
    for (let turn = 0; done < range.length; turn ^= 1) {
      const chunk = readPiece(range, buffers[turn] as Buffer, done, hash);
      done += chunk.length;
      yield chunk;
    }
  } finally {
    buffers.forEach(releaseBuffer);
  }
}

/** The next piece of `range`, from `done` bytes in: read into `buffer` (on this thread) and fed to `hash`. */
function readPiece(range: FileRange, buffer: Buffer, done: number, hash: Hash): Buffer {
  const n = range.file.readNow(buffer, 0, Math.min(buffer.length, range.length - done), range.start + done);
  if (n === 0) throw new UserError(`${range.file.path}: shrank while being read (${done} of ${range.length} bytes)`);
  const chunk = buffer.subarray(0, n);
  hash.update(chunk);
  return chunk;
}

/** Two read buffers, no larger than what is to be read. */
function readBuffers(length: number): Buffer[] {
  const size = Math.max(1, Math.min(READ_BUFFER_BYTES, length));
  return [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
}

/**
 * The decompressed bytes of a file range. Compressed bytes are read into two reused buffers and a
 * buffer is refilled only once the decompressor has consumed it (its write callback), so reading
 * the next buffer overlaps decompressing the last one (which runs on libuv's thread pool).
 */
async function* decompressedChunks(range: FileRange, kind: 'gzip' | 'zstd', hash: Hash): AsyncGenerator<Buffer, void, undefined> {
  const decompressor = decompressorFor(kind, DECOMPRESSED_CHUNK_BYTES);
  const buffers = readBuffers(range.length);
  const consumed: (Promise<void> | undefined)[] = [undefined, undefined];
  const feeding = (async () => {
    let done = 0;
    for (let turn = 0; done < range.length; turn ^= 1) {
      await consumed[turn];
      if (decompressor.destroyed) return;
      const chunk = readPiece(range, buffers[turn] as Buffer, done, hash);
      done += chunk.length;
      const written = new Promise<void>((resolve, reject) => decompressor.write(chunk, (e) => (e ? reject(e) : resolve())));
      written.catch(() => {}); // the failure reaches the reader through the stream's error
      consumed[turn] = written;
    }
    await Promise.all(consumed.filter((c): c is Promise<void> => c !== undefined));
    decompressor.end();
  })();
  feeding.catch((e: unknown) => decompressor.destroy(e instanceof Error ? e : new Error(String(e))));
  /** The decompressor's output buffer of the last chunk: each is freed once every chunk cut from it has been used. */
  let current: ArrayBufferLike | undefined;
  let finished = false;
  try {
    for await (const chunk of decompressor as AsyncIterable<Buffer>) {
      // The decompressor cuts chunks from one output buffer until it is full, then takes a new one
      // and never returns to the old: a chunk from a new buffer means the old one is done with.
      if (current !== undefined && chunk.buffer !== current) releaseArrayBuffer(current);
      current = chunk.buffer;
      yield chunk;
    }
    await feeding;
    finished = true;
  } finally {
    decompressor.destroy();
    await feeding.catch(() => {});
    // Only once the stream has ended is no thread of the pool reading our input buffers or writing
    // its output buffer; after a failure they are left to the garbage collector.
    if (finished) {
      buffers.forEach(releaseBuffer);
      if (current !== undefined) releaseArrayBuffer(current);
    }
  }
}

/** Where the bytes of blob `digest` of `image` are: a layout's blob file, or a range of the archive. */
export function blobLocation(image: OciImage, digest: string): { path: string; offset: number } {
  if (image.layoutDir) return { path: blobPath(image.layoutDir, digest), offset: 0 };
  const offset = image.archiveOffsets?.get(digest);
  if (offset === undefined) throw new Error(`blob ${digest} is not available`);
  return { path: image.source, offset };
}

/**
 * Streams the entries of layer `i` of an image to `visit`, in order. The compressed blob is checked
 * against its digest and the uncompressed tar against the config's diff_id, both while streaming
 * (a failed check throws after the last entry: callers commit nothing before this returns). The
 * blob is read in place (a layout's file or a range of the archive), never past its declared size.
 *
 * `diffIdChecked`: an earlier pass over this layer checked its diff_id. The blob digest is still
 * checked, and equal compressed bytes decompress to equal tars, so hashing the tar again would
 * only cost time (about 0.1 s of the main thread per 200 MB).
 */
export async function forEachLayerEntry(
  image: OciImage,
  i: number,
  visit: LayerEntryVisitor,
  { diffIdChecked = false }: { diffIdChecked?: boolean } = {},
): Promise<void> {
  const layer = image.manifest.layers[i];
  const diffId = image.config.rootfs?.diff_ids[i];
  if (!layer || !diffId) throw new Error(`layer ${i} is not available`);
  const location = blobLocation(image, layer.digest);
  const where = `${image.source}: layer ${i} (${layer.digest.slice(7, 19)})`;
  let file: InputFile;
  try {
    file = await openRegularFile(location.path, image.layoutDir ? 'layer blob' : 'archive');
  } catch (e) {
    if (e instanceof UserError && !image.layoutDir) throw new UserError(`${where}: ${e.message}`, { cause: e });
    throw e;
  }
  try {
    if (image.layoutDir && file.size !== layer.size) {
      throw new UserError(`${where}: blob is ${file.size} bytes but its descriptor says ${layer.size}`);
    }
    if (location.offset + layer.size > file.size) throw new UserError(`${where}: the archive shrank since it was read`);
    const range: FileRange = { file, start: location.offset, length: layer.size };
    const head = Buffer.alloc(4);
    const bytesRead = await file.read(head, 0, Math.min(4, layer.size), location.offset);
    const kind = compressionOf(head.subarray(0, bytesRead));
    const blobHash = createHash('sha256');
    // A plain tar is its own blob: one hash serves for the digest and the diff_id.
    const tarHash = kind === 'none' || diffIdChecked ? undefined : createHash('sha256');
    const decompressed = kind === 'none' ? rangeChunks(range, blobHash) : decompressedChunks(range, kind, blobHash);
    const chunks = tarHash ? hashedChunks(decompressed, tarHash) : decompressed;
    try {
      await forEachTarEntry(chunks, `${where}: corrupt or truncated layer`, visit);
    } catch (e) {
      if (e instanceof UserError) throw e;
      if (isFsError(e)) throw new UserError(`${where}: cannot read: ${fsProblem(e)}`);
      throw new UserError(`${where}: corrupt or truncated layer (${(e as Error).message})`);
    }
    const blobDigest = `sha256:${blobHash.digest('hex')}`;
    if (blobDigest !== layer.digest) throw new UserError(`${where}: blob does not match its digest (got ${blobDigest})`);
    // Unchecked only when an earlier pass checked it (a plain tar is checked through its blob digest).
    const tarDigest = tarHash ? `sha256:${tarHash.digest('hex')}` : kind === 'none' ? blobDigest : undefined;
    if (tarDigest !== undefined && tarDigest !== diffId)
      throw new UserError(`${where}: uncompressed content does not match diff_id ${diffId}`);
  } finally {
    file.close();
  }
}

async function* hashedChunks(chunks: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer, void, undefined> {
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
}

/** Opens an oci-archive file (read in place, see indexOciArchive) or an OCI layout directory. */
export async function openImage(input: string): Promise<OciImage> {
  const st = await stat(input).catch(() => undefined);
  if (!st) throw new UserError(`${input}: no such file or directory`);
  if (st.isDirectory()) return readOciLayout(input);
  return indexOciArchive(input);
}
