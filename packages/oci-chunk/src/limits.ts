/**
 * Every bound the re-chunker puts on what an input controls. Each is far above what real images
 * need and low enough that the work and memory it allows stay proportional to the input; crossing
 * one is a UserError naming the file and the limit. Linux's own limits are used where one exists:
 * nothing beyond them can be a real file.
 */

/** Linux PATH_MAX: the longest path a system call accepts (entry names, listed paths). */
export const MAX_PATH_BYTES = 4096;
/** Linux NAME_MAX: the longest file name (one path component). */
export const MAX_NAME_BYTES = 255;
/** Linux: a symlink target is at most PATH_MAX - 1 bytes. */
export const MAX_LINK_TARGET_BYTES = 4095;
/** Directories above a path. Real images stay below 100; PATH_MAX alone would allow 2048. */
export const MAX_PATH_DEPTH = 1024;
/** Paths in one image's file map at any time (each costs about half a KiB of memory). */
export const MAX_IMAGE_PATHS = 1_000_000;
/** Names, link targets and xattrs held for an image's file map, in bytes. */
export const MAX_METADATA_BYTES = 512 * 1024 * 1024;
/** Layers in one input image (Docker runs at most 127). */
export const MAX_IMAGE_LAYERS = 4096;
/** Entries in the tar of an oci-archive (blobs, index.json, oci-layout, directories). */
export const MAX_ARCHIVE_ENTRIES = 100_000;

/** One PAX extended header (tar-stream's bound too). */
export const MAX_PAX_HEADER_BYTES = 4 * 1024 * 1024;
/** One GNU long name or long link record. */
export const MAX_LONG_NAME_BYTES = 64 * 1024;
/** Linux XATTR_LIST_MAX: the names of one file's xattrs, each with its NUL, together. */
export const MAX_XATTR_LIST_BYTES = 64 * 1024;
/** Largest uid/gid: what a ustar header's 7 octal digits hold, all the layer writer can write. */
export const MAX_ID = 0o7777777;

/** JSON documents (index, manifest, config): size and nesting. Real ones are a few KiB and 5 deep. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;
export const MAX_JSON_DEPTH = 64;

/** One package database, file list or (decompressed) changelog read in the components phase. */
export const MAX_DATABASE_BYTES = 256 * 1024 * 1024;
/** All changelogs of an image together, decompressed. */
export const MAX_CHANGELOG_TOTAL_BYTES = 1024 * 1024 * 1024;
/** Longest line of a database file or changelog; longer means the file is not text. */
export const MAX_LINE_CHARS = 1 << 20;
/** Packages in a dpkg status or apk installed database (Debian has about 65,000 in all). */
export const MAX_PACKAGES = 200_000;
/** Symlinks followed while resolving one path (Linux's limit too). */
export const MAX_SYMLINK_HOPS = 40;
