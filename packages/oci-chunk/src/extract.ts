/**
 * `extract`: materialises an image's root filesystem (layers applied) into a directory.
 * Safety: entry names were validated by the scan (no `..`, no absolute names, parents are always
 * directories), everything is written into a fresh staging directory created by us, and symlinks are
 * created last, so no write can ever go through a link; relative symlinks that climb out of the root
 * are refused. The staging directory is renamed into place at the end, or removed on failure.
 */
import { execFile } from 'node:child_process';
import {
  copyFile,
  link,
  lchown,
  lutimes,
  mkdir,
  readdir,
  rename,
  rmdir,
  stat,
  symlink,
  chmod,
  writeFile,
  constants,
} from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { openImage } from './archive/index.ts';
import { hasGetfattr, scanImage } from './scan/index.ts';
import { xattrNameProblem } from './scan/xattrs.ts';
import type { FileInfo, FileMap } from './types.ts';
import {
  UserError,
  escapeControl,
  fsProblem,
  isFsError,
  makeTempDir,
  parentPath,
  progress,
  progressDone,
  quote,
  removeQuietly,
  trackPending,
} from './util.ts';

/** True when a relative symlink at `path` resolves (lexically) above the image root. */
export function symlinkEscapesRoot(path: string, target: string): boolean {
  if (target.startsWith('/')) return false; // absolute: resolved against the image root, never the host
  let depth = parentPath(path).split('/').filter(Boolean).length;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      depth--;
      if (depth < 0) return true;
    } else depth++;
  }
  return false;
}

export interface ExtractOptions {
  skipSpecial?: boolean;
  tempDir?: string;
}

/**
 * setfattr's quoting (attr's `quote()`/`unquote()`): bytes outside printable ASCII, white space, `\`
 * and `=` as `\ooo` octal. Used for paths and names alike, so no byte of either can end a line or a
 * field of the restore dump.
 */
export function quoteForSetfattr(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte < 0x21 || byte > 0x7e || byte === 0x5c || byte === 0x3d ? `\\${byte.toString(8).padStart(3, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/** The `setfattr --restore` dump of `files` below `root`: names re-checked and quoted, values as base64. */
export function xattrRestoreDump(root: string, files: Iterable<FileInfo>): string {
  const blocks: string[] = [];
  for (const f of files) {
    const names = Object.keys(f.xattrs);
    if (names.length === 0) continue;
    const lines = [`# file: ${quoteForSetfattr(join(root, f.path))}`];
    for (const name of names.sort()) {
      // The scan already refused such names; a FileMap built another way must not get past here either.
      const problem = xattrNameProblem(name);
      if (problem) throw new UserError(`${quote(f.path)}: xattr name ${quote(name)} ${problem}`);
      const value = f.xattrs[name] ?? '';
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new UserError(`${quote(f.path)}: xattr ${name} has a value that is not base64`);
      lines.push(`${quoteForSetfattr(name)}=0s${value}`);
    }
    blocks.push(`${lines.join('\n')}\n`);
  }
  return blocks.join('\n');
}

async function restoreXattrs(root: string, files: FileMap): Promise<boolean> {
  const dump = xattrRestoreDump(root, files.values());
  if (dump === '') return true;
  if (!(await hasGetfattr())) return false;
  // The dump goes through standard input: nothing is written outside the target directory. -h: a
  // symlink's own xattrs, never its target's.
  await new Promise<void>((res, rej) => {
    const child = execFile('setfattr', ['-h', '--restore=-'], (err, _o, stderr) =>
      err
        ? rej(
            new UserError(
              `setfattr failed: ${escapeControl(stderr.trim().split('\n')[0] || err.message.split('\n')[0] || 'unknown error')}`,
            ),
          )
        : res(),
    );
    child.stdin?.end(dump);
  });
  return true;
}

/** A failed write below `root` as one line naming the path (a full disk, a quota...). */
async function writing<T>(dest: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof UserError || !isFsError(e)) throw e;
    throw new UserError(`${quote(dest)}: cannot write: ${fsProblem(e)}`);
  }
}

async function materialise(root: string, files: FileMap): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const firstName = new Map<string | number, string>();
  const symlinks: FileInfo[] = [];
  const dirs: FileInfo[] = [];
  let n = 0;
  for (const info of files.values()) {
    if (++n % 1000 === 0) progress(`extract: ${n}/${files.size}`);
    const dest = join(root, info.path);
    await writing(dest, () => materialiseOne(info, dest));
  }
  for (const info of symlinks) {
    const dest = join(root, info.path);
    await writing(dest, async () => {
      await symlink(info.linkTarget, dest);
      if (asRoot) await lchown(dest, info.uid, info.gid);
      await lutimes(dest, info.mtime, info.mtime);
    });
  }
  // Directories last and deepest first: adding children changes a directory's mtime.
  for (const info of dirs.reverse()) {
    const dest = join(root, info.path);
    await writing(dest, async () => {
      if (asRoot) await lchown(dest, info.uid, info.gid);
      await chmod(dest, info.mode);
      await lutimes(dest, info.mtime, info.mtime);
    });
  }

  async function materialiseOne(info: FileInfo, dest: string): Promise<void> {
    if (info.type === 'directory') {
      await mkdir(dest, { mode: 0o700 });
      dirs.push(info);
      return;
    }
    if (info.type === 'symlink') {
      symlinks.push(info);
      return;
    }
    const first = firstName.get(info.inode);
    if (first !== undefined) {
      await link(first, dest);
      return;
    }
    if (info.content.kind === 'path') {
      // The spool belongs to us: moving it is cheapest; copy when it is on another filesystem.
      const from = info.content.path;
      await rename(from, dest).catch(() => copyFile(from, dest, constants.COPYFILE_EXCL));
    } else {
      await writeFile(dest, '', { flag: 'wx' });
    }
    if (asRoot) await lchown(dest, info.uid, info.gid);
    await chmod(dest, info.mode);
    await lutimes(dest, info.mtime, info.mtime);
    if (info.nlink > 1) firstName.set(info.inode, dest);
  }
}

export interface ExtractResult {
  files: number;
  xattrsRestored: boolean;
}

export async function extractImage(archive: string, target: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const targetPath = resolve(target);
  const existing = await stat(targetPath).catch(() => undefined);
  if (existing && (!existing.isDirectory() || (await readdir(targetPath)).length > 0)) {
    throw new UserError(`${target}: exists and is not an empty directory`);
  }
  if (!(await stat(dirname(targetPath)).catch(() => undefined))?.isDirectory()) {
    throw new UserError(`${dirname(targetPath)}: parent directory does not exist`);
  }
  const workDir = await makeTempDir('oci-extract', options.tempDir);
  // Staged beside the target so the final rename stays on one filesystem.
  const staging = `${targetPath}.partial-${process.pid}`;
  trackPending(staging);
  try {
    const image = await openImage(archive);
    const spool = join(workDir, 'spool');
    await mkdir(spool);
    const files = await scanImage(image, spool, { skipSpecial: options.skipSpecial });
    for (const f of files.values()) {
      if (f.type === 'symlink' && symlinkEscapesRoot(f.path, f.linkTarget)) {
        throw new UserError(`${archive}: symlink ${quote(f.path)} -> ${quote(f.linkTarget)} points outside the root filesystem`);
      }
    }
    await mkdir(staging);
    await materialise(staging, files);
    const xattrsRestored = await restoreXattrs(staging, files);
    await chmod(staging, 0o755);
    if (existing) await rmdir(targetPath);
    await rename(staging, targetPath);
    await removeQuietly(staging); // renamed away: just forget the name
    return { files: files.size, xattrsRestored };
  } catch (e) {
    await removeQuietly(staging);
    throw e;
  } finally {
    progressDone();
    await removeQuietly(workDir);
  }
}
