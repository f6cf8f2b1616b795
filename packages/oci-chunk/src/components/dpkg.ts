/**
 * The `dpkg` repository (priority 10): Debian's package database. A component is a source package;
 * it owns the files its binary packages list in `/var/lib/dpkg/info/<pkg>[:<arch>].list`, and the
 * packages' own control files in that directory (`<pkg>.md5sums`, `.postinst`, ... change exactly
 * when the package does). The shared database files (`status`, `available`, `diversions`, ...)
 * change with every package and are left unclaimed.
 */
import type { FileInfo, FileMap } from '../types.ts';
import { ClaimTable } from './claims.ts';
import { parseTrailerDate } from './changelog.ts';
import { readStanzas } from './deb822.ts';
import { MAX_CHANGELOG_TOTAL_BYTES, MAX_PACKAGES, MAX_PATH_BYTES } from '../limits.ts';
import { UserError, quote } from '../util.ts';
import { ImagePaths, HOST_CONTENTS, readImageLines, type ContentStore, type ReadBudget } from './image-fs.ts';
import { NO_WEAK_CLAIMS, type Repository } from './repository.ts';
import { changeStability } from './stability.ts';

export const DPKG_STATUS = '/var/lib/dpkg/status';
export const DPKG_INFO_DIR = '/var/lib/dpkg/info';

/** Debian policy allows lower case only; upper case is tolerated (old databases have it). */
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+.~_-]{0,254}$/;
const ARCHITECTURE = /^[a-z0-9][a-z0-9-]{0,63}$/;

export interface DpkgPackage {
  /** Binary package name. */
  name: string;
  /** `Architecture:` field; empty when absent. */
  arch: string;
  /** Component name: the source package (`Source:` without its version), else the package. */
  component: string;
}

/**
 * Installed packages from a status file, in file order. A stanza is installed when the third word
 * of `Status:` is `installed`; stanzas without `Status:` are not. A stanza without `Package:`, a
 * package, source or architecture name dpkg would not accept (they become paths and layer names),
 * more than MAX_PACKAGES packages, or any malformed line, throws a UserError naming the file and line.
 */
export async function readDpkgStatus(lines: AsyncIterable<string>, where: string): Promise<DpkgPackage[]> {
  const packages: DpkgPackage[] = [];
  for await (const stanza of readStanzas(lines, where)) {
    const name = stanza.fields.get('package');
    if (name === undefined || name === '') {
      throw new UserError(`${where}:${stanza.line}: stanza without a Package field`);
    }
    const status = (stanza.fields.get('status') ?? '').split(/\s+/);
    if (status[2] !== 'installed') continue;
    const source = (stanza.fields.get('source') ?? '').split(/\s+/)[0] ?? '';
    const arch = stanza.fields.get('architecture') ?? '';
    for (const [what, value, pattern] of [
      ['package', name, PACKAGE_NAME],
      ['source package', source, PACKAGE_NAME],
      ['architecture', arch, ARCHITECTURE],
    ] as const) {
      if (value !== '' && !pattern.test(value)) throw new UserError(`${where}:${stanza.line}: invalid ${what} name ${quote(value, 60)}`);
    }
    if (packages.length >= MAX_PACKAGES) throw new UserError(`${where}: more than ${MAX_PACKAGES} installed packages`);
    packages.push({ name, arch, component: source || name });
  }
  return packages;
}

/** The dpkg repository for `files`, or undefined when the image has no dpkg status file. */
export async function loadDpkgRepository(
  files: FileMap,
  paths = new ImagePaths(files),
  contents: ContentStore = HOST_CONTENTS,
): Promise<Repository | undefined> {
  const statusFile = paths.findFile(DPKG_STATUS);
  if (statusFile === undefined) return undefined;
  await contents.fetch([statusFile]);
  const packages = await readDpkgStatus(readImageLines(statusFile, { contents }), DPKG_STATUS);

  // Every file read below is known before the first is read: their contents are fetched at once.
  const lists: { pkg: DpkgPackage; list: FileInfo }[] = [];
  for (const pkg of packages) {
    const candidates = pkg.arch === '' ? [pkg.name] : [`${pkg.name}:${pkg.arch}`, pkg.name];
    for (const base of candidates) {
      const list = paths.findFile(`${DPKG_INFO_DIR}/${base}.list`);
      if (list === undefined) continue;
      lists.push({ pkg, list });
      break;
    }
  }
  const changelogs: { pkg: DpkgPackage; changelog: FileInfo }[] = [];
  const readChangelogs = new Set<string>();
  for (const pkg of packages) {
    for (const name of ['changelog.Debian.gz', 'changelog.gz']) {
      const changelog = paths.findFile(`/usr/share/doc/${pkg.name}/${name}`);
      if (changelog === undefined) continue;
      // Packages built from one source often share one doc directory through a symlink.
      if (!readChangelogs.has(changelog.path)) {
        readChangelogs.add(changelog.path);
        changelogs.push({ pkg, changelog });
      }
      break;
    }
  }
  await contents.fetch([...lists.map((l) => l.list), ...changelogs.map((c) => c.changelog)]);

  const claims = new ClaimTable();
  /** `pkg` and `pkg:arch` -> component, for the control files in the info directory. */
  const byInfoName = new Map<string, string>();
  for (const pkg of packages) {
    byInfoName.set(pkg.name, pkg.component);
    if (pkg.arch !== '') byInfoName.set(`${pkg.name}:${pkg.arch}`, pkg.component);
  }
  for (const { pkg, list } of lists) {
    let lineNo = 0;
    for await (const line of readImageLines(list, { contents })) {
      lineNo++;
      // Listed paths absent from the map (the root `/.`, pruned paths, paths removed by a later
      // layer) are ignored.
      if (line === '') continue;
      if (line.length > MAX_PATH_BYTES || Buffer.byteLength(line) > MAX_PATH_BYTES) {
        throw new UserError(`${list.path}:${lineNo}: a path longer than ${MAX_PATH_BYTES} bytes (Linux's PATH_MAX)`);
      }
      const path = paths.resolve(line, false);
      if (path !== undefined && files.has(path)) claims.add(path, pkg.component);
    }
  }

  for (const path of files.keys()) {
    if (!path.startsWith(`${DPKG_INFO_DIR}/`)) continue;
    const base = path.slice(DPKG_INFO_DIR.length + 1);
    const dot = base.lastIndexOf('.');
    if (base.includes('/') || dot <= 0) continue;
    // Control file names end in a dot-free suffix (list, md5sums, postinst, ...), so the package
    // part is everything before the last dot even for package names with dots.
    const component = byInfoName.get(base.slice(0, dot));
    if (component !== undefined) claims.add(path, component);
  }

  const dates = new Map<string, number[]>();
  let newest: number | undefined;
  const budget: ReadBudget = { left: MAX_CHANGELOG_TOTAL_BYTES, what: `changelogs together (${MAX_CHANGELOG_TOTAL_BYTES} bytes at most)` };
  for (const { pkg, changelog } of changelogs) {
    let list = dates.get(pkg.component);
    if (list === undefined) dates.set(pkg.component, (list = []));
    for await (const line of readImageLines(changelog, { gunzip: true, budget, contents })) {
      const t = parseTrailerDate(line);
      if (t === undefined) continue;
      list.push(t);
      newest = Math.max(newest ?? -Infinity, t);
    }
  }

  return {
    name: 'dpkg',
    priority: 10,
    strong: (path) => claims.get(path),
    weak: () => NO_WEAK_CLAIMS,
    meta: (name, now) => ({ stability: changeStability(dates.get(name) ?? [], now), mtimeClamp: Infinity }),
    newestChange: () => newest,
  };
}
