/**
 * The FileMap of an image scan, held as columns: typed arrays for the numbers, one array of path
 * strings, and maps only for what few entries have (link targets, xattrs, spooled contents).
 *
 * A FileInfo object with its content object and a map entry cost about 260 bytes of heap per path
 * (26 MiB at 1e5 paths), and V8 lets the heap grow to several times what is live; columns cost about
 * 50 bytes per path outside the heap plus the path string. Readers see an ordinary
 * ReadonlyMap<string, FileInfo>: each FileInfo is made when asked for (a short-lived object) and
 * changing it changes nothing in the map.
 */
import { NO_CONTENT, NO_XATTRS, type ContentSource, type FileInfo, type FileType } from '../types.ts';

const TYPES: readonly FileType[] = ['directory', 'file', 'symlink'];
const TYPE_CODE: Readonly<Record<FileType, number>> = { directory: 0, file: 1, symlink: 2 };

/** Growable columns of entries, one row per entry; rows are numbered from 0. */
export class FileColumns {
  #rows = 0;
  paths: string[] = [];
  type = new Uint8Array(256);
  mode = new Uint16Array(256);
  uid = new Uint32Array(256);
  gid = new Uint32Array(256);
  mtime = new Float64Array(256);
  size = new Float64Array(256);
  /** Image inodes are entry numbers. */
  inode = new Float64Array(256);
  nlink = new Uint32Array(256);
  /** Input layer holding a file's data, or -1 (no content, or a host path in `hostPath`). */
  layer = new Int32Array(256);
  offset = new Float64Array(256);
  readonly linkTarget = new Map<number, string>();
  readonly xattrs = new Map<number, Record<string, string>>();
  readonly hostPath = new Map<number, string>();

  get rows(): number {
    return this.#rows;
  }

  /** A new row holding `info` (whose inode must be a number). */
  add(info: FileInfo): number {
    if (this.#rows === this.type.length) this.#grow(this.#rows * 2);
    const row = this.#rows++;
    this.paths.push(info.path);
    this.write(row, info);
    return row;
  }

  /** Overwrites row `row` with `info` (its path too). */
  write(row: number, info: FileInfo): void {
    if (typeof info.inode !== 'number') throw new Error(`${info.path}: image entries have numeric inodes`);
    this.paths[row] = info.path;
    this.type[row] = TYPE_CODE[info.type];
    this.mode[row] = info.mode;
    this.uid[row] = info.uid;
    this.gid[row] = info.gid;
    this.mtime[row] = info.mtime;
    this.size[row] = info.size;
    this.inode[row] = info.inode;
    this.nlink[row] = info.nlink;
    const content = info.content;
    this.layer[row] = content.kind === 'layer' ? content.layer : -1;
    this.offset[row] = content.kind === 'layer' ? content.offset : 0;
    if (content.kind === 'path') this.hostPath.set(row, content.path);
    else this.hostPath.delete(row);
    if (info.linkTarget !== '') this.linkTarget.set(row, info.linkTarget);
    else this.linkTarget.delete(row);
    if (info.xattrs !== NO_XATTRS && Object.keys(info.xattrs).length > 0) this.xattrs.set(row, info.xattrs);
    else this.xattrs.delete(row);
  }

  typeOf(row: number): FileType {
    return TYPES[this.type[row]!]!;
  }

  /** The entry of row `row`, as a new object. */
  info(row: number): FileInfo {
    const layer = this.layer[row]!;
    let content: ContentSource = NO_CONTENT;
    if (layer >= 0) content = { kind: 'layer', layer, offset: this.offset[row]! };
    else {
      const hostPath = this.hostPath.get(row);
      if (hostPath !== undefined) content = { kind: 'path', path: hostPath };
    }
    return {
      path: this.paths[row]!,
      type: TYPES[this.type[row]!]!,
      mode: this.mode[row]!,
      size: this.size[row]!,
      uid: this.uid[row]!,
      gid: this.gid[row]!,
      mtime: this.mtime[row]!,
      inode: this.inode[row]!,
      nlink: this.nlink[row]!,
      linkTarget: this.linkTarget.get(row) ?? '',
      xattrs: this.xattrs.get(row) ?? NO_XATTRS,
      content,
    };
  }

  #grow(capacity: number): void {
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(a: T, make: new (n: number) => T): T => {
      const b = new make(capacity);
      b.set(a);
      return b;
    };
    this.type = grow(this.type, Uint8Array);
    this.mode = grow(this.mode, Uint16Array);
    this.uid = grow(this.uid, Uint32Array);
    this.gid = grow(this.gid, Uint32Array);
    this.mtime = grow(this.mtime, Float64Array);
    this.size = grow(this.size, Float64Array);
    this.inode = grow(this.inode, Float64Array);
    this.nlink = grow(this.nlink, Uint32Array);
    this.layer = grow(this.layer, Int32Array);
    this.offset = grow(this.offset, Float64Array);
  }
}

/** A FileMap over the rows `rows` of columns, sorted by path (code unit order, as the scan sorts them). */
export class ColumnFileMap implements ReadonlyMap<string, FileInfo> {
  readonly #columns: FileColumns;
  readonly #rows: Uint32Array;

  constructor(columns: FileColumns, rows: Uint32Array) {
    this.#columns = columns;
    this.#rows = rows;
  }

  get size(): number {
    return this.#rows.length;
  }

  /** Row of `path`, or -1: a binary search over the sorted rows (no index to hold). */
  #row(path: string): number {
    const paths = this.#columns.paths;
    const rows = this.#rows;
    let lo = 0;
    let hi = rows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const row = rows[mid]!;
      const p = paths[row]!;
      if (p === path) return row;
      if (p < path) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  has(path: string): boolean {
    return this.#row(path) >= 0;
  }

  /** Records that the data of the file at `path` is now in host file `hostPath` (fetched to a scratch file). */
  setHostPath(path: string, hostPath: string): void {
    const row = this.#row(path);
    if (row < 0) return;
    this.#columns.layer[row] = -1;
    this.#columns.hostPath.set(row, hostPath);
  }

  get(path: string): FileInfo | undefined {
    const row = this.#row(path);
    return row < 0 ? undefined : this.#columns.info(row);
  }

  forEach(callback: (value: FileInfo, key: string, map: ReadonlyMap<string, FileInfo>) => void, thisArg?: unknown): void {
    for (const row of this.#rows) callback.call(thisArg, this.#columns.info(row), this.#columns.paths[row]!, this);
  }

  *keys(): MapIterator<string> {
    for (const row of this.#rows) yield this.#columns.paths[row]!;
  }

  *values(): MapIterator<FileInfo> {
    for (const row of this.#rows) yield this.#columns.info(row);
  }

  *entries(): MapIterator<[string, FileInfo]> {
    for (const row of this.#rows) yield [this.#columns.paths[row]!, this.#columns.info(row)];
  }

  [Symbol.iterator](): MapIterator<[string, FileInfo]> {
    return this.entries();
  }
}
