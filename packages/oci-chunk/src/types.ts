/**
 * Data shared by the re-chunker's phases. scan produces a FileMap; components claims its paths;
 * packing groups components into layers; oci_build writes them.
 */

export type FileType = 'directory' | 'file' | 'symlink';

/** Where a regular file's bytes can be read from when a layer is written. */
export type ContentSource =
  /** A file on the host (directory input, or a file spooled from an input layer). */
  | { kind: 'path'; path: string }
  /**
   * The data of an entry of input layer `layer`, starting `offset` bytes into its uncompressed tar:
   * read again from the layer when the output is written (see build/), never copied in between.
   */
  | { kind: 'layer'; layer: number; offset: number }
  /** No content (directories, symlinks, empty files). */
  | { kind: 'none' };

/** The content of every directory, symlink and empty file (shared: one object for all). */
export const NO_CONTENT: ContentSource = Object.freeze({ kind: 'none' });
/** The xattrs of every entry that has none (shared: one object for all). */
export const NO_XATTRS: Readonly<Record<string, string>> = Object.freeze({});

export interface FileInfo {
  /** Absolute path inside the image, `/`-separated, no trailing slash (e.g. `/usr/bin/ls`). */
  path: string;
  type: FileType;
  /** Permission bits and setuid/setgid/sticky (no file-type bits). */
  mode: number;
  /** Bytes of a regular file; 0 for everything else. */
  size: number;
  uid: number;
  gid: number;
  /** Modification time in whole seconds since the epoch. */
  mtime: number;
  /**
   * Identity of the inode for hardlink detection: equal values mean one file with several names.
   * For directory input `dev:ino`; for image input the number of the entry that wrote the file.
   */
  inode: string | number;
  /** Number of names of this inode in the image (1 for most files). */
  nlink: number;
  /** Target of a symlink; empty otherwise. */
  linkTarget: string;
  /** Extended attributes, value base64-encoded, sorted by key; `security.selinux` and `trusted.*` dropped. */
  xattrs: Record<string, string>;
  content: ContentSource;
}

/**
 * A directory no entry described (a parent the layer left out, or one only a component list names):
 * root's, mode 0755, time 0, so that builds stay reproducible.
 */
export function impliedDirectory(path: string, inode: string | number): FileInfo {
  return {
    path,
    type: 'directory',
    mode: 0o755,
    size: 0,
    uid: 0,
    gid: 0,
    mtime: 0,
    inode,
    nlink: 1,
    linkTarget: '',
    xattrs: NO_XATTRS,
    content: NO_CONTENT,
  };
}

/**
 * Path -> info, iterated in sorted path order (code point order). The root `/` is not an entry.
 * Read-only: an image scan's map holds its entries as columns and makes each FileInfo when asked.
 */
export type FileMap = ReadonlyMap<string, FileInfo>;

/** One software component and the paths it owns. */
export interface Component {
  /** `repo/name`, e.g. `dpkg/coreutils`, `xattr/myapp`, `bigfiles/model.bin`, `chunkah/unclaimed`. */
  id: string;
  /** Paths claimed (sorted). A directory shared by several components appears in each. */
  paths: string[];
  /** Sum of the sizes of its regular files. */
  size: number;
  /** Probability of no change within 7 days, 0..1. */
  stability: number;
  /** Largest mtime (seconds) its files may carry in the output; Infinity when there is no clamp. */
  mtimeClamp: number;
}

/** A layer to write: one or more components. */
export interface LayerGroup {
  /** Members' ids sorted and space-joined. */
  name: string;
  components: Component[];
  /** Product of the members' stabilities. */
  stability: number;
  /** Sum of the members' sizes. */
  size: number;
  /** Largest of the members' clamps. */
  mtimeClamp: number;
}
