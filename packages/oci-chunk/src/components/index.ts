/**
 * Phase 2 of the re-chunker: assign every path of the image to software components.
 *
 * Repositories (xattr 0, dpkg 10, apk 20, bigfiles 80) are consulted in priority order: a strong
 * pass over all paths, then a weak pass over what is left; the first repository with any claim on
 * a path wins it, and when that repository claims the path for several of its components (a
 * directory shared by packages) the path is copied into each. What nobody claims goes to
 * `chunkah/unclaimed`.
 */
import type { Component, FileInfo, FileMap } from '../types.ts';
import { collectGarbage } from '../util.ts';
import { loadApkRepository } from './apk.ts';
import { createBigFilesRepository, DEFAULT_BIG_FILE_THRESHOLD, inodeKey } from './bigfiles.ts';
import { loadDpkgRepository } from './dpkg.ts';
import { HOST_CONTENTS, ImagePaths, type ContentStore } from './image-fs.ts';
import { compareCodePoints } from './order.ts';
import type { Repository } from './repository.ts';
import { loadXattrRepository } from './xattr.ts';

export type { ComponentMeta, Repository } from './repository.ts';
export { changeStability, intervalStability, parseUpdateInterval, NO_CHANGE_STABILITY } from './stability.ts';
export { parseTrailerDate } from './changelog.ts';
export { readDpkgStatus } from './dpkg.ts';
export { readApkInstalled } from './apk.ts';
export { ImagePaths, resolveInImage, mayReadContent, HOST_CONTENTS, type ContentStore } from './image-fs.ts';
export { compareCodePoints } from './order.ts';
export { DEFAULT_BIG_FILE_THRESHOLD } from './bigfiles.ts';

export const UNCLAIMED_ID = 'chunkah/unclaimed';

/** A component being assembled: its repository, name and paths. */
interface Members {
  repo: Repository | undefined;
  name: string;
  paths: string[];
}

export interface ComponentOptions {
  /** Regular files of at least this many bytes left unclaimed become `bigfiles/` components. Default 1 MiB. */
  bigFileThreshold?: number;
  /**
   * Reference time in seconds for changelog-based stability ("changes in the last 365 days").
   * Default: the newest of every mtime in the map and every changelog date read, so that the same
   * input always gives the same output (never the wall clock).
   */
  now?: number;
  /** For a FileMap whose contents lie in image layers: where the files a repository reads come from. */
  contents?: ContentStore;
}

/**
 * Components of `files`, sorted by id (code point order), each with its paths sorted. Components
 * without paths are not returned; `chunkah/unclaimed` only appears when something is unclaimed.
 * Throws for malformed package databases, naming the file and line.
 */
export async function assignComponents(files: FileMap, options: ComponentOptions = {}): Promise<Component[]> {
  const threshold = options.bigFileThreshold ?? DEFAULT_BIG_FILE_THRESHOLD;
  if (!(threshold >= 0) || !Number.isFinite(threshold)) {
    throw new RangeError(`bigFileThreshold must be a non-negative number of bytes, got ${threshold}`);
  }
  if (options.now !== undefined && !Number.isFinite(options.now)) {
    throw new RangeError(`now must be a finite number of seconds, got ${options.now}`);
  }
  if (files.size === 0) return [];

  const paths = new ImagePaths(files);
  const loaded = [
    loadXattrRepository(files),
    await loadDpkgRepository(files, paths, options.contents ?? HOST_CONTENTS),
    await loadApkRepository(files, paths, options.contents ?? HOST_CONTENTS),
    createBigFilesRepository(threshold),
  ];
  const repos = loaded
    .filter((r): r is Repository => r !== undefined)
    .sort((a, b) => a.priority - b.priority || compareCodePoints(a.name, b.name));
  collectGarbage(); // what reading the package databases left (their lines, the path index's construction)

  // Claims go straight into their components (paths are sorted below): no record per path.
  const byId = new Map<string, Members>();
  /** Per repository: component name -> its entry, so that a claim costs no id string. */
  const byName = new Map<Repository | undefined, Map<string, Members>>();
  const add = (repo: Repository | undefined, name: string, path: string): void => {
    let names = byName.get(repo);
    if (names === undefined) byName.set(repo, (names = new Map<string, Members>()));
    let entry = names.get(name);
    if (entry === undefined) {
      const id = `${repo?.name ?? 'chunkah'}/${name}`;
      entry = byId.get(id);
      if (entry === undefined) byId.set(id, (entry = { repo, name, paths: [] }));
      names.set(name, entry);
    }
    entry.paths.push(path);
  };
  const left = new Map<string, FileInfo>();
  for (const [path, info] of files) {
    let claimed = false;
    for (const repo of repos) {
      const names = repo.strong(path, info);
      if (names.length > 0) {
        for (const name of names) add(repo, name, path);
        claimed = true;
        break;
      }
    }
    if (!claimed) left.set(path, info);
  }
  for (const repo of repos) {
    if (left.size === 0) break;
    for (const [path, names] of repo.weak(left)) {
      if (names.length === 0 || !left.has(path)) continue;
      for (const name of names) add(repo, name, path);
      left.delete(path);
    }
  }
  for (const path of left.keys()) add(undefined, 'unclaimed', path);

  const now = options.now ?? referenceTime(files, repos);

  const components: Component[] = [];
  for (const [id, { repo, name, paths }] of byId) {
    paths.sort(compareCodePoints);
    // Bytes of the layer: each inode once, as hardlinks are written as link entries.
    const inodes = new Set<string>();
    let size = 0;
    for (const path of paths) {
      const info = files.get(path);
      if (info?.type !== 'file') continue;
      const key = inodeKey(info);
      if (inodes.has(key)) continue;
      inodes.add(key);
      size += info.size;
    }
    const meta = repo === undefined ? { stability: 0, mtimeClamp: Infinity } : repo.meta(name, now);
    components.push({ id, paths, size, stability: meta.stability, mtimeClamp: meta.mtimeClamp });
  }
  return components.sort((a, b) => compareCodePoints(a.id, b.id));
}

function referenceTime(files: FileMap, repos: readonly Repository[]): number {
  let now = -Infinity;
  for (const info of files.values()) now = Math.max(now, info.mtime);
  for (const repo of repos) now = Math.max(now, repo.newestChange() ?? -Infinity);
  return now;
}
