import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  assignComponents,
  changeStability,
  compareCodePoints,
  parseTrailerDate,
  parseUpdateInterval,
  resolveInImage,
} from '../src/components/index.ts';
import type { Component, FileInfo, FileMap } from '../src/types.ts';

const DAY = 86_400;
const hostRoot = mkdtempSync(join(tmpdir(), 'components-test-'));
afterAll(() => rmSync(hostRoot, { recursive: true, force: true }));
let blobCount = 0;

const b64 = (s: string): string => Buffer.from(s).toString('base64');

interface EntryOptions {
  xattrs?: Record<string, string>;
  mtime?: number;
  inode?: string;
  nlink?: number;
}

/**
 * Builds a FileMap the way scan would describe an image: regular files' bytes really live in host
 * files under a temporary directory; missing parent directories are added; entries are sorted.
 */
function image(): {
  dir(path: string, options?: EntryOptions): void;
  file(path: string, content: string | Buffer, options?: EntryOptions): void;
  symlink(path: string, target: string): void;
  build(): Map<string, FileInfo>;
} {
  const entries = new Map<string, FileInfo>();
  const base = (path: string, type: FileInfo['type'], o: EntryOptions = {}): FileInfo => ({
    path,
    type,
    mode: type === 'directory' ? 0o755 : 0o644,
    size: 0,
    uid: 0,
    gid: 0,
    mtime: o.mtime ?? 1_700_000_000,
    inode: o.inode ?? `0:${entries.size + 1}`,
    nlink: o.nlink ?? 1,
    linkTarget: '',
    xattrs: Object.fromEntries(Object.entries(o.xattrs ?? {}).map(([k, v]) => [k, b64(v)])),
    content: { kind: 'none' },
  });
  return {
    dir(path, o) {
      entries.set(path, base(path, 'directory', o));
    },
    file(path, content, o) {
      const host = join(hostRoot, `blob-${++blobCount}`);
      writeFileSync(host, content);
      const bytes = typeof content === 'string' ? Buffer.byteLength(content) : content.length;
      entries.set(path, { ...base(path, 'file', o), size: bytes, content: { kind: 'path', path: host } });
    },
    symlink(path, target) {
      entries.set(path, { ...base(path, 'symlink'), linkTarget: target });
    },
    build() {
      for (const path of [...entries.keys()]) {
        for (let p = path.slice(0, path.lastIndexOf('/')); p !== ''; p = p.slice(0, p.lastIndexOf('/'))) {
          if (!entries.has(p)) entries.set(p, base(p, 'directory'));
        }
      }
      return new Map([...entries].sort(([a], [b]) => compareCodePoints(a, b)));
    },
  };
}

function byId(components: Component[]): Map<string, Component> {
  return new Map(components.map((c) => [c.id, c]));
}

/** A Debian changelog with one entry per date, gzipped as packages ship it. */
function changelog(pkg: string, dates: string[]): Buffer {
  const text = dates
    .map((d, i) => `${pkg} (1.${i}-1) unstable; urgency=medium\n\n  * Change ${i}.\n\n -- Jane Doe <jane@example.org>  ${d}\n`)
    .join('\n');
  return gzipSync(text);
}

const STATUS = `Package: coreutils
Essential: yes
Status: install ok installed
Priority: required
Architecture: amd64
Version: 9.1-1
Description: GNU core utilities
 This package contains the basic file, shell and text manipulation
 utilities which are expected to exist on every operating system.

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4

Package: libc-bin
Status: install ok installed
Architecture: amd64
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Conffiles:
 /etc/ld.so.conf 4317c6de8564b68d628c21efa96b37e4

Package: oldpkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0
`;

/** A small merged-/usr Debian: /bin -> usr/bin, so `/bin/cat` in a list is `/usr/bin/cat`. */
function debianImage(): ReturnType<typeof image> {
  const img = image();
  img.symlink('/bin', 'usr/bin');
  img.file('/usr/bin/ls', 'ls binary', { mtime: 1_710_000_000 });
  img.file('/usr/bin/cat', 'cat binary');
  img.file('/usr/lib/x86_64-linux-gnu/libc.so.6', 'libc bytes, quite a few of them');
  img.file('/usr/sbin/ldconfig', 'ldconfig');
  img.file('/etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n');
  img.file('/etc/hostname', 'container\n');
  img.file(
    '/usr/share/doc/coreutils/changelog.Debian.gz',
    changelog('coreutils', [
      'Fri, 01 Mar 2024 10:00:00 +0000',
      'Mon, 01 Jan 2024 12:00:00 +0000',
      'Mon, 01 Jan 2024 18:30:00 +0000', // same day: one change
      'Sun, 01 May 2022 12:00:00 +0000', // more than a year before `now`: ignored
    ]),
  );
  img.file('/var/lib/dpkg/status', STATUS);
  img.file(
    '/var/lib/dpkg/info/coreutils.list',
    '/.\n/bin\n/bin/cat\n/usr\n/usr/bin\n/usr/bin/ls\n/usr/share\n/usr/share/doc\n/usr/share/doc/coreutils\n/usr/share/doc/coreutils/changelog.Debian.gz\n/usr/bin/vanished\n',
  );
  img.file('/var/lib/dpkg/info/coreutils.md5sums', '0123  usr/bin/ls\n');
  img.file('/var/lib/dpkg/info/libc6:amd64.list', '/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libc.so.6\n');
  img.file('/var/lib/dpkg/info/libc-bin.list', '/.\n/etc\n/etc/ld.so.conf\n/usr\n/usr/sbin\n/usr/sbin/ldconfig\n');
  img.file('/var/lib/dpkg/info/libc-bin.postinst', '#!/bin/sh\n');
  img.file('/var/lib/dpkg/info/oldpkg.list', '/etc/hostname\n');
  return img;
}

describe('dpkg repository', () => {
  const now = Date.UTC(2024, 6, 1) / 1000; // 2024-07-01

  it('makes one component per source package with the files of its binary packages', async () => {
    const components = byId(await assignComponents(debianImage().build(), { now }));
    expect([...components.keys()]).toEqual(['chunkah/unclaimed', 'dpkg/coreutils', 'dpkg/glibc']);

    const coreutils = components.get('dpkg/coreutils');
    // /bin/cat resolves through the /bin symlink; /bin itself (the symlink) is claimed as listed;
    // /usr/bin/vanished is not in the image and is ignored; its own control files come along.
    expect(coreutils?.paths).toEqual([
      '/bin',
      '/usr',
      '/usr/bin',
      '/usr/bin/cat',
      '/usr/bin/ls',
      '/usr/share',
      '/usr/share/doc',
      '/usr/share/doc/coreutils',
      '/usr/share/doc/coreutils/changelog.Debian.gz',
      '/var/lib/dpkg/info/coreutils.list',
      '/var/lib/dpkg/info/coreutils.md5sums',
    ]);
    // libc6 (Source: glibc, list with :amd64) and libc-bin (Source with a version) merge.
    expect(components.get('dpkg/glibc')?.paths).toEqual([
      '/etc',
      '/etc/ld.so.conf',
      '/usr',
      '/usr/lib',
      '/usr/lib/x86_64-linux-gnu',
      '/usr/lib/x86_64-linux-gnu/libc.so.6',
      '/usr/sbin',
      '/usr/sbin/ldconfig',
      '/var/lib/dpkg/info/libc-bin.list',
      '/var/lib/dpkg/info/libc-bin.postinst',
      '/var/lib/dpkg/info/libc6:amd64.list',
    ]);
    // The shared database and everything of the removed package stay unclaimed.
    expect(components.get('chunkah/unclaimed')?.paths).toEqual([
      '/etc/hostname',
      '/var',
      '/var/lib',
      '/var/lib/dpkg',
      '/var/lib/dpkg/info',
      '/var/lib/dpkg/info/oldpkg.list',
      '/var/lib/dpkg/status',
    ]);
  });

  it('sums the sizes of regular files only', async () => {
    const files = debianImage().build();
    const components = await assignComponents(files, { now });
    for (const c of components) {
      const expected = c.paths.reduce((s, p) => s + (files.get(p)?.type === 'file' ? (files.get(p)?.size ?? 0) : 0), 0);
      expect(c.size).toBe(expected);
    }
    expect(byId(components).get('dpkg/glibc')?.size).toBe(
      [
        '/etc/ld.so.conf',
        '/usr/lib/x86_64-linux-gnu/libc.so.6',
        '/usr/sbin/ldconfig',
        '/var/lib/dpkg/info/libc-bin.list',
        '/var/lib/dpkg/info/libc-bin.postinst',
        '/var/lib/dpkg/info/libc6:amd64.list',
      ]
        .map((p) => files.get(p)?.size ?? NaN)
        .reduce((a, b) => a + b, 0),
    );
  });

  it('derives stability from changelog dates, 0.99 without a changelog', async () => {
    const components = byId(await assignComponents(debianImage().build(), { now }));
    // Changed days in the year before 2024-07-01: Jan 1 and Mar 1 (the May 2022 entry is out of the
    // window). 182 days from Jan 1 to Jul 1 in a leap year: lambda = 2/182.
    expect(components.get('dpkg/coreutils')?.stability).toBeCloseTo(Math.exp((-7 * 2) / 182), 12);
    expect(components.get('dpkg/glibc')?.stability).toBe(0.99);
    expect(components.get('chunkah/unclaimed')?.stability).toBe(0);
    for (const c of components.values()) expect(c.mtimeClamp).toBe(Infinity);
  });

  it('defaults the reference time to the newest mtime or changelog date, never the clock', async () => {
    const files = debianImage().build();
    // Newest mtime is 1_710_000_000 (2024-03-09); the newest changelog date is older.
    const implicit = await assignComponents(files);
    expect(implicit).toEqual(await assignComponents(files, { now: 1_710_000_000 }));
    // Same input, same output.
    expect(await assignComponents(files)).toEqual(implicit);
    // With every mtime at 0 (a normalised image) the newest changelog date becomes the reference.
    const zeroed: FileMap = new Map([...files].map(([p, i]) => [p, { ...i, mtime: 0 }]));
    const reference = Date.UTC(2024, 2, 1, 10) / 1000;
    expect(await assignComponents(zeroed)).toEqual(await assignComponents(zeroed, { now: reference }));
    expect(byId(await assignComponents(zeroed)).get('dpkg/coreutils')?.stability).toBeLessThan(0.99);
  });

  it('reports a malformed status line with file and line number', async () => {
    const img = debianImage();
    img.file('/var/lib/dpkg/status', 'Package: a\nStatus: install ok installed\nthis is not a field\n');
    await expect(assignComponents(img.build())).rejects.toThrow(
      '/var/lib/dpkg/status:3: expected "Field: value", got "this is not a field"',
    );
  });

  it('reports a stanza without a Package field', async () => {
    const img = debianImage();
    img.file('/var/lib/dpkg/status', 'Package: a\nStatus: install ok installed\n\nStatus: install ok installed\nVersion: 1\n');
    await expect(assignComponents(img.build())).rejects.toThrow('/var/lib/dpkg/status:4: stanza without a Package field');
  });

  it('reports a changelog that is not gzip, naming it', async () => {
    const img = debianImage();
    img.file('/usr/share/doc/coreutils/changelog.Debian.gz', 'plain text, not gzip');
    await expect(assignComponents(img.build())).rejects.toThrow(
      /\/usr\/share\/doc\/coreutils\/changelog\.Debian\.gz: cannot read \(gzip\)/,
    );
  });

  it('reports a database whose host file is gone, naming the image path', async () => {
    const files = debianImage().build();
    const status = files.get('/var/lib/dpkg/status') as FileInfo;
    files.set(status.path, { ...status, content: { kind: 'path', path: join(hostRoot, 'no-such-blob') } });
    await expect(assignComponents(files)).rejects.toThrow(/^\/var\/lib\/dpkg\/status: cannot read: ENOENT/);
  });

  it('reads a changelog through a symlinked doc directory', async () => {
    // Binary packages of one source often point their doc directory at the main package's.
    const img = debianImage();
    img.file('/usr/share/doc/libc6/changelog.Debian.gz', changelog('glibc', ['Mon, 01 Jan 2024 12:00:00 +0000']));
    img.symlink('/usr/share/doc/libc-bin', 'libc6');
    const glibc = byId(await assignComponents(img.build(), { now })).get('dpkg/glibc');
    expect(glibc?.stability).toBeCloseTo(Math.exp(-7 / 182), 12);
  });
});

describe('changelog dates and stability', () => {
  it('reads trailer dates with their zone offset', () => {
    expect(parseTrailerDate(' -- Jane Doe <jane@example.org>  Mon, 01 Jan 2024 12:00:00 +0000')).toBe(Date.UTC(2024, 0, 1, 12) / 1000);
    // 01:00 at +0200 is 23:00 UTC the day before: binning must use UTC days.
    expect(parseTrailerDate(' -- A <a@b>  Fri, 01 Mar 2024 01:00:00 +0200')).toBe(Date.UTC(2024, 1, 29, 23) / 1000);
    expect(parseTrailerDate(' -- A <a@b>  Tue, 5 Nov 2019 09:07:01 -0500')).toBe(Date.UTC(2019, 10, 5, 14, 7, 1) / 1000);
    expect(parseTrailerDate('  * not a trailer, Mon, 01 Jan 2024 12:00:00 +0000')).toBeUndefined();
    expect(parseTrailerDate(' -- A <a@b>  sometime last week')).toBeUndefined();
    expect(parseTrailerDate(' -- A <a@b>  Mon, 01 Foo 2024 12:00:00 +0000')).toBeUndefined();
  });

  it('bins changes by day within the last 365 days', () => {
    const now = 1000 * DAY;
    expect(changeStability([], now)).toBe(0.99);
    expect(changeStability([now - 400 * DAY, now + DAY], now)).toBe(0.99); // outside the window
    // Three changes on two days, the oldest 10 days ago: lambda = 2/10.
    expect(changeStability([now - 10 * DAY, now - 10 * DAY + 60, now - 3 * DAY], now)).toBeCloseTo(Math.exp(-1.4), 12);
    // A change today: span at least one day, lambda = 1.
    expect(changeStability([now], now)).toBeCloseTo(Math.exp(-7), 12);
  });

  it('parses update intervals', () => {
    expect(['daily', 'weekly', 'biweekly', 'monthly', 'quarterly', 'yearly'].map(parseUpdateInterval)).toEqual([1, 7, 14, 30, 90, 365]);
    expect(parseUpdateInterval(' Monthly ')).toBe(30);
    expect(parseUpdateInterval('3')).toBe(3);
    expect(parseUpdateInterval('0.5')).toBe(0.5);
    for (const bad of ['0', '-1', 'fortnightly', '', '1e3', 'constructor']) expect(parseUpdateInterval(bad)).toBeUndefined();
  });
});

describe('apk repository', () => {
  const INSTALLED = `C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
o:musl
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1def=

P:musl-utils
V:1.2.4-r2
o:musl
F:usr
F:usr/bin
R:ldd

P:busybox
V:1.36.1-r5
F:bin
R:busybox
F:lib
R:libbusybox.so
F:etc
R:busybox-paths.d
`;

  function alpineImage(): ReturnType<typeof image> {
    const img = image();
    img.file('/lib/ld-musl-x86_64.so.1', 'musl');
    img.file('/lib/libbusybox.so', 'busybox library');
    img.file('/usr/bin/ldd', '#!/bin/sh\n');
    img.file('/bin/busybox', 'busybox');
    img.file('/etc/busybox-paths.d', '');
    img.file('/lib/apk/db/installed', INSTALLED);
    return img;
  }

  it('groups packages by origin, sharing folders', async () => {
    const components = byId(await assignComponents(alpineImage().build()));
    expect([...components.keys()]).toEqual(['apk/busybox', 'apk/musl', 'chunkah/unclaimed']);
    expect(components.get('apk/musl')?.paths).toEqual(['/lib', '/lib/ld-musl-x86_64.so.1', '/usr', '/usr/bin', '/usr/bin/ldd']);
    // /lib is a folder of both packages: copied into each. busybox has no o: and is its own origin.
    expect(components.get('apk/busybox')?.paths).toEqual([
      '/bin',
      '/bin/busybox',
      '/etc',
      '/etc/busybox-paths.d',
      '/lib',
      '/lib/libbusybox.so',
    ]);
    expect(components.get('apk/musl')?.stability).toBe(0.99);
    expect(components.get('chunkah/unclaimed')?.paths).toEqual(['/lib/apk', '/lib/apk/db', '/lib/apk/db/installed']);
  });

  it('reports a malformed line with file and line number', async () => {
    const img = alpineImage();
    img.file('/lib/apk/db/installed', 'P:musl\nF:lib\nbroken line\n');
    await expect(assignComponents(img.build())).rejects.toThrow('/lib/apk/db/installed:3: expected "X:value"');
  });

  it('reports a stanza without P:', async () => {
    const img = alpineImage();
    img.file('/lib/apk/db/installed', 'P:musl\n\nV:1.0\nF:lib\n');
    await expect(assignComponents(img.build())).rejects.toThrow('/lib/apk/db/installed:3: package stanza without a P: line');
  });
});

describe('xattr repository', () => {
  function appImage(): ReturnType<typeof image> {
    const img = image();
    img.dir('/opt/app', { xattrs: { 'user.component': 'myapp', 'user.update-interval': 'weekly' } });
    img.file('/opt/app/bin/tool', 'tool');
    img.dir('/opt/app/data', { xattrs: { 'user.update-interval': 'daily' } });
    img.file('/opt/app/data/db', 'rows');
    img.dir('/opt/app/plugins', { xattrs: { 'user.component': 'plugins\0' } });
    img.file('/opt/app/plugins/x.so', 'plugin');
    img.file('/opt/app-other', 'sibling with a common prefix, not a descendant');
    img.file('/etc/motd', 'hi', { xattrs: { 'user.component': 'motd', 'user.update-interval': '90', 'user.other': 'x' } });
    return img;
  }

  it('lets descendants inherit the nearest declared component', async () => {
    const components = byId(await assignComponents(appImage().build()));
    expect([...components.keys()]).toEqual(['chunkah/unclaimed', 'xattr/motd', 'xattr/myapp', 'xattr/plugins']);
    expect(components.get('xattr/myapp')?.paths).toEqual([
      '/opt/app',
      '/opt/app/bin',
      '/opt/app/bin/tool',
      '/opt/app/data',
      '/opt/app/data/db',
    ]);
    expect(components.get('xattr/plugins')?.paths).toEqual(['/opt/app/plugins', '/opt/app/plugins/x.so']);
    expect(components.get('xattr/motd')?.paths).toEqual(['/etc/motd']);
    expect(components.get('chunkah/unclaimed')?.paths).toEqual(['/etc', '/opt', '/opt/app-other']);
  });

  it('turns update intervals into stability, the shortest declared one winning', async () => {
    const components = byId(await assignComponents(appImage().build()));
    // myapp: weekly on /opt/app, daily on /opt/app/data (inherited component) -> daily.
    expect(components.get('xattr/myapp')?.stability).toBeCloseTo(Math.exp(-7), 12);
    expect(components.get('xattr/plugins')?.stability).toBeCloseTo(Math.exp(-1), 12); // default weekly
    expect(components.get('xattr/motd')?.stability).toBeCloseTo(Math.exp(-7 / 90), 12);
  });

  it('wins over dpkg for a listed file and over bigfiles for a big one', async () => {
    const img = debianImage();
    img.file('/usr/bin/ls', 'patched ls', { xattrs: { 'user.component': 'hotfix' } });
    img.file('/usr/share/model.bin', Buffer.alloc(4096), { xattrs: { 'user.component': 'hotfix' } });
    const components = byId(await assignComponents(img.build(), { bigFileThreshold: 1000 }));
    expect(components.get('xattr/hotfix')?.paths).toEqual(['/usr/bin/ls', '/usr/share/model.bin']);
    expect(components.get('dpkg/coreutils')?.paths).not.toContain('/usr/bin/ls');
    expect(components.has('bigfiles/model.bin')).toBe(false);
  });

  it('rejects an unreadable interval or an empty component, naming the path', async () => {
    const bad = image();
    bad.file('/srv/x', 'x', { xattrs: { 'user.component': 'x', 'user.update-interval': 'fortnightly' } });
    await expect(assignComponents(bad.build())).rejects.toThrow(/^\/srv\/x: user\.update-interval "fortnightly"/);
    const empty = image();
    empty.dir('/srv', { xattrs: { 'user.component': '  ' } });
    await expect(assignComponents(empty.build())).rejects.toThrow('/srv: user.component is empty');
  });
});

describe('priority and claiming', () => {
  it('gives a path to the first repository with a claim, dpkg before apk', async () => {
    // An odd image with both databases: /usr/bin/ls is listed by dpkg and apk.
    const img = debianImage();
    img.file('/lib/apk/db/installed', 'P:lsfork\nF:usr/bin\nR:ls\nR:extra\n');
    img.file('/usr/bin/extra', 'only apk lists this');
    const components = byId(await assignComponents(img.build(), { now: 1_720_000_000 }));
    expect(components.get('apk/lsfork')?.paths).toEqual(['/usr/bin/extra']);
    expect(components.get('dpkg/coreutils')?.paths).toContain('/usr/bin/ls');
    // /usr/bin is listed by both: dpkg wins it and apk gets no copy.
    expect(components.get('dpkg/coreutils')?.paths).toContain('/usr/bin');
  });

  it('puts a directory shared by packages of the winning repository into each', async () => {
    const components = await assignComponents(debianImage().build(), { now: 1_720_000_000 });
    const holders = components.filter((c) => c.paths.includes('/usr')).map((c) => c.id);
    expect(holders).toEqual(['dpkg/coreutils', 'dpkg/glibc']);
    // Every path of the image is in some component, and only shared directories in several.
    const files = debianImage().build();
    const seen = new Map<string, number>();
    for (const c of components) for (const p of c.paths) seen.set(p, (seen.get(p) ?? 0) + 1);
    expect([...seen.keys()].sort()).toEqual([...files.keys()].sort());
    for (const [p, n] of seen) if (n > 1) expect(files.get(p)?.type).toBe('directory');
  });

  it('is deterministic and independent of map insertion order', async () => {
    const files = debianImage().build();
    files.set('/opt/big.iso', { ...(files.get('/usr/bin/ls') as FileInfo), path: '/opt/big.iso', size: 5 << 20 });
    const reversed: FileMap = new Map([...files].reverse());
    const first = await assignComponents(files);
    expect(await assignComponents(reversed)).toEqual(first);
    expect(first.map((c) => c.id)).toEqual([...first.map((c) => c.id)].sort(compareCodePoints));
  });
});

describe('bigfiles repository', () => {
  it('names big files by basename, by path when the basename is taken', async () => {
    const img = image();
    img.file('/data/b/model.bin', Buffer.alloc(3000));
    img.file('/data/a/model.bin', Buffer.alloc(2000));
    img.file('/model.bin', Buffer.alloc(1500));
    img.file('/srv/weights.pt', Buffer.alloc(1000)); // exactly the threshold: big
    img.file('/srv/notes.txt', Buffer.alloc(999)); // just below: unclaimed
    const components = byId(await assignComponents(img.build(), { bigFileThreshold: 1000 }));
    // The top-level file is taken first (shallowest, although /data/... sorts before it), so it
    // keeps the basename and the path-named ones (with a '/') can never collide with a basename;
    // deeper ones with the same basename are named by path.
    expect(components.get('bigfiles/model.bin')?.paths).toEqual(['/model.bin']);
    expect(components.get('bigfiles/data/a/model.bin')?.paths).toEqual(['/data/a/model.bin']);
    expect(components.get('bigfiles/data/b/model.bin')?.size).toBe(3000);
    expect(components.get('bigfiles/weights.pt')?.paths).toEqual(['/srv/weights.pt']);
    expect(components.get('chunkah/unclaimed')?.paths).toEqual(['/data', '/data/a', '/data/b', '/srv', '/srv/notes.txt']);
    for (const c of components.values()) if (c.id.startsWith('bigfiles/')) expect(c.stability).toBe(0);
  });

  it('keeps hardlinks of one inode in one component, counting their bytes once', async () => {
    const img = image();
    img.file('/data/y.img', Buffer.alloc(4000), { inode: '7:42', nlink: 2 });
    img.file('/data/x.img', Buffer.alloc(4000), { inode: '7:42', nlink: 2 });
    img.file('/data/z.img', Buffer.alloc(4000), { inode: '7:43', nlink: 1 });
    const components = byId(await assignComponents(img.build(), { bigFileThreshold: 1000 }));
    // Named after the first name in path order.
    expect(components.get('bigfiles/x.img')?.paths).toEqual(['/data/x.img', '/data/y.img']);
    expect(components.get('bigfiles/x.img')?.size).toBe(4000);
    expect(components.get('bigfiles/z.img')?.paths).toEqual(['/data/z.img']);
    expect(components.has('bigfiles/y.img')).toBe(false);
  });

  it('uses 1 MiB by default and only takes what strong claims left', async () => {
    const img = debianImage();
    img.file('/usr/lib/x86_64-linux-gnu/libc.so.6', Buffer.alloc(2 << 20)); // listed by dpkg
    img.file('/opt/blob', Buffer.alloc(1 << 20));
    img.file('/opt/almost', Buffer.alloc((1 << 20) - 1));
    const ids = (await assignComponents(img.build())).map((c) => c.id);
    expect(ids).toEqual(['bigfiles/blob', 'chunkah/unclaimed', 'dpkg/coreutils', 'dpkg/glibc']);
  });

  it('rejects a negative threshold', async () => {
    await expect(assignComponents(image().build(), { bigFileThreshold: -1 })).rejects.toThrow(RangeError);
  });
});

describe('unclaimed', () => {
  it('collects everything when no repository claims anything', async () => {
    const img = image();
    img.file('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n');
    img.symlink('/etc/localtime', '/usr/share/zoneinfo/UTC');
    expect(await assignComponents(img.build())).toEqual([
      {
        id: 'chunkah/unclaimed',
        paths: ['/etc', '/etc/localtime', '/etc/passwd'],
        size: 26,
        stability: 0,
        mtimeClamp: Infinity,
      },
    ]);
  });

  it('returns nothing for an empty map and no unclaimed component when all is claimed', async () => {
    expect(await assignComponents(new Map())).toEqual([]);
    const img = image();
    img.dir('/app', { xattrs: { 'user.component': 'app' } });
    img.file('/app/run', 'x');
    expect((await assignComponents(img.build())).map((c) => c.id)).toEqual(['xattr/app']);
  });
});

describe('resolveInImage', () => {
  const img = image();
  img.symlink('/bin', 'usr/bin');
  img.symlink('/usr/lib64', '/usr/lib');
  img.symlink('/usr/bin/up', '../lib');
  img.symlink('/loop/a', 'b');
  img.symlink('/loop/b', 'a');
  img.file('/usr/lib/libz.so', 'z');
  const files = img.build();

  it('follows symlinked ancestors, relative and absolute, and .. within the image', () => {
    expect(resolveInImage(files, '/bin/ls', false)).toBe('/usr/bin/ls');
    expect(resolveInImage(files, '/usr/lib64/libz.so', false)).toBe('/usr/lib/libz.so');
    expect(resolveInImage(files, '/bin/up/libz.so', false)).toBe('/usr/lib/libz.so');
    expect(resolveInImage(files, '/../../bin/./ls', false)).toBe('/usr/bin/ls');
  });

  it('follows the last component only when asked, and gives up on loops', () => {
    expect(resolveInImage(files, '/bin', false)).toBe('/bin');
    expect(resolveInImage(files, '/bin', true)).toBe('/usr/bin');
    expect(resolveInImage(files, '/loop/a', true)).toBeUndefined();
    expect(resolveInImage(files, '/loop/a/x', false)).toBeUndefined();
  });
});

describe('compareCodePoints', () => {
  it('orders by code point, not UTF-16 unit', () => {
    // U+1F600 (surrogates D83D DE00) is above U+FF5E in code point order; default sort says otherwise.
    const emoji = '/\u{1F600}';
    const fullwidth = '/\uFF5E';
    expect([emoji, fullwidth].sort()).toEqual([emoji, fullwidth]);
    expect([emoji, fullwidth].sort(compareCodePoints)).toEqual([fullwidth, emoji]);
    expect(Buffer.compare(Buffer.from(fullwidth), Buffer.from(emoji))).toBe(-1); // UTF-8 byte order agrees
    expect(['/a/b', '/a-b', '/a'].sort(compareCodePoints)).toEqual(['/a', '/a-b', '/a/b']);
  });
});
