/**
 * The oci_build phase: one layer tar per group, each entry in walk order (a directory's entries by
 * name, each followed by what it holds), streamed through the sha256 of the tar (diff_id), optional
 * gzip or zstd, and the sha256 of the blob into a file; then config, manifest, index and the
 * normalised oci-archive.
 *
 * File data is never held whole. Contents on the host (directory input, files the scan kept) are
 * read when their entry is written. Contents that lie in the input image's layers are read in one
 * more pass over those layers (the scan's pass recorded where each file's data is): every output
 * layer is open at once, and each entry's data goes straight from the input into the layers that
 * hold it when their previous entries are all written, which is the case whenever the input is in
 * walk order too (most tools write it). Data that arrives before its turn is parked, in memory up to
 * a budget, else in one scratch file, and written when its turn comes.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MEDIA_TYPE_CONFIG,
  MEDIA_TYPE_INDEX,
  MEDIA_TYPE_LAYER,
  MEDIA_TYPE_LAYER_GZIP,
  MEDIA_TYPE_LAYER_ZSTD,
  MEDIA_TYPE_MANIFEST,
  blobPath,
  forEachLayerEntry,
  type Descriptor,
  type ImageConfig,
  type OciImage,
} from '../archive/index.ts';
import { impliedDirectory, type FileInfo, type FileMap, type LayerGroup } from '../types.ts';
import { MAX_ID } from '../limits.ts';
import {
  UserError,
  canonicalJson,
  escapeControl,
  fsProblem,
  isFsError,
  openRegularFile,
  parentPath,
  progress,
  quote,
  releaseBuffer,
  sha256Hex,
} from '../util.ts';
import { ParkStore, type Parked } from './park.ts';
import { LayerSink, SinkShared, type Compression } from './sink.ts';
import type { EntryHeader } from './tar-format.ts';

export { writeOciArchive } from './archive-writer.ts';
export type { Compression } from './sink.ts';

export const TOOL_NAME = 'oci-chunk';

export interface BuildOptions {
  /** Scratch directory (the OCI layout is assembled in it). */
  workDir: string;
  /** Seconds since the epoch for `created` fields. */
  epoch: number;
  /** gzip when true and no `compression` is given. */
  compressed?: boolean;
  compression?: Compression;
  /** gzip level 0-9 (default 6). */
  gzipLevel?: number;
  /** zstd level 1-19 (default 3). */
  zstdLevel?: number;
  tag?: string;
  /** The input image's config; its user-facing part is copied. */
  inputConfig?: ImageConfig;
  /** The image whose layers hold the contents of kind `layer` (see scan/). */
  image?: OciImage;
}

export interface BuiltLayer {
  name: string;
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
  stability: number;
  fileCount: number;
}

export interface BuildResult {
  manifestDigest: string;
  layers: BuiltLayer[];
}

/** The parts of an image config a user sets (Dockerfile USER, ENV, CMD...); the rest is ours. */
const USER_CONFIG_KEYS = ['User', 'WorkingDir', 'Entrypoint', 'Cmd', 'Env', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal'];

export function ociArchitecture(arch: string | undefined): string {
  const a = arch ?? (process.arch === 'x64' ? 'amd64' : process.arch);
  if (a === 'x86_64' || a === 'x64') return 'amd64';
  if (a === 'aarch64') return 'arm64';
  return a;
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * Order of a depth-first walk with each directory's names sorted by code point (Go's filepath.Walk,
 * which umoci and most image builders use, and GNU tar --sort=name): `/` sorts before every other
 * character, so `a/b` comes before `a-b` and `a.d`.
 */
export function compareWalkOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates stand for code points above 0xFFFF: move them above E000..FFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** The paths of one layer's entries in walk order: the group's paths plus any missing ancestor directories. */
export function layerPaths(group: LayerGroup): string[] {
  const paths = new Set<string>();
  for (const component of group.components) for (const p of component.paths) paths.add(p);
  for (const p of [...paths]) {
    for (let a = parentPath(p); a !== '/' && !paths.has(a); a = parentPath(a)) paths.add(a);
  }
  return [...paths].sort(compareWalkOrder);
}

/** The entry at `path`: the map's, or a directory the scan never saw (only with hand-made component lists). */
function entryInfo(files: FileMap, path: string): FileInfo {
  return files.get(path) ?? impliedDirectory(path, path);
}

function paxFor(info: FileInfo): [string, string][] | undefined {
  const keys = Object.keys(info.xattrs);
  if (keys.length === 0) return undefined;
  const pax: [string, string][] = [];
  for (const key of keys.sort()) {
    const raw = Buffer.from(info.xattrs[key] ?? '', 'base64');
    const text = raw.toString('utf8');
    // PAX records are written as UTF-8 text; refuse rather than silently corrupt binary values.
    if (!Buffer.from(text, 'utf8').equals(raw)) {
      throw new UserError(
        `${quote(info.path)}: xattr ${key} has a binary (non-UTF-8) value, which this tool cannot write into a layer (extract restores such values)`,
      );
    }
    pax.push([`SCHILY.xattr.${key}`, text]);
  }
  return pax;
}

/** ustar's 11 octal digits: the latest mtime a layer header holds (year 2242). */
const MAX_TAR_MTIME = 0o77777777777;

/** The tar header of `info` in a layer clamped at `clamp`; `linkname` makes it a hardlink entry. */
function headerOf(info: FileInfo, clamp: number, linkname?: string): EntryHeader {
  const name = info.path.slice(1);
  if (info.uid > MAX_ID || info.gid > MAX_ID) {
    throw new UserError(
      `${quote(info.path)}: owner ${info.uid}:${info.gid} is above ${MAX_ID}, the largest id a layer written by this tool holds`,
    );
  }
  const header: EntryHeader = {
    name: info.type === 'directory' ? `${name}/` : name,
    type: info.type,
    mode: info.mode,
    uid: info.uid,
    gid: info.gid,
    size: 0,
    mtime: Math.max(0, Math.min(info.mtime, clamp, MAX_TAR_MTIME)),
    pax: paxFor(info),
  };
  if (info.type === 'symlink') header.linkname = info.linkTarget;
  else if (linkname !== undefined) {
    header.type = 'link';
    header.linkname = linkname;
  } else if (info.type === 'file') header.size = info.size;
  return header;
}

/**
 * Where the data of the input layers goes: one row per (output layer, entry) that takes data from
 * an input layer, in typed arrays rather than an object per file (at 1e5 files an object, an array
 * and a map entry per file held 30 MiB of heap for the whole build). Rows are sorted by input layer
 * and offset, the order the data arrives in, so the pass over the input walks them with a cursor.
 */
class Routes {
  #count = 0;
  #input = new Int32Array(1024);
  #offset = new Float64Array(1024);
  #size = new Float64Array(1024);
  #layer = new Int32Array(1024);
  #entry = new Int32Array(1024);
  /** Row order by (input, offset); rows of one input entry keep the order they were added in. */
  order: Uint32Array = new Uint32Array(0);

  get count(): number {
    return this.#count;
  }

  add(input: number, offset: number, size: number, layer: number, entry: number): void {
    if (this.#count === this.#input.length) this.#grow();
    const i = this.#count++;
    this.#input[i] = input;
    this.#offset[i] = offset;
    this.#size[i] = size;
    this.#layer[i] = layer;
    this.#entry[i] = entry;
  }

  #grow(): void {
    const n = this.#input.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.#input = grow(this.#input, (k) => new Int32Array(k));
    this.#offset = grow(this.#offset, (k) => new Float64Array(k));
    this.#size = grow(this.#size, (k) => new Float64Array(k));
    this.#layer = grow(this.#layer, (k) => new Int32Array(k));
    this.#entry = grow(this.#entry, (k) => new Int32Array(k));
  }

  /** Sorts the rows (stable: a row's place among equal keys is the order routes were added). */
  seal(): void {
    const order = new Uint32Array(this.#count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    const input = this.#input;
    const offset = this.#offset;
    order.sort((a, b) => input[a]! - input[b]! || offset[a]! - offset[b]! || a - b);
    this.order = order;
  }

  input(row: number): number {
    return this.#input[row]!;
  }
  offset(row: number): number {
    return this.#offset[row]!;
  }
  size(row: number): number {
    return this.#size[row]!;
  }
  layer(row: number): number {
    return this.#layer[row]!;
  }
  entry(row: number): number {
    return this.#entry[row]!;
  }
}

/** Key of an input entry's data among the parked ones. */
const dataKey = (input: number, offset: number) => input * 2 ** 40 + offset;

/** An output layer being written: its entries, how far it got, and where it goes. */
interface OutLayer {
  /** Position among the planned layers. */
  index: number;
  group: LayerGroup;
  /**
   * Paths of its entries in walk order; each entry's FileInfo is made from the map when it is
   * written (holding them all cost ~170 bytes of heap per path for the whole build).
   */
  entries: string[];
  /** Entry index -> first name, for the later names of a hardlinked file. */
  links: Map<number, string>;
  /** Entries written so far. */
  next: number;
  sink: LayerSink | undefined;
  tmpPath: string;
  finished: Promise<BuiltLayer> | undefined;
}

/** Bytes read at once from a host file or a parked file. */
const COPY_BYTES = 256 * 1024;

class LayerBuilder {
  readonly #options: BuildOptions;
  readonly #compression: Compression;
  readonly #shared = new SinkShared();
  readonly #park: ParkStore;
  readonly #layoutDir: string;
  #copyBuffer: Buffer | undefined;
  readonly #sinks = new Set<LayerSink>();
  readonly #routes = new Routes();
  /** Data that passed before the turn of some of its destinations, by dataKey; gone once all have copied it. */
  readonly #parked = new Map<number, Parked>();
  #planned: OutLayer[] = [];

  readonly #files: FileMap;

  constructor(files: FileMap, options: BuildOptions, layoutDir: string) {
    this.#files = files;
    this.#options = options;
    this.#compression = options.compression ?? (options.compressed ? 'gzip' : 'none');
    this.#park = new ParkStore(join(options.workDir, 'parked'));
    this.#layoutDir = layoutDir;
  }

  get mediaType(): string {
    return { none: MEDIA_TYPE_LAYER, gzip: MEDIA_TYPE_LAYER_GZIP, zstd: MEDIA_TYPE_LAYER_ZSTD }[this.#compression];
  }

  plan(files: FileMap, group: LayerGroup, index: number): OutLayer {
    const entries = layerPaths(group);
    const links = new Map<number, string>();
    const firstNames = new Map<string | number, string>();
    entries.forEach((path, i) => {
      const info = entryInfo(files, path);
      if (info.type !== 'file' || info.nlink <= 1) return;
      const first = firstNames.get(info.inode);
      if (first === undefined) firstNames.set(info.inode, info.path.slice(1));
      else links.set(i, first);
    });
    return {
      index,
      group,
      entries,
      links,
      next: 0,
      sink: undefined,
      tmpPath: join(this.#options.workDir, `layer-${index}.tmp`),
      finished: undefined,
    };
  }

  async #sink(layer: OutLayer): Promise<LayerSink> {
    if (layer.sink) return layer.sink;
    const level = this.#compression === 'zstd' ? this.#options.zstdLevel : this.#options.gzipLevel;
    layer.sink = await LayerSink.create(layer.tmpPath, { compression: this.#compression, level }, this.#shared);
    this.#sinks.add(layer.sink);
    return layer.sink;
  }

  /** Writes the entries of `layer` in order until one whose data has not arrived yet; finishes a complete layer. */
  async advance(layer: OutLayer): Promise<void> {
    const sink = layer.sink ?? (await this.#sink(layer));
    const clamp = layer.group.mtimeClamp;
    while (layer.next < layer.entries.length) {
      const index = layer.next;
      const info = entryInfo(this.#files, layer.entries[index]!);
      const link = layer.links.get(index);
      if (info.type !== 'file' || info.size === 0 || link !== undefined) {
        await sink.header(headerOf(info, clamp, link));
      } else if (info.content.kind === 'path') {
        await sink.header(headerOf(info, clamp));
        await this.#copyHostFile(sink, info.content.path, info.size);
        await sink.pad(info.size);
      } else if (info.content.kind === 'layer') {
        const key = dataKey(info.content.layer, info.content.offset);
        const parked = this.#parked.get(key);
        // Not parked: its data has not passed yet (data that passed at this entry's turn was written then).
        if (!parked) return;
        await sink.header(headerOf(info, clamp));
        await this.#park.copyTo(parked, sink);
        if (parked.refs === 0) this.#parked.delete(key);
        await sink.pad(info.size);
      } else throw new Error(`${info.path}: no content source for ${info.size} bytes`);
      layer.next++;
    }
    if (!layer.finished) {
      const finished = this.#finish(layer);
      finished.catch(() => {}); // awaited by build()
      layer.finished = finished;
    }
  }

  async #finish(layer: OutLayer): Promise<BuiltLayer> {
    const sink = layer.sink as LayerSink;
    const result = await sink.finish();
    this.#sinks.delete(sink);
    await rename(layer.tmpPath, blobPath(this.#layoutDir, result.digest));
    return {
      name: layer.group.name,
      digest: result.digest,
      diffId: result.diffId,
      size: result.size,
      mediaType: this.mediaType,
      stability: layer.group.stability,
      fileCount: layer.entries.length,
    };
  }

  /** Streams `size` bytes of a host file (opened as a regular file, never read past `size`). */
  async #copyHostFile(sink: LayerSink, path: string, size: number): Promise<void> {
    const file = await openRegularFile(path, 'file');
    if ((this.#copyBuffer?.length ?? 0) < Math.min(COPY_BYTES, size)) {
      if (this.#copyBuffer) releaseBuffer(this.#copyBuffer);
      this.#copyBuffer = Buffer.allocUnsafeSlow(Math.min(COPY_BYTES, Math.max(size, 64 * 1024)));
    }
    const buffer = this.#copyBuffer as Buffer;
    try {
      let done = 0;
      while (done < size) {
        let n: number;
        try {
          n = await file.read(buffer, 0, Math.min(buffer.length, size - done), done);
        } catch (e) {
          throw new UserError(`${path}: cannot read: ${fsProblem(e)}`);
        }
        if (n === 0) break;
        const waiting = sink.write(buffer.subarray(0, n));
        if (waiting) await waiting;
        done += n;
      }
      if (done !== size) throw new UserError(`${path}: has ${done} bytes where ${size} were expected (changed while being read?)`);
    } finally {
      file.close();
    }
  }

  /** Notes where each output layer takes data of kind `layer` from; `layers` are all the planned layers, in order. */
  route(layers: OutLayer[]): void {
    this.#planned = layers;
    for (const layer of layers) {
      layer.entries.forEach((path, index) => {
        const info = entryInfo(this.#files, path);
        if (info.type !== 'file' || info.size === 0 || info.content.kind !== 'layer' || layer.links.has(index)) return;
        this.#routes.add(info.content.layer, info.content.offset, info.size, layer.index, index);
      });
    }
    this.#routes.seal();
  }

  /** The pass over the input's layers that holds data for the output. */
  async readInputLayers(image: OciImage): Promise<void> {
    const routes = this.#routes;
    const order = routes.order;
    const inputs: number[] = [];
    for (const row of order) if (inputs[inputs.length - 1] !== routes.input(row)) inputs.push(routes.input(row));
    /** Next row of `order` whose data has not passed. */
    let at = 0;
    for (const [n, i] of inputs.entries()) {
      progress(`oci_build: reading input layer ${n + 1}/${inputs.length}`);
      const where = `${image.source}: layer ${i}`;
      const missing = () => new UserError(`${where}: changed since it was first read (an entry is missing)`);
      await forEachLayerEntry(
        image,
        i,
        ({ header, offset, body }) => {
          if (header.type !== 'file' || header.size === 0 || at >= order.length) return undefined;
          let row = order[at]!;
          if (routes.input(row) !== i) return undefined;
          // Entries arrive by increasing offset: one the rows wait for that was passed is gone.
          if (routes.offset(row) < offset) throw missing();
          if (routes.offset(row) > offset) return undefined;
          if (header.size !== routes.size(row))
            throw new UserError(`${where}: changed since it was first read (entry ${quote(header.name)})`);
          const first = at;
          while (at < order.length && routes.input((row = order[at]!)) === i && routes.offset(row) === offset) at++;
          return this.#deliver(i, offset, header.size, first, at, body);
        },
        // The scan checked the diff_id; the blob digest, checked again, stands for the tar.
        { diffIdChecked: true },
      );
      if (at < order.length && routes.input(order[at]!) === i) throw missing();
    }
  }

  /** The data of one input entry (rows `from` to `to` of the route order): into every destination whose turn it is, parked for the others. */
  async #deliver(input: number, offset: number, size: number, from: number, to: number, body: AsyncIterable<Buffer>): Promise<void> {
    const routes = this.#routes;
    const order = routes.order;
    const live: OutLayer[] = [];
    let later = 0;
    for (let r = from; r < to; r++) {
      const layer = this.#planned[routes.layer(order[r]!)]!;
      const index = routes.entry(order[r]!);
      if (layer.next < index) await this.advance(layer);
      if (layer.next === index) {
        const info = entryInfo(this.#files, layer.entries[index]!);
        const sink = layer.sink ?? (await this.#sink(layer));
        const waiting = sink.header(headerOf(info, layer.group.mtimeClamp));
        if (waiting) await waiting;
        live.push(layer);
      } else later++;
    }
    const parking = later > 0 ? this.#park.begin(size, later) : undefined;
    for await (const piece of body) {
      for (const layer of live) {
        const waiting = layer.sink!.write(piece);
        if (waiting) await waiting;
      }
      if (parking) await parking.append(piece);
    }
    if (parking) this.#parked.set(dataKey(input, offset), parking.end());
    for (const layer of live) {
      const waiting = layer.sink!.pad(size);
      if (waiting) await waiting;
      layer.next++;
    }
    // Entries waiting behind this one (later entries already parked, metadata) go out now.
    for (const layer of live) await this.advance(layer);
  }

  /** Closes every open sink (after a failure: the scratch directory is removed by the caller). */
  async abort(): Promise<void> {
    await Promise.allSettled([...this.#sinks].map((s) => s.close()));
    await this.#park.close();
  }

  async close(): Promise<void> {
    await this.#park.close();
    this.#shared.releaseAll();
    if (this.#copyBuffer) releaseBuffer(this.#copyBuffer);
    this.#copyBuffer = undefined;
  }
}

async function writeBlob(layoutDir: string, bytes: string): Promise<{ digest: string; size: number }> {
  const digest = `sha256:${sha256Hex(bytes)}`;
  await writeFile(blobPath(layoutDir, digest), bytes);
  return { digest, size: Buffer.byteLength(bytes) };
}

/** Writes the OCI layout for `groups` into `<workDir>/out` and returns its manifest digest and layers. */
export async function buildLayout(
  files: FileMap,
  groups: LayerGroup[],
  options: BuildOptions,
): Promise<{ layoutDir: string; result: BuildResult }> {
  const layoutDir = join(options.workDir, 'out');
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const nonEmpty = groups.filter((g) => g.components.some((c) => c.paths.length > 0));
  const builder = new LayerBuilder(files, options, layoutDir);
  const layers: BuiltLayer[] = [];
  try {
    const planned = nonEmpty.map((group, i) => builder.plan(files, group, i));
    builder.route(planned);
    if (options.image) {
      // Every layer writes what it can now; the rest is written as the input's data passes.
      for (const layer of planned) await builder.advance(layer);
      await builder.readInputLayers(options.image);
    }
    for (const [i, layer] of planned.entries()) {
      progress(`oci_build: layer ${i + 1}/${planned.length} (${escapeControl(layer.group.name.slice(0, 60))})`);
      await builder.advance(layer);
      if (layer.next < layer.entries.length) {
        throw new Error(`${quote(layer.entries[layer.next]!)}: its data never arrived from the input`);
      }
      layers.push(await (layer.finished as Promise<BuiltLayer>));
    }
    await builder.close();
  } catch (e) {
    await builder.abort();
    // Source files are named where they are read; what is left is a scratch file (a full disk).
    if (!(e instanceof UserError) && isFsError(e)) throw new UserError(`${options.workDir}: cannot write scratch file: ${fsProblem(e)}`);
    throw e;
  }

  const input = options.inputConfig ?? {};
  const userConfig: Record<string, unknown> = {};
  for (const key of USER_CONFIG_KEYS) {
    const v = input.config?.[key];
    if (v !== undefined && v !== null) userConfig[key] = v;
  }
  const config: ImageConfig = {
    created: isoTime(options.epoch),
    architecture: ociArchitecture(input.architecture),
    os: input.os ?? 'linux',
    config: userConfig,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: nonEmpty.map((g) => ({
      created: isoTime(Number.isFinite(g.mtimeClamp) ? Math.min(g.mtimeClamp, options.epoch) : options.epoch),
      created_by: TOOL_NAME,
      author: TOOL_NAME,
      comment: g.name,
    })),
  };
  if (typeof input['variant'] === 'string') config['variant'] = input['variant'];
  const configBlob = await writeBlob(layoutDir, canonicalJson(config));
  const layerDescriptors: Descriptor[] = layers.map((l) => ({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
    annotations: { 'org.chunkah.component': l.name, 'org.chunkah.stability': l.stability.toFixed(3) },
  }));
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: { mediaType: MEDIA_TYPE_CONFIG, ...configBlob },
    layers: layerDescriptors,
  };
  const manifestBlob = await writeBlob(layoutDir, canonicalJson(manifest));
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_INDEX,
    manifests: [
      {
        mediaType: MEDIA_TYPE_MANIFEST,
        ...manifestBlob,
        platform: { architecture: config.architecture, os: config.os },
        annotations: options.tag ? { 'org.opencontainers.image.ref.name': options.tag } : undefined,
      },
    ],
  };
  await writeFile(join(layoutDir, 'index.json'), canonicalJson(index));
  await writeFile(join(layoutDir, 'oci-layout'), canonicalJson({ imageLayoutVersion: '1.0.0' }));
  return { layoutDir, result: { manifestDigest: manifestBlob.digest, layers } };
}
