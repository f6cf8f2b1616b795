/**
 * Byte-level tar and oci-archive writing for hostile inputs: any field may hold anything (a
 * non-numeric uid, an unknown type flag, a size that lies, a PAX record with binary bytes), which
 * no well-behaved tar writer would produce. Used by the hostile-input tests, the fuzz test and
 * bench/hostile.ts. Everything is built in memory and deterministic.
 */
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';

export interface RawEntry {
  /** Raw name bytes or text (UTF-8); longer than 100 bytes goes into a PAX `path` record. */
  name: string | Buffer;
  /** Type flag character: '0' file, '1' link, '2' symlink, '5' directory, '6' FIFO, anything else. */
  typeflag?: string;
  mode?: number;
  /** A number, or the raw field text (e.g. 'zz') to write a malformed field. */
  uid?: number | string;
  gid?: number | string;
  mtime?: number | string;
  /** The size field; defaults to the data length. A string is written raw. */
  size?: number | string;
  linkname?: string | Buffer;
  data?: Buffer | string;
  /** Extra PAX records (key, raw value) written in an `x` header before the entry. */
  pax?: [string, string | Buffer][];
  /** 'ustar' (default), 'gnu' or 'v7' (no magic). */
  format?: 'ustar' | 'gnu' | 'v7';
}

const BLOCK = 512;

function octal(value: number | string, width: number): string {
  if (typeof value === 'string') return value.slice(0, width).padEnd(width, '\0');
  // Digits that do not fit are cut (hostile inputs may ask for that), never spilled into the next field.
  return `${value
    .toString(8)
    .padStart(width - 1, '0')
    .slice(0, width - 1)}\0`;
}

/** One 512-byte header with a correct checksum. */
export function tarHeader(e: {
  name: Buffer;
  typeflag: string;
  mode: number;
  uid: number | string;
  gid: number | string;
  size: number | string;
  mtime: number | string;
  linkname: Buffer;
  format: 'ustar' | 'gnu' | 'v7';
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  e.name.copy(block, 0, 0, 100);
  block.write(octal(e.mode, 8), 100, 'latin1');
  block.write(octal(e.uid, 8), 108, 'latin1');
  block.write(octal(e.gid, 8), 116, 'latin1');
  block.write(octal(e.size, 12), 124, 'latin1');
  block.write(octal(e.mtime, 12), 136, 'latin1');
  block.write(e.typeflag.slice(0, 1) || '\0', 156, 'latin1');
  e.linkname.copy(block, 157, 0, 100);
  if (e.format === 'ustar') block.write('ustar\x0000', 257, 'latin1');
  if (e.format === 'gnu') block.write('ustar  \0', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function padded(data: Buffer): Buffer {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return pad === 0 ? data : Buffer.concat([data, Buffer.alloc(pad)]);
}

/** PAX records `<len> <key>=<value>\n` with raw value bytes. */
export function paxRecords(records: [string, string | Buffer][]): Buffer {
  return Buffer.concat(
    records.map(([key, value]) => {
      const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
      let length = body.length + 1;
      while (String(length).length + body.length !== length) length = String(length).length + body.length;
      return Buffer.concat([Buffer.from(String(length)), body]);
    }),
  );
}

/** The bytes of one entry (its PAX header first when needed). */
export function rawEntry(e: RawEntry): Buffer {
  const name = Buffer.from(e.name);
  const linkname = Buffer.from(e.linkname ?? '');
  const data = Buffer.from(e.data ?? '');
  const format = e.format ?? 'ustar';
  const records: [string, string | Buffer][] = [...(e.pax ?? [])];
  if (name.length > 100) records.unshift(['path', name]);
  if (linkname.length > 100) records.unshift(['linkpath', linkname]);
  const parts: Buffer[] = [];
  if (records.length > 0) {
    const body = paxRecords(records);
    parts.push(
      tarHeader({
        name: Buffer.from('PaxHeader'),
        typeflag: 'x',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: body.length,
        mtime: 0,
        linkname: Buffer.alloc(0),
        format,
      }),
      padded(body),
    );
  }
  parts.push(
    tarHeader({
      name: name.subarray(0, 100),
      typeflag: e.typeflag ?? '0',
      mode: e.mode ?? (e.typeflag === '5' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: e.size ?? data.length,
      mtime: e.mtime ?? 1_700_000_000,
      linkname: linkname.subarray(0, 100),
      format,
    }),
    padded(data),
  );
  return Buffer.concat(parts);
}

/** A whole tar: the entries, then the two zero blocks (unless `end` is false). */
export function rawTar(entries: RawEntry[], options: { end?: boolean } = {}): Buffer {
  const parts = entries.map(rawEntry);
  if (options.end !== false) parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

export type Compression = 'none' | 'gzip' | 'zstd';

export function compress(tar: Buffer, compression: Compression): Buffer {
  if (compression === 'gzip') return zlib.gzipSync(tar, { level: 1 });
  if (compression === 'zstd') {
    const zstd = (zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer }).zstdCompressSync;
    if (!zstd) throw new Error('this Node.js has no zstd');
    return zstd(tar);
  }
  return tar;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const MEDIA: Record<Compression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export interface RawImage {
  /** Uncompressed layer tars, bottom first. */
  layers: Buffer[];
  compression?: Compression;
  /** Replaces the generated config JSON (bytes as given). */
  configBytes?: Buffer | string;
  /** Changes the generated config object before it is serialised. */
  config?: (config: Record<string, unknown>) => void;
  /** Turns the generated config's JSON text into the bytes written (e.g. to splice in deep nesting). */
  configText?: (json: string) => string;
  /** Changes the manifest object before it is serialised. */
  manifest?: (manifest: Record<string, unknown>) => void;
  /** Replaces the generated index.json bytes. */
  indexBytes?: Buffer | string;
}

/** The blobs and index.json of an OCI image: name -> bytes, in archive order. */
export function rawImageFiles(image: RawImage): [string, Buffer][] {
  const compression = image.compression ?? 'none';
  const blobs = new Map<string, Buffer>();
  const put = (bytes: Buffer) => {
    const hex = sha256(bytes);
    blobs.set(hex, bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const layers = image.layers.map((tar) => ({ mediaType: MEDIA[compression], ...put(compress(tar, compression)) }));
  const config: Record<string, unknown> = {
    created: '2024-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: image.layers.map((tar) => `sha256:${sha256(tar)}`) },
  };
  image.config?.(config);
  const configJson = JSON.stringify(config);
  const configBlob = put(Buffer.from(image.configBytes ?? image.configText?.(configJson) ?? configJson));
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
    layers,
  };
  image.manifest?.(manifest);
  const manifestBlob = put(Buffer.from(JSON.stringify(manifest)));
  const index =
    image.indexBytes ??
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifestBlob }],
    });
  return [
    ...[...blobs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([hex, bytes]): [string, Buffer] => [`blobs/sha256/${hex}`, bytes]),
    ['index.json', Buffer.from(index)],
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
  ];
}

/** An oci-archive (tar of the layout) of `image`, in memory. */
export function rawOciArchive(image: RawImage): Buffer {
  const files = rawImageFiles(image);
  return rawTar([
    { name: 'blobs/', typeflag: '5', mtime: 0 },
    { name: 'blobs/sha256/', typeflag: '5', mtime: 0 },
    ...files.map(([name, data]): RawEntry => ({ name, data, mtime: 0 })),
  ]);
}
