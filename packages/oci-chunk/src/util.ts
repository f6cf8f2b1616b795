/** Small helpers shared by the OCI pipeline (errors, hashing, JSON, temp dirs, tar names). */
import { createHash, type Hash } from 'node:crypto';
import {
  close as fsClose,
  constants as fsConstants,
  createReadStream,
  fstat as fsFstat,
  open as fsOpen,
  read as fsRead,
  readSync as fsReadSync,
  realpathSync,
  rmSync,
  type Stats,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_PATH_DEPTH } from './limits.ts';

/**
 * A mistake of the user or a bad input (corrupt archive, hostile entry): the CLI prints its message
 * on one line without a stack trace.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/**
 * Characters that must never reach a terminal or a log raw: C0 and C1 controls and DEL (ANSI escape
 * sequences start with ESC or CSI), line and paragraph separators, bidirectional overrides (they
 * reorder what is shown), and lone surrogates.
 */
const UNPRINTABLE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `text` with every unprintable character (see UNPRINTABLE) written as a `\n`, `\xNN` or `\uNNNN` escape. */
export function escapeControl(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return NAMED_ESCAPES[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/**
 * A name from an input (entry name, link target, package name...) for a message or a listing:
 * double-quoted, `"` and `\` escaped, unprintable characters escaped, and cut to `max` characters so
 * that one hostile name cannot flood a terminal.
 */
export function quote(text: string, max = 300): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return `"${escapeControl(cut.replace(/["\\]/g, '\\$&'))}"`;
}

/** The problem of a failed file-system call in words, e.g. `no space left on device (ENOSPC)`. */
export function fsProblem(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const text = typeof e?.message === 'string' ? e.message : String(error);
  if (typeof e?.code !== 'string') return text;
  // Node's messages read `ENOSPC: no space left on device, write`: keep the words, then the code.
  const words = /^[A-Z0-9]+: ([^,]*)/.exec(text)?.[1] ?? text;
  return `${words} (${e.code})`;
}

/** True for the errors of a file-system call (they carry an `E...` code). */
export function isFsError(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/**
 * An input opened as a regular file (see openRegularFile), read through its descriptor with the
 * callback API (cheaper than FileHandle's promises) and never past `size`.
 */
export class InputFile {
  readonly path: string;
  readonly fd: number;
  /** Size when opened: readers stop there even if the file grows. */
  readonly size: number;
  #owned = true;

  constructor(path: string, fd: number, size: number) {
    this.path = path;
    this.fd = fd;
    this.size = size;
  }

  /** Reads into `buffer` at `position`; the number of bytes read. */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => fsRead(this.fd, buffer, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
  }

  /**
   * Reads into `buffer` at `position` on this thread; the number of bytes read. For streaming a
   * layer: a read from the page cache costs microseconds, while a round trip through libuv's pool,
   * busy decompressing and compressing, cost this thread about 0.16 ms in lock waits per read.
   */
  readNow(buffer: Buffer, offset: number, length: number, position: number): number {
    return fsReadSync(this.fd, buffer, offset, length, position);
  }

  /**
   * The first `length` bytes (at most `size`) as a stream, which then owns the descriptor and
   * closes it when it ends or is destroyed (after any read in flight: closing under a pending read
   * could close a descriptor reused by another open).
   */
  stream(length = this.size): Readable {
    const end = Math.min(length, this.size);
    if (end === 0) {
      this.close();
      return Readable.from([]);
    }
    this.#owned = false;
    return createReadStream(this.path, { fd: this.fd, start: 0, end: end - 1, autoClose: true });
  }

  /** Closes the descriptor unless a stream owns it now. */
  close(): void {
    if (!this.#owned) return;
    this.#owned = false;
    fsClose(this.fd, () => {});
  }
}

/**
 * Opens an input that must be a regular file. O_NONBLOCK makes opening a FIFO return at once
 * instead of blocking a thread-pool thread for ever (nothing could then end the process but
 * SIGKILL); the type is checked on the descriptor, so a file swapped after a stat is caught too.
 * The returned InputFile knows the size the file has now: readers never read past it.
 */
export async function openRegularFile(path: string, what = 'input'): Promise<InputFile> {
  let fd: number;
  try {
    fd = await new Promise<number>((resolve, reject) =>
      fsOpen(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK, (e, n) => (e ? reject(e) : resolve(n))),
    );
  } catch (e) {
    throw new InputFileError(
      `${path}: cannot open ${what}: ${fsProblem(e)}`,
      (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'io',
      e,
    );
  }
  try {
    const st = await new Promise<Stats>((resolve, reject) => fsFstat(fd, (e, stats) => (e ? reject(e) : resolve(stats))));
    if (!st.isFile()) {
      const kind = st.isFIFO()
        ? 'a FIFO'
        : st.isCharacterDevice() || st.isBlockDevice()
          ? 'a device'
          : st.isSocket()
            ? 'a socket'
            : st.isDirectory()
              ? 'a directory'
              : 'not a regular file';
      throw new InputFileError(`${path}: ${what} is ${kind}, not a regular file`, 'type');
    }
    return new InputFile(path, fd, st.size);
  } catch (e) {
    fsClose(fd, () => {});
    if (e instanceof UserError) throw e;
    throw new InputFileError(`${path}: cannot read ${what}: ${fsProblem(e)}`, 'io', e);
  }
}

/** Why an input file could not be opened: missing, not a regular file, or an I/O error. */
export class InputFileError extends UserError {
  readonly reason: 'missing' | 'type' | 'io';

  constructor(message: string, reason: 'missing' | 'type' | 'io', cause?: unknown) {
    super(message, { cause });
    this.reason = reason;
  }
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

/**
 * Frees the memory of an ArrayBuffer this code allocated and will not touch again, now rather than
 * at a later garbage collection. V8 frees buffer memory late (it waits for tens of MiB of it), so
 * chunks that stream through by the hundred MiB would count in the peak RSS; detaching a buffer
 * frees it at once. Only whole buffers are released, never a slice of Node's shared pool.
 */
export function releaseArrayBuffer(buffer: ArrayBufferLike): void {
  if (buffer instanceof ArrayBuffer && !buffer.detached && buffer.byteLength > 0) buffer.transfer(0);
}

/** releaseArrayBuffer for a Buffer that owns its whole ArrayBuffer (one from allocUnsafeSlow, say); others are left alone. */
export function releaseBuffer(buffer: Uint8Array): void {
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) releaseArrayBuffer(buffer.buffer);
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
 * its own root, whatever a later consumer does with the name. Names beyond Linux's limits (PATH_MAX,
 * NAME_MAX) or nested deeper than MAX_PATH_DEPTH are refused too: no real file has one, and every
 * later step may then rely on paths being short.
 */
export function imagePathFromEntryName(name: string, where: string): string {
  if (name.length > MAX_PATH_BYTES || Buffer.byteLength(name, 'utf8') > MAX_PATH_BYTES) {
    throw new UserError(`${where}: entry ${quote(name, 60)} is longer than ${MAX_PATH_BYTES} bytes (Linux's PATH_MAX)`);
  }
  // The root itself written as "/" (umoci does this) names nothing outside the image.
  if (/^[/.]+$/.test(name) && !name.includes('..')) return '/';
  if (name.startsWith('/')) throw new UserError(`${where}: entry ${quote(name)} has an absolute path`);
  if (name.includes('\0')) throw new UserError(`${where}: entry name ${quote(name)} contains a NUL byte`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new UserError(`${where}: entry ${quote(name)} contains ".."`);
    if (Buffer.byteLength(part, 'utf8') > MAX_NAME_BYTES) {
      throw new UserError(`${where}: entry ${quote(name)} has a component longer than ${MAX_NAME_BYTES} bytes (Linux's NAME_MAX)`);
    }
    parts.push(part);
  }
  if (parts.length > MAX_PATH_DEPTH) {
    throw new UserError(
      `${where}: entry ${quote(name, 60)} is nested ${parts.length} directories deep; at most ${MAX_PATH_DEPTH} are supported`,
    );
  }
  return '/' + parts.join('/');
}

/** Order of UTF-16 code units (JavaScript's `<` on strings): the order of a scan's FileMap. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
/**
 * A full garbage collection, when the process exposes one (`oci-chunk build` runs with --expose-gc).
 * Called between phases: V8 sets the heap size of its next collection from what it found live at
 * the last one (up to 4 times as much), and a phase boundary is where most of the heap has just
 * become garbage (the scan's layer tree, the components' indexes). Collecting there (tens of ms at
 * 1e5 paths) keeps each phase's heap in proportion to what it holds, not to what the last one held.
 */
export function collectGarbage(): void {
  // 'last-resort' also returns the pages the collection freed to the system: a regular full
  // collection keeps them pooled for reuse, resident (22 MiB of 256 KiB pages at 1e5 paths).
  (globalThis as { gc?: (options?: { type: string; execution: string; flavor: string }) => void }).gc?.({
    type: 'major',
    execution: 'sync',
    flavor: 'last-resort',
  });
}

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
