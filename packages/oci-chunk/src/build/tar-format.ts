/**
 * Encoding tar headers, for the layers and the oci-archive this tool writes. The bytes are those
 * tar-stream's pack writes (ustar; a PAX header named `PaxHeader` for what ustar cannot hold), so
 * archives written before this encoder replaced it stay byte-identical; ids above ustar's six
 * octal digits use the seventh digit of the field (tar-stream silently wrote 777777 instead).
 * Headers are written into a caller's buffer: no allocation per entry but for PAX records.
 */

export const BLOCK = 512;
/** Two zero blocks end a tar. */
export const END_OF_TAR = Buffer.alloc(2 * BLOCK);

export type EntryType = 'file' | 'link' | 'symlink' | 'directory';

const TYPEFLAG: Readonly<Record<EntryType | 'pax', number>> = { file: 0x30, link: 0x31, symlink: 0x32, directory: 0x35, pax: 0x78 };

export interface EntryHeader {
  /** Name as written (relative; directories end in `/`). */
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow (files only). */
  size: number;
  /** Whole seconds, 0 .. 8^11 - 1. */
  mtime: number;
  linkname?: string;
  /** Extra PAX records (e.g. `SCHILY.xattr.user.x`), in the order given. */
  pax?: readonly (readonly [string, string])[];
}

/** Bytes of padding after `size` bytes of data. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** `text` (ASCII) into `buffer` at `at`. */
function ascii(buffer: Buffer, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) buffer[at + i] = text.charCodeAt(i);
}

/**
 * An octal field of `digits` digits and a space (tar-stream's form); one more digit, no space, when it
 * does not fit. Digits are written straight into the buffer: no strings for the seven fields of
 * every header.
 */
function octal(buffer: Buffer, at: number, value: number, digits: number): void {
  let length = 1;
  for (let v = value; v >= 8; v = Math.floor(v / 8)) length++;
  if (length > digits + 1) throw new RangeError(`${value} does not fit a ${digits + 1}-digit octal field`);
  const width = length <= digits ? digits : length;
  let v = value;
  for (let i = width - 1; i >= 0; i--) {
    buffer[at + i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  if (length <= digits) buffer[at + digits] = 0x20;
}

/**
 * The ustar name split as tar-stream splits it (leading directories into the 155-byte prefix), or
 * undefined when the name needs a PAX `path` record.
 */
function splitName(name: string): { name: string; prefix: string } | undefined {
  if (!isAscii(name)) return undefined;
  let rest = name;
  let prefix = '';
  while (rest.length > 100) {
    const i = rest.indexOf('/');
    if (i === -1) return undefined;
    prefix += prefix ? `/${rest.slice(0, i)}` : rest.slice(0, i);
    rest = rest.slice(i + 1);
  }
  if (prefix.length > 155) return undefined;
  return { name: rest, prefix };
}

function ustar(
  buffer: Buffer,
  at: number,
  h: {
    name: string;
    prefix: string;
    type: EntryType | 'pax';
    mode: number;
    uid: number;
    gid: number;
    size: number;
    mtime: number;
    linkname: string;
  },
): void {
  buffer.fill(0, at, at + BLOCK);
  ascii(buffer, at, h.name);
  octal(buffer, at + 100, h.mode & 0o7777, 6);
  octal(buffer, at + 108, h.uid, 6);
  octal(buffer, at + 116, h.gid, 6);
  if (h.size.toString(8).length > 11) {
    // GNU base-256 for sizes from 8 GiB, as tar-stream does.
    buffer[at + 124] = 0x80;
    let n = h.size;
    for (let i = 11; i > 0; i--) {
      buffer[at + 124 + i] = n % 256;
      n = Math.floor(n / 256);
    }
  } else octal(buffer, at + 124, h.size, 11);
  octal(buffer, at + 136, h.mtime, 11);
  buffer[at + 156] = TYPEFLAG[h.type];
  ascii(buffer, at + 157, h.linkname);
  ascii(buffer, at + 257, 'ustar\u000000');
  octal(buffer, at + 329, 0, 6);
  octal(buffer, at + 337, 0, 6);
  if (h.prefix) ascii(buffer, at + 345, h.prefix);
  let sum = 8 * 0x20;
  for (let i = at; i < at + 148; i++) sum += buffer[i] as number;
  for (let i = at + 156; i < at + BLOCK; i++) sum += buffer[i] as number;
  octal(buffer, at + 148, sum, 6);
}

/** A PAX record `<length> <key>=<value>\n`, the length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const length = Buffer.byteLength(body);
  let digits = String(length).length;
  if (length + digits >= 10 ** digits) digits++;
  return `${length + digits}${body}`;
}

/**
 * Bytes the header of `h` takes: 512, or with a PAX header 1024 plus the padded records (which are
 * returned to be passed to writeHeader).
 */
export function headerSize(h: EntryHeader): { bytes: number; pax: Buffer | undefined } {
  const linkname = h.linkname ?? '';
  const simple = !h.pax?.length && linkname.length <= 100 && isAscii(linkname) && splitName(h.name) !== undefined;
  if (simple) return { bytes: BLOCK, pax: undefined };
  let records = paxRecord('path', h.name);
  if (linkname) records += paxRecord('linkpath', linkname);
  for (const [key, value] of h.pax ?? []) records += paxRecord(key, value);
  const pax = Buffer.from(records, 'utf8');
  return { bytes: 2 * BLOCK + pax.length + padding(pax.length), pax };
}

/** Writes the header of `h` into `buffer` at `at` (headerSize(h).bytes bytes; `pax` from headerSize). */
export function writeHeader(buffer: Buffer, at: number, h: EntryHeader, pax: Buffer | undefined): void {
  const linkname = h.linkname ?? '';
  const common = { type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, size: h.size, mtime: h.mtime };
  if (pax === undefined) {
    const split = splitName(h.name) as { name: string; prefix: string };
    ustar(buffer, at, { ...common, ...split, linkname });
    return;
  }
  ustar(buffer, at, { ...common, name: 'PaxHeader', prefix: '', type: 'pax', size: pax.length, linkname: linkname && 'PaxHeader' });
  pax.copy(buffer, at + BLOCK);
  const end = at + BLOCK + pax.length;
  buffer.fill(0, end, end + padding(pax.length));
  ustar(buffer, end + padding(pax.length), { ...common, name: 'PaxHeader', prefix: '', linkname: linkname && 'PaxHeader' });
}

/** The header of `h` as a new buffer. */
export function encodeHeader(h: EntryHeader): Buffer {
  const { bytes, pax } = headerSize(h);
  const buffer = Buffer.allocUnsafe(bytes);
  writeHeader(buffer, 0, h, pax);
  return buffer;
}
