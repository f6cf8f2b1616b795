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
 * as rows of columns (see columns.ts), not as FileInfo objects.
 */
import { MAX_IMAGE_PATHS, MAX_METADATA_BYTES } from '../limits.ts';
import type { FileInfo, FileType } from '../types.ts';
import { UserError, compareCodeUnits } from '../util.ts';
import { ColumnFileMap, FileColumns } from './columns.ts';

interface Node {
  /** Row of the entry in the tree's columns; -1 for the root. */
  row: number;
  name: string;
  parent: Node | undefined;
  children: Map<string, Node> | undefined;
  /** Layer that wrote the entry (or created it as a missing parent). */
  layer: number;
  /** Last layer whose opaque marker cleaned this subtree. */
  cleanAt: number;
  /** Metadata bytes accounted for this entry. */
  bytes: number;
}

function metadataBytes(info: FileInfo): number {
  // The path is held twice (path and inode of image entries); xattrs as base64 text.
  let n = 2 * info.path.length + info.linkTarget.length + 64;
  for (const key in info.xattrs) n += key.length + (info.xattrs[key] as string).length;
  return n;
}

export class LayerTree {
  readonly #byPath = new Map<string, Node>();
  readonly #root: Node = { row: -1, name: '', parent: undefined, children: new Map(), layer: -1, cleanAt: -1, bytes: 0 };
  readonly #columns = new FileColumns();
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
    const node = this.#byPath.get(path);
    return node === undefined ? undefined : this.#columns.typeOf(node.row);
  }

  /** The entry at `path` as a new object (a hardlink's target), undefined when there is none. */
  get(path: string): FileInfo | undefined {
    const node = this.#byPath.get(path);
    return node === undefined ? undefined : this.#columns.info(node.row);
  }

  /**
   * The entries as a FileMap sorted by path, with nlink counted from the names each inode has.
   * The tree is not used afterwards.
   */
  toFileMap(): ColumnFileMap {
    const columns = this.#columns;
    const rows = new Uint32Array(this.#byPath.size);
    let n = 0;
    for (const node of this.#byPath.values()) rows[n++] = node.row;
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

  #node(path: string): Node | undefined {
    return path === '/' ? this.#root : this.#byPath.get(path);
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
    if (existing) {
      this.#account(bytes - existing.bytes);
      this.#columns.write(existing.row, info);
      existing.layer = layer;
      existing.bytes = bytes;
      return;
    }
    const slash = path.lastIndexOf('/');
    const parent = this.#node(slash <= 0 ? '/' : path.slice(0, slash));
    if (!parent) throw new Error(`${path}: parent missing in the layer tree`);
    if (this.#byPath.size >= MAX_IMAGE_PATHS) {
      throw new UserError(`${this.where}: the image has more than ${MAX_IMAGE_PATHS} paths, more than this tool handles`);
    }
    this.#account(bytes);
    const node: Node = {
      row: this.#columns.add(info),
      name: path.slice(slash + 1),
      parent,
      children: undefined,
      layer,
      cleanAt: -1,
      bytes,
    };
    (parent.children ??= new Map()).set(node.name, node);
    this.#byPath.set(path, node);
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
    const node = this.#byPath.get(path);
    if (node) this.#removeSubtree(node);
  }

  #removeSubtree(top: Node): void {
    top.parent?.children?.delete(top.name);
    const stack = [top];
    for (let node = stack.pop(); node; node = stack.pop()) {
      this.#byPath.delete(this.#columns.paths[node.row]!);
      this.#metadata -= node.bytes;
      if (node.children) for (const child of node.children.values()) stack.push(child);
    }
  }

  /**
   * An opaque marker in `layer` for directory `dir`: everything below it that this layer did not
   * write is removed, whole subtrees at a time (as containerd does: a lower directory the layer did
   * not write goes with all it holds).
   */
  opaque(dir: string, layer: number): void {
    const top = this.#node(dir);
    if (!top || top.cleanAt === layer || (top.row >= 0 && this.#columns.typeOf(top.row) !== 'directory')) return;
    top.cleanAt = layer;
    const stack = [top];
    for (let node = stack.pop(); node; node = stack.pop()) {
      if (!node.children) continue;
      for (const child of node.children.values()) {
        if (child.layer < layer) this.#removeSubtree(child);
        else if (child.cleanAt !== layer) {
          child.cleanAt = layer;
          stack.push(child);
        }
      }
    }
  }
}
