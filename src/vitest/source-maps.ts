/**
 * Source maps of the modules Vite transformed for a Vitest worker. Vitest 4.1 and 5 run each module
 * with `vm.runInThisContext(code, { filename: module.id })`: V8 reports positions in the transformed
 * code under the original file's path, Node's source-map cache never sees that code (`findSourceMap`
 * finds nothing, even under --enable-source-maps), and the file on disk is the original. The worker's
 * module runner keeps each module's map (`__vitest_worker__.evaluatedModules`, Vite's EvaluatedModules):
 * on 4.1.12 inline in the transformed code, on 5.1.1 beside it (`meta.sourceMap`); its
 * `getModuleSourceMapById` finds either. Tried on Vitest 5.1.1 and 4.1.12 with Node 26.
 */
import type { SourceMapPayload } from 'node:module';
import { DEFAULT_PROVIDERS, SourceMapper, sourceMapFromComment, urlToPath, type SourceMapProvider } from '../core/source-map.ts';
import type { AllocationSite, PhaseRecord } from '../core/types.ts';

/** The parts of Vite's EvaluatedModules this module reads (structural: it is not public API). */
interface EvaluatedModulesLike {
  getModuleById(id: string): { meta?: unknown } | undefined;
  getModuleSourceMapById?(id: string): { map?: unknown } | null;
}

function evaluatedModules(): EvaluatedModulesLike | null {
  const state = (globalThis as { __vitest_worker__?: { evaluatedModules?: unknown } }).__vitest_worker__;
  const modules = state?.evaluatedModules as Partial<EvaluatedModulesLike> | undefined;
  return typeof modules?.getModuleById === 'function' ? (modules as EvaluatedModulesLike) : null;
}

function isPayload(value: unknown): value is SourceMapPayload {
  const map = value as Partial<SourceMapPayload> | null;
  return typeof map === 'object' && map !== null && typeof map.mappings === 'string' && Array.isArray(map.sources);
}

/**
 * Maps of modules the worker's module runner evaluated. `undefined` (ask the next provider) for
 * scripts it did not run: externalized dependencies, Node's own modules, code outside a worker.
 */
export const vitestRunnerSourceMaps: SourceMapProvider = (url) => {
  const modules = evaluatedModules();
  const file = urlToPath(url);
  if (!modules || !file) return undefined;
  const node = modules.getModuleById(file);
  const meta = node?.meta as { code?: unknown; sourceMap?: unknown } | undefined;
  // Externalized modules are in the graph too, without code: Node ran them, so ask the next provider.
  if (!meta || (typeof meta.code !== 'string' && meta.sourceMap === undefined)) return undefined;
  const decoded = modules.getModuleSourceMapById?.(file)?.map;
  if (isPayload(decoded)) return { payload: decoded, base: file };
  if (isPayload(meta.sourceMap)) return { payload: meta.sourceMap, base: file };
  if (typeof meta.sourceMap === 'string') return { payload: JSON.parse(meta.sourceMap) as SourceMapPayload, base: file };
  // Transformed without a map (a plugin that drops it): the positions cannot be traced back.
  return typeof meta.code === 'string' ? sourceMapFromComment(meta.code, file) : null;
};

/** A mapper for a Vitest worker: the module runner's maps first, then Node's and files' own. */
export function workerSourceMapper(): SourceMapper {
  return new SourceMapper([vitestRunnerSourceMaps, ...DEFAULT_PROVIDERS]);
}

/** An allocation site after mapping: `position` says whether it is in the source a person wrote. */
export type MappedSite = AllocationSite & {
  /** 'original': mapped through a source map; 'generated': V8's position in the code it ran (no map). */
  position?: 'original' | 'generated';
};

/**
 * Sites with original positions where a map exists, marked 'generated' where none does (builtins,
 * `(native)`, keep no mark). Sites that land on one original function are merged, biggest first.
 * Reads maps (files, the module runner): call it only when no measured phase is open.
 */
export function mapSites(mapper: SourceMapper, sites: readonly AllocationSite[]): MappedSite[] {
  const merged = new Map<string, MappedSite>();
  for (const site of sites) {
    const isScript = /:\d+:\d+$/.test(site.location);
    const mapped = mapper.mapLocation(site.location, site.functionName);
    const key = `${mapped.functionName}\u0000${mapped.location}`;
    const twin = merged.get(key);
    if (twin) {
      twin.bytes += site.bytes;
      twin.share += site.share;
      continue;
    }
    const out: MappedSite = { ...site, functionName: mapped.functionName, location: mapped.location };
    if (isScript) out.position = mapped.mapped ? 'original' : 'generated';
    merged.set(key, out);
  }
  return [...merged.values()].sort((a, b) => b.bytes - a.bytes || a.location.localeCompare(b.location));
}

/** A record whose sites (and retained sites) point at the original source. */
export function mapRecord(mapper: SourceMapper, record: PhaseRecord): PhaseRecord {
  const out: PhaseRecord = { ...record, sites: mapSites(mapper, record.sites) };
  if (Array.isArray(record.retainedSites) && record.retainedSites.length > 0) out.retainedSites = mapSites(mapper, record.retainedSites);
  return out;
}
