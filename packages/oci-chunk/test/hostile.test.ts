/**
 * Hostile and broken inputs: each must fail with a clear message, write nothing outside the target,
 * and leave no partial output behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe as suite, expect, it } from 'vitest';
import { extractImage } from '../src/extract.ts';
import { chunkImage } from '../src/pipeline.ts';
import { writeOciArchive } from '../src/build/index.ts';
import { blobPath, forEachLayerEntry, openImage, readOciArchive } from '../src/archive/index.ts';
import { UserError, canonicalJson } from '../src/util.ts';
import { writeImageArchive, writeLayout, type EntrySpec } from '../scripts/fixture-image.ts';
import { DEBIAN_V1, runCli, tempDir, toolAvailable } from './helpers.ts';
import { quoteForSetfattr, xattrRestoreDump } from '../src/extract.ts';
import type { FileInfo } from '../src/types.ts';

const dir = await tempDir('oci-hostile');
let counter = 0;

async function imageWith(layers: EntrySpec[][]): Promise<string> {
  const out = join(dir, `hostile-${counter++}.tar`);
  await writeImageArchive({ layers }, out);
  return out;
}

/** A fresh sandbox: `target` inside it must be the only thing the extract may create. */
async function sandbox(): Promise<{ box: string; target: string }> {
  const box = join(dir, `box-${counter++}`);
  await (await import('node:fs/promises')).mkdir(box);
  return { box, target: join(box, 'target') };
}

/** Runs extract and build on `archive` and expects both to fail with `message`, leaving nothing behind. */
async function expectRejected(archive: string, message: RegExp): Promise<void> {
  const { box, target } = await sandbox();
  await expect(extractImage(archive, target)).rejects.toThrow(message);
  await expect(extractImage(archive, target)).rejects.toBeInstanceOf(UserError);
  expect(await readdir(box)).toEqual([]); // no target, no partial directory, nothing beside it
  const out = join(box, 'out.tar');
  await expect(chunkImage(archive, out)).rejects.toThrow(message);
  expect(await readdir(box)).toEqual([]);
}

/** Rewrites the size field of the first tar header whose name starts with `prefix` (checksum fixed). */
function patchTarSize(tar: Buffer, prefix: string, size: number): Buffer {
  const copy = Buffer.from(tar);
  for (let off = 0; off + 512 <= copy.length;) {
    const name = copy
      .subarray(off, off + 100)
      .toString('latin1')
      .replace(/\0.*$/s, '');
    const declared = parseInt(
      copy
        .subarray(off + 124, off + 136)
        .toString('latin1')
        .replace(/\0.*$/s, '')
        .trim() || '0',
      8,
    );
    if (name === '') break;
    if (name.startsWith(prefix) && name.length > prefix.length) {
      copy.write(size.toString(8).padStart(11, '0') + '\0', off + 124, 'latin1');
      copy.fill(0x20, off + 148, off + 156);
      let sum = 0;
      for (let i = off; i < off + 512; i++) sum += copy[i]!;
      copy.write(sum.toString(8).padStart(6, '0') + '\0 ', off + 148, 'latin1');
      return copy;
    }
    off += 512 + Math.ceil(declared / 512) * 512;
  }
  throw new Error(`no entry ${prefix}`);
}

suite('broken archives', () => {
  it('truncated archive', async () => {
    const bytes = await readFile(DEBIAN_V1);
    const truncated = join(dir, 'truncated.tar');
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectRejected(truncated, /corrupt or truncated archive/);
  });

  it('a later pass over a layer trusts the checked diff_id but still checks the blob digest', async () => {
    const layout = join(dir, 'later-pass-layout');
    await writeLayout({ gzip: true, layers: [[{ name: 'a', type: 'file', content: 'original' }]] }, layout);
    const image = await openImage(layout);
    const names: string[] = [];
    const visit = ({ header }: { header: { name: string } }) => void names.push(header.name);
    await forEachLayerEntry(image, 0, visit, { diffIdChecked: true });
    expect(names).toEqual(['a']);
    // A wrong diff_id is caught by the pass that checks it, and not looked at by a later one.
    const wrongDiffId = { ...image, config: { ...image.config, rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } } };
    await expect(forEachLayerEntry(wrongDiffId, 0, () => undefined)).rejects.toThrow(/does not match diff_id/);
    await expect(forEachLayerEntry(wrongDiffId, 0, () => undefined, { diffIdChecked: true })).resolves.toBeUndefined();
    // The blob changed after the first pass (here its gzip header's mtime: the same tar inside).
    const blob = blobPath(layout, image.manifest.layers[0]!.digest);
    const bytes = await readFile(blob);
    bytes[4] = 1;
    await writeFile(blob, bytes);
    await expect(forEachLayerEntry(image, 0, () => undefined, { diffIdChecked: true })).rejects.toThrow(/does not match its digest/);
  });

  it('blob whose content does not match its digest', async () => {
    const layout = join(dir, 'mismatch-layout');
    await writeLayout({ layers: [[{ name: 'a', type: 'file', content: 'original' }]] }, layout);
    const blobs = join(layout, 'blobs', 'sha256');
    for (const name of await readdir(blobs)) {
      const content = await readFile(join(blobs, name));
      if (content.includes('original'))
        await writeFile(join(blobs, name), content.toString('latin1').replace('original', 'tampered'), 'latin1');
    }
    const archive = join(dir, 'mismatch.tar');
    await writeOciArchive(layout, archive);
    await expectRejected(archive, /does not match its digest/);
  });

  it('manifest naming a blob that is not in the archive', async () => {
    const layout = join(dir, 'missing-layout');
    await writeLayout({ layers: [[{ name: 'a', type: 'file', content: 'layer data' }]] }, layout);
    const blobs = join(layout, 'blobs', 'sha256');
    for (const name of await readdir(blobs)) {
      if ((await readFile(join(blobs, name))).includes('layer data')) await rm(join(blobs, name));
    }
    const archive = join(dir, 'missing.tar');
    await writeOciArchive(layout, archive);
    await expectRejected(archive, /layer blob sha256:[0-9a-f]{64} is missing/);
  });

  it('tar entry declaring an absurd size', async () => {
    const archive = join(dir, 'absurd-entry.tar');
    await writeFile(archive, patchTarSize(await readFile(DEBIAN_V1), 'blobs/sha256/', 2 ** 32));
    await expectRejected(archive, /declares 4294967296 bytes but the archive has only \d+/);
  });

  it('descriptor declaring an absurd size', async () => {
    const layout = join(dir, 'absurd-desc-layout');
    await writeLayout({ layers: [[{ name: 'a', type: 'file', content: 'x' }]] }, layout);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { size: number }[] };
    index.manifests[0]!.size = 1e15;
    await writeFile(join(layout, 'index.json'), canonicalJson(index));
    const archive = join(dir, 'absurd-desc.tar');
    await writeOciArchive(layout, archive);
    await expectRejected(archive, /but its descriptor says 1000000000000000/);
  });

  it('not an archive at all', async () => {
    const archive = join(dir, 'garbage.tar');
    await writeFile(archive, Buffer.alloc(4096, 0x41));
    await expectRejected(archive, /corrupt or truncated archive/);
  });
});

suite('hostile layer entries', () => {
  it('entry name with ".."', async () => {
    const archive = await imageWith([[{ name: '../escaped', type: 'file', content: 'x' }]]);
    await expectRejected(archive, /entry "\.\.\/escaped" contains "\.\."/);
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
  });

  it('entry name hidden behind a directory and ".."', async () => {
    const archive = await imageWith([[{ name: 'usr/../../escaped2', type: 'file', content: 'x' }]]);
    await expectRejected(archive, /contains "\.\."/);
  });

  it('absolute entry name', async () => {
    const archive = await imageWith([[{ name: '/etc/evil', type: 'file', content: 'x' }]]);
    await expectRejected(archive, /entry "\/etc\/evil" has an absolute path/);
  });

  it('the root written as "/" is accepted (umoci writes it), any other absolute name is not', async () => {
    const archive = await imageWith([
      [
        { name: '/', type: 'directory' },
        { name: 'etc/', type: 'directory' },
        { name: 'etc/ok', type: 'file', content: 'ok' },
      ],
    ]);
    const { target } = await sandbox();
    expect((await extractImage(archive, target)).files).toBe(2);
  });

  it('hardlink pointing outside the image', async () => {
    const archive = await imageWith([[{ name: 'passwd', type: 'link', linkname: '../../etc/passwd' }]]);
    await expectRejected(archive, /contains "\.\."/);
  });

  it('file written through a symlink pointing out of the target', async () => {
    const { box } = await sandbox();
    const archive = await imageWith([
      [{ name: 'link', type: 'symlink', linkname: box }],
      [{ name: 'link/pwned', type: 'file', content: 'x' }],
    ]);
    await expectRejected(archive, /"\/link\/pwned" is below "\/link", which is a symlink/);
    expect(existsSync(join(box, 'pwned'))).toBe(false);
  });

  it('extract refuses a relative symlink climbing out of the root', async () => {
    const archive = await imageWith([
      [
        { name: 'etc/', type: 'directory' },
        { name: 'etc/escape', type: 'symlink', linkname: '../../outside' },
      ],
    ]);
    const { box, target } = await sandbox();
    await expect(extractImage(archive, target)).rejects.toThrow(
      /symlink "\/etc\/escape" -> "\.\.\/\.\.\/outside" points outside the root filesystem/,
    );
    expect(await readdir(box)).toEqual([]);
  });

  it('device or FIFO entries are refused unless skipped', async () => {
    const archive = await imageWith([
      [
        { name: 'pipe', type: 'fifo' },
        { name: 'ok', type: 'file', content: 'ok' },
      ],
    ]);
    await expectRejected(archive, /"\/pipe" is a fifo/);
    const { target } = await sandbox();
    const r = await extractImage(archive, target, { skipSpecial: true });
    expect(r.files).toBe(1);
  });

  it('extract refuses a non-empty target', async () => {
    const { box } = await sandbox();
    await writeFile(join(box, 'precious'), 'keep me');
    await expect(extractImage(DEBIAN_V1, box)).rejects.toThrow(/exists and is not an empty directory/);
    expect(await readFile(join(box, 'precious'), 'utf8')).toBe('keep me');
  });
});

suite('xattr names and values', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const hasAttr = toolAvailable('setfattr') && toolAvailable('getfattr');
  /** The host file an injected `# file:` block would target, with no xattrs of its own. */
  async function hostVictim(): Promise<string> {
    const victim = join(dir, `victim-${counter++}`);
    await writeFile(victim, 'host file');
    return victim;
  }
  function userXattrs(file: string): string {
    try {
      return execFileSync('getfattr', ['-h', '-d', '-m', '-', '--absolute-names', file], { encoding: 'utf8' });
    } catch {
      return '';
    }
  }

  it('a name with a newline (a smuggled "# file:" block for a host path) is refused by scan, build and extract', async () => {
    const victim = await hostVictim();
    for (const name of [`user.a\n\n# file: ${victim}\nuser.pwned`, `user.a\n# file: ${victim}`]) {
      const archive = await imageWith([
        [
          { name: 'etc/', type: 'directory' },
          { name: 'etc/f', type: 'file', content: 'x', xattrs: { [name]: 'v' } },
        ],
      ]);
      await expectRejected(archive, /"\/etc\/f": xattr name "user\.a\\n.*" contains white space, a control character/);
    }
    if (hasAttr) expect(userXattrs(victim)).toBe('');
  });

  it('names outside the Linux namespaces, with "\\", spaces or over 255 bytes are refused with the entry named', async () => {
    for (const [name, problem] of [
      ['evil', /is not in a Linux xattr namespace/],
      ['user.', /is not in a Linux xattr namespace/],
      ['user.a\\012', /"\\"/],
      ['user.a b', /white space/],
      [`user.${'x'.repeat(300)}`, /longer than 255 bytes/],
    ] as const) {
      const archive = await imageWith([[{ name: 'f', type: 'file', content: 'x', xattrs: { [name]: 'v' } }]]);
      await expectRejected(archive, problem);
    }
  });

  it('a value over 64 KiB is refused', async () => {
    const archive = await imageWith([[{ name: 'f', type: 'file', content: 'x', xattrs: { 'user.big': 'v'.repeat(65 * 1024) } }]]);
    await expectRejected(archive, /xattr user\.big has a 66560-byte value; Linux allows at most 65536/);
  });

  it('the restore dump quotes paths like setfattr and re-checks names of a FileMap built by hand', () => {
    const file = (path: string, xattrs: Record<string, string>): FileInfo => ({
      path,
      type: 'file',
      mode: 0o644,
      size: 0,
      uid: 0,
      gid: 0,
      mtime: 0,
      inode: path,
      nlink: 1,
      linkTarget: '',
      xattrs,
      content: { kind: 'none' },
    });
    expect(quoteForSetfattr('/a b\n=\\é')).toBe('/a\\040b\\012\\075\\134\\303\\251');
    const dump = xattrRestoreDump('/t', [file('/x\n# file: /etc/passwd', { 'user.k': b64('v') })]);
    expect(dump).toBe('# file: /t/x\\012#\\040file:\\040/etc/passwd\nuser.k=0sdg==\n');
    expect(() => xattrRestoreDump('/t', [file('/x', { 'user.a\n# file: /etc/passwd\nuser.b': b64('v') })])).toThrow(/contains white space/);
    // PAX cannot carry "=" in a name (the record's key ends at the first one), a hand-made map can.
    expect(() => xattrRestoreDump('/t', [file('/x', { 'user.a=b': b64('v') })])).toThrow(/"="/);
    expect(() => xattrRestoreDump('/t', [file('/x', { 'user.a': 'not base64!\n# file: /etc' })])).toThrow(/not base64/);
  });

  it.runIf(hasAttr)('extract sets xattrs on the extracted file only, also when its name holds a newline', async () => {
    const victim = await hostVictim();
    const odd = `odd\n# file: ${victim}`;
    const archive = await imageWith([
      [{ name: odd, type: 'file', content: 'x', xattrs: { 'user.component': 'app', 'user.bin': '\u00e9' } }],
    ]);
    const { target } = await sandbox();
    const result = await extractImage(archive, target);
    expect(result.xattrsRestored).toBe(true);
    const extracted = userXattrs(join(target, odd));
    expect(extracted).toMatch(/user\.component="app"/);
    expect(extracted).toMatch(/user\.bin=/);
    expect(userXattrs(victim)).toBe('');
  });
});

suite('CLI errors', () => {
  it('one line, exit 1, no stack trace, for bad archives and bad usage', async () => {
    const truncated = join(dir, 'cli-truncated.tar');
    await writeFile(truncated, (await readFile(DEBIAN_V1)).subarray(0, 3000));
    for (const args of [
      ['inspect', truncated],
      ['extract', truncated, join(dir, 'cli-target')],
      ['build', truncated, '-o', join(dir, 'cli-out.tar')],
      ['build', DEBIAN_V1, '-o', join(dir, 'cli-out.tar'), '--max-layers', 'zero'],
      ['build', DEBIAN_V1],
      ['inspect', join(dir, 'does-not-exist.tar')],
      ['frobnicate'],
    ]) {
      const r = await runCli(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), `${args.join(' ')}: ${r.stderr}`).toHaveLength(1);
      expect(r.stderr).toMatch(/^oci-chunk: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(dir, 'cli-out.tar'))).toBe(false);
    expect(existsSync(join(dir, 'cli-target'))).toBe(false);
  });

  it('the archive reader still accepts the untouched fixture (the patches above are what break it)', async () => {
    const image = await readOciArchive(DEBIAN_V1);
    expect(image.manifest.layers).toHaveLength(1);
  });
});
