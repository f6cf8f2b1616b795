/**
 * Maps the positions V8 reports in heap profiles (the code it ran) back to the original source: the
 * file, line, column and function name a person wrote. Maps come from providers, tried in order: the
 * Vitest worker's module runner (src/vitest/source-maps.ts), Node's own cache (`findSourceMap`, filled
 * under --enable-source-maps or --experimental-transform-types), and the `sourceMappingURL` comment of a
 * JavaScript file on disk (bundled dependencies, tsc output with .map files). Parsed maps and lookups
 * are cached per mapper.
 *
 * Positions are function-granular, as V8's sampling heap profile is: a frame's position is where its
 * function starts (the `(` of its parameters), so the mapped line is the function's line.
 */
import { readFileSync } from 'node:fs';
import { findSourceMap, SourceMap, type SourceMapPayload } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AllocationSite, HeapProfile, HeapProfileNode } from './types.ts';

/** A frame as V8 reports it (a CDP call frame): 0-based line and column in the code V8 ran. */
export interface GeneratedFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export type MappedFrame =
  | {
      kind: 'original';
      /** Absolute path for file sources, otherwise the source as the map names it (e.g. `webpack://...`). */
      file: string;
      /** 1-based. */
      line: number;
      /** 1-based. */
      column: number;
      /** The name the source gives the function when the map says; V8's name otherwise. */
      functionName: string;
    }
  | {
      kind: 'generated';
      /** Why the position could not be mapped: it is V8's, in the code it ran. */
      reason: string;
    };

/** A map and the URL its `sources` are relative to. */
export interface LoadedSourceMap {
  payload: SourceMapPayload;
  /** File URL (or path) of the generated code or of the .map file: relative sources resolve against it. */
  base: string;
}

/**
 * Finds the map of the code V8 ran under `url`: a map, `null` when that code has none (its positions
 * are final), or `undefined` when this provider does not know the script (the next one is asked).
 */
export type SourceMapProvider = (url: string) => LoadedSourceMap | null | undefined;

/** A file URL or an absolute path as a path; null for anything else (node:, data:, eval). */
export function urlToPath(url: string): string | null {
  if (url.startsWith('file:')) {
    try {
      return fileURLToPath(url);
    } catch {
      return null;
    }
  }
  return path.isAbsolute(url) ? url : null;
}

/** Node's cache of source maps: filled for modules Node loaded under --enable-source-maps. */
export const nodeSourceMaps: SourceMapProvider = (url) => {
  const candidates = url.startsWith('file:') ? [url] : path.isAbsolute(url) ? [url, pathToFileURL(url).href] : [url];
  for (const candidate of candidates) {
    const found = findSourceMap(candidate);
    if (found) return { payload: found.payload, base: candidate };
  }
  return undefined;
};

const COMMENT = /(?:\/\/|\/\*)[#@]\s*sourceMappingURL=([^\s'"*]+)\s*(?:\*\/)?\s*$/gm;

/** The map named by the last `sourceMappingURL` comment of `code`, read relative to `codeUrl`. */
export function sourceMapFromComment(code: string, codeUrl: string): LoadedSourceMap | null {
  let reference: string | undefined;
  for (const match of code.matchAll(COMMENT)) reference = match[1];
  if (!reference) return null;
  if (reference.startsWith('data:')) {
    const comma = reference.indexOf(',');
    const header = reference.slice(0, comma);
    const body = reference.slice(comma + 1);
    const text = header.endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
    return { payload: JSON.parse(text) as SourceMapPayload, base: codeUrl };
  }
  const base = codeUrl.startsWith('file:') ? codeUrl : pathToFileURL(codeUrl).href;
  const mapUrl = new URL(reference, base);
  if (mapUrl.protocol !== 'file:') return null;
  return { payload: JSON.parse(readFileSync(mapUrl, 'utf8')) as SourceMapPayload, base: mapUrl.href };
}

/**
 * JavaScript files on disk that name their map (bundled dependencies, tsc output). Only .js/.mjs/.cjs:
 * a .ts file on disk is not what ran under a transformer (its map lives with the transformer), and
 * under Node's type stripping its positions are already the original ones.
 */
export const commentSourceMaps: SourceMapProvider = (url) => {
  const file = urlToPath(url);
  if (!file || !/\.[cm]?js$/.test(file)) return undefined;
  let code: string;
  try {
    code = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return sourceMapFromComment(code, url);
};

export const DEFAULT_PROVIDERS: readonly SourceMapProvider[] = [nodeSourceMaps, commentSourceMaps];

interface ParsedMap {
  map: SourceMap;
  /** The map's `sources` as written (SourceMap#payload clones the whole map on every read). */
  rawSources: readonly string[];
  /** The same, resolved to paths or URLs. */
  sources: string[];
}

/** Resolves a map's sources the way browsers do: sourceRoot, then relative to the map's base. */
function resolveSources(loaded: LoadedSourceMap): string[] {
  const root = loaded.payload.sourceRoot ?? '';
  const base = loaded.base.startsWith('file:') || !path.isAbsolute(loaded.base) ? loaded.base : pathToFileURL(loaded.base).href;
  return loaded.payload.sources.map((source) => {
    const joined = root ? `${root.replace(/\/?$/, '/')}${source}` : source;
    let resolved: string;
    try {
      resolved = new URL(joined, base).href;
    } catch {
      return joined;
    }
    return resolved.startsWith('file:') ? fileURLToPath(resolved) : resolved;
  });
}

export class SourceMapper {
  private readonly providers: readonly SourceMapProvider[];
  private readonly maps = new Map<string, ParsedMap | string>();
  private readonly frames = new Map<string, MappedFrame>();

  constructor(providers: readonly SourceMapProvider[] = DEFAULT_PROVIDERS) {
    this.providers = providers;
  }

  /** The parsed map of `url`, or why there is none. */
  private mapOf(url: string): ParsedMap | string {
    const cached = this.maps.get(url);
    if (cached !== undefined) return cached;
    let result: ParsedMap | string = 'no source map';
    for (const provider of this.providers) {
      let loaded: LoadedSourceMap | null | undefined;
      try {
        loaded = provider(url);
      } catch (error) {
        result = `unreadable source map: ${(error as Error).message}`;
        break;
      }
      if (loaded === undefined) continue;
      if (loaded === null) break;
      try {
        result = { map: new SourceMap(loaded.payload), rawSources: [...loaded.payload.sources], sources: resolveSources(loaded) };
      } catch (error) {
        result = `unreadable source map: ${(error as Error).message}`;
      }
      break;
    }
    this.maps.set(url, result);
    return result;
  }

  /** The original position of a frame, or why its position is V8's. */
  mapFrame(frame: GeneratedFrame): MappedFrame {
    if (frame.url === '' || frame.url.startsWith('node:') || frame.lineNumber < 0) {
      return { kind: 'generated', reason: 'no script' };
    }
    const key = `${frame.url}\u0000${frame.lineNumber}\u0000${frame.columnNumber}\u0000${frame.functionName}`;
    const cached = this.frames.get(key);
    if (cached) return cached;
    const mapped = this.lookup(frame);
    this.frames.set(key, mapped);
    return mapped;
  }

  private lookup(frame: GeneratedFrame): MappedFrame {
    const parsed = this.mapOf(frame.url);
    if (typeof parsed === 'string') return { kind: 'generated', reason: parsed };
    const entry = parsed.map.findEntry(frame.lineNumber, frame.columnNumber);
    // findEntry returns the closest mapping at or before the position, also on an earlier line: a
    // mapping of another line says nothing about this one.
    if (!('originalSource' in entry) || entry.generatedLine !== frame.lineNumber) {
      return { kind: 'generated', reason: 'the source map has no mapping on this line' };
    }
    const sourceIndex = parsed.rawSources.indexOf(entry.originalSource);
    const file = parsed.sources[sourceIndex] ?? entry.originalSource;
    return {
      kind: 'original',
      file,
      line: entry.originalLine + 1,
      column: entry.originalColumn + 1,
      functionName: this.originalName(parsed.map, frame) ?? frame.functionName,
    };
  }

  /**
   * V8 reports a function at the `(` of its parameters; minifiers map the name token just before it
   * (`function a(` with name "parse"). Only a mapping that starts exactly at V8's name counts.
   */
  private originalName(map: SourceMap, frame: GeneratedFrame): string | null {
    const name = frame.functionName;
    if (!name || name === '(anonymous)' || !/^[\w$]+$/.test(name)) return null;
    const column = frame.columnNumber - name.length;
    if (column < 0) return null;
    const entry = map.findEntry(frame.lineNumber, column);
    if (!('originalSource' in entry) || entry.generatedLine !== frame.lineNumber || entry.generatedColumn !== column) return null;
    // Node returns the mapping's name; @types/node does not declare it yet.
    return (entry as { name?: string }).name ?? null;
  }

  /**
   * A site's `file:line:column` (1-based, as in AllocationSite) mapped; the input when it cannot be.
   */
  mapLocation(location: string, functionName: string): { location: string; functionName: string; mapped: boolean } {
    const match = /^(.*):(\d+):(\d+)$/.exec(location);
    if (!match) return { location, functionName, mapped: false };
    const mapped = this.mapFrame({ url: match[1]!, lineNumber: Number(match[2]) - 1, columnNumber: Number(match[3]) - 1, functionName });
    if (mapped.kind === 'generated') return { location, functionName, mapped: false };
    return { location: `${mapped.file}:${mapped.line}:${mapped.column}`, functionName: mapped.functionName, mapped: true };
  }

  /** Sites with original locations; sites that land on the same original function are merged. */
  mapSites(sites: readonly AllocationSite[]): AllocationSite[] {
    const merged = new Map<string, AllocationSite>();
    for (const site of sites) {
      const { location, functionName } = this.mapLocation(site.location, site.functionName);
      const key = `${functionName}\u0000${location}`;
      const twin = merged.get(key);
      if (twin) {
        twin.bytes += site.bytes;
        twin.share += site.share;
      } else merged.set(key, { ...site, functionName, location });
    }
    return [...merged.values()].sort((a, b) => b.bytes - a.bytes || a.location.localeCompare(b.location));
  }

  /**
   * A profile whose call frames point at the original source (url as an absolute path or the map's
   * source name, 0-based line and column), for DevTools and the HTML report. Frames without a map stay.
   */
  mapProfile(profile: HeapProfile): HeapProfile {
    const convert = (node: HeapProfileNode): HeapProfileNode => {
      const mapped = this.mapFrame(node.callFrame);
      const callFrame =
        mapped.kind === 'original'
          ? {
              ...node.callFrame,
              functionName: mapped.functionName,
              url: mapped.file,
              lineNumber: mapped.line - 1,
              columnNumber: mapped.column - 1,
            }
          : { ...node.callFrame };
      return { ...node, callFrame, children: node.children.map(convert) };
    };
    return { ...profile, head: convert(profile.head) };
  }
}
