import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { HeapSampler, registerHarnessFile, summariseProfile, type CallTree, type SiteBytes } from './sampling.ts';

registerHarnessFile(import.meta.url);

/**
 * Exact allocation accounting by segments.
 *
 * V8's used heap only grows by allocation and only shrinks by GC, so between two reads
 *   allocated = (used_end - used_start) + sum over GCs in between of (used_before - used_after),
 * and the same holds for external (ArrayBuffer backing store) memory. A GCProfiler gives the per-GC
 * before/after figures. One profiler and one sampling session run while any region is open; at every
 * region boundary the current segment is closed, its figures are added to every open region, and a
 * new segment starts. Nested regions therefore include their children, and the tracker's own
 * bookkeeping between segments is counted nowhere.
 */

interface Reading {
  used: number;
  external: number;
}

interface GcHeapStatistics {
  usedHeapSize: number;
  externalMemory: number;
}
interface GcSpaceStatistics {
  spaceName: string;
  spaceUsedSize: number;
}
interface GcSnapshot {
  heapStatistics: GcHeapStatistics;
  heapSpaceStatistics: GcSpaceStatistics[];
}
interface GcEntry {
  beforeGC: GcSnapshot;
  afterGC: GcSnapshot;
}

/**
 * Spaces of compiled code and bytecode. What the JIT allocates there depends on when functions tier
 * up, not on what the program does with its data (a no-op's figure moved by up to 9 KB with them), and
 * V8's allocation sampler never sees it: heap figures count the data spaces only.
 */
const CODE_SPACES = new Set(['code_space', 'code_large_object_space', 'trusted_space', 'trusted_large_object_space']);

function read(): Reading {
  let used = 0;
  for (const space of v8.getHeapSpaceStatistics()) if (!CODE_SPACES.has(space.space_name)) used += space.space_used_size;
  return { used, external: v8.getHeapStatistics().external_memory };
}

/** Data-space bytes in use at a GC's before/after snapshot (see CODE_SPACES). */
function dataBytes(snapshot: GcSnapshot): number {
  let used = 0;
  for (const space of snapshot.heapSpaceStatistics) if (!CODE_SPACES.has(space.spaceName)) used += space.spaceUsedSize;
  return used;
}

/** A GC this far above the post-stop read is one that ran after the segment's end read. */
const POST_STOP_GC_SLACK = 64 * 1024;

export interface SegmentFigures {
  heap: number;
  external: number;
  count: number;
  /** Highest heap+external occupancy seen in the segment (before each GC, and at its ends). */
  maxOccupancy: number;
  sites: Map<string, SiteBytes>;
  /** The segment's sampled call tree; null when sampling was off. */
  tree: CallTree | null;
}

/** Something that receives the figures of every segment while it is open. */
export interface Region {
  /** The interval the region asked for. */
  readonly samplingInterval: number;
  /**
   * The interval it was measured at, set by the meter: the outermost open region's. A region nested
   * in one of another session with a different interval is measured at that one.
   */
  measuredInterval: number;
  /** Occupancy (heap + external) when the region opened. */
  startOccupancy: number;
  add(segment: SegmentFigures): void;
}

interface Calibration {
  /** Harness cost inside one segment between enter/leave boundaries. */
  heap: number;
  external: number;
  count: number;
}

class Meter {
  private readonly open = new Set<Region>();
  private profiler: v8.GCProfiler | null = null;
  private sampler: HeapSampler | null = null;
  private samplingInterval = 0;
  private segmentStart: Reading = { used: 0, external: 0 };
  private running = false;
  private readonly calibrations = new Map<number, Calibration>();
  private calibrating = false;

  get openRegions(): ReadonlySet<Region> {
    return this.open;
  }

  /**
   * Close the running segment (if any) so that what follows is counted in no region: callers do
   * their own bookkeeping between `pause()` and `enter()`/`leave()`.
   */
  pause(): void {
    if (this.running) this.closeSegment();
  }

  /** Open a region: it receives every segment until `leave`. Call `pause()` first. */
  enter(region: Region): void {
    if (this.running) this.closeSegment();
    if (this.open.size === 0) {
      // Calibrate only with nothing open: the probes' segments would be added to open regions.
      if (!this.calibrating && !this.calibrations.has(region.samplingInterval)) this.calibrate(region.samplingInterval);
      this.samplingInterval = region.samplingInterval;
    }
    region.measuredInterval = this.samplingInterval;
    this.open.add(region);
    try {
      region.startOccupancy = this.startSegment();
    } catch (error) {
      // Never leave a region open that no caller will close.
      this.open.delete(region);
      throw error;
    }
  }

  /** Close a region; the segment restarts for the regions still open. */
  leave(region: Region): void {
    if (this.running) this.closeSegment();
    this.open.delete(region);
  }

  /** Restart the segment after `leave` bookkeeping, when regions remain open. */
  resume(): void {
    if (!this.running && this.open.size > 0) this.startSegment();
  }

  private startSegment(): number {
    if (this.samplingInterval > 0) {
      this.sampler ??= new HeapSampler();
      this.sampler.start(this.samplingInterval);
    }
    // A GC between the read before start() and start() itself would be missed by the profiler, one
    // right after start() would be counted against a post-GC start value: either shows as the used
    // heap going down across start(), so try again.
    for (let attempt = 0; ; attempt++) {
      const before = read();
      const profiler = new v8.GCProfiler();
      profiler.start();
      const after = read();
      if (after.used >= before.used || attempt === 4) {
        this.profiler = profiler;
        this.segmentStart = after;
        this.running = true;
        return after.used + after.external;
      }
      profiler.stop();
    }
  }

  private closeSegment(): void {
    const { heap, external, maxOccupancy } = this.closeHeapSegment();
    let count = 0;
    let sites = new Map<string, SiteBytes>();
    let tree: CallTree | null = null;
    if (this.sampler && this.samplingInterval > 0) {
      const summary = summariseProfile(this.sampler.stop());
      // Only at interval 1 is each sample one allocation event.
      count = this.samplingInterval === 1 ? summary.count : 0;
      sites = summary.sites;
      tree = summary.tree;
    }
    // The harness's own cost inside every segment (calibrated at start-up) counts for no region.
    const harness = this.calibrations.get(this.samplingInterval) ?? { heap: 0, external: 0, count: 0 };
    const figures: SegmentFigures = {
      heap: heap - harness.heap,
      external: external - harness.external,
      count: Math.max(0, count - harness.count),
      maxOccupancy,
      sites,
      tree,
    };
    for (const region of this.open) region.add(figures);
  }

  /** Stop the GC profiler and work out the heap figures since the segment's start read. */
  private closeHeapSegment(): { heap: number; external: number; maxOccupancy: number } {
    const end = read();
    const result = this.profiler?.stop() as { statistics: GcEntry[] } | undefined;
    const afterStop = read();
    this.profiler = null;
    this.running = false;
    const gcs = result?.statistics ?? [];
    // A GC triggered by stop()'s own allocation ran after `end`: it is not part of the segment.
    const last = gcs.at(-1);
    if (
      last &&
      afterStop.used < end.used &&
      dataBytes(last.beforeGC) >= end.used &&
      Math.abs(dataBytes(last.afterGC) - afterStop.used) <= POST_STOP_GC_SLACK
    ) {
      gcs.pop();
    }

    const start = this.segmentStart;
    let heap = end.used - start.used;
    let external = end.external - start.external;
    let maxOccupancy = Math.max(start.used + start.external, end.used + end.external);
    for (const gc of gcs) {
      const before = dataBytes(gc.beforeGC);
      const beforeExternal = gc.beforeGC.heapStatistics.externalMemory;
      heap += before - dataBytes(gc.afterGC);
      external += beforeExternal - gc.afterGC.heapStatistics.externalMemory;
      maxOccupancy = Math.max(maxOccupancy, before + beforeExternal);
    }
    return { heap, external, maxOccupancy };
  }

  /**
   * Measure empty regions to learn the harness's own cost per region (the reads' result objects).
   * The minimum of several tries is taken: a cost can only be inflated by noise, never lowered.
   */
  private calibrate(samplingInterval: number): void {
    this.calibrating = true;
    try {
      const best: Calibration = { heap: Infinity, external: Infinity, count: Infinity };
      for (let i = 0; i < 7; i++) {
        const probe = new CalibrationRegion(samplingInterval);
        this.enter(probe);
        this.leave(probe);
        this.resume();
        best.heap = Math.min(best.heap, probe.heap);
        best.external = Math.min(best.external, probe.external);
        best.count = Math.min(best.count, probe.count);
      }
      this.calibrations.set(samplingInterval, best);
    } finally {
      this.calibrating = false;
    }
  }
}

class CalibrationRegion implements Region {
  startOccupancy = 0;
  measuredInterval = 0;
  heap = 0;
  external = 0;
  count = 0;
  readonly samplingInterval: number;
  constructor(samplingInterval: number) {
    this.samplingInterval = samplingInterval;
  }
  add(segment: SegmentFigures): void {
    this.heap += segment.heap;
    this.external += segment.external;
    this.count += segment.count;
  }
}

/** The one meter of this isolate: V8's counters are per isolate. */
export const meter = new Meter();

export function now(): number {
  return performance.now();
}
