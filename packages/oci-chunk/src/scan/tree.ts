/**
 * The file map of an image while its layers are applied: paths indexed both by name (for lookups)
 * and as a tree (each directory knows its children), so that every layer operation costs what it
 * touches rather than the size of the map:
 *
 * - removing a path (a whiteout, or a file replacing a directory) costs the size of its subtree,
 *   and each path is removed at most once after being added: linear over the whole scan;
 * - an opaque marker visits its directory's subtree, removes what lower layers wrote there, and
 *   marks what it visited as clean for this layer; later markers in the same layer skip clean
 *   subtrees (nothing from a lower layer can appear in them any more), so each path is visited at
 *   most once per layer it belongs to.
 *
 * Also enforces the bounds on the number of paths and on the metadata they hold. Entries are kept
 * as rows of columns (see columns.ts), and the tree as rows too (a parent, a layer, a clean mark
 * and a byte count per row; children maps for directories only): an object per node cost 80 bytes
 * of heap per path at the scan's peak.
 */
import { MAX_IMAGE_PATHS, MAX_METADATA_BYTES } from '../limits.ts';
import type { FileInfo, FileType } from '../types.ts';
import { UserError, compareCodeUnits } from '../util.ts';
import { ColumnFileMap, FileColumns } from './columns.ts';

/** The root's row: it has no entry. */
const ROOT = -1;

function metadataBytes(info: FileInfo): number {
  // The path is held twice (path and inode of image entries); xattrs as base64 text.
  let n = 2 * info.path.length + info.linkTarget.length + 64;
  for (const key in info.xattrs) n += key.length + (info.xattrs[key] as string).length;
  return n;
}

export class LayerTree {
  /** Path -> row of the entry there. */
  readonly #byPath = new Map<string, number>();
  readonly #columns = new FileColumns();
  /** Per row: parent row (ROOT for top-level entries), layer that wrote it, last layer whose opaque marker cleaned it, metadata bytes. */
  #parent = new Int32Array(256);
  #layer = new Int32Array(256);
  #cleanAt = new Int32Array(256);
  #bytes = new Float64Array(256);
  /** Name -> row, per row that has children (ROOT included). */
  readonly #children = new Map<number, Map<string, number>>([[ROOT, new Map()]]);
  #rootCleanAt = -1;
  #metadata = 0;

  /** Names the input in the messages of the limits. */
  readonly where: string;

  constructor(where: string) {
    this.where = where;
  }

  get size(): number {
    return this.#byPath.size;
  }

  /** The type of the entry at `path`, undefined when there is none. */
  typeOf(path: string): FileType | undefined {
    const row = this.#byPath.get(path);
    return row === undefined ? undefined : this.#columns.typeOf(row);
  }

  /** The entry at `path` as a new object (a hardlink's target), undefined when there is none. */
  get(path: string): FileInfo | undefined {
    const row = this.#byPath.get(path);
    return row === undefined ? undefined : this.#columns.info(row);
  }

  /**
   * The entries as a FileMap sorted by path, with nlink counted from the names each inode has.
   * The tree is not used afterwards.
   */
  toFileMap(): ColumnFileMap {
    const columns = this.#columns;
    const rows = new Uint32Array(this.#byPath.size);
    let n = 0;
    for (const row of this.#byPath.values()) rows[n++] = row;
    const paths = columns.paths;
    rows.sort((a, b) => compareCodeUnits(paths[a]!, paths[b]!));
    // The number of names the image itself holds per inode (regular files; others have 1).
    const counts = new Map<number, number>();
    for (const r of rows) if (columns.type[r] === 1) counts.set(columns.inode[r]!, (counts.get(columns.inode[r]!) ?? 0) + 1);
    for (const r of rows) if (columns.type[r] === 1) columns.nlink[r] = counts.get(columns.inode[r]!) ?? 1;
    // The map reads the tree's columns through the sorted rows: no copy at the scan's peak. Rows
    // of entries a later layer replaced or removed stay unused.
    return new ColumnFileMap(columns, rows);
  }

  /** Row of `path`, ROOT for `/`, undefined when absent. */
  #row(path: string): number | undefined {
    return path === '/' ? ROOT : this.#byPath.get(path);
  }

  /**
   * Adds the entry at `info.path` (written by `layer`), or replaces the info of the entry there
   * (its children stay: callers remove the old subtree first unless a directory replaces a
   * directory). The parent must be present.
   */
  set(info: FileInfo, layer: number): void {
    const path = info.path;
    const bytes = metadataBytes(info);
    const existing = this.#byPath.get(path);
    if (existing !== undefined) {
      this.#account(bytes - this.#bytes[existing]!);
      this.#columns.write(existing, info);
      this.#layer[existing] = layer;
      this.#bytes[existing] = bytes;
      return;
    }
    const slash = path.lastIndexOf('/');
    const parent = this.#row(slash <= 0 ? '/' : path.slice(0, slash));
    if (parent === undefined) throw new Error(`${path}: parent missing in the layer tree`);
    if (this.#byPath.size >= MAX_IMAGE_PATHS) {
      throw new UserError(`${this.where}: the image has more than ${MAX_IMAGE_PATHS} paths, more than this tool handles`);
    }
    this.#account(bytes);
    const row = this.#columns.add(info);
    if (row === this.#parent.length) this.#grow(row * 2);
    this.#parent[row] = parent;
    this.#layer[row] = layer;
    this.#cleanAt[row] = -1;
    this.#bytes[row] = bytes;
    let siblings = this.#children.get(parent);
    if (siblings === undefined) this.#children.set(parent, (siblings = new Map<string, number>()));
    siblings.set(path.slice(slash + 1), row);
    this.#byPath.set(path, row);
  }

  #grow(capacity: number): void {
    const grow = <T extends Int32Array | Float64Array>(a: T, make: new (n: number) => T): T => {
      const b = new make(capacity);
      b.set(a);
      return b;
    };
    this.#parent = grow(this.#parent, Int32Array);
    this.#layer = grow(this.#layer, Int32Array);
    this.#cleanAt = grow(this.#cleanAt, Int32Array);
    this.#bytes = grow(this.#bytes, Float64Array);
  }

  #account(delta: number): void {
    this.#metadata += delta;
    if (this.#metadata > MAX_METADATA_BYTES) {
      throw new UserError(
        `${this.where}: the image's names, link targets and xattrs take more than ${MAX_METADATA_BYTES / 1024 / 1024} MiB, more than this tool handles`,
      );
    }
  }

  /** Removes `path` and everything below it; nothing when it is absent. */
  remove(path: string): void {
    const row = this.#byPath.get(path);
    if (row !== undefined) this.#removeSubtree(row);
  }

  #removeSubtree(top: number): void {
    const paths = this.#columns.paths;
    const topPath = paths[top]!;
    this.#children.get(this.#parent[top]!)?.delete(topPath.slice(topPath.lastIndexOf('/') + 1));
    const stack = [top];
    for (let row = stack.pop(); row !== undefined; row = stack.pop()) {
      this.#byPath.delete(paths[row]!);
      this.#metadata -= this.#bytes[row]!;
      const children = this.#children.get(row);
      if (children) {
        for (const child of children.values()) stack.push(child);
        this.#children.delete(row);
      }
    }
  }

  /**
   * An opaque marker in `layer` for directory `dir`: everything below it that this layer did not
   * write is removed, whole subtrees at a time (as containerd does: a lower directory the layer did
   * not write goes with all it holds).
   */
  opaque(dir: string, layer: number): void {
    const top = this.#row(dir);
    if (top === undefined) return;
    if (top === ROOT ? this.#rootCleanAt === layer : this.#cleanAt[top] === layer || this.#columns.typeOf(top) !== 'directory') return;
    if (top === ROOT) this.#rootCleanAt = layer;
    else this.#cleanAt[top] = layer;
    const stack = [top];
    for (let row = stack.pop(); row !== undefined; row = stack.pop()) {
      const children = this.#children.get(row);
      if (!children) continue;
      for (const child of children.values()) {
        if (this.#layer[child]! < layer) this.#removeSubtree(child);
        else if (this.#cleanAt[child] !== layer) {
          this.#cleanAt[child] = layer;
          stack.push(child);
        }
      }
    }
  }
}
