/**
 * Issue 14 (hostile input), the re-chunker's part: one test per finding of the fuzz and
 * fault-injection run, each reproducing it (they failed, hung or crashed before the fixes), plus the
 * cases of the same classes found while fixing them. Timing bounds here only catch hangs and
 * quadratic blow-ups (seconds against minutes); speed figures live in `npm run bench:hostile`.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe as suite, expect, it } from 'vitest';
import { rawOciArchive, rawImageFiles, rawTar, type RawEntry, type RawImage } from '../scripts/raw-tar.ts';
import { extractImage } from '../src/extract.ts';
import { chunkImage } from '../src/pipeline.ts';
import { scanImage } from '../src/scan/index.ts';
import { openImage } from '../src/archive/index.ts';
import { UserError } from '../src/util.ts';
import { NODE, PACKAGE, runCli, tempDir, toolAvailable, type CliResult } from './helpers.ts';

const dir = await tempDir('oci-hostile-input');
let counter = 0;

async function archiveOf(image: RawImage): Promise<string> {
  const path = join(dir, `image-${counter++}.tar`);
  await writeFile(path, rawOciArchive(image));
  return path;
}

const d = (name: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, typeflag: '5', ...extra });
const f = (name: string | Buffer, data: string | Buffer = '', extra: Partial<RawEntry> = {}): RawEntry => ({ name, data, ...extra });

/** A Debian-like layer: a status file installing `pkg`, its .list, and `extra` entries. */
function dpkgLayer(list: string | Buffer, extra: RawEntry[] = [], status?: string): Buffer {
  return rawTar([
    d('var/'),
    d('var/lib/'),
    d('var/lib/dpkg/'),
    d('var/lib/dpkg/info/'),
    f('var/lib/dpkg/status', status ?? 'Package: pkg\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n'),
    f('var/lib/dpkg/info/pkg.list', list),
    ...extra,
  ]);
}

/** Runs the CLI with its own TMPDIR, which must be empty afterwards (no scratch left behind). */
async function cli(args: string[]): Promise<CliResult & { scratch: string[] }> {
  const tmp = join(dir, `tmp-${counter++}`);
  await mkdir(tmp);
  const r = await runCli(args, { TMPDIR: tmp });
  return { ...r, scratch: await readdir(tmp) };
}

function expectOneLineError(r: CliResult & { scratch: string[] }, message: RegExp): void {
  expect(r.stderr, r.stderr).toMatch(/^oci-chunk: /);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  expect(r.status).toBe(1);
  expect(r.scratch).toEqual([]);
}

suite('finding 3: path resolution in the components phase is linear', () => {
  it('a .list line of 256k path components is refused at once (ran for over 600 s)', { timeout: 30_000 }, async () => {
    const archive = await archiveOf({ layers: [dpkgLayer(`/${'a/'.repeat(256 * 1024)}x\n`)], compression: 'gzip' });
    expect((await readFile(archive)).length).toBeLessThan(16 * 1024);
    await expect(chunkImage(archive, join(dir, 'out3a.tar'))).rejects.toThrow(
      /\/var\/lib\/dpkg\/info\/pkg\.list:1: a path longer than 4096 bytes/,
    );
  });

  it('a symlink target of 256k components is refused by the scan', { timeout: 30_000 }, async () => {
    const target = 'a/'.repeat(256 * 1024);
    const archive = await archiveOf({
      layers: [dpkgLayer('/bin/x\n', [{ name: 'bin', typeflag: '2', linkname: target }])],
      compression: 'gzip',
    });
    await expect(chunkImage(archive, join(dir, 'out3b.tar'))).rejects.toThrow(/symlink "\/bin" has a target .* over 4095 bytes/);
  });

  it('5k listed paths through a chain of 39 symlinks with 4000-byte targets resolve in seconds', { timeout: 60_000 }, async () => {
    // Each link's target walks 1600 components ("x/.." pairs) before naming the next link: resolved
    // anew for every line, that was 5k x 39 x 1600 steps, each copying the rest of the path.
    const links: RawEntry[] = [];
    for (let i = 0; i < 39; i++)
      links.push({ name: `l${i}`, typeflag: '2', linkname: `${'x/../'.repeat(800)}${i === 38 ? 'usr' : `l${i + 1}`}` });
    const files: RawEntry[] = [d('usr/'), d('usr/bin/')];
    const lines: string[] = [];
    for (let n = 0; n < 5000; n++) {
      files.push(f(`usr/bin/f${n}`));
      lines.push(`/l0/bin/f${n}`);
    }
    const archive = await archiveOf({ layers: [dpkgLayer(lines.join('\n') + '\n', [...links, ...files])], compression: 'gzip' });
    const out = join(dir, 'out3c.tar');
    const result = await chunkImage(archive, out, { epoch: 0 });
    // The files were claimed through the chain: they are in the package's layer, not unclaimed.
    expect(result.layers.map((l) => l.name)).toContain('dpkg/pkg');
    const files2 = await imageFilesOf(out);
    expect(files2.has('/usr/bin/f4999')).toBe(true);
  });
});

async function imageFilesOf(archive: string) {
  const work = await tempDir('oci-hostile-files');
  const image = await openImage(archive);
  await mkdir(join(work, 'spool'));
  return scanImage(image, join(work, 'spool'));
}

suite('finding 4: applying whiteouts is linear in the entries', () => {
  const N = 20_000;
  const lower = (): Buffer => {
    const entries: RawEntry[] = [];
    // Empty files: nothing to spool, so the test times the layer operations, not the disk.
    for (let i = 0; i < N; i++) entries.push(d(`d${i}/`), f(`d${i}/old`));
    return rawTar(entries);
  };

  it(`${N} opaque directories over ${N} lower directories (47 s before, doubling x4)`, { timeout: 30_000 }, async () => {
    const upper: RawEntry[] = [];
    for (let i = 0; i < N; i++) upper.push(f(`d${i}/.wh..wh..opq`), f(`d${i}/new`));
    const archive = await archiveOf({ layers: [lower(), rawTar(upper)], compression: 'gzip' });
    const files = await imageFilesOf(archive);
    expect(files.size).toBe(2 * N);
    expect(files.has('/d0/old')).toBe(false);
    expect(files.has(`/d${N - 1}/new`)).toBe(true);
  });

  it(`${N} files replacing ${N} lower directories`, { timeout: 30_000 }, async () => {
    const upper: RawEntry[] = [];
    for (let i = 0; i < N; i++) upper.push(f(`d${i}`));
    const archive = await archiveOf({ layers: [lower(), rawTar(upper)], compression: 'gzip' });
    const files = await imageFilesOf(archive);
    expect(files.size).toBe(N);
    expect(files.get('/d7')?.type).toBe('file');
  });

  it('an opaque marker written after the entries of its layer hides only the lower ones', async () => {
    const archive = await archiveOf({
      layers: [rawTar([d('a/'), f('a/lower', '1'), d('a/sub/'), f('a/sub/deep', '2')]), rawTar([f('a/upper', '3'), f('a/.wh..wh..opq')])],
    });
    const files = await imageFilesOf(archive);
    expect([...files.keys()]).toEqual(['/a', '/a/upper']);
  });
});

/** An OCI layout of a small image whose manifest blob is replaced by `replace(path)`. */
async function layoutWithManifest(replace: (path: string) => Promise<void>): Promise<string> {
  const layout = join(dir, `layout-${counter++}`);
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  const files = rawImageFiles({ layers: [rawTar([f('hello', 'world')])] });
  for (const [name, bytes] of files) await writeFile(join(layout, name), bytes);
  const index = JSON.parse(files.find(([n]) => n === 'index.json')![1].toString()) as { manifests: { digest: string }[] };
  const manifest = join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7));
  await (await import('node:fs/promises')).rm(manifest);
  await replace(manifest);
  return layout;
}

suite('finding 5: OCI layout blobs that are not regular files', () => {
  it('a FIFO blob is refused at once (it blocked for ever, and SIGTERM could not end the process)', { timeout: 30_000 }, async () => {
    const layout = await layoutWithManifest((p) => Promise.resolve(void execFileSync('mkfifo', [p])));
    await expect(chunkImage(layout, join(dir, 'out5a.tar'))).rejects.toThrow(/is a FIFO, not a regular file/);
    // The CLI, with a SIGTERM on the way: it ends either way, and leaves nothing behind.
    const tmp = join(dir, `tmp-${counter++}`);
    await mkdir(tmp);
    const child = spawn(NODE, [join(PACKAGE, 'src/cli.ts'), 'build', layout, '-o', join(dir, 'out5b.tar')], {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const ended = new Promise<{ code: number | null; signal: string | null }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal })),
    );
    const timer = setTimeout(() => child.kill('SIGTERM'), 2000);
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const result = await ended;
    clearTimeout(timer);
    clearTimeout(killer);
    expect(result.signal).not.toBe('SIGKILL');
    expect(result).toEqual({ code: 1, signal: null });
    expect(stderr).toMatch(/is a FIFO, not a regular file/);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('a blob symlinked to /dev/zero is refused at once (it grew to 23.7 GB RSS)', { timeout: 30_000 }, async () => {
    const layout = await layoutWithManifest((p) => symlink('/dev/zero', p));
    await expect(chunkImage(layout, join(dir, 'out5c.tar'))).rejects.toThrow(/is a device, not a regular file/);
    await expect(extractImage(layout, join(dir, `extract-5c-${counter++}`))).rejects.toThrow(/is a device, not a regular file/);
  });

  it('SIGTERM ends the process, scratch removed, even while a thread is blocked opening a FIFO', { timeout: 30_000 }, async () => {
    const fifo = join(dir, `fifo-${counter++}`);
    execFileSync('mkfifo', [fifo]);
    const scratch = join(dir, `scratch-${counter++}`);
    await mkdir(scratch);
    // A blocking open (no O_NONBLOCK) ties up a thread-pool thread: process.exit() then never returns.
    const script = `
      import { open } from 'node:fs/promises';
      const { handleSignals } = await import(${JSON.stringify(join(PACKAGE, 'src/cli.ts'))});
      const { trackPending } = await import(${JSON.stringify(join(PACKAGE, 'src/util.ts'))});
      handleSignals();
      trackPending(${JSON.stringify(scratch)});
      setTimeout(() => process.stdout.write('ready\\n'), 300);
      await open(${JSON.stringify(fifo)}, 'r');
    `;
    const child = spawn(NODE, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((res) => child.stdout.on('data', () => res()));
    const ended = new Promise<{ code: number | null; signal: string | null }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal })),
    );
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const result = await ended;
    clearTimeout(killer);
    expect(result).toEqual({ code: null, signal: 'SIGTERM' }); // the shell reports 143
    expect(stderr).toBe('oci-chunk: interrupted\n');
    expect(existsSync(scratch)).toBe(false);
  });
});

suite('finding 6: a directory entry with a non-zero size', () => {
  it('one line and exit 1, no scratch directory left (was exit 13 and no message)', { timeout: 30_000 }, async () => {
    const archive = await archiveOf({ layers: [rawTar([d('etc/', { size: 1024 }), f('etc/x', 'x')])] });
    for (const args of [
      ['build', archive, '-o', join(dir, 'out6.tar')],
      ['extract', archive, join(dir, 'target6')],
    ]) {
      expectOneLineError(await cli(args), /entry "etc\/": a directory entry declares 1024 bytes of data; it can have none/);
    }
    expect(existsSync(join(dir, 'out6.tar'))).toBe(false);
    expect(existsSync(join(dir, 'target6'))).toBe(false);
  });
});

suite('finding 7: user-caused errors are one line and exit 1, not "internal error" and exit 70', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const cases: [string, () => RawImage, RegExp][] = [
    ['non-numeric uid', () => ({ layers: [rawTar([f('x', 'x', { uid: 'zz' })])] }), /entry "x": uid field "zz.*" is not a number/],
    ['non-numeric gid', () => ({ layers: [rawTar([f('x', 'x', { gid: '9x' })])] }), /entry "x": gid field "9x.*" is not a number/],
    [
      'non-numeric mtime',
      () => ({ layers: [rawTar([f('x', 'x', { mtime: 'yesterday' })])] }),
      /entry "x": mtime field "yesterday.*" is not a number/,
    ],
    [
      'JSON nested 10k deep in the config',
      // Valid otherwise: the labels were copied into the output and the canonical JSON writer recursed.
      () => ({
        layers: [rawTar([f('x')])],
        configText: (json) => json.replace('"config":{}', `"config":{"Labels":{"x":${deep(10_000)}}}`),
      }),
      /config: JSON nested 10003 levels deep \(at most 64\)/,
    ],
    [
      'a malformed dpkg status',
      () => ({ layers: [dpkgLayer('', [], 'Package: pkg\nthis is not a field\n')] }),
      /\/var\/lib\/dpkg\/status:2: expected "Field: value", got "this is not a field"/,
    ],
    [
      'a dpkg package name with a newline',
      () => ({ layers: [dpkgLayer('', [], 'Package: pkg\n evil\nStatus: install ok installed\n')] }),
      /\/var\/lib\/dpkg\/status:1: invalid package name "pkg\\nevil"/,
    ],
    [
      'a malformed apk database',
      () => ({ layers: [rawTar([d('lib/'), d('lib/apk/'), d('lib/apk/db/'), f('lib/apk/db/installed', 'P:a\nnot apk\n')])] }),
      /\/lib\/apk\/db\/installed:2: expected "X:value", got "not apk"/,
    ],
    [
      'a changelog that is not gzip',
      () => ({
        layers: [
          dpkgLayer('', [
            d('usr/'),
            d('usr/share/'),
            d('usr/share/doc/'),
            d('usr/share/doc/pkg/'),
            f('usr/share/doc/pkg/changelog.Debian.gz', 'plain text'),
          ]),
        ],
      }),
      /\/usr\/share\/doc\/pkg\/changelog\.Debian\.gz: cannot read \(gzip\): incorrect header check/,
    ],
    [
      'an empty user.component',
      () => ({ layers: [rawTar([f('app', 'x', { pax: [['SCHILY.xattr.user.component', '  ']] })])] }),
      /: \/app: user\.component is empty/,
    ],
    [
      'a bad user.update-interval',
      () => ({
        layers: [
          rawTar([
            f('app', 'x', {
              pax: [
                ['SCHILY.xattr.user.component', 'a'],
                ['SCHILY.xattr.user.update-interval', 'fortnightly'],
              ],
            }),
          ]),
        ],
      }),
      /: \/app: user\.update-interval "fortnightly" is neither/,
    ],
  ];
  for (const [name, image, message] of cases) {
    it(name, { timeout: 30_000 }, async () => {
      const archive = await archiveOf(image());
      expectOneLineError(await cli(['build', archive, '-o', join(dir, `out7-${counter++}.tar`)]), message);
    });
  }

  it('SOURCE_DATE_EPOCH beyond the year 9999', async () => {
    const archive = await archiveOf({ layers: [rawTar([f('x', 'x')])] });
    const tmp = join(dir, `tmp-${counter++}`);
    await mkdir(tmp);
    const r = await runCli(['build', archive, '-o', join(dir, 'out7e.tar')], { TMPDIR: tmp, SOURCE_DATE_EPOCH: '99999999999999' });
    expectOneLineError({ ...r, scratch: await readdir(tmp) }, /SOURCE_DATE_EPOCH must be a whole number of seconds up to 253402300799/);
  });
});

suite('finding 9: memory, full disks, terminal escapes, type flags, binary xattrs', () => {
  it('inspect keeps no blob in memory: 512 MiB of blobs small enough to be JSON, peak RSS stays flat', { timeout: 60_000 }, async () => {
    // 64 blobs of 8 MiB (the most a JSON document may have), written sparse: one byte each, the rest
    // a hole that reads as zeros. inspect used to keep every one of them in memory; now it drops
    // them, but for the 8 that start like JSON ("{"), which go to a scratch file.
    const archive = join(dir, 'many-small-blobs.tar');
    const { createHash } = await import('node:crypto');
    const { rawEntry } = await import('../scripts/raw-tar.ts');
    const handle = await (await import('node:fs/promises')).open(archive, 'w');
    const size = 8 * 1024 * 1024;
    let at = 0;
    for (let i = 0; i < 64; i++) {
      const first = Buffer.from([i % 8 === 0 ? 0x7b : 0x01, i]);
      const hex = createHash('sha256')
        .update(first)
        .update(Buffer.alloc(size - first.length))
        .digest('hex');
      const header = rawEntry({ name: `blobs/sha256/${hex}`, size, data: '' }).subarray(0, 512);
      await handle.write(header, 0, 512, at);
      await handle.write(first, 0, first.length, at + 512);
      at += 512 + size;
    }
    for (const [name, data] of rawImageFiles({ layers: [rawTar([f('x', 'x')])] })) {
      const entry = rawEntry({ name, data });
      await handle.write(entry, 0, entry.length, at);
      at += entry.length;
    }
    await handle.write(Buffer.alloc(1024), 0, 1024, at);
    await handle.close();
    // The child's own peak is VmHWM, not resourceUsage().maxRSS: Linux carries the maximum over execve,
    // so a child forked from this test worker (400+ MiB after hashing the blobs above) reported the
    // worker's peak, and the test failed or passed with the worker's garbage.
    const script = `
      const { inspectArchive } = await import(${JSON.stringify(join(PACKAGE, 'src/inspect.ts'))});
      const r = await inspectArchive(${JSON.stringify(archive)});
      const { readFileSync } = await import('node:fs');
      const peakKiB = Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
      process.stdout.write(JSON.stringify({ layers: r.layers.length, maxRssKiB: peakKiB }));
    `;
    const tmp = join(dir, `tmp-${counter++}`);
    await mkdir(tmp);
    const r = spawnSync(NODE, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
    expect(r.stderr).toBe('');
    expect(await readdir(tmp)).toEqual([]); // the scratch copies are gone
    const out = JSON.parse(r.stdout) as { layers: number; maxRssKiB: number };
    expect(out.layers).toBe(1);
    // Reading through one reused buffer peaks at 115-125 MiB (streamed chunks awaiting a GC: 128-150);
    // holding the blobs, > 560 MiB.
    expect(out.maxRssKiB / 1024).toBeLessThan(200);
  });

  const unshare = spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'true']).status === 0;
  it.runIf(unshare)('a full TMPDIR is reported as such, not as a corrupt archive', { timeout: 60_000 }, async () => {
    const archive = await archiveOf({ layers: [rawTar([f('big', Buffer.alloc(2 * 1024 * 1024, 7))])] });
    const mnt = join(dir, `tmpfs-${counter++}`);
    await mkdir(mnt);
    for (const args of [
      ['build', archive, '-o', join(dir, 'out9b.tar')],
      ['extract', archive, join(dir, 'target9b')],
    ]) {
      // A 1 MiB tmpfs as TMPDIR, in a private mount namespace (no root needed).
      const sh = `mount -t tmpfs -o size=1m none "$1" && shift && TMPDIR="$0" exec "$@"`;
      const r = spawnSync(
        'unshare',
        ['--user', '--map-root-user', '--mount', 'sh', '-c', sh, mnt, mnt, NODE, join(PACKAGE, 'src/cli.ts'), ...args],
        {
          encoding: 'utf8',
        },
      );
      expect(r.stderr, args[0]).toMatch(/^oci-chunk: .*no space left on device \(ENOSPC\)\n$/);
      expect(r.stderr).not.toMatch(/corrupt|truncated|internal/);
      expect(r.status).toBe(1);
    }
  });

  it('control characters and ANSI escapes in names are escaped in messages and listings', { timeout: 30_000 }, async () => {
    const evil = 'x\x1b[2J\x1b]0;pwned\x07\r\u202e/../y';
    const archive = await archiveOf({ layers: [rawTar([f(evil, 'x')])] });
    const r = await cli(['build', archive, '-o', join(dir, 'out9c.tar')]);
    expectOneLineError(r, /entry "x\\x1b\[2J\\x1b\]0;pwned\\x07\\r\\u202e\/\.\.\/y" contains "\.\."/);
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    expect(r.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
    // A layer annotation (the component name) with an escape, printed by inspect.
    const listed = await archiveOf({
      layers: [rawTar([f('a', 'x')])],
      manifest: (m) =>
        void ((m['layers'] as { annotations?: Record<string, string> }[])[0]!.annotations = { 'org.chunkah.component': 'evil\x1b[31mred' }),
    });
    const shown = await cli(['inspect', listed]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain('evil\\x1b[31mred');
    expect(shown.stdout).not.toContain('\x1b');
  });

  it('an unknown tar type flag is named, with or without --skip-special (was "is a null")', { timeout: 30_000 }, async () => {
    const archive = await archiveOf({ layers: [rawTar([f('label', '', { typeflag: 'V' })])] });
    expectOneLineError(
      await cli(['build', archive, '-o', join(dir, 'out9d.tar')]),
      /"\/label" has tar entry type "V", which is not a file/,
    );
    expectOneLineError(await cli(['extract', archive, join(dir, 'target9d'), '--skip-special']), /has tar entry type "V"/);
  });

  const hasAttr = toolAvailable('setfattr') && toolAvailable('getfattr');
  it.runIf(hasAttr)(
    'binary xattr values are read as bytes: extract restores them exactly, build refuses them clearly',
    { timeout: 30_000 },
    async () => {
      // A file capability-like value: bytes that are not UTF-8 (they became U+FFFD).
      const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x00, 0xc3]);
      const archive = await archiveOf({ layers: [rawTar([f('bin', 'x', { pax: [['SCHILY.xattr.user.cap', value]] })])] });
      const target = join(dir, 'target9e');
      await extractImage(archive, target);
      const hex = execFileSync('getfattr', ['-n', 'user.cap', '-e', 'hex', '--absolute-names', join(target, 'bin')], { encoding: 'utf8' });
      expect(hex).toContain(`user.cap=0x${value.toString('hex')}`);
      await expect(chunkImage(archive, join(dir, 'out9e.tar'))).rejects.toThrow(
        /"\/bin": xattr user\.cap has a binary \(non-UTF-8\) value/,
      );
    },
  );
});

suite('same classes, found while fixing', () => {
  it('a user.component value of 64 KiB of NULs is read in linear time (a regex took 10 s)', { timeout: 8000 }, async () => {
    const value = Buffer.concat([Buffer.alloc(65_000), Buffer.from('x')]);
    const archive = await archiveOf({ layers: [rawTar([f('app', 'x', { pax: [['SCHILY.xattr.user.component', value]] })])] });
    const r = await chunkImage(archive, join(dir, 'out10a.tar'), { epoch: 0 });
    expect(r.layers).toHaveLength(1);
  });

  it(
    'an apk folder with a million slashes inside is refused in linear time (a regex took 40 s for 100k)',
    { timeout: 15_000 },
    async () => {
      const db = `P:a\nF:x${'/'.repeat(1_000_000)}usr\n`;
      const archive = await archiveOf({
        layers: [rawTar([d('lib/'), d('lib/apk/'), d('lib/apk/db/'), f('lib/apk/db/installed', db)])],
        compression: 'gzip',
      });
      expectOneLineError(
        await cli(['build', archive, '-o', join(dir, 'out10b.tar')]),
        /\/lib\/apk\/db\/installed:2: a path longer than 4096 bytes/,
      );
    },
  );

  it('entries that disagree between tar readers are refused: data after a link, two PAX headers, data or megabytes after the end...', async () => {
    const cases: [Buffer, RegExp][] = [
      [
        rawTar([f('a', 'x'), { name: 'b', typeflag: '1', linkname: 'a', size: 512, data: Buffer.alloc(512) }]),
        /a link entry declares 512 bytes/,
      ],
      [
        Buffer.concat([
          rawTar([f('a', 'x', { pax: [['comment', 'one']] })], { end: false }).subarray(0, 1024),
          rawTar([f('a', 'x', { pax: [['comment', 'two']] })]),
        ]),
        /two PAX headers for one entry/,
      ],
      [Buffer.concat([rawTar([f('a', 'x')]), rawTar([f('hidden', 'y')])]), /data after the end-of-archive blocks/],
      [
        Buffer.concat([rawTar([f('a', 'x')]), Buffer.alloc(2 * 1024 * 1024)]),
        /more than 1048576 bytes of padding after the end-of-archive blocks/,
      ],
      [rawTar([f('s', 'x', { pax: [['GNU.sparse.major', '1']] })]), /is a GNU sparse file/],
      [rawTar([f('v7', 'x', { format: 'v7' })]), /neither ustar nor GNU format/],
      [rawTar([f(Buffer.from([0x63, 0x61, 0x66, 0xe9]), 'x')]), /entry name "café" is not valid UTF-8/],
    ];
    for (const [layer, message] of cases) {
      const archive = await archiveOf({ layers: [layer] });
      await expect(chunkImage(archive, join(dir, `out10c-${counter++}.tar`))).rejects.toThrow(message);
      await expect(chunkImage(archive, join(dir, `out10c-${counter++}.tar`))).rejects.toBeInstanceOf(UserError);
    }
  });
});
