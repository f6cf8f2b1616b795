/**
 * Reading the image's own files (package databases, changelogs) through a FileMap: path resolution
 * inside the image (symlinks followed within the map, never on the host) and streaming line reads.
 */
import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import type { FileInfo, FileMap } from '../types.ts';

/** Symlink hops allowed while resolving one path (Linux uses 40 as well). */
const MAX_SYMLINK_HOPS = 40;
/** Longest line accepted from a database file or changelog; longer means the file is not text. */
const MAX_LINE_CHARS = 1 << 20;

function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolves `path` inside the image: symlinked ancestors are replaced by their targets (relative
 * targets against their directory, absolute ones against the image root, `..` never above the
 * root); the last component is followed too when `followLast`. Returns the normalised path, which
 * may not exist in the map, or undefined for a symlink loop.
 *
 * Needed because package file lists name paths as the package manager wrote them: on a merged-/usr
 * Debian, `/bin/ls` in a `.list` file is `/usr/bin/ls` in the map because `/bin` is a symlink.
 */
export function resolveInImage(files: FileMap, path: string, followLast: boolean): string | undefined {
  let pending = splitPath(path);
  let out: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const component = pending.shift() as string;
    if (component === '..') {
      out.pop();
      continue;
    }
    out.push(component);
    if (pending.length === 0 && !followLast) break;
    const info = files.get('/' + out.join('/'));
    if (info?.type === 'symlink') {
      if (++hops > MAX_SYMLINK_HOPS) return undefined;
      out.pop();
      if (info.linkTarget.startsWith('/')) out = [];
      pending = [...splitPath(info.linkTarget), ...pending];
    }
  }
  return '/' + out.join('/');
}

/** The regular file at `path` (symlinks followed), or undefined when there is none. */
export function findImageFile(files: FileMap, path: string): FileInfo | undefined {
  const resolved = resolveInImage(files, path, true);
  if (resolved === undefined) return undefined;
  const info = files.get(resolved);
  return info?.type === 'file' ? info : undefined;
}

/**
 * Lines of an image file, streamed (the file is never held whole), `\n` or `\r\n` separated, decoded
 * as UTF-8. `gunzip` decompresses on the way. Errors name the image path.
 */
export async function* readImageLines(info: FileInfo, options: { gunzip?: boolean } = {}): AsyncGenerator<string, void, undefined> {
  const where = info.path;
  if (info.content.kind === 'none') {
    if (info.size !== 0) throw new Error(`${where}: no content source for a file of ${info.size} bytes`);
    return;
  }
  const source = createReadStream(info.content.path);
  let stream: Readable = source;
  if (options.gunzip === true) {
    const gunzip = createGunzip();
    // pipeline forwards a read error into `gunzip`, which then fails the iteration below.
    pipeline(source, gunzip, () => {});
    stream = gunzip;
  }
  const decoder = new StringDecoder('utf8');
  let carry = '';
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const lines = (carry + decoder.write(chunk)).split('\n');
      carry = lines.pop() as string;
      if (carry.length > MAX_LINE_CHARS) throw new Error(`a line longer than ${MAX_LINE_CHARS} characters`);
      for (const line of lines) yield stripCr(line);
    }
    carry += decoder.end();
    if (carry !== '') yield stripCr(carry);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${where}: cannot read${options.gunzip === true ? ' (gzip)' : ''}: ${message}`, {
      cause: error,
    });
  } finally {
    stream.destroy();
    source.destroy();
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
