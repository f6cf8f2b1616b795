/** Small helpers shared by the OCI pipeline (errors, hashing, JSON, temp dirs, tar names). */
import { createHash, type Hash } from 'node:crypto';
import { realpathSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { fileURLToPath } from 'node:url';

/**
 * A mistake of the user or a bad input (corrupt archive, hostile entry): the CLI prints its message
 * on one line without a stack trace.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** JSON with keys sorted at every level and no whitespace: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A pass-through that feeds every chunk to a hash and counts bytes, so digests cost no extra pass. */
export class HashingPassThrough extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/** Scratch and partial paths alive right now: removed by `removeAllPending` if the process is interrupted. */
const pending = new Set<string>();

export function trackPending(path: string): void {
  pending.add(path);
}

/** For signal handlers: synchronous, best effort. */
export function removeAllPending(): void {
  for (const path of pending) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      /* best effort while exiting */
    }
  }
  pending.clear();
}

export async function makeTempDir(prefix: string, parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, `${prefix}-`));
  pending.add(dir);
  return dir;
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => {});
  pending.delete(path);
}

/**
 * Turns a tar entry name into an absolute image path (`/a/b`), or '/' for the root itself.
 * Rejects names that are absolute or climb with `..`: an image must never name anything outside
 * its own root, whatever a later consumer does with the name.
 */
export function imagePathFromEntryName(name: string, where: string): string {
  // The root itself written as "/" (umoci does this) names nothing outside the image.
  if (/^[/.]+$/.test(name) && !name.includes('..')) return '/';
  if (name.startsWith('/')) throw new UserError(`${where}: entry "${name}" has an absolute path`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new UserError(`${where}: entry "${name}" contains ".."`);
    if (part.includes('\0')) throw new UserError(`${where}: entry name contains a NUL byte`);
    parts.push(part);
  }
  return '/' + parts.join('/');
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function isSameOrBelow(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(ancestor === '/' ? '/' : ancestor + '/');
}

/** Human-readable byte count for tables and progress lines. */
export function formatBinaryBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Prints a transient progress line on a terminal only; pipes and CI logs stay clean. */
export function progress(message: string): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(`\r\x1b[2K${message}`);
}

export function progressDone(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
}

/**
 * True when the module at `moduleUrl` is the script Node was started with (`import.meta.main` needs
 * Node 24.2; the package supports 22.12). Symlinks (npm's bin links) are resolved.
 */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
