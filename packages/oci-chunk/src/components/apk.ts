/**
 * The `apk` repository (priority 20): Alpine's `/lib/apk/db/installed`. A component is a package's
 * origin (its source package), else the package name. Packages own their `F:` folders and the `R:`
 * files inside them. apk keeps no change history, so every apk component gets the "no known change"
 * stability (0.99). The database files themselves are left unclaimed (they change with every package).
 */
import type { FileMap } from '../types.ts';
import { ClaimTable } from './claims.ts';
import { MAX_PACKAGES, MAX_PATH_BYTES } from '../limits.ts';
import { UserError, quote } from '../util.ts';
import { ImagePaths, HOST_CONTENTS, readImageLines, type ContentStore } from './image-fs.ts';
import { NO_WEAK_CLAIMS, type Repository } from './repository.ts';
import { NO_CHANGE_STABILITY } from './stability.ts';

export const APK_INSTALLED = '/lib/apk/db/installed';

export interface ApkPackage {
  name: string;
  component: string;
  /** Absolute paths of its folders and files, as listed. */
  paths: string[];
}

/**
 * Packages from an installed database: blank-line separated stanzas of `X:value` lines. `F:` sets
 * the current folder (relative to the root), `R:` names a file in it (in the root before any `F:`).
 * A line not of the `X:value` form, a stanza without `P:`, a listed path longer than PATH_MAX or
 * more than MAX_PACKAGES packages throws a UserError naming the file and line.
 */
export async function readApkInstalled(lines: AsyncIterable<string>, where: string): Promise<ApkPackage[]> {
  const packages: ApkPackage[] = [];
  let name = '';
  let origin = '';
  let folder = '';
  let paths: string[] = [];
  let start = 0;
  let lineNo = 0;
  const finish = (): void => {
    if (start === 0) return;
    if (name === '') throw new UserError(`${where}:${start}: package stanza without a P: line`);
    if (packages.length >= MAX_PACKAGES) throw new UserError(`${where}: more than ${MAX_PACKAGES} installed packages`);
    packages.push({ name, component: origin || name, paths });
    name = origin = folder = '';
    paths = [];
    start = 0;
  };
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') {
      finish();
      continue;
    }
    if (line.length < 2 || line[1] !== ':' || !/^[A-Za-z]$/.test(line[0] as string)) {
      throw new UserError(`${where}:${lineNo}: expected "X:value", got ${quote(line, 60)}`);
    }
    if (start === 0) start = lineNo;
    const value = line.slice(2);
    switch (line[0]) {
      case 'P':
        name = value;
        break;
      case 'o':
        origin = value;
        break;
      case 'F':
        folder = trimSlashes(value);
        if (folder !== '') paths.push(checkedPath(`/${folder}`, where, lineNo));
        break;
      case 'R':
        paths.push(checkedPath(folder === '' ? `/${value}` : `/${folder}/${value}`, where, lineNo));
        break;
      default:
        break;
    }
  }
  finish();
  return packages;
}

/** `value` without leading and trailing slashes (a loop: /\/+$/ backtracks quadratically on long runs). */
function trimSlashes(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && value[start] === '/') start++;
  while (end > start && value[end - 1] === '/') end--;
  return value.slice(start, end);
}

function checkedPath(path: string, where: string, lineNo: number): string {
  if (path.length > MAX_PATH_BYTES || Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw new UserError(`${where}:${lineNo}: a path longer than ${MAX_PATH_BYTES} bytes (Linux's PATH_MAX)`);
  }
  return path;
}

/** The apk repository for `files`, or undefined when the image has no apk database. */
export async function loadApkRepository(
  files: FileMap,
  paths = new ImagePaths(files),
  contents: ContentStore = HOST_CONTENTS,
): Promise<Repository | undefined> {
  const installed = paths.findFile(APK_INSTALLED);
  if (installed === undefined) return undefined;
  await contents.fetch([installed]);
  const claims = new ClaimTable();
  for (const pkg of await readApkInstalled(readImageLines(installed, { contents }), APK_INSTALLED)) {
    for (const listed of pkg.paths) {
      const path = paths.resolve(listed, false);
      if (path !== undefined && files.has(path)) claims.add(path, pkg.component);
    }
  }
  return {
    name: 'apk',
    priority: 20,
    strong: (path) => claims.get(path),
    weak: () => NO_WEAK_CLAIMS,
    meta: () => ({ stability: NO_CHANGE_STABILITY, mtimeClamp: Infinity }),
    newestChange: () => undefined,
  };
}
