/**
 * A strict, streaming tar reader for untrusted input (oci-archives and image layers).
 *
 * Why not tar-stream's extractor: it decodes PAX values as UTF-8, so binary
 * xattr values arrive as U+FFFD; it turns non-numeric fields into NaN and unknown type flags into
 * `null`; it waits for ever on the body of a directory entry that declares a size; and it reads
 * data after the end-of-archive blocks as more entries. Here every field is checked, PAX values
 * are kept as bytes, and whatever two readers could understand differently is refused:
 *
 * - a numeric field must be octal digits (optionally space/NUL padded) or GNU base-256;
 * - names and link targets must be UTF-8 (a lossy decode would merge different names);
 * - entries that carry no data by definition (links, directories, devices, FIFOs) must declare
 *   size 0: readers disagree on whether data blocks follow them (Go's archive/tar, which container
 *   runtimes use, says no; tar-stream says yes for links), a classic way to hide entries;
 * - at most one PAX header, one GNU long name and one long link per entry, never a PAX path and a
 *   long name together; a global PAX header may not set fields (Go's reader ignores them);
 * - GNU sparse files are refused (their data is a map, not the content);
 * - after the two zero blocks that end an archive only zero bytes may follow.
 *
 * Bodies are pulled from the source on demand: memory stays at one chunk whatever the sizes. A
 * source that is a range of a file (an oci-archive) is read through one reused buffer, and bodies
 * nobody reads are skipped without reading them.
 */
import { MAX_LONG_NAME_BYTES, MAX_PAX_HEADER_BYTES } from '../limits.ts';
import { UserError, quote, releaseBuffer, type InputFile } from '../util.ts';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo' | 'unknown';

export interface TarHeader {
  /** Entry name: the PAX `path` or GNU long name if any, else the ustar prefix and name. */
  name: string;
  type: TarEntryType;
  /** The raw type flag, e.g. `0` or `V`, for messages about unknown types. */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow (0 for every type but files). */
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  /** Link or symlink target ('' for none). */
  linkname: string;
  /** `SCHILY.xattr.<name>` records: name -> the value's bytes as written. */
  xattrs: Map<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** Position of the entry's data in the tar (or in the file range it was read from). */
  offset: number;
  /** The entry's data; must be read to the end (or abandoned) before the next entry is asked for. */
  body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
/** Zero padding accepted after the end blocks: tar pads to its record size (10 KiB by default). */
const MAX_TRAILING_ZEROS = 1024 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A tar format problem, reported by the caller with the file it came from. */
function bad(where: string, problem: string): UserError {
  return new UserError(`${where}: ${problem}`);
}

/**
 * Where a tar's bytes come from. Chunks and pieces handed out may live in buffers the source reuses:
 * `exact` returns a copy the caller may keep; a piece from `pieces` is valid until the next is
 * asked for.
 */
interface ByteSource {
  /** Bytes handed out or skipped so far (for messages and entry offsets). */
  readonly offset: number;
  /**
   * Exactly `n` bytes, copied into `into` (at its start) or else into a new buffer; undefined when
   * the source ended before the first; `onShort` when in between.
   */
  exact(n: number, onShort: () => Error, into?: Buffer): Promise<Buffer | undefined>;
  /** Up to `n` bytes in the pieces they arrive in; `onShort` if the source ends first. */
  pieces(n: number, onShort: () => Error): AsyncGenerator<Buffer, void, undefined>;
  skip(n: number, onShort: () => Error): Promise<void>;
  /**
   * Reads the rest of the source: 'zeros' when it is at most `max` zero bytes, 'data' at the first
   * non-zero byte, 'long' past `max` bytes.
   */
  rest(max: number): Promise<'zeros' | 'data' | 'long'>;
}

/** Pulls exact byte counts out of an async iterable of chunks. */
class ChunkSource implements ByteSource {
  readonly #chunks: AsyncIterator<Buffer | Uint8Array | string>;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  offset = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    this.#chunks = source[Symbol.asyncIterator]();
  }

  /** Makes at least one byte available; false at the end of the source. */
  async #fill(): Promise<boolean> {
    while (this.#buffer.length === 0) {
      if (this.#ended) return false;
      const next = await this.#chunks.next();
      if (next.done) {
        this.#ended = true;
        return false;
      }
      const value = next.value;
      this.#buffer = Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array);
    }
    return true;
  }

  #take(n: number): Buffer {
    const piece = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(piece.length);
    this.offset += piece.length;
    return piece;
  }

  async exact(n: number, onShort: () => Error, into?: Buffer): Promise<Buffer | undefined> {
    if (!(await this.#fill())) return undefined;
    // Copied as it arrives: the chunks may be buffers the producer reuses.
    const out = into ? into.subarray(0, n) : Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      if (!(await this.#fill())) throw onShort();
      got += this.#take(n - got).copy(out, got);
    }
    return out;
  }

  async *pieces(n: number, onShort: () => Error): AsyncGenerator<Buffer, void, undefined> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) throw onShort();
      const piece = this.#take(left);
      left -= piece.length;
      yield piece;
    }
  }

  async skip(n: number, onShort: () => Error): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) throw onShort();
      left -= this.#take(left).length;
    }
  }

  async rest(max: number): Promise<'zeros' | 'data' | 'long'> {
    let seen = 0;
    while (await this.#fill()) {
      const piece = this.#take(this.#buffer.length);
      seen += piece.length;
      if (!isZeros(piece)) return 'data';
      if (seen > max) return 'long';
    }
    return 'zeros';
  }
}

/** A byte range of a file opened as a regular file (see InputFile). */
export interface FileRange {
  file: InputFile;
  /** First byte of the range in the file. */
  start: number;
  length: number;
}

/**
 * A file range read through one reused buffer; skipping a body costs no read (an oci-archive's
 * blobs are passed over without reading them). The range must lie within the size the file had when
 * opened; a file that shrank since reads short, which is reported as a truncated tar.
 */
class RangeSource implements ByteSource {
  readonly #range: FileRange;
  readonly #buffer: Buffer;
  #at = 0;
  #end = 0;
  /** Position in the range of the byte after the buffered ones. */
  #next = 0;
  offset = 0;

  constructor(range: FileRange, bufferSize = 64 * 1024) {
    this.#range = range;
    this.#buffer = Buffer.allocUnsafeSlow(Math.max(BLOCK, Math.min(bufferSize, range.length)));
  }

  /** Frees the read buffer (the source is not read again). */
  release(): void {
    releaseBuffer(this.#buffer);
  }

  async #fill(): Promise<boolean> {
    if (this.#at < this.#end) return true;
    const left = this.#range.length - this.#next;
    if (left <= 0) return false;
    const want = Math.min(left, this.#buffer.length);
    const got = await this.#range.file.read(this.#buffer, 0, want, this.#range.start + this.#next);
    if (got === 0) return false;
    this.#at = 0;
    this.#end = got;
    this.#next += got;
    return true;
  }

  #take(n: number): Buffer {
    const take = Math.min(n, this.#end - this.#at);
    const piece = this.#buffer.subarray(this.#at, this.#at + take);
    this.#at += take;
    this.offset += take;
    return piece;
  }

  async exact(n: number, onShort: () => Error, into?: Buffer): Promise<Buffer | undefined> {
    if (!(await this.#fill())) return undefined;
    const out = into ? into.subarray(0, n) : Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      if (!(await this.#fill())) throw onShort();
      got += this.#take(n - got).copy(out, got);
    }
    return out;
  }

  async *pieces(n: number, onShort: () => Error): AsyncGenerator<Buffer, void, undefined> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) throw onShort();
      const piece = this.#take(left);
      left -= piece.length;
      yield piece;
    }
  }

  // Skipping a file range moves a position, reading nothing; async to match the interface.
  // eslint-disable-next-line @typescript-eslint/require-await
  async skip(n: number, onShort: () => Error): Promise<void> {
    const buffered = Math.min(n, this.#end - this.#at);
    this.#at += buffered;
    this.offset += buffered;
    const beyond = n - buffered;
    if (beyond === 0) return;
    if (this.#next + beyond > this.#range.length) {
      this.offset += this.#range.length - this.#next;
      this.#next = this.#range.length;
      throw onShort();
    }
    this.#next += beyond;
    this.offset += beyond;
  }

  async rest(max: number): Promise<'zeros' | 'data' | 'long'> {
    let seen = 0;
    while (await this.#fill()) {
      const piece = this.#take(this.#end - this.#at);
      seen += piece.length;
      if (!isZeros(piece)) return 'data';
      if (seen > max) return 'long';
    }
    return 'zeros';
  }
}

function isZeros(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function isZeroBlock(block: Buffer): boolean {
  return isZeros(block);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Bytes up to the first NUL. */
function cString(block: Buffer, start: number, length: number): Buffer {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return nul < 0 ? field : field.subarray(0, nul);
}

function decodeText(bytes: Buffer, where: string, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw bad(where, `${what} ${quote(bytes.toString('latin1'))} is not valid UTF-8`);
  }
}

/**
 * A numeric header field: octal digits, with leading spaces or zeros and trailing spaces or NULs
 * (every tar writes one of those forms), or GNU base-256 (first byte 0x80 positive, 0xff negative).
 * Undefined when the field is none of those.
 */
function numericField(block: Buffer, start: number, length: number, allowNegative: boolean): number | undefined {
  const field = block.subarray(start, start + length);
  const first = field[0] as number;
  if (first === 0x80 || first === 0xff) {
    if (first === 0xff && !allowNegative) return undefined;
    let value = 0;
    for (let i = 1; i < field.length; i++) {
      const byte = first === 0xff ? 0xff - (field[i] as number) : (field[i] as number);
      value = value * 256 + byte;
      if (value > Number.MAX_SAFE_INTEGER) return undefined;
    }
    return first === 0xff ? -(value + 1) : value;
  }
  let i = 0;
  while (i < field.length && field[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < field.length; i++) {
    const c = field[i] as number;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < field.length; i++) if (field[i] !== 0x20 && field[i] !== 0) return undefined;
  return digits === 0 ? 0 : value;
}

function checksumOk(block: Buffer): boolean {
  const stored = numericField(block, 148, 8, false);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  // GNU tar accepts the signed sum some old tars wrote as well.
  return stored === unsigned || stored === signed;
}

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

/** Types that carry no data blocks; a non-zero size on them is refused (see the module comment). */
const HEADER_ONLY: ReadonlySet<TarEntryType> = new Set(['link', 'symlink', 'directory', 'character-device', 'block-device', 'fifo']);

interface Pax {
  records: Map<string, Buffer>;
}

/** `<length> <key>=<value>\n` records; a malformed one is refused. Trailing NUL padding is tolerated. */
function parsePax(data: Buffer, where: string): Pax {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0 && data.subarray(at).every((b) => b === 0)) break;
    const space = data.indexOf(0x20, at);
    const lengthText = space < 0 ? '' : data.subarray(at, space).toString('latin1');
    if (!/^[1-9][0-9]{0,8}$/.test(lengthText)) throw bad(where, `malformed PAX record at byte ${at} of a PAX header`);
    const length = Number(lengthText);
    const end = at + length;
    if (end > data.length || data[end - 1] !== 0x0a || space + 1 >= end - 1) {
      throw bad(where, `malformed PAX record at byte ${at} of a PAX header`);
    }
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1 || eq === space + 1) throw bad(where, `malformed PAX record at byte ${at} of a PAX header`);
    const key = decodeText(data.subarray(space + 1, eq), where, 'PAX key');
    records.set(key, data.subarray(eq + 1, end - 1));
    at = end;
  }
  return { records };
}

/** A PAX decimal (size, uid, gid): digits only. */
function paxInteger(value: Buffer, key: string, where: string, max: number): number {
  const text = value.toString('latin1');
  if (!/^[0-9]{1,16}$/.test(text) || Number(text) > max) throw bad(where, `PAX ${key} ${quote(text, 40)} is not a valid number`);
  return Number(text);
}

/** A PAX time: optional sign, seconds, optional fraction; whole seconds (rounded down) are kept. */
function paxTime(value: Buffer, where: string): number {
  const text = value.toString('latin1');
  const m = /^(-?)([0-9]{1,15})(\.[0-9]*)?$/.exec(text);
  if (!m) throw bad(where, `PAX mtime ${quote(text, 40)} is not a valid time`);
  const whole = Number(m[2]);
  const fraction = m[3] !== undefined && /[1-9]/.test(m[3]);
  return m[1] === '-' ? -whole - (fraction ? 1 : 0) : whole;
}

/** Keys a global PAX header may not set: Go's reader ignores global headers, others apply them. */
const ENTRY_KEYS = /^(path|linkpath|size|uid|gid|mtime|uname|gname|SCHILY\.xattr\..*|GNU\.sparse\..*)$/;

/**
 * The entries of a tar stream, in order. `where` names the file in messages. A stream of chunks is
 * read to its end (a hash fed by it covers every byte); a file range is read where needed. Errors
 * are UserErrors naming `where`, the entry (when known) and the problem.
 */
export async function* readTarEntries(
  source: AsyncIterable<Buffer | Uint8Array | string> | FileRange,
  where: string,
): AsyncGenerator<TarEntry, void, undefined> {
  const range = Symbol.asyncIterator in source ? undefined : new RangeSource(source);
  const src: ByteSource = range ?? new ChunkSource(source as AsyncIterable<Buffer | Uint8Array | string>);
  try {
    yield* entriesOf(src, where);
  } finally {
    range?.release();
  }
}

async function* entriesOf(src: ByteSource, where: string): AsyncGenerator<TarEntry, void, undefined> {
  /** Header blocks are parsed at once (nothing keeps them): one buffer serves for all. */
  const headerBlock = Buffer.allocUnsafe(BLOCK);
  const secondBlock = Buffer.allocUnsafe(BLOCK);
  const truncated = () => bad(where, `truncated tar (ends at byte ${src.offset}, inside an entry)`);
  let pax: Pax | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  /** Body and padding of the previous entry not read by its consumer. */
  let unread = 0;
  let current = 0;

  for (;;) {
    if (unread > 0) await src.skip(unread, truncated);
    unread = 0;
    const headerAt = src.offset;
    const block = await src.exact(BLOCK, truncated, headerBlock);
    if (block === undefined) {
      if (pax || longName !== undefined || longLink !== undefined) throw truncated();
      return;
    }
    if (isZeroBlock(block)) {
      const second = await src.exact(BLOCK, truncated, secondBlock);
      if (second !== undefined && !isZeroBlock(second)) throw bad(where, `a lone zero block at byte ${headerAt} (corrupt tar)`);
      const rest = await src.rest(MAX_TRAILING_ZEROS);
      if (rest === 'data') throw bad(where, 'data after the end-of-archive blocks');
      if (rest === 'long') throw bad(where, `more than ${MAX_TRAILING_ZEROS} bytes of padding after the end-of-archive blocks`);
      if (pax || longName !== undefined || longLink !== undefined) throw bad(where, 'a PAX header or long name without an entry');
      return;
    }
    if (!checksumOk(block)) throw bad(where, `invalid tar header checksum at byte ${headerAt} (corrupt tar, or not a tar)`);
    const magic = block.subarray(257, 263).toString('latin1');
    const ustar = magic === 'ustar\0';
    const gnu = magic === 'ustar ' && block[263] === 0x20 && block[264] === 0;
    if (!ustar && !gnu) throw bad(where, `tar header at byte ${headerAt} is neither ustar nor GNU format`);

    const flagByte = block[156] as number;
    const typeflag = String.fromCharCode(flagByte);
    const rawName = cString(block, 0, 100);
    const prefix = ustar ? cString(block, 345, 155) : Buffer.alloc(0);
    let name =
      prefix.length > 0
        ? `${decodeText(prefix, where, 'entry name prefix')}/${decodeText(rawName, where, 'entry name')}`
        : decodeText(rawName, where, 'entry name');
    const field = (start: number, length: number, what: string, allowNegative = false): number => {
      const value = numericField(block, start, length, allowNegative);
      if (value === undefined) {
        throw bad(
          where,
          `entry ${quote(name)}: ${what} field ${quote(block.subarray(start, start + length).toString('latin1'))} is not a number`,
        );
      }
      return value;
    };
    let size = field(124, 12, 'size');

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      const max = typeflag === 'x' || typeflag === 'g' ? MAX_PAX_HEADER_BYTES : MAX_LONG_NAME_BYTES;
      if (size > max)
        throw bad(where, `a ${typeflag === 'L' || typeflag === 'K' ? 'GNU long name' : 'PAX header'} of ${size} bytes (at most ${max})`);
      const data = size === 0 ? Buffer.alloc(0) : await src.exact(size, truncated);
      if (data === undefined) throw truncated();
      await src.skip(padding(size), truncated);
      if (typeflag === 'x') {
        if (pax) throw bad(where, `two PAX headers for one entry at byte ${headerAt}`);
        pax = parsePax(data, where);
      } else if (typeflag === 'g') {
        for (const key of parsePax(data, where).records.keys()) {
          if (ENTRY_KEYS.test(key)) throw bad(where, `a global PAX header sets ${quote(key)}, which is not supported`);
        }
      } else {
        const text = decodeText(cString(data, 0, data.length), where, typeflag === 'L' ? 'GNU long name' : 'GNU long link');
        if (typeflag === 'L') {
          if (longName !== undefined) throw bad(where, `two GNU long names for one entry at byte ${headerAt}`);
          longName = text;
        } else {
          if (longLink !== undefined) throw bad(where, `two GNU long links for one entry at byte ${headerAt}`);
          longLink = text;
        }
      }
      continue;
    }

    let type: TarEntryType = TYPES[typeflag] ?? 'unknown';
    let linkname = decodeText(cString(block, 157, 100), where, 'link target');
    let mode = field(100, 8, 'mode');
    let uid = field(108, 8, 'uid');
    let gid = field(116, 8, 'gid');
    let mtime = field(136, 12, 'mtime', true);
    const xattrs = new Map<string, Buffer>();
    if (longName !== undefined) name = longName;
    if (longLink !== undefined) linkname = longLink;
    if (pax) {
      const r = pax.records;
      const path = r.get('path');
      if (path !== undefined && path.length > 0) {
        if (longName !== undefined) throw bad(where, `entry ${quote(longName)} has both a GNU long name and a PAX path`);
        name = decodeText(path, where, 'PAX path');
      }
      const linkpath = r.get('linkpath');
      if (linkpath !== undefined && linkpath.length > 0) {
        if (longLink !== undefined) throw bad(where, `entry ${quote(name)} has both a GNU long link and a PAX linkpath`);
        linkname = decodeText(linkpath, where, 'PAX linkpath');
      }
      const at = `entry ${quote(name)}`;
      const sizeRecord = r.get('size');
      if (sizeRecord !== undefined && sizeRecord.length > 0)
        size = paxInteger(sizeRecord, 'size', `${where}: ${at}`, Number.MAX_SAFE_INTEGER);
      const uidRecord = r.get('uid');
      if (uidRecord !== undefined && uidRecord.length > 0) uid = paxInteger(uidRecord, 'uid', `${where}: ${at}`, Number.MAX_SAFE_INTEGER);
      const gidRecord = r.get('gid');
      if (gidRecord !== undefined && gidRecord.length > 0) gid = paxInteger(gidRecord, 'gid', `${where}: ${at}`, Number.MAX_SAFE_INTEGER);
      const mtimeRecord = r.get('mtime');
      if (mtimeRecord !== undefined && mtimeRecord.length > 0) mtime = paxTime(mtimeRecord, `${where}: ${at}`);
      for (const [key, value] of r) {
        if (key.startsWith('GNU.sparse.')) throw bad(where, `${at} is a GNU sparse file, which is not supported`);
        if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
      }
    }
    pax = undefined;
    longName = undefined;
    longLink = undefined;
    // Old tars mark directories with a trailing slash on a regular-file entry.
    if (type === 'file' && (typeflag === '0' || typeflag === '\0') && name.endsWith('/')) type = 'directory';
    mode &= 0o7777;
    if (HEADER_ONLY.has(type) && size !== 0) {
      throw bad(where, `entry ${quote(name)}: a ${type} entry declares ${size} bytes of data; it can have none`);
    }

    const header: TarHeader = { name, type, typeflag, mode, uid, gid, size, mtime, linkname, xattrs };
    const id = ++current;
    let left = size;
    unread = size + padding(size);
    const body = async function* (): AsyncGenerator<Buffer, void, undefined> {
      if (id !== current) throw new Error('tar entry body read after the next entry was requested');
      while (left > 0) {
        for await (const piece of src.pieces(Math.min(left, 1 << 20), truncated)) {
          if (id !== current) throw new Error('tar entry body read after the next entry was requested');
          left -= piece.length;
          unread -= piece.length;
          yield piece;
        }
      }
    };
    yield { header, offset: src.offset, body: body() };
    current++;
  }
}
