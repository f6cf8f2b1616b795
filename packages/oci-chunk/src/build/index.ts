/**
 * The oci_build phase: one layer tar per group, streamed to disk through the sha256 of the tar
 * (diff_id), optional gzip and the sha256 of the blob; then config, manifest, index and the
 * normalised oci-archive.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import {
  MEDIA_TYPE_CONFIG,
  MEDIA_TYPE_INDEX,
  MEDIA_TYPE_LAYER,
  MEDIA_TYPE_LAYER_GZIP,
  MEDIA_TYPE_MANIFEST,
  blobPath,
  type Descriptor,
  type ImageConfig,
} from '../archive/index.ts';
import type { FileInfo, FileMap, LayerGroup } from '../types.ts';
import { MAX_ID } from '../limits.ts';
import {
  HashingPassThrough,
  UserError,
  canonicalJson,
  escapeControl,
  fsProblem,
  isFsError,
  parentPath,
  progress,
  quote,
  removeQuietly,
  sha256Hex,
  trackPending,
} from '../util.ts';
import { createTarWriter, type HeaderArgument, type TarWriter } from './tar-writer.ts';

export const TOOL_NAME = 'oci-chunk';

export interface BuildOptions {
  /** Scratch directory (the OCI layout is assembled in it). */
  workDir: string;
  /** Seconds since the epoch for `created` fields. */
  epoch: number;
  compressed?: boolean;
  /** gzip level 0-9 (default 6). */
  gzipLevel?: number;
  tag?: string;
  /** The input image's config; its user-facing part is copied. */
  inputConfig?: ImageConfig;
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

/** The entries of one layer in path order: the group's paths plus any missing ancestor directories. */
export function layerEntries(files: FileMap, group: LayerGroup): FileInfo[] {
  const paths = new Set<string>();
  for (const component of group.components) for (const p of component.paths) paths.add(p);
  for (const p of [...paths]) {
    for (let a = parentPath(p); a !== '/' && !paths.has(a); a = parentPath(a)) paths.add(a);
  }
  return [...paths].sort().map((p) => {
    const info = files.get(p);
    if (info) return info;
    // A directory the scan never saw (can only happen with hand-made component lists).
    return {
      path: p,
      type: 'directory',
      mode: 0o755,
      size: 0,
      uid: 0,
      gid: 0,
      mtime: 0,
      inode: p,
      nlink: 1,
      linkTarget: '',
      xattrs: {},
      content: { kind: 'none' },
    };
  });
}

function paxFor(info: FileInfo): Record<string, string> | undefined {
  const keys = Object.keys(info.xattrs);
  if (keys.length === 0) return undefined;
  const pax: Record<string, string> = {};
  for (const key of keys.sort()) {
    const raw = Buffer.from(info.xattrs[key] ?? '', 'base64');
    const text = raw.toString('utf8');
    // tar-stream writes PAX values as UTF-8 text; refuse rather than silently corrupt binary values.
    if (!Buffer.from(text, 'utf8').equals(raw)) {
      throw new UserError(
        `${quote(info.path)}: xattr ${key} has a binary (non-UTF-8) value, which this tool cannot write into a layer (extract restores such values)`,
      );
    }
    pax[`SCHILY.xattr.${key}`] = text;
  }
  return pax;
}

async function writeLayer(
  files: FileMap,
  group: LayerGroup,
  layoutDir: string,
  tmpPath: string,
  options: BuildOptions,
): Promise<BuiltLayer> {
  const entries = layerEntries(files, group);
  const tarHash = new HashingPassThrough();
  const blobHash = new HashingPassThrough();
  const stages: NodeJS.ReadWriteStream[] = [tarHash];
  if (options.compressed) stages.push(zlib.createGzip({ level: options.gzipLevel ?? 6 }));
  stages.push(blobHash);
  const writer = createTarWriter(stages, createWriteStream(tmpPath, { flags: 'wx' }));
  try {
    await writeEntries(writer, entries, group.mtimeClamp);
    await writer.finish();
  } catch (e) {
    // Source files are named by the tar writer; what is left is the scratch file (a full disk).
    if (!(e instanceof UserError) && isFsError(e)) throw new UserError(`${tmpPath}: cannot write scratch file: ${fsProblem(e)}`);
    throw e;
  }
  const digest = `sha256:${blobHash.hash.digest('hex')}`;
  await rename(tmpPath, blobPath(layoutDir, digest));
  return {
    name: group.name,
    digest,
    diffId: `sha256:${tarHash.hash.digest('hex')}`,
    size: blobHash.bytes,
    mediaType: options.compressed ? MEDIA_TYPE_LAYER_GZIP : MEDIA_TYPE_LAYER,
    stability: group.stability,
    fileCount: entries.length,
  };
}

/** ustar's 11 octal digits: the latest mtime a layer header holds (year 2242). */
const MAX_TAR_MTIME = 0o77777777777;

async function writeEntries(writer: TarWriter, entries: FileInfo[], clamp: number): Promise<void> {
  const firstNameOfInode = new Map<string, string>();
  for (const info of entries) {
    const name = info.path.slice(1);
    if (info.uid > MAX_ID || info.gid > MAX_ID) {
      throw new UserError(
        `${quote(info.path)}: owner ${info.uid}:${info.gid} is above ${MAX_ID}, the largest id a layer written by this tool holds`,
      );
    }
    const header: HeaderArgument = {
      name: info.type === 'directory' ? `${name}/` : name,
      mode: info.mode,
      uid: info.uid,
      gid: info.gid,
      mtime: new Date(Math.max(0, Math.min(info.mtime, clamp, MAX_TAR_MTIME)) * 1000),
      pax: paxFor(info),
    };
    if (info.type === 'directory') {
      await writer.add({ ...header, type: 'directory' });
    } else if (info.type === 'symlink') {
      await writer.add({ ...header, type: 'symlink', linkname: info.linkTarget });
    } else {
      const first = info.nlink > 1 ? firstNameOfInode.get(info.inode) : undefined;
      if (first !== undefined) {
        await writer.add({ ...header, type: 'link', linkname: first, size: 0 });
        continue;
      }
      if (info.nlink > 1) firstNameOfInode.set(info.inode, name);
      const source = info.content.kind === 'path' ? info.content.path : undefined;
      if (info.size > 0 && !source) throw new Error(`${info.path}: no content source for ${info.size} bytes`);
      await writer.add({ ...header, type: 'file', size: info.size }, source);
    }
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
  const layers: BuiltLayer[] = [];
  const nonEmpty = groups.filter((g) => g.components.some((c) => c.paths.length > 0));
  for (const [i, group] of nonEmpty.entries()) {
    progress(`oci_build: layer ${i + 1}/${nonEmpty.length} (${escapeControl(group.name.slice(0, 60))})`);
    layers.push(await writeLayer(files, group, layoutDir, join(options.workDir, `layer-${i}.tmp`), options));
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

/**
 * Packs an OCI layout directory into an oci-archive with normalised headers (sorted names, dirs 0755,
 * files 0644, mtime 0, uid/gid 0), so equal layouts give equal bytes. Written beside `output` and
 * renamed at the end: a failed run leaves no partial archive behind.
 */
export async function writeOciArchive(layoutDir: string, output: string): Promise<void> {
  const partial = `${output}.partial-${process.pid}`;
  trackPending(partial);
  try {
    // 'wx': never open something already there (a FIFO planted at that name would block the open).
    const writer = createTarWriter([], createWriteStream(partial, { flags: 'wx' }));
    const norm = { mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) };
    await writer.add({ ...norm, name: 'blobs/', type: 'directory', mode: 0o755 });
    await writer.add({ ...norm, name: 'blobs/sha256/', type: 'directory', mode: 0o755 });
    const blobDir = join(layoutDir, 'blobs', 'sha256');
    for (const name of (await readdir(blobDir)).sort()) {
      const path = join(blobDir, name);
      await writer.add({ ...norm, name: `blobs/sha256/${name}`, type: 'file', size: (await stat(path)).size }, path);
    }
    for (const name of ['index.json', 'oci-layout']) {
      const path = join(layoutDir, name);
      await writer.add({ ...norm, name, type: 'file', size: (await stat(path)).size }, path);
    }
    await writer.finish();
    await rename(partial, output);
    await removeQuietly(partial); // nothing left at that name: just forget it
  } catch (e) {
    await removeQuietly(partial);
    if (!(e instanceof UserError) && isFsError(e)) throw new UserError(`${output}: cannot write the archive: ${fsProblem(e)}`);
    throw e;
  }
}
