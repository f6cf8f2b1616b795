/**
 * Reading the image's own files (package databases, changelogs) through a FileMap: path resolution
 * inside the image (symlinks followed within the map, never on the host) and streaming line reads.
 */
import { ReadStream, constants as fsConstants, createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, type Gunzip } from 'node:zlib';
import { MAX_DATABASE_BYTES, MAX_LINE_CHARS, MAX_PATH_BYTES, MAX_SYMLINK_HOPS } from '../limits.ts';
import type { FileInfo, FileMap, FileType } from '../types.ts';
import { UserError, escapeControl, quote } from '../util.ts';

function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

interface PathNode {
  /** Absolute path ('/' for the root). */
  path: string;
  /** Undefined for directories the map lacks (and the root). The FileInfo itself is not kept: the map makes it when asked. */
  type: FileType | undefined;
  /** A symlink's target ('' otherwise). */
  target: string;
  parent: PathNode | undefined;
  children: Map<string, PathNode> | undefined;
}

/** Where following a symlink (or a whole path) leads: the deepest existing node, then names that do not exist. */
interface Resolved {
  node: PathNode;
  missing: readonly string[];
  hops: number;
}

/** A resolution in progress: one per symlink being followed, plus the path asked for. */
interface Frame {
  link: PathNode | undefined;
  node: PathNode;
  missing: string[];
  parts: string[];
  next: number;
  hops: number;
  followLast: boolean;
}

const BUSY = 'busy';

/**
 * Path resolution inside an image, in time linear in the path: each directory's children are
 * indexed, so a step costs one lookup of a name (not of the whole prefix), and where each symlink
 * leads is computed once and remembered (with the hops it takes, so the 40-hop limit holds exactly
 * as if every link were followed anew). Symlink chains are followed with an explicit stack: no depth
 * of chain can overflow the call stack.
 */
export class ImagePaths {
  readonly #root: PathNode = { path: '/', type: undefined, target: '', parent: undefined, children: undefined };
  readonly #memo = new Map<PathNode, Resolved | null | typeof BUSY>();
  readonly #files: FileMap;

  constructor(files: FileMap) {
    this.#files = files;
    // Indexed by path: only the nodes that can have children in an image (directories, symlinks,
    // ancestors the map lacks). Files, nearly all of the paths, are reached through their
    // directory: an index of every path cost a map entry per path while the components phase ran.
    const byPath = new Map<string, PathNode>([['/', this.#root]]);
    const add = (path: string, info: FileInfo | undefined, parent: PathNode): PathNode => {
      const node: PathNode = { path, type: info?.type, target: info?.linkTarget ?? '', parent, children: undefined };
      (parent.children ??= new Map()).set(path.slice(path.lastIndexOf('/') + 1), node);
      if (node.type !== 'file') byPath.set(path, node);
      return node;
    };
    /** The node of `path`: indexed, or a file below an indexed directory (a hand-made map may put entries below a file). */
    const find = (path: string): PathNode | undefined => byPath.get(path) ?? this.#lookup(path);
    for (const info of files.values()) {
      const path = info.path;
      const known = byPath.get(path);
      if (known) {
        known.type = info.type;
        known.target = info.linkTarget;
        continue;
      }
      const slash = path.lastIndexOf('/');
      const parentPath = slash <= 0 ? '/' : path.slice(0, slash);
      let parent = find(parentPath);
      if (!parent) {
        // Missing ancestors (hand-made maps) get nodes without info, so their children stay reachable.
        const chain: string[] = [];
        let p = parentPath;
        let ancestor: PathNode | undefined;
        while (!(ancestor = find(p))) {
          chain.push(p);
          const at = p.lastIndexOf('/');
          p = at <= 0 ? '/' : p.slice(0, at);
        }
        for (let i = chain.length - 1; i >= 0; i--) ancestor = add(chain[i] as string, undefined, ancestor);
        parent = ancestor;
      }
      add(path, info, parent);
    }
  }

  /**
   * Resolves `path`: symlinked ancestors are replaced by their targets (relative targets against
   * their directory, absolute ones against the image root, `..` never above the root); the last
   * component is followed too when `followLast`. Returns the normalised path, which may not exist
   * in the map, or undefined for a symlink loop or more than 40 hops. Throws a UserError for a path
   * longer than PATH_MAX.
   */
  resolve(path: string, followLast: boolean): string | undefined {
    if (path.length > MAX_PATH_BYTES || Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) {
      throw new UserError(`path ${quote(path, 60)} is longer than ${MAX_PATH_BYTES} bytes (Linux's PATH_MAX)`);
    }
    const plain = this.#plain(path);
    if (plain !== undefined) return plain;
    const result = this.#run({ link: undefined, node: this.#root, missing: [], parts: splitPath(path), next: 0, hops: 0, followLast });
    if (result === null) return undefined;
    const base = result.node.path;
    if (result.missing.length === 0) return base;
    return `${base === '/' ? '' : base}/${result.missing.join('/')}`;
  }

  /**
   * The resolution of an absolute path whose every component exists and is neither a symlink nor
   * `.` or `..` (nor empty): the path of its node, found without the general machinery's arrays and
   * frames (a package's file list is mostly such paths). Undefined for anything else.
   */
  #plain(path: string): string | undefined {
    if (path.charCodeAt(0) !== 0x2f) return undefined;
    let node = this.#root;
    for (let start = 1; start <= path.length;) {
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      if (end === start) return undefined;
      const part = path.slice(start, end);
      if (part === '.' || part === '..') return undefined;
      const child = node.children?.get(part);
      if (child === undefined || child.type === 'symlink') return undefined;
      node = child;
      start = end + 1;
    }
    return node === this.#root ? undefined : node.path;
  }

  /** The regular file at `path` (symlinks followed), or undefined when there is none. */
  findFile(path: string): FileInfo | undefined {
    const resolved = this.resolve(path, true);
    if (resolved === undefined) return undefined;
    const node = this.#lookup(resolved);
    return node?.type === 'file' ? this.#files.get(node.path) : undefined;
  }

  #lookup(path: string): PathNode | undefined {
    let node: PathNode | undefined = this.#root;
    for (const part of splitPath(path)) {
      node = node.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  #frameFor(link: PathNode): Frame {
    const target = link.target;
    return {
      link,
      node: target.startsWith('/') ? this.#root : (link.parent ?? this.#root),
      missing: [],
      parts: splitPath(target),
      next: 0,
      hops: 1,
      followLast: true,
    };
  }

  #run(top: Frame): Resolved | null {
    const stack: Frame[] = [top];
    /** Result of the frame just finished, for the one below it; undefined when none finished. */
    let returned: Resolved | null | undefined;
    const finish = (frame: Frame, result: Resolved | null) => {
      if (frame.link) this.#memo.set(frame.link, result);
      stack.pop();
      returned = result;
    };
    while (stack.length > 0) {
      const f = stack[stack.length - 1] as Frame;
      if (returned !== undefined) {
        const r = returned;
        returned = undefined;
        if (r === null || f.hops + r.hops > MAX_SYMLINK_HOPS) {
          finish(f, null);
          continue;
        }
        f.hops += r.hops;
        f.node = r.node;
        f.missing = r.missing.slice();
      }
      let descended = false;
      let failed = false;
      while (f.next < f.parts.length) {
        const part = f.parts[f.next++] as string;
        if (part === '..') {
          if (f.missing.length > 0) f.missing.pop();
          else f.node = f.node.parent ?? this.#root;
          continue;
        }
        const child = f.missing.length > 0 ? undefined : f.node.children?.get(part);
        if (!child) {
          f.missing.push(part);
          continue;
        }
        if (child.type !== 'symlink' || (f.next === f.parts.length && !f.followLast)) {
          f.node = child;
          continue;
        }
        const known = this.#memo.get(child);
        if (known === BUSY || known === null || (known !== undefined && f.hops + known.hops > MAX_SYMLINK_HOPS)) {
          failed = true; // a loop (the link is being followed further down the stack), or too many hops
          break;
        }
        if (known !== undefined) {
          f.hops += known.hops;
          f.node = known.node;
          f.missing = known.missing.slice();
          continue;
        }
        this.#memo.set(child, BUSY);
        stack.push(this.#frameFor(child));
        descended = true;
        break;
      }
      if (failed) finish(f, null);
      else if (!descended) finish(f, { node: f.node, missing: f.missing, hops: f.hops });
    }
    return returned ?? null;
  }
}

/**
 * Resolves `path` inside the image (see ImagePaths.resolve). Builds an index of `files` each call:
 * phases resolving many paths keep one ImagePaths instead.
 *
 * Needed because package file lists name paths as the package manager wrote them: on a merged-/usr
 * Debian, `/bin/ls` in a `.list` file is `/usr/bin/ls` in the map because `/bin` is a symlink.
 */
export function resolveInImage(files: FileMap, path: string, followLast: boolean): string | undefined {
  return new ImagePaths(files).resolve(path, followLast);
}

/**
 * Where the components phase gets file contents from when they are not on the host (a FileMap
 * whose contents lie in image layers, see scan/): `fetch` is called with every file a repository
 * is about to read, before it reads the first, so that files the scan did not keep cost one pass
 * over their layers in all; afterwards a file's bytes are in memory (`bytes`) or on the host
 * (content kind `path`).
 */
export interface ContentStore {
  fetch(files: readonly FileInfo[]): Promise<void>;
  bytes(file: FileInfo): Buffer | undefined;
}

/** For FileMaps whose contents are all on the host (directory input, tests). */
export const HOST_CONTENTS: ContentStore = { fetch: async () => {}, bytes: () => undefined };

/**
 * True for the paths whose contents the components phase may read: the package databases and
 * changelogs. The scan of an image keeps these while it passes (see ImageScanOptions.capture);
 * anything else read (through a symlinked directory, say) is fetched by FetchContents.
 */
export function mayReadContent(path: string): boolean {
  if (path === '/var/lib/dpkg/status' || path === '/lib/apk/db/installed') return true;
  if (path.startsWith('/var/lib/dpkg/info/')) return path.endsWith('.list') && !path.includes('/', 19);
  if (path.startsWith('/usr/share/doc/')) return path.endsWith('/changelog.Debian.gz') || path.endsWith('/changelog.gz');
  return false;
}

/** Bytes left for a group of reads (all changelogs of an image). */
export interface ReadBudget {
  left: number;
  what: string;
}

/**
 * Lines of an image file, streamed (the file is never held whole), `\n` or `\r\n` separated, decoded
 * as UTF-8. `gunzip` decompresses on the way. The file is read up to the size the scan recorded and
 * no further (opened O_NONBLOCK: a FIFO swapped in fails at once instead of blocking; a device or a
 * growing file cannot give more than that size; a shorter file is an error). Files above
 * MAX_DATABASE_BYTES (before or after decompression), lines above MAX_LINE_CHARS and reads beyond
 * `budget` are refused. Errors are UserErrors naming the image path.
 */
export async function* readImageLines(
  info: FileInfo,
  options: { gunzip?: boolean; budget?: ReadBudget; contents?: ContentStore } = {},
): AsyncGenerator<string, void, undefined> {
  const where = escapeControl(info.path);
  const gz = options.gunzip === true;
  if (info.content.kind === 'none' || info.size === 0) {
    if (info.size !== 0) throw new UserError(`${where}: no content source for a file of ${info.size} bytes`);
    return;
  }
  if (info.size > MAX_DATABASE_BYTES) {
    throw new UserError(`${where}: ${info.size} bytes is more than the ${MAX_DATABASE_BYTES} read from one database file`);
  }
  const held = options.contents?.bytes(info);
  let source: Readable | undefined;
  let stream: AsyncIterable<Buffer>;
  if (held !== undefined) {
    if (held.length !== info.size) throw new Error(`${where}: ${held.length} bytes kept for a file of ${info.size}`);
    stream = [held] as unknown as AsyncIterable<Buffer>;
  } else {
    if (info.content.kind !== 'path') throw new Error(`${where}: content read before it was fetched from its layer`);
    // No fstat here (it costs a Stats object per file, and this runs for every .list): the read is
    // bounded by `end` and checked against the recorded size below, which is what the type check buys.
    // fs.open takes numeric flags (the types only list strings).
    const flags = (fsConstants.O_RDONLY | fsConstants.O_NONBLOCK) as unknown as string;
    source = createReadStream(info.content.path, { flags, start: 0, end: info.size - 1 });
    stream = source;
  }
  let gunzip: Gunzip | undefined;
  try {
    if (gz) {
      // A small output buffer: one per file read, and each stays until a full collection (at 1e5
      // files, 1,000 changelogs held 16 MiB of zlib's default 16 KiB buffers). Most are a few KiB.
      gunzip = createGunzip({ chunkSize: 4096 });
      // pipeline forwards a read error into `gunzip`, which then fails the iteration below.
      if (source) pipeline(source, gunzip, () => {});
      else gunzip.end(held);
      stream = gunzip;
    }
    const decoder = new StringDecoder('utf8');
    let carry = '';
    let bytes = 0;
    for await (const chunk of stream) {
      bytes += chunk.length;
      if (gz && bytes > MAX_DATABASE_BYTES) throw new Error(`decompresses to more than ${MAX_DATABASE_BYTES} bytes`);
      if (options.budget) {
        options.budget.left -= chunk.length;
        if (options.budget.left < 0) throw new Error(`${options.budget.what} take more than their limit`);
      }
      const lines = (carry + decoder.write(chunk)).split('\n');
      carry = lines.pop() as string;
      if (carry.length > MAX_LINE_CHARS) throw new Error(`a line longer than ${MAX_LINE_CHARS} characters`);
      for (const line of lines) yield stripCr(line);
    }
    if (source && source instanceof ReadStream && source.bytesRead < info.size) {
      throw new Error(`the file shrank from ${info.size} to ${source.bytesRead} bytes since the scan`);
    }
    carry += decoder.end();
    if (carry !== '') yield stripCr(carry);
  } catch (error) {
    if (error instanceof UserError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new UserError(`${where}: cannot read${gz ? ' (gzip)' : ''}: ${message}`, { cause: error });
  } finally {
    gunzip?.destroy();
    source?.destroy();
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
