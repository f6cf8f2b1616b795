import type { FileInfo, FileMap } from '../types.ts';

/** What a repository says about one of its components once the reference time is known. */
export interface ComponentMeta {
  /** Probability of no change within 7 days, 0..1. */
  stability: number;
  /** Largest mtime its files may carry in the output; Infinity for no clamp. */
  mtimeClamp: number;
}

/**
 * A source of component claims. Repositories are consulted in `priority` order (lower first, then
 * by name): a strong pass over every path, then a weak pass over what no strong claim took.
 */
export interface Repository {
  /** The `repo` part of component ids. */
  readonly name: string;
  readonly priority: number;
  /** Authoritative claims on one path, without I/O: component names, empty for none. */
  strong(path: string, info: FileInfo): readonly string[];
  /** Heuristic claims over the paths left after all strong passes. */
  weak(left: FileMap): ReadonlyMap<string, readonly string[]>;
  /** Stability and clamp of one of the components this repository claimed for. */
  meta(name: string, now: number): ComponentMeta;
  /** Newest change date (seconds) the repository knows of; used for the default reference time. */
  newestChange(): number | undefined;
}

export const NO_WEAK_CLAIMS: ReadonlyMap<string, readonly string[]> = new Map();
