import { determinismStatus } from './environment.ts';
import type { Region, SegmentFigures } from './meter.ts';
import { now } from './meter.ts';
import { retention, type OpenCall, type RetentionTarget } from './retention.ts';
import { emptyCallTree, mergeCallTree, registerHarnessFile, type CallTree, type SiteBytes } from './sampler.ts';
import type { AllocationSite, BytesMethod, HeapProfile, HeapProfileNode, PhaseRecord } from './types.ts';

registerHarnessFile(import.meta.url);

/** Figures that add up: what a region gathers from its segments, and a phase over its calls. */
class Figures {
  heap = 0;
  external = 0;
  count = 0;
  /** Highest occupancy above the start seen so far. */
  peak = 0;
  readonly sites = new Map<string, SiteBytes>();
  tree: CallTree | null = null;
  /** How the bytes of the parts were obtained and at which sampling intervals. */
  readonly bytesMethods = new Set<BytesMethod>();
  readonly intervals = new Set<number>();

  addSites(sites: ReadonlyMap<string, SiteBytes>, tree: CallTree | null): void {
    for (const [key, site] of sites) {
      const mine = this.sites.get(key);
      if (mine) mine.bytes += site.bytes;
      else this.sites.set(key, { ...site });
    }
    if (tree) mergeCallTree((this.tree ??= emptyCallTree()), tree);
  }
}

/** One open call of a phase, fed by the meter segment by segment. */
export class PhaseRegion implements Region {
  readonly name: string;
  readonly ledger: Ledger;
  readonly parent: PhaseRegion | null;
  readonly samplingInterval: number;
  readonly sites: boolean;
  /** Calls measured; lowered when a `measure` loop ends early by an exception. */
  iterations: number;
  readonly warmup: number;
  startOccupancy = 0;
  readonly figures = new Figures();
  readonly overlappedWith = new Set<string>();
  readonly startedAt = now();
  /** Set when a call returned a promise. */
  async = false;
  /** The retention tracker's record of this call; null when retention is not tracked. */
  retention: OpenCall | null = null;
  /** Live external bytes after each measured iteration (measure() with retention), or null. */
  externalAfter: number[] | null = null;

  constructor(
    name: string,
    ledger: Ledger,
    parent: PhaseRegion | null,
    sampling: { samplingInterval: number; sites: boolean },
    iterations: number,
    warmup: number,
  ) {
    this.name = name;
    this.ledger = ledger;
    this.parent = parent;
    this.samplingInterval = sampling.samplingInterval;
    this.sites = sampling.sites;
    this.iterations = iterations;
    this.warmup = warmup;
  }

  add(segment: SegmentFigures): void {
    const f = this.figures;
    f.heap += segment.heap;
    f.external += segment.external;
    f.count += segment.count;
    f.peak = Math.max(f.peak, segment.maxOccupancy - this.startOccupancy);
    f.bytesMethods.add(segment.bytesMethod);
    f.intervals.add(segment.samplingInterval);
    f.addSites(segment.sites, segment.tree);
  }

  isAncestorOf(other: PhaseRegion): boolean {
    for (let p = other.parent; p; p = p.parent) if (p === this) return true;
    return false;
  }

  /** The closest enclosing region of the same ledger (another session's phases are not its parents). */
  ownParent(): PhaseRegion | null {
    for (let r = this.parent; r; r = r.parent) if (r.ledger === this.ledger) return r;
    return null;
  }
}

/** One tracked call's part of a phase's retention: filled in when retention is evaluated. */
class RetainedCall implements RetentionTarget {
  readonly phase: Retained;
  readonly iterations: number;
  /** Live external bytes after each iteration of a measured loop (empty for a single call). */
  readonly externalAfter: readonly number[];
  constructor(phase: Retained, iterations: number, externalAfter: readonly number[]) {
    this.phase = phase;
    this.iterations = iterations;
    this.externalAfter = externalAfter;
  }

  addRetained(heap: number, count: number, sites: ReadonlyMap<string, SiteBytes>, heapPerIteration: number[], external: number): void {
    const p = this.phase;
    p.bytes += heap + external;
    p.count += count;
    for (const [key, site] of sites) {
      const mine = p.sites.get(key);
      if (mine) mine.bytes += site.bytes;
      else p.sites.set(key, { ...site });
    }
    // Growth per iteration: the median of what each iteration after the first left behind, heap and
    // external. A one-off (a cache filled once, feedback V8 allocates on the eighth call) sits in one
    // iteration and moves no median; a leak is in every one.
    if (this.iterations > 2 && this.externalAfter.length >= this.iterations) {
      const each: number[] = [];
      for (let i = 1; i < this.iterations; i++)
        each.push((heapPerIteration[i] ?? 0) + (this.externalAfter[i]! - this.externalAfter[i - 1]!));
      each.sort((a, b) => a - b);
      const middle = each.length >> 1;
      const median = each.length % 2 ? each[middle]! : (each[middle - 1]! + each[middle]!) / 2;
      p.growth = p.growth === null ? median : Math.max(p.growth, median);
    }
  }
}

/** What a phase's tracked calls left behind. */
class Retained {
  bytes = 0;
  count = 0;
  readonly sites = new Map<string, SiteBytes>();
  /** Growth per iteration of measure() calls with retention (the largest over them); null when none. */
  growth: number | null = null;
}

/** A phase's totals over every call in a session. */
interface PhaseTotals {
  name: string;
  parent: string | null;
  iterations: number;
  warmup: number;
  wallMs: number;
  figures: Figures;
  overlappedWith: Set<string>;
  async: boolean;
  /** Null when no call tracked retention. */
  retained: Retained | null;
}

function topSites(sites: ReadonlyMap<string, SiteBytes>, n: number, limit: number): AllocationSite[] {
  const total = [...sites.values()].reduce((sum, s) => sum + s.bytes, 0);
  return [...sites.values()]
    .sort((a, b) => b.bytes - a.bytes || (a.location < b.location ? -1 : a.location > b.location ? 1 : 0))
    .slice(0, limit)
    .map((s) => ({
      functionName: s.functionName,
      location: s.location,
      bytes: Math.round(s.bytes / n),
      share: total > 0 ? s.bytes / total : 0,
    }));
}

/** Every phase a session recorded, by name. */
export class Ledger {
  private readonly phases = new Map<string, PhaseTotals>();

  record(region: PhaseRegion): void {
    let totals = this.phases.get(region.name);
    if (!totals) {
      totals = {
        name: region.name,
        parent: region.ownParent()?.name ?? null,
        iterations: 0,
        warmup: 0,
        wallMs: 0,
        figures: new Figures(),
        overlappedWith: new Set(),
        async: false,
        retained: null,
      };
      this.phases.set(region.name, totals);
    }
    const from = region.figures;
    const into = totals.figures;
    totals.iterations += region.iterations;
    totals.warmup += region.warmup;
    totals.wallMs += now() - region.startedAt;
    totals.async ||= region.async;
    if (region.retention) {
      const retained = (totals.retained ??= new Retained());
      retention.end(region.retention, new RetainedCall(retained, region.iterations, region.externalAfter ?? []));
    }
    into.heap += from.heap;
    into.external += from.external;
    into.count += from.count;
    into.peak = Math.max(into.peak, from.peak);
    for (const method of from.bytesMethods) into.bytesMethods.add(method);
    for (const interval of from.intervals) into.intervals.add(interval);
    into.addSites(from.sites, from.tree);
    for (const other of region.overlappedWith) {
      totals.overlappedWith.add(other);
      // The other side of an overlap may have closed first: mark it too.
      this.phases.get(other)?.overlappedWith.add(region.name);
    }
  }

  has(name: string): boolean {
    return this.phases.has(name);
  }

  names(): string[] {
    return [...this.phases.keys()].sort();
  }

  toRecord(name: string, limit: number): PhaseRecord | null {
    const totals = this.phases.get(name);
    if (!totals) return null;
    const { figures: f, iterations: n } = totals;
    const sites = topSites(f.sites, n, limit);
    // What tracked calls left behind is read (with full collections) when first asked for.
    let retainedProblem: string | null = null;
    if (totals.retained && retention.pending) retainedProblem = retention.evaluate().problem;
    else if (totals.retained) retainedProblem = retention.problem;
    const retained = retainedProblem === null ? totals.retained : null;
    const heap = Math.max(0, f.heap);
    const external = Math.max(0, f.external);
    // Exact counts and bytes only when every part was measured that way.
    const interval = f.intervals.size === 1 ? [...f.intervals][0]! : 0;
    const bytesMethod: BytesMethod = f.bytesMethods.size === 1 && f.bytesMethods.has('counter') ? 'counter' : 'heap-delta';
    const determinism = determinismStatus();
    return {
      name: totals.name,
      iterations: n,
      warmup: totals.warmup,
      bytes: Math.round((heap + external) / n),
      heapBytes: Math.round(heap / n),
      bytesMethod,
      externalBytes: Math.round(external / n),
      count: Math.round(f.count / n),
      countMethod: interval === 1 ? 'exact' : 'off',
      countUnit: determinism.missing.includes('--no-inline-new') ? 'events' : 'objects',
      samplingInterval: interval,
      peakBytes: Math.max(0, f.peak),
      wallMs: totals.wallMs / n,
      totalBytes: heap + external,
      totalHeapBytes: heap,
      totalExternalBytes: external,
      totalCount: f.count,
      overlapped: totals.overlappedWith.size > 0,
      overlappedWith: [...totals.overlappedWith].sort(),
      parent: totals.parent,
      async: totals.async,
      deterministic: determinism.deterministic && bytesMethod === 'counter',
      pinnedTiers: determinism.pinnedTiers,
      sites,
      retainedBytes: retained ? Math.round(retained.bytes / n) : null,
      retainedCount: retained ? Math.round(retained.count / n) : null,
      retainedSites: retained ? topSites(retained.sites, n, limit) : [],
      growthBytesPerIteration: retained?.growth ?? null,
      retainedProblem,
    };
  }

  /** The phase's call tree in `.heapprofile` form; null when it was not sampled. */
  profile(name: string): HeapProfile | null {
    const tree = this.phases.get(name)?.figures.tree;
    if (!tree) return null;
    let nextId = 1;
    const toNode = (node: CallTree): HeapProfileNode => ({
      callFrame: { ...node.callFrame, scriptId: String(node.callFrame.scriptId) },
      selfSize: node.selfSize,
      id: nextId++,
      children: [...node.children.values()].map(toNode),
    });
    return { head: toNode(tree), samples: [] };
  }
}
