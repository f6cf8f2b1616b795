/**
 * The `bigfiles` repository (priority 80, weak only): every regular file of at least the threshold
 * left unclaimed by the strong passes becomes its own component, so that one big blob changing does
 * not drag a layer of small files with it.
 */
import type { FileInfo, FileMap } from '../types.ts';
import { compareCodePoints } from './order.ts';
import type { Repository } from './repository.ts';

export const DEFAULT_BIG_FILE_THRESHOLD = 1024 * 1024;

/** Equal keys mean one inode (hardlinks); files with a single name key by path. */
export function inodeKey(info: FileInfo): string {
  return info.nlink > 1 && info.inode !== '' ? `inode:${info.inode}` : `path:${info.path}`;
}

function depth(path: string): number {
  let n = 0;
  for (const c of path) if (c === '/') n++;
  return n;
}

/**
 * Names of the big files in `left`: hardlinks of one inode form one component, represented by their
 * first path. Representatives are taken shallowest first, then in path order; each is named by its
 * basename unless an earlier one took it, then by its path without the leading `/`. Taking the
 * shallowest first means a top-level file (whose path is its basename) always gets its basename, so
 * the path-named ones, which contain a `/`, can never collide with a basename.
 */
export function nameBigFiles(left: FileMap, threshold: number): Map<string, string> {
  const groups = new Map<string, string[]>();
  for (const [path, info] of left) {
    if (info.type !== 'file' || info.size < threshold) continue;
    const key = inodeKey(info);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [path]);
    else group.push(path);
  }
  const representatives = [...groups.values()].map((paths) => {
    paths.sort(compareCodePoints);
    return paths;
  });
  representatives.sort((a, b) => depth(a[0] as string) - depth(b[0] as string) || compareCodePoints(a[0] as string, b[0] as string));
  const taken = new Set<string>();
  const names = new Map<string, string>();
  for (const paths of representatives) {
    const first = paths[0] as string;
    const base = first.slice(first.lastIndexOf('/') + 1);
    const name = taken.has(base) ? first.slice(1) : base;
    taken.add(name);
    for (const p of paths) names.set(p, name);
  }
  return names;
}

export function createBigFilesRepository(threshold: number): Repository {
  return {
    name: 'bigfiles',
    priority: 80,
    strong: () => [],
    weak(left) {
      const claims = new Map<string, readonly string[]>();
      for (const [path, name] of nameBigFiles(left, threshold)) claims.set(path, [name]);
      return claims;
    },
    meta: () => ({ stability: 0, mtimeClamp: Infinity }),
    newestChange: () => undefined,
  };
}
