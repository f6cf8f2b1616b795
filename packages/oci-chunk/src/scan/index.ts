/**
 * The scan phase: a FileMap (absolute image path -> FileInfo, sorted) from a root-filesystem
 * directory or from an OCI image whose layers are applied in order.
 */
import { createWriteStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Header } from 'tar-stream';
import { forEachLayerEntry, type OciImage } from '../archive/index.ts';
import type { FileInfo, FileMap } from '../types.ts';
import { UserError, imagePathFromEntryName, isSameOrBelow, parentPath, progress } from '../util.ts';
import { isPruned, type PruneRule } from './prune.ts';
import { checkXattr, keepXattr, readTreeXattrs } from './xattrs.ts';

export { parsePruneRules, isPruned, type PruneRule } from './prune.ts';
export { hasGetfattr } from './xattrs.ts';

export interface ScanOptions {
  prune?: PruneRule[];
  /** Skip sockets, FIFOs and devices instead of failing on them. */
  skipSpecial?: boolean;
}

function sortedMap(entries: Iterable<FileInfo>): FileMap {
  const list = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return new Map(list.map((f) => [f.path, f]));
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

/** Recomputes nlink from inode groups: the number of names the image itself holds. */
function countLinks(files: Iterable<FileInfo>): void {
  const counts = new Map<string, number>();
  const list = [...files].filter((f) => f.type === 'file');
  for (const f of list) counts.set(f.inode, (counts.get(f.inode) ?? 0) + 1);
  for (const f of list) f.nlink = counts.get(f.inode) ?? 1;
}

/** The kept xattrs of a PAX header, base64 values by name; a name or value no file could have is an error. */
function xattrsFromPax(pax: unknown, where: string, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!pax || typeof pax !== 'object') return out;
  const keys = Object.keys(pax)
    .filter((k) => k.startsWith('SCHILY.xattr.'))
    .sort();
  for (const k of keys) {
    const key = k.slice('SCHILY.xattr.'.length);
    const value = Buffer.from(String((pax as Record<string, string>)[k]), 'utf8');
    checkXattr(key, value.length, (problem) => {
      throw new UserError(`${where}: "${path}": ${problem}`);
    });
    if (keepXattr(key)) out[key] = value.toString('base64');
  }
  return out;
}

/**
 * Applies the image's layers in order into one FileMap. Regular file contents are spooled to
 * `spoolDir` (one file each) so later phases can stream them.
 */
export async function scanImage(image: OciImage, spoolDir: string, options: ScanOptions = {}): Promise<FileMap> {
  const prune = options.prune ?? [];
  const files = new Map<string, FileInfo>();
  /** Layer index each path was last written by: opaque markers only hide lower layers. */
  const layerOf = new Map<string, number>();
  let spooled = 0;

  const removeTree = (path: string, belowOnly: boolean, olderThan = Infinity) => {
    const existing = files.get(path);
    if (!belowOnly && existing && (layerOf.get(path) ?? 0) < olderThan) {
      files.delete(path);
      layerOf.delete(path);
    }
    if (belowOnly || existing?.type === 'directory') {
      for (const p of [...files.keys()]) {
        if (p !== path && isSameOrBelow(p, path) && (layerOf.get(p) ?? 0) < olderThan) {
          files.delete(p);
          layerOf.delete(p);
        }
      }
    }
  };

  const layers = image.manifest.layers.length;
  for (let i = 0; i < layers; i++) {
    progress(`scan: layer ${i + 1}/${layers}`);
    const where = `${image.source}: layer ${i}`;
    /** Parents must be directories: writing through a symlink is how extracts escape their target. */
    const ensureParents = (path: string) => {
      const missing: string[] = [];
      for (let p = parentPath(path); p !== '/'; p = parentPath(p)) {
        const f = files.get(p);
        if (f) {
          if (f.type !== 'directory') throw new UserError(`${where}: "${path}" is below "${p}", which is a ${f.type}`);
          break;
        }
        missing.push(p);
      }
      for (const p of missing.reverse()) {
        files.set(p, {
          path: p,
          type: 'directory',
          mode: 0o755,
          size: 0,
          uid: 0,
          gid: 0,
          mtime: 0,
          inode: `L${i}:${p}`,
          nlink: 1,
          linkTarget: '',
          xattrs: {},
          content: { kind: 'none' },
        });
        layerOf.set(p, i);
      }
    };

    await forEachLayerEntry(image, i, async (header: Header, body) => {
      const path = imagePathFromEntryName(header.name, where);
      const drain = async () => {
        for await (const _ of body) void _;
      };
      if (path === '/') return drain();
      const slash = path.lastIndexOf('/');
      const base = path.slice(slash + 1);
      const dir = parentPath(path);
      if (base === '.wh..wh..opq') {
        removeTree(dir, true, i);
        return drain();
      }
      if (base.startsWith('.wh.')) {
        removeTree(dir === '/' ? `/${base.slice(4)}` : `${dir}/${base.slice(4)}`, false);
        return drain();
      }
      if (isPruned(path, prune)) return drain();

      ensureParents(path);
      const existing = files.get(path);
      if (existing && !(existing.type === 'directory' && header.type === 'directory')) removeTree(path, false);

      const common = {
        path,
        mode: header.mode & 0o7777,
        uid: header.uid,
        gid: header.gid,
        mtime: Math.floor(header.mtime.getTime() / 1000),
        inode: `L${i}:${path}`,
        nlink: 1,
        xattrs: xattrsFromPax(header.pax, where, path),
      };
      switch (header.type) {
        case 'directory':
          files.set(path, { ...common, type: 'directory', size: 0, linkTarget: '', content: { kind: 'none' } });
          await drain();
          break;
        case 'file':
        case 'contiguous-file': {
          let content: FileInfo['content'] = { kind: 'none' };
          if (header.size > 0) {
            const spoolPath = join(spoolDir, String(spooled++));
            await pipeline(body, createWriteStream(spoolPath));
            content = { kind: 'path', path: spoolPath };
          } else {
            await drain();
          }
          files.set(path, { ...common, type: 'file', size: header.size, linkTarget: '', content });
          break;
        }
        case 'symlink':
          files.set(path, { ...common, type: 'symlink', size: 0, linkTarget: header.linkname ?? '', content: { kind: 'none' } });
          await drain();
          break;
        case 'link': {
          const targetPath = imagePathFromEntryName(header.linkname ?? '', where);
          const target = files.get(targetPath);
          if (!target || target.type !== 'file') {
            throw new UserError(`${where}: hardlink "${path}" points to "${targetPath}", which is not a regular file in the image`);
          }
          // A hardlink shares everything with its target, including its xattrs.
          files.set(path, { ...target, path });
          await drain();
          break;
        }
        default:
          if (!options.skipSpecial) {
            throw new UserError(
              `${where}: "${path}" is a ${header.type}; devices, FIFOs and sockets are not supported (prune it or skip special files)`,
            );
          }
          await drain();
          return;
      }
      layerOf.set(path, i);
    });
  }
  countLinks(files.values());
  return sortedMap(files.values());
}
