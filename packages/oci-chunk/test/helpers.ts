/** Shared helpers of the OCI tests: temp dirs, running the CLI, describing root filesystems. */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import { openImage } from '../src/archive/index.ts';
import { scanDirectory, scanImage } from '../src/scan/index.ts';
import type { FileMap } from '../src/types.ts';
import { makeTempDir, removeQuietly } from '../src/util.ts';

/** The repository root (fixtures, the pinned Node) and this package's root. */
export const ROOT = resolve(import.meta.dirname, '../../..');
export const PACKAGE = resolve(import.meta.dirname, '..');
export const FIXTURES = join(ROOT, 'fixtures');
export const DEBIAN_V1 = join(FIXTURES, 'series', 'debian-v1.oci.tar');
export const DEBIAN_V2 = join(FIXTURES, 'series', 'debian-v2.oci.tar');
export const DEBIAN_V3 = join(FIXTURES, 'series', 'debian-v3.oci.tar');
export const LAYERED = join(FIXTURES, 'layered.oci.tar');
/** The pinned Node (runs .ts directly); vitest itself may run on an older system Node. */
export const NODE = existsSync(join(ROOT, 'node_modules', '.bin', 'node')) ? join(ROOT, 'node_modules', '.bin', 'node') : process.execPath;
const CLI = join(PACKAGE, 'src', 'cli.ts');

const created: string[] = [];
// Registered once, when a test file first imports this module: also covers directories made inside tests.
afterAll(async () => {
  for (const dir of created.splice(0)) await removeQuietly(dir);
});

/** A temp directory removed after the test file. */
export async function tempDir(prefix = 'oci-test'): Promise<string> {
  const dir = await makeTempDir(prefix);
  created.push(dir);
  return dir;
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((res) => {
    execFile(NODE, [CLI, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      res({ status, stdout, stderr });
    });
  });
}

export function toolAvailable(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface Described {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  linkTarget: string;
  sha256: string;
  xattrs: Record<string, string>;
  /** Other names of the same inode (hardlinks), sorted. */
  links: string[];
}

/** Everything the acceptance criteria compare, per path (mtimes excluded: the build clamps them). */
export async function describe(files: FileMap, options: { xattrs?: boolean } = {}): Promise<Record<string, Described>> {
  const byInode = new Map<string | number, string[]>();
  for (const f of files.values()) if (f.type === 'file') byInode.set(f.inode, [...(byInode.get(f.inode) ?? []), f.path]);
  const out: Record<string, Described> = {};
  for (const f of files.values()) {
    const data = f.content.kind === 'path' ? await readFile(f.content.path) : Buffer.alloc(0);
    out[f.path] = {
      type: f.type,
      // Linux has no symlink permissions (always 0777 on disk): only compare real modes.
      mode: f.type === 'symlink' ? '' : f.mode.toString(8),
      uid: f.uid,
      gid: f.gid,
      size: f.size,
      linkTarget: f.linkTarget,
      sha256: f.type === 'file' ? createHash('sha256').update(data).digest('hex') : '',
      xattrs: options.xattrs === false ? {} : f.xattrs,
      links: f.type === 'file' ? (byInode.get(f.inode) ?? []).filter((p) => p !== f.path).sort() : [],
    };
  }
  return out;
}

/** The root filesystem of an image (layers applied), as a FileMap with spooled contents. */
export async function imageFiles(archive: string): Promise<FileMap> {
  const work = await tempDir('oci-image');
  const image = await openImage(archive);
  const spool = join(work, 'spool');
  await mkdir(spool);
  return scanImage(image, spool);
}

export { scanDirectory };

export function execFileText(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) =>
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? rej(new Error(`${cmd} ${args.join(' ')}: ${stderr}`)) : res(stdout),
    ),
  );
}
