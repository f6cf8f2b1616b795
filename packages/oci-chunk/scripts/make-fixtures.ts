/**
 * Generates the committed fixture images under fixtures/ (deterministic: same bytes every run).
 *   npm run fixtures            (from the repository root; or: node packages/oci-chunk/scripts/make-fixtures.ts [outdir])
 *
 * - debian-v1/v2/v3.oci.tar: a Debian-like root filesystem (dpkg status with Source: fields,
 *   info/*.list, changelog.Debian.gz with dated entries), an xattr component, hardlinks, symlinks,
 *   a setuid file, non-root owners, a 1.5 MiB compressible file; v2 updates bash, v3 coreutils,
 *   tzdata and the xattr component.
 * - layered.oci.tar: two layers, the second with a whiteout and an opaque directory.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isMainModule } from '../src/util.ts';
import { FIXTURE_MTIME, writeImageArchive, type EntrySpec } from './fixture-image.ts';

interface Package {
  name: string;
  source?: string;
  version: string;
  arch: string;
  /** Files with their size (content is derived from name + version). */
  files: Record<string, number>;
  /** Extra entries (symlinks, hardlinks) owned by the package. */
  links?: EntrySpec[];
  /** Changelog dates, newest first (RFC 2822). */
  changes: string[];
  mode?: Record<string, number>;
}

function filler(seed: string, size: number): Buffer {
  // Text that compresses well but differs per package/version, so layers change when packages do.
  const line = `${seed} `.repeat(8) + '\n';
  return Buffer.from(line.repeat(Math.ceil(size / line.length)).slice(0, size));
}

function changelog(pkg: Package): Buffer {
  const parts = pkg.changes.map(
    (date, i) =>
      `${pkg.source ?? pkg.name} (${i === 0 ? pkg.version : `${pkg.version}~old${i}`}) unstable; urgency=medium\n\n` +
      `  * Change number ${pkg.changes.length - i}.\n\n -- Fixture Maintainer <fixtures@example.org>  ${date}\n\n`,
  );
  return gzipSync(Buffer.from(parts.join('')), { level: 9 });
}

function packages(version: 1 | 2 | 3): Package[] {
  const bashV = version >= 2 ? '5.2.15-2+deb12u1' : '5.2.15-2';
  const coreV = version >= 3 ? '9.1-1+deb12u1' : '9.1-1';
  const tzV = version >= 3 ? '2025a-0+deb12u1' : '2024a-0+deb12u1';
  return [
    {
      name: 'base-files',
      version: '12.4+deb12u5',
      arch: 'amd64',
      files: { '/etc/debian_version': 5, '/usr/lib/os-release': 300 },
      links: [{ name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' }],
      changes: ['Sat, 10 Feb 2024 10:00:00 +0000', 'Sat, 10 Jun 2023 10:00:00 +0000'],
    },
    {
      name: 'libc6',
      source: 'glibc',
      version: '2.36-9+deb12u4',
      arch: 'amd64',
      files: { '/usr/lib/x86_64-linux-gnu/libc.so.6': 60_000, '/usr/lib/x86_64-linux-gnu/libm.so.6': 30_000 },
      changes: ['Tue, 30 Jan 2024 12:00:00 +0000', 'Wed, 04 Oct 2023 12:00:00 +0000', 'Mon, 12 Jun 2023 12:00:00 +0000'],
    },
    {
      name: 'libc-bin',
      source: 'glibc (2.36-9+deb12u4)',
      version: '2.36-9+deb12u4',
      arch: 'amd64',
      files: { '/usr/bin/ldd': 5_000, '/usr/sbin/ldconfig': 20_000 },
      changes: ['Tue, 30 Jan 2024 12:00:00 +0000'],
    },
    {
      name: 'coreutils',
      version: coreV,
      arch: 'amd64',
      files: { '/usr/bin/ls': 40_000, '/usr/bin/cat': 10_000, '/usr/bin/chmod': 15_000 },
      changes: version >= 3 ? ['Mon, 01 Jul 2024 08:00:00 +0000', 'Fri, 23 Sep 2022 08:00:00 +0000'] : ['Fri, 23 Sep 2022 08:00:00 +0000'],
    },
    {
      name: 'bash',
      version: bashV,
      arch: 'amd64',
      files: { '/usr/bin/bash': 50_000, '/etc/bash.bashrc': 2_000 },
      links: [{ name: 'usr/bin/rbash', type: 'symlink', linkname: 'bash' }],
      changes: version >= 2 ? ['Sun, 05 May 2024 09:00:00 +0000', 'Thu, 12 Jan 2023 09:00:00 +0000'] : ['Thu, 12 Jan 2023 09:00:00 +0000'],
    },
    {
      name: 'gzip',
      version: '1.12-1',
      arch: 'amd64',
      files: { '/usr/bin/gzip': 30_000 },
      // gzip and uncompress: one inode with two names.
      links: [{ name: 'usr/bin/uncompress', type: 'link', linkname: 'usr/bin/gzip' }],
      changes: ['Sat, 09 Apr 2022 11:00:00 +0000'],
    },
    {
      name: 'login',
      version: '1:4.13+dfsg1-1',
      arch: 'amd64',
      source: 'shadow',
      files: { '/usr/bin/su': 25_000, '/usr/bin/passwd': 20_000 },
      mode: { '/usr/bin/su': 0o4755, '/usr/bin/passwd': 0o4755 },
      changes: ['Sat, 01 Apr 2023 11:00:00 +0000'],
    },
    {
      name: 'tzdata',
      version: tzV,
      arch: 'all',
      files: { '/usr/share/zoneinfo/UTC': 120, '/usr/share/zoneinfo/Europe/Paris': 2_900 },
      links: [{ name: 'usr/share/zoneinfo/Etc/UTC', type: 'link', linkname: 'usr/share/zoneinfo/UTC' }],
      changes:
        version >= 3
          ? ['Mon, 20 Jan 2025 10:00:00 +0000', 'Sat, 03 Feb 2024 10:00:00 +0000', 'Wed, 29 Mar 2023 10:00:00 +0000']
          : ['Sat, 03 Feb 2024 10:00:00 +0000', 'Wed, 29 Mar 2023 10:00:00 +0000'],
    },
  ];
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) out.push('/' + parts.slice(0, i).join('/'));
  return out;
}

function debianLike(version: 1 | 2 | 3): EntrySpec[] {
  const pkgs = packages(version);
  const files = new Map<string, EntrySpec>();
  const dirs = new Set<string>([
    '/etc',
    '/usr',
    '/usr/bin',
    '/usr/sbin',
    '/usr/lib',
    '/var',
    '/var/lib',
    '/var/lib/dpkg',
    '/var/lib/dpkg/info',
    '/tmp',
    '/opt',
    '/home',
  ]);
  const add = (e: EntrySpec) => {
    files.set('/' + e.name, e);
    for (const a of ancestors('/' + e.name)) dirs.add(a);
  };
  const status: string[] = [];
  for (const pkg of pkgs) {
    const owned = new Set<string>();
    for (const [path, size] of Object.entries(pkg.files)) {
      add({
        name: path.slice(1),
        type: 'file',
        content: filler(`${pkg.name}:${path}:${pkg.version}`, size),
        mode: pkg.mode?.[path] ?? 0o755,
      });
      owned.add(path);
    }
    for (const link of pkg.links ?? []) {
      add(link);
      owned.add('/' + link.name);
    }
    const doc = `/usr/share/doc/${pkg.name}/changelog.Debian.gz`;
    add({ name: doc.slice(1), type: 'file', content: changelog(pkg) });
    owned.add(doc);
    for (const p of [...owned]) for (const a of ancestors(p)) owned.add(a);
    const list = ['/.', ...[...owned].sort()].join('\n') + '\n';
    const listName = pkg.arch === 'all' ? pkg.name : `${pkg.name}:${pkg.arch}`;
    add({ name: `var/lib/dpkg/info/${listName}.list`, type: 'file', content: list });
    status.push(
      [
        `Package: ${pkg.name}`,
        'Status: install ok installed',
        'Priority: required',
        `Architecture: ${pkg.arch}`,
        ...(pkg.source ? [`Source: ${pkg.source}`] : []),
        `Version: ${pkg.version}`,
        'Maintainer: Fixture Maintainer <fixtures@example.org>',
        `Description: fixture package ${pkg.name}`,
        ' A package of the fixture image.',
      ].join('\n'),
    );
  }
  add({ name: 'var/lib/dpkg/status', type: 'file', content: status.join('\n\n') + '\n' });
  // Unclaimed by any package.
  add({ name: 'etc/hostname', type: 'file', content: 'fixture\n' });
  add({ name: 'home/user/.profile', type: 'file', content: 'export PATH\n', uid: 1000, gid: 1000 });
  // usrmerge-style top-level symlinks.
  add({ name: 'bin', type: 'symlink', linkname: 'usr/bin' });
  add({ name: 'lib', type: 'symlink', linkname: 'usr/lib' });
  // An application identified by an xattr on its directory (inherited by descendants).
  const appData = version >= 3 ? 'myapp data, release 2\n' : 'myapp data, release 1\n';
  add({ name: 'opt/myapp/bin/myapp', type: 'file', content: filler('myapp-binary', 8_000), mode: 0o755 });
  add({ name: 'opt/myapp/share/data.txt', type: 'file', content: appData, xattrs: { 'user.note': 'kept as is' } });
  // Over 1 MiB: its own bigfiles component. Compressible, so the gzip layer stays small.
  add({ name: 'opt/models/model.bin', type: 'file', content: filler('model-weights-0123456789', 1_536 * 1024) });

  const entries: EntrySpec[] = [];
  for (const d of [...dirs].sort()) {
    const e: EntrySpec = { name: d.slice(1) + '/', type: 'directory', mtime: FIXTURE_MTIME - 100 };
    if (d === '/tmp') e.mode = 0o1777;
    if (d === '/home/user') Object.assign(e, { uid: 1000, gid: 1000, mode: 0o750 });
    if (d === '/opt/myapp') e.xattrs = { 'user.component': 'myapp', 'user.update-interval': 'monthly' };
    entries.push(e);
  }
  // Hardlinks must come after their targets: the tar is written in path order, links last.
  const sorted = [...files.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  entries.push(...sorted.filter((e) => e.type !== 'link'), ...sorted.filter((e) => e.type === 'link'));
  return entries;
}

function layered(): EntrySpec[][] {
  return [
    [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/keep.conf', type: 'file', content: 'keep\n' },
      { name: 'etc/removed.conf', type: 'file', content: 'removed by a whiteout\n' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/app/', type: 'directory' },
      { name: 'var/cache/app/old-1', type: 'file', content: 'old\n' },
      { name: 'var/cache/app/old-2', type: 'file', content: 'old\n' },
      { name: 'usr/', type: 'directory' },
      { name: 'usr/bin/', type: 'directory' },
      { name: 'usr/bin/tool', type: 'file', content: 'v1\n', mode: 0o755 },
    ],
    [
      { name: 'etc/.wh.removed.conf', type: 'file' },
      { name: 'var/cache/app/', type: 'directory', mode: 0o700 },
      { name: 'var/cache/app/.wh..wh..opq', type: 'file' },
      { name: 'var/cache/app/new', type: 'file', content: 'new\n' },
      { name: 'usr/bin/tool', type: 'file', content: 'v2\n', mode: 0o755 },
    ],
  ];
}

const IMAGE_CONFIG = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: ['/usr/bin/bash'],
  WorkingDir: '/',
  Labels: { 'org.opencontainers.image.title': 'alloc-tracker fixture' },
};

export async function makeFixtures(outDir: string): Promise<string[]> {
  await mkdir(join(outDir, 'series'), { recursive: true });
  const written: string[] = [];
  for (const v of [1, 2, 3] as const) {
    const out = join(outDir, 'series', `debian-v${v}.oci.tar`);
    await writeImageArchive({ layers: [debianLike(v)], gzip: true, config: IMAGE_CONFIG, created: `2024-0${v}-01T00:00:00Z` }, out);
    written.push(out);
  }
  const out = join(outDir, 'layered.oci.tar');
  await writeImageArchive({ layers: layered(), gzip: false, config: { Cmd: ['/usr/bin/tool'] } }, out);
  written.push(out);
  return written;
}

if (isMainModule(import.meta.url)) {
  // Default: the repository's fixtures/, wherever this is run from.
  const outDir = resolve(process.argv[2] ?? new URL('../../../fixtures', import.meta.url).pathname);
  for (const path of await makeFixtures(outDir)) console.log(path);
}
