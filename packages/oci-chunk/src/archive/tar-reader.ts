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
  xattrs: ReadonlyMap<string, Buffer>;
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
   * Without waiting: when `skip` bytes and a 512-byte block after them are buffered in one piece,
   * consumes them and returns the block (a view, valid until the source is read again); else
   * consumes nothing. Most headers are read this way, with no promise and no copy.
   */
  peekBlock(skip: number): Buffer | undefined;
  /**
   * Reads the rest of the source: 'zeros' when it is at most `max` zero bytes, 'data' at the first
   * non-zero byte, 'long' past `max` bytes.
   */
  rest(max: number): Promise<'zeros' | 'data' | 'long'>;
}

/** Pulls exact byte counts out of an async iterable of chunks. */
class ChunkSource implements ByteSource {
  readonly #chunks: AsyncIterator<Buffer | Uint8Array | string>;
  /** The current chunk and the position of its first unread byte (no view per read). */
  #chunk: Buffer = Buffer.alloc(0);
  #at = 0;
  #ended = false;
  offset = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    this.#chunks = source[Symbol.asyncIterator]();
  }

  /** Makes at least one byte available; false at the end of the source. */
  async #fill(): Promise<boolean> {
    while (this.#at === this.#chunk.length) {
      if (this.#ended) return false;
      const next = await this.#chunks.next();
      if (next.done) {
        this.#ended = true;
        return false;
      }
      const value = next.value;
      this.#chunk = Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array);
      this.#at = 0;
    }
    return true;
  }

  /** Consumes up to `n` buffered bytes; returns how many. */
  #consume(n: number): number {
    const k = Math.min(n, this.#chunk.length - this.#at);
    this.#at += k;
    this.offset += k;
    return k;
  }

  async exact(n: number, onShort: () => Error, into?: Buffer): Promise<Buffer | undefined> {
    if (this.#at === this.#chunk.length && !(await this.#fill())) return undefined;
    // Copied as it arrives: the chunks may be buffers the producer reuses.
    const out = into ? into.subarray(0, n) : Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      if (this.#at === this.#chunk.length && !(await this.#fill())) throw onShort();
      const from = this.#at;
      got += this.#chunk.copy(out, got, from, from + this.#consume(n - got));
    }
    return out;
  }

  async *pieces(n: number, onShort: () => Error): AsyncGenerator<Buffer, void, undefined> {
    let left = n;
    while (left > 0) {
      if (this.#at === this.#chunk.length && !(await this.#fill())) throw onShort();
      const from = this.#at;
      const k = this.#consume(left);
      left -= k;
      yield this.#chunk.subarray(from, from + k);
    }
  }

  async skip(n: number, onShort: () => Error): Promise<void> {
    let left = n - this.#consume(n);
    while (left > 0) {
      if (!(await this.#fill())) throw onShort();
      left -= this.#consume(left);
    }
  }

  peekBlock(skip: number): Buffer | undefined {
    const at = this.#at + skip;
    if (at + BLOCK > this.#chunk.length) return undefined;
    this.#at = at + BLOCK;
    this.offset += skip + BLOCK;
    return this.#chunk.subarray(at, at + BLOCK);
  }

  async rest(max: number): Promise<'zeros' | 'data' | 'long'> {
    let seen = 0;
    while (await this.#fill()) {
      const from = this.#at;
      const k = this.#consume(this.#chunk.length - from);
      seen += k;
      if (!isZeros(this.#chunk, from, from + k)) return 'data';
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

  peekBlock(skip: number): Buffer | undefined {
    const at = this.#at + skip;
    if (at + BLOCK > this.#end) return undefined;
    this.#at = at + BLOCK;
    this.offset += skip + BLOCK;
    return this.#buffer.subarray(at, at + BLOCK);
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

function isZeros(bytes: Buffer, start = 0, end = bytes.length): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
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
  // Read in place (no view per field: these run for every header).
  const end = start + length;
  const first = block[start] as number;
  if (first === 0x80 || first === 0xff) {
    if (first === 0xff && !allowNegative) return undefined;
    let value = 0;
    for (let i = start + 1; i < end; i++) {
      const byte = first === 0xff ? 0xff - (block[i] as number) : (block[i] as number);
      value = value * 256 + byte;
      if (value > Number.MAX_SAFE_INTEGER) return undefined;
    }
    return first === 0xff ? -(value + 1) : value;
  }
  let i = start;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i] as number;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (block[i] !== 0x20 && block[i] !== 0) return undefined;
  return digits === 0 ? 0 : value;
}

/** A NUL-terminated text field of a header block, decoded as UTF-8 (ASCII, the usual case, without a view). */
function textField(block: Buffer, start: number, length: number, where: string, what: string): string {
  let end = start;
  let ascii = true;
  for (const limit = start + length; end < limit; end++) {
    const c = block[end] as number;
    if (c === 0) break;
    if (c > 0x7f) ascii = false;
  }
  return ascii ? block.toString('latin1', start, end) : decodeText(block.subarray(start, end), where, what);
}

/** A numeric field of the header of entry `name`, or a message naming the field. */
function headerNumber(
  block: Buffer,
  start: number,
  length: number,
  what: string,
  name: string,
  where: string,
  allowNegative = false,
): number {
  const value = numericField(block, start, length, allowNegative);
  if (value === undefined) {
    throw bad(
      where,
      `entry ${quote(name)}: ${what} field ${quote(block.subarray(start, start + length).toString('latin1'))} is not a number`,
    );
  }
  return value;
}

/** Compares the bytes at `at` with ASCII `text`. */
function bytesAre(block: Buffer, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (block[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The xattrs of every entry without PAX records (shared: nothing writes to it). */
const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

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
  const parser = new TarParser(range ?? new ChunkSource(source as AsyncIterable<Buffer | Uint8Array | string>), where);
  try {
    for (;;) {
      const next = parser.next();
      const entry = next instanceof Promise ? await next : next;
      if (entry === undefined) return;
      yield entry;
    }
  } finally {
    range?.release();
  }
}

/**
 * readTarEntries for a visitor: `visit` gets each entry in order and returns a promise only when it
 * has to wait. An entry whose header is buffered costs no promise at all (a layer of 1e5 small files
 * is 1e5 headers: an async generator's promises per entry were most of what a pass allocated).
 */
export async function forEachTarEntry(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  where: string,
  visit: (entry: TarEntry) => Promise<void> | undefined,
): Promise<void> {
  const parser = new TarParser(new ChunkSource(source), where);
  for (;;) {
    const next = parser.next();
    const entry = next instanceof Promise ? await next : next;
    if (entry === undefined) return;
    const waiting = visit(entry);
    if (waiting) await waiting;
  }
}

/** An entry's data, read from the parser while the entry is the current one. */
class EntryBody implements AsyncIterable<Buffer> {
  readonly #parser: TarParser;
  readonly #id: number;
  constructor(parser: TarParser, id: number) {
    this.#parser = parser;
    this.#id = id;
  }
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.#parser.body(this.#id);
  }
}

/** Marks a header that was not an entry (a PAX header or long name): read the next one. */
const AGAIN = Symbol('again');
type Step = TarEntry | undefined | typeof AGAIN;

class TarParser {
  readonly #src: ByteSource;
  readonly #where: string;
  /** Header blocks are parsed at once (nothing keeps them): one buffer serves for all. */
  readonly #headerBlock = Buffer.allocUnsafe(BLOCK);
  readonly #secondBlock = Buffer.allocUnsafe(BLOCK);
  readonly #truncated: () => UserError;
  #pax: Pax | undefined;
  #longName: string | undefined;
  #longLink: string | undefined;
  /** Body and padding of the current entry not read by its consumer. */
  #unread = 0;
  /** Body bytes of the current entry not read. */
  #left = 0;
  #current = 0;
  #ended = false;

  constructor(src: ByteSource, where: string) {
    this.#src = src;
    this.#where = where;
    this.#truncated = () => bad(where, `truncated tar (ends at byte ${src.offset}, inside an entry)`);
  }

  /** The next entry, undefined at the end; without a promise when its header is buffered. */
  next(): TarEntry | undefined | Promise<TarEntry | undefined> {
    this.#current++; // the previous entry's body can no longer be read
    if (this.#ended) return undefined;
    if (this.#pax === undefined && this.#longName === undefined && this.#longLink === undefined) {
      const headerAt = this.#src.offset + this.#unread;
      const block = this.#src.peekBlock(this.#unread);
      if (block !== undefined) {
        this.#unread = 0;
        const step = this.#step(block, headerAt);
        if (step !== AGAIN && !(step instanceof Promise)) return step;
        return this.#slow(step);
      }
    }
    return this.#slow(AGAIN);
  }

  async #slow(first: Step | Promise<Step>): Promise<TarEntry | undefined> {
    let step = await first;
    while (step === AGAIN) {
      const src = this.#src;
      if (this.#unread > 0) await src.skip(this.#unread, this.#truncated);
      this.#unread = 0;
      const headerAt = src.offset;
      const block = await src.exact(BLOCK, this.#truncated, this.#headerBlock);
      if (block === undefined) {
        if (this.#pax || this.#longName !== undefined || this.#longLink !== undefined) throw this.#truncated();
        this.#ended = true;
        return undefined;
      }
      step = await this.#step(block, headerAt);
    }
    return step;
  }

  /** One header block: an entry, the end of the archive (undefined), or AGAIN after a PAX header or long name. */
  #step(block: Buffer, headerAt: number): Step | Promise<Step> {
    const where = this.#where;
    if (isZeros(block)) return this.#end(headerAt);
    if (!checksumOk(block)) throw bad(where, `invalid tar header checksum at byte ${headerAt} (corrupt tar, or not a tar)`);
    const ustar = bytesAre(block, 257, 'ustar\0');
    const gnu = bytesAre(block, 257, 'ustar  \0');
    if (!ustar && !gnu) throw bad(where, `tar header at byte ${headerAt} is neither ustar nor GNU format`);

    const flagByte = block[156] as number;
    const typeflag = String.fromCharCode(flagByte);
    const prefix = ustar ? textField(block, 345, 155, where, 'entry name prefix') : '';
    const rawName = textField(block, 0, 100, where, 'entry name');
    let name = prefix.length > 0 ? `${prefix}/${rawName}` : rawName;
    let size = headerNumber(block, 124, 12, 'size', name, where);

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') return this.#extension(typeflag, size, headerAt);

    let type: TarEntryType = TYPES[typeflag] ?? 'unknown';
    let linkname = textField(block, 157, 100, where, 'link target');
    let mode = headerNumber(block, 100, 8, 'mode', name, where);
    let uid = headerNumber(block, 108, 8, 'uid', name, where);
    let gid = headerNumber(block, 116, 8, 'gid', name, where);
    let mtime = headerNumber(block, 136, 12, 'mtime', name, where, true);
    let xattrs = NO_XATTRS;
    const longName = this.#longName;
    const longLink = this.#longLink;
    const pax = this.#pax;
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
      const found = new Map<string, Buffer>();
      for (const [key, value] of r) {
        if (key.startsWith('GNU.sparse.')) throw bad(where, `${at} is a GNU sparse file, which is not supported`);
        if (key.startsWith('SCHILY.xattr.')) found.set(key.slice('SCHILY.xattr.'.length), value);
      }
      if (found.size > 0) xattrs = found;
    }
    this.#pax = undefined;
    this.#longName = undefined;
    this.#longLink = undefined;
    // Old tars mark directories with a trailing slash on a regular-file entry.
    if (type === 'file' && (typeflag === '0' || typeflag === '\0') && name.endsWith('/')) type = 'directory';
    mode &= 0o7777;
    if (HEADER_ONLY.has(type) && size !== 0) {
      throw bad(where, `entry ${quote(name)}: a ${type} entry declares ${size} bytes of data; it can have none`);
    }

    const header: TarHeader = { name, type, typeflag, mode, uid, gid, size, mtime, linkname, xattrs };
    this.#left = size;
    this.#unread = size + padding(size);
    return { header, offset: this.#src.offset, body: new EntryBody(this, ++this.#current) };
  }

  /** The data of a PAX header or GNU long name/link, remembered for the entry after it. */
  async #extension(typeflag: string, size: number, headerAt: number): Promise<Step> {
    const where = this.#where;
    const src = this.#src;
    const max = typeflag === 'x' || typeflag === 'g' ? MAX_PAX_HEADER_BYTES : MAX_LONG_NAME_BYTES;
    if (size > max)
      throw bad(where, `a ${typeflag === 'L' || typeflag === 'K' ? 'GNU long name' : 'PAX header'} of ${size} bytes (at most ${max})`);
    const data = size === 0 ? Buffer.alloc(0) : await src.exact(size, this.#truncated);
    if (data === undefined) throw this.#truncated();
    await src.skip(padding(size), this.#truncated);
    if (typeflag === 'x') {
      if (this.#pax) throw bad(where, `two PAX headers for one entry at byte ${headerAt}`);
      this.#pax = parsePax(data, where);
    } else if (typeflag === 'g') {
      for (const key of parsePax(data, where).records.keys()) {
        if (ENTRY_KEYS.test(key)) throw bad(where, `a global PAX header sets ${quote(key)}, which is not supported`);
      }
    } else {
      const text = decodeText(cString(data, 0, data.length), where, typeflag === 'L' ? 'GNU long name' : 'GNU long link');
      if (typeflag === 'L') {
        if (this.#longName !== undefined) throw bad(where, `two GNU long names for one entry at byte ${headerAt}`);
        this.#longName = text;
      } else {
        if (this.#longLink !== undefined) throw bad(where, `two GNU long links for one entry at byte ${headerAt}`);
        this.#longLink = text;
      }
    }
    return AGAIN;
  }

  /** A zero block: the end of the archive, which must be a second zero block and nothing but zeros after. */
  async #end(headerAt: number): Promise<Step> {
    const where = this.#where;
    const src = this.#src;
    const second = await src.exact(BLOCK, this.#truncated, this.#secondBlock);
    if (second !== undefined && !isZeros(second)) throw bad(where, `a lone zero block at byte ${headerAt} (corrupt tar)`);
    const rest = await src.rest(MAX_TRAILING_ZEROS);
    if (rest === 'data') throw bad(where, 'data after the end-of-archive blocks');
    if (rest === 'long') throw bad(where, `more than ${MAX_TRAILING_ZEROS} bytes of padding after the end-of-archive blocks`);
    if (this.#pax || this.#longName !== undefined || this.#longLink !== undefined)
      throw bad(where, 'a PAX header or long name without an entry');
    this.#ended = true;
    return undefined;
  }

  /** The data of entry `id`, which must still be the current one. */
  async *body(id: number): AsyncGenerator<Buffer, void, undefined> {
    if (id !== this.#current) throw new Error('tar entry body read after the next entry was requested');
    while (this.#left > 0) {
      for await (const piece of this.#src.pieces(Math.min(this.#left, 1 << 20), this.#truncated)) {
        if (id !== this.#current) throw new Error('tar entry body read after the next entry was requested');
        this.#left -= piece.length;
        this.#unread -= piece.length;
        yield piece;
      }
    }
  }
}
