/**
 * The scan phase: a FileMap (absolute image path -> FileInfo, sorted) from a root-filesystem
 * directory or from an OCI image whose layers are applied in order.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { forEachLayerEntry, type OciImage, type TarHeader } from '../archive/index.ts';
import { MAX_IMAGE_PATHS, MAX_LINK_TARGET_BYTES, MAX_XATTR_LIST_BYTES } from '../limits.ts';
import { impliedDirectory, NO_CONTENT, NO_XATTRS, type FileInfo, type FileMap } from '../types.ts';
import { UserError, imagePathFromEntryName, parentPath, progress, quote } from '../util.ts';
import { isPruned, type PruneRule } from './prune.ts';
import { writeScratchFile, type ImageContents } from './contents.ts';
import { LayerTree } from './tree.ts';
import { checkXattr, keepXattr, readTreeXattrs } from './xattrs.ts';

export { parsePruneRules, isPruned, type PruneRule } from './prune.ts';
export { hasGetfattr } from './xattrs.ts';
export { ImageContents } from './contents.ts';

export interface ScanOptions {
  prune?: PruneRule[];
  /** Skip sockets, FIFOs and devices instead of failing on them. */
  skipSpecial?: boolean;
}

export interface ImageScanOptions extends ScanOptions {
  /**
   * Without a spool directory: keeps the files a later phase reads (package databases) as they
   * pass, so that reading them costs no other pass over a layer.
   */
  contents?: ImageContents;
}

function sortedMap(entries: Iterable<FileInfo>): FileMap {
  const list = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Filled one by one: no [path, info] pair per path on the way.
  const map = new Map<string, FileInfo>();
  for (const f of list) map.set(f.path, f);
  return map;
}

/** Walks `root` with lstat (symlinks are never followed). */
export async function scanDirectory(root: string, options: ScanOptions = {}): Promise<FileMap> {
  const prune = options.prune ?? [];
  const rootStat = await lstat(root).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new UserError(`${root}: not a directory`);
  const xattrs = await readTreeXattrs(root);
  const out: FileInfo[] = [];
  const walk = async (hostDir: string, imageDir: string): Promise<void> => {
    const names = (await readdir(hostDir)).sort();
    for (const name of names) {
      const hostPath = join(hostDir, name);
      const path = imageDir === '/' ? `/${name}` : `${imageDir}/${name}`;
      if (isPruned(path, prune)) continue;
      if (out.length >= MAX_IMAGE_PATHS) throw new UserError(`${root}: more than ${MAX_IMAGE_PATHS} paths, more than this tool handles`);
      const st = await lstat(hostPath, { bigint: true });
      const base = {
        path,
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtime: Number(st.mtimeMs / 1000n),
        inode: `${st.dev}:${st.ino}`,
        nlink: Number(st.nlink),
        xattrs: Object.fromEntries(Object.entries(xattrs.get(hostPath) ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))),
      };
      if (st.isDirectory()) {
        out.push({ ...base, type: 'directory', size: 0, nlink: 1, linkTarget: '', content: { kind: 'none' } });
        await walk(hostPath, path);
      } else if (st.isFile()) {
        const size = Number(st.size);
        out.push({ ...base, type: 'file', size, linkTarget: '', content: size > 0 ? { kind: 'path', path: hostPath } : { kind: 'none' } });
      } else if (st.isSymbolicLink()) {
        out.push({ ...base, type: 'symlink', size: 0, nlink: 1, linkTarget: await readlink(hostPath), content: { kind: 'none' } });
      } else if (!options.skipSpecial) {
        throw new UserError(`${hostPath}: sockets, FIFOs and devices are not supported (prune it or skip special files)`);
      }
    }
  };
  await walk(root, '/');
  countLinks(out);
  return sortedMap(out);
}

/**
 * The FileInfo of a directory, file or symlink entry of a layer: what its header says (a file's size
 * only; permission bits without the type), and what the scan decided (inode, xattrs, content).
 */
function infoFromHeader(
  header: TarHeader,
  type: FileInfo['type'],
  path: string,
  inode: number,
  xattrs: FileInfo['xattrs'],
  linkTarget: string,
  content: FileInfo['content'],
): FileInfo {
  return {
    path,
    type,
    mode: header.mode & 0o7777,
    size: type === 'file' ? header.size : 0,
    uid: header.uid,
    gid: header.gid,
    mtime: header.mtime,
    inode,
    nlink: 1,
    linkTarget,
    xattrs,
    content,
  };
}

/** Recomputes nlink from inode groups: the number of names the image itself holds. */
function countLinks(files: Iterable<FileInfo>): void {
  const counts = new Map<string | number, number>();
  const list = [...files].filter((f) => f.type === 'file');
  for (const f of list) counts.set(f.inode, (counts.get(f.inode) ?? 0) + 1);
  for (const f of list) f.nlink = counts.get(f.inode) ?? 1;
}

/** The kept xattrs of an entry, base64 values by name; a name or value no file could have is an error. */
function keptXattrs(xattrs: ReadonlyMap<string, Buffer>, where: string, path: string): Record<string, string> {
  if (xattrs.size === 0) return NO_XATTRS;
  const out: Record<string, string> = {};
  let listBytes = 0;
  for (const [key, value] of [...xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    checkXattr(key, value.length, (problem) => {
      throw new UserError(`${where}: ${quote(path)}: ${problem}`);
    });
    listBytes += Buffer.byteLength(key) + 1;
    if (listBytes > MAX_XATTR_LIST_BYTES) {
      throw new UserError(`${where}: ${quote(path)}: xattr names take more than ${MAX_XATTR_LIST_BYTES} bytes (Linux's XATTR_LIST_MAX)`);
    }
    // The value's bytes as written: binary values (file capabilities, IMA signatures) stay exact.
    if (keepXattr(key)) out[key] = value.toString('base64');
  }
  return out;
}

/** Linux uids and gids are 32-bit; (2^32 - 1) means "no change" and is no owner. */
const MAX_LINUX_ID = 0xfffffffe;
/** Seconds representable as a JavaScript Date (100,000,000 days either side of 1970). */
const MAX_TIME_SECONDS = 8.64e12;

function checkId(what: string, value: number, where: string, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_LINUX_ID) {
    throw new UserError(`${where}: ${quote(path)}: ${what} ${value} is outside Linux's range`);
  }
}

function checkHeader(header: TarHeader, where: string, path: string): void {
  checkId('uid', header.uid, where, path);
  checkId('gid', header.gid, where, path);
  if (!Number.isSafeInteger(header.mtime) || Math.abs(header.mtime) > MAX_TIME_SECONDS) {
    throw new UserError(`${where}: ${quote(path)}: mtime ${header.mtime} is out of range`);
  }
}

/**
 * Applies the image's layers in order into one FileMap. With `spoolDir`, every regular file's
 * contents are copied there (one file each: extract moves them into place). Without it, a file's
 * content is where it lies in its layer (`{ kind: 'layer' }`), read again when the output is
 * written, and only the files `options.capture` wants are copied. Every layer operation costs what
 * it touches (see LayerTree), so the scan is linear in the layers' entries.
 */
export async function scanImage(image: OciImage, spoolDir: string | undefined, options: ImageScanOptions = {}): Promise<FileMap> {
  const prune = options.prune ?? [];
  const contents = spoolDir === undefined ? options.contents : undefined;
  const tree = new LayerTree(image.source);
  let spooled = 0;
  /** Entries seen in all layers: numbers the inodes of image files. */
  let serial = 0;

  const spool = async (dir: string, body: AsyncIterable<Buffer>): Promise<string> => {
    const spoolPath = join(dir, String(spooled++));
    await writeScratchFile(spoolPath, body);
    return spoolPath;
  };

  const layers = image.manifest.layers.length;
  for (let i = 0; i < layers; i++) {
    progress(`scan: layer ${i + 1}/${layers}`);
    const where = `${image.source}: layer ${i}`;
    /** Parents must be directories: writing through a symlink is how extracts escape their target. */
    const ensureParents = (path: string) => {
      // Usually the parent is there: no list then.
      let missing: string[] | undefined;
      for (let p = parentPath(path); p !== '/'; p = parentPath(p)) {
        const type = tree.typeOf(p);
        if (type !== undefined) {
          if (type !== 'directory') throw new UserError(`${where}: ${quote(path)} is below ${quote(p)}, which is a ${type}`);
          break;
        }
        (missing ??= []).push(p);
      }
      if (missing === undefined) return;
      for (const p of missing.reverse()) {
        tree.set(impliedDirectory(p, ++serial), i);
      }
    };

    // Not an async function: most entries need no waiting, and a promise per entry is garbage.
    await forEachLayerEntry(image, i, ({ header, offset, body }) => {
      // Unique per entry: a path replaced within a layer must not share an inode with the old one's links.
      const inode = ++serial;
      const path = imagePathFromEntryName(header.name, where);
      if (path === '/') return undefined;
      const slash = path.lastIndexOf('/');
      const base = path.slice(slash + 1);
      const dir = parentPath(path);
      if (base === '.wh..wh..opq') {
        tree.opaque(dir, i);
        return undefined;
      }
      if (base.startsWith('.wh.')) {
        const target = base.slice(4);
        if (target === '' || target === '.' || target === '..' || target.startsWith('.wh.')) {
          throw new UserError(`${where}: whiteout ${quote(path)} names no file`);
        }
        tree.remove(dir === '/' ? `/${target}` : `${dir}/${target}`);
        return undefined;
      }
      if (isPruned(path, prune)) return undefined;
      if (header.type === 'unknown') {
        throw new UserError(
          `${where}: ${quote(path)} has tar entry type ${quote(header.typeflag)}, which is not a file, directory or link`,
        );
      }
      if (header.type === 'character-device' || header.type === 'block-device' || header.type === 'fifo') {
        if (options.skipSpecial) return undefined;
        throw new UserError(
          `${where}: ${quote(path)} is a ${header.type}; devices, FIFOs and sockets are not supported (prune it or skip special files)`,
        );
      }
      checkHeader(header, where, path);

      ensureParents(path);
      const existing = tree.typeOf(path);
      if (existing !== undefined && !(existing === 'directory' && header.type === 'directory')) tree.remove(path);

      const xattrs = keptXattrs(header.xattrs, where, path);
      switch (header.type) {
        case 'directory':
          tree.set(infoFromHeader(header, 'directory', path, inode, xattrs, '', NO_CONTENT), i);
          break;
        case 'file': {
          if (header.size === 0) tree.set(infoFromHeader(header, 'file', path, inode, xattrs, '', NO_CONTENT), i);
          else if (spoolDir !== undefined)
            return spool(spoolDir, body).then((spooled) =>
              tree.set(infoFromHeader(header, 'file', path, inode, xattrs, '', { kind: 'path', path: spooled }), i),
            );
          else {
            tree.set(infoFromHeader(header, 'file', path, inode, xattrs, '', { kind: 'layer', layer: i, offset }), i);
            if (contents?.wants(path, header.size)) return contents.keep(i, offset, header.size, body);
          }
          break;
        }
        case 'symlink': {
          const target = header.linkname;
          if (target === '' || target.includes('\0') || Buffer.byteLength(target) > MAX_LINK_TARGET_BYTES) {
            throw new UserError(
              `${where}: symlink ${quote(path)} has ${target === '' ? 'an empty target' : `a target ${quote(target, 60)} no Linux symlink can have (empty, NUL or over ${MAX_LINK_TARGET_BYTES} bytes)`}`,
            );
          }
          tree.set(infoFromHeader(header, 'symlink', path, inode, xattrs, target, NO_CONTENT), i);
          break;
        }
        case 'link': {
          const targetPath = imagePathFromEntryName(header.linkname, where);
          const target = tree.get(targetPath);
          if (!target || target.type !== 'file') {
            throw new UserError(
              `${where}: hardlink ${quote(path)} points to ${quote(targetPath)}, which is not a regular file in the image`,
            );
          }
          // A hardlink shares everything with its target, including its xattrs.
          tree.set({ ...target, path }, i);
          break;
        }
      }
      return undefined;
    });
    contents?.layerChecked(i);
  }
  const files = tree.toFileMap();
  contents?.track(files);
  return files;
}
