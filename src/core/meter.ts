import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { CODE_SPACES, readHeap, startReading, type HeapReading, type WindowStart } from './counter.ts';
import { HAS_ALLOCATION_COUNTER, objectSizedBuffers } from './environment.ts';
import { retention } from './retention.ts';
import {
  COUNT_ONLY,
  countBetweenMarkers,
  endMarker,
  HeapSampler,
  prepareMarkers,
  startMarker,
  registerHarnessFile,
  summariseProfile,
  type CallTree,
  type SiteBytes,
} from './sampler.ts';
import type { BytesMethod } from './types.ts';

registerHarnessFile(import.meta.url);

/**
 * Allocation accounting by segments.
 *
 * One GC profiler and one heap sampler run while any region is open. At every region boundary the
 * running segment is closed, its figures are added to every open region, and after the tracker's
 * bookkeeping a new segment starts: nested regions include their children, and the bookkeeping
 * between segments is counted nowhere. A segment ends with its first statement (a heap read) and
 * starts with its last (heap reads), so the only harness allocation inside it is the start read's
 * own result, which `startReading` measures and each segment takes off.
 *
 * Heap bytes come from V8's allocation counter when it is exact (`bytesMethod: 'counter'`): it exists
 * (Node >= 25) and every allocation buffer is one object, which `--no-inline-new` gives, and so does
 * the sampler at interval 1 (it ends the buffer after every object to take its sample). Otherwise
 * they come from the used-heap identity
 *   allocated = (used_end - used_start) + sum over GCs in between of (used_before - used_after).
 * External (ArrayBuffer backing store) bytes always come from that identity on external memory, and
 * the peak from the occupancy V8 reported before each GC and at the segment's ends.
 *
 * Counting without sites (interval 1, `sites: false`) keeps only live samples of one frame: a marker
 * is allocated right after the start read and another right before the end read, and the count is the
 * number of samples V8 took between them (their ordinals), whatever died since. The markers' own
 * bytes fall inside the window and are taken off.
 */

interface GcSnapshot {
  heapStatistics: { usedHeapSize: number; externalMemory: number };
  heapSpaceStatistics: { spaceName: string; spaceUsedSize: number }[];
}
interface GcEntry {
  beforeGC: GcSnapshot;
  afterGC: GcSnapshot;
}

/** Used bytes at a GC's before/after snapshot: the data spaces for the used-heap identity, else all. */
function usedAt(snapshot: GcSnapshot, dataSpaces: boolean): number {
  if (!dataSpaces) return snapshot.heapStatistics.usedHeapSize;
  let used = 0;
  for (const space of snapshot.heapSpaceStatistics) if (!CODE_SPACES.has(space.spaceName)) used += space.spaceUsedSize;
  return used;
}

let lostProfileWarned = false;
function warnLostProfile(error: unknown): void {
  if (lostProfileWarned) return;
  lostProfileWarned = true;
  process.emitWarning(
    `alloc-tracker: a phase allocated too much to sample every allocation (${(error as Error).message}); its count and ` +
      'sites are left out (countMethod "off"), its bytes are exact. Measure such phases with a sampling interval > 1 or 0.',
  );
}

let lostMarkersWarned = false;
function warnLostMarkers(): void {
  if (lostMarkersWarned) return;
  lostMarkersWarned = true;
  process.emitWarning('alloc-tracker: a counting segment lost its markers; its count is left out (countMethod "off").');
}

/** A GC this far above the post-stop read is one that ran after the segment's end read. */
const POST_STOP_GC_SLACK = 64 * 1024;

export interface SegmentFigures {
  heap: number;
  external: number;
  count: number;
  /** Highest heap+external occupancy seen in the segment (before each GC, and at its ends). */
  maxOccupancy: number;
  bytesMethod: BytesMethod;
  /** The interval the segment was sampled at (0: not sampled). */
  samplingInterval: number;
  sites: Map<string, SiteBytes>;
  /** The segment's sampled call tree; null when sampling was off. */
  tree: CallTree | null;
}

/** Something that receives the figures of every segment while it is open. */
export interface Region {
  /** The interval the region asked for. */
  readonly samplingInterval: number;
  /** Whether the region wants allocation sites and a call tree (at interval 1: else counts only). */
  readonly sites: boolean;
  /** Occupancy (heap + external) when the region opened. */
  startOccupancy: number;
  add(segment: SegmentFigures): void;
}

class Meter {
  private readonly open = new Set<Region>();
  private readonly sampler = new HeapSampler();
  private profiler: v8.GCProfiler | null = null;
  /** The interval of the outermost open region: nested regions are measured at it. */
  private interval = 0;
  /** Whether the outermost open region wants sites; at interval 1 without them the segment only counts. */
  private sites = true;
  private sampling = false;
  /** The running segment's start marker when it only counts (see the class comment). */
  private segmentStartMarker: object | null = null;
  /** Whether the running segment's heap bytes come from the exact counter (else the used-heap identity). */
  private exact = false;
  /** The running segment's start, filled in place by the start reads. */
  private readonly window: WindowStart = { reading: { allocated: 0, used: 0, external: 0, fell: false }, readCost: 0 };
  private running = false;

  get openRegions(): ReadonlySet<Region> {
    return this.open;
  }

  /** The interval regions opened now are measured at. */
  intervalFor(region: { samplingInterval: number }): number {
    return this.open.size === 0 ? region.samplingInterval : this.interval;
  }

  /** Whether regions opened now get sites (nested regions are measured as the outermost). */
  sitesFor(region: { sites: boolean }): boolean {
    return this.open.size === 0 ? region.sites : this.sites;
  }

  private get countOnly(): boolean {
    return this.interval === 1 && !this.sites;
  }

  /**
   * Close the running segment (if any) so that what follows is counted in no region: callers do their
   * own bookkeeping between `pause()` and `enter()`/`resume()`.
   */
  pause(): void {
    if (this.running) this.closeSegment();
  }

  /** Open a region: it receives every segment until `leave`. Call `pause()` first; this starts the segment last. */
  enter(region: Region): void {
    if (this.running) this.closeSegment();
    if (this.open.size === 0) {
      this.interval = region.samplingInterval;
      this.sites = region.sites;
    }
    this.open.add(region);
    try {
      this.startSegment(region);
    } catch (error) {
      // Never leave a region open that no caller will close.
      this.open.delete(region);
      throw error;
    }
  }

  /** Close a region: the segment ends first; `resume()` restarts it for the regions still open. */
  leave(region: Region): void {
    if (this.running) this.closeSegment();
    this.open.delete(region);
  }

  /** Restart the segment after bookkeeping, when regions remain open. */
  resume(): void {
    if (!this.running && this.open.size > 0) this.startSegment(null);
  }

  /**
   * Starts the sampler and GC profiler, then reads the heap: the reads are the segment's last
   * statements, and nothing after them may allocate (in interpreted code even reading a number field
   * can allocate), so the opening region's start occupancy is taken before them.
   */
  private startSegment(opening: Region | null): void {
    const countOnly = this.countOnly;
    if (countOnly) prepareMarkers();
    this.sampling = this.interval > 0 && this.sampler.start(this.interval, countOnly ? COUNT_ONLY : undefined);
    // The sampler makes buffers object-sized only while it runs at interval 1.
    // So does the retention tracker's sampler (interval 1, live objects).
    this.exact = HAS_ALLOCATION_COUNTER && (objectSizedBuffers() || (this.sampling && this.interval === 1) || retention.running);
    const dataSpaces = !this.exact;
    // A GC between a read and the profiler's start would be missed by the profiler; one between its
    // start and the segment's start value would be counted against a post-GC start value (what it freed
    // of external memory became phantom external bytes of the phase: 4-10 MB in 1 of 1,500-3,000
    // counting segments of a test script). Either shows as the used heap going down across the reads,
    // which only grow it otherwise: then start again.
    for (let attempt = 0; ; attempt++) {
      readHeap(dataSpaces); // what `check` is compared with (HeapReading.fell)
      const profiler = new v8.GCProfiler();
      profiler.start();
      const check = readHeap(dataSpaces);
      if (check.fell && attempt < 4) {
        profiler.stop();
        continue;
      }
      if (opening) opening.startOccupancy = check.used + check.external;
      this.profiler = profiler;
      this.running = true;
      // startReading compares its first read with `check`: a GC after the profiler started fails it.
      if (startReading(this.window, dataSpaces) || attempt >= 4) {
        if (countOnly && this.sampling) this.segmentStartMarker = startMarker();
        return;
      }
      this.running = false;
      this.profiler = null;
      profiler.stop();
    }
  }

  private closeSegment(): void {
    const segmentEnd = this.segmentStartMarker ? endMarker() : null;
    const exact = this.exact;
    const end = readHeap(!exact);
    const gcs = this.stopGcProfiler(end, !exact);
    let interval = this.sampling ? this.interval : 0;
    let profile = null;
    if (this.sampling) {
      try {
        profile = this.sampler.stop();
      } catch (error) {
        // A segment of tens of millions of samples makes a profile longer than V8's longest string: its
        // bytes stand (the window was read), its count and sites are lost, and the record says count 'off'.
        interval = 0;
        warnLostProfile(error);
      }
    }
    this.sampling = false;
    this.running = false;
    const segmentStart = this.segmentStartMarker;
    this.segmentStartMarker = null;

    const start = this.window.reading;
    const readCost = this.window.readCost;
    let heap = exact ? end.allocated - start.allocated - readCost : end.used - start.used - readCost;
    let external = end.external - start.external;
    let maxOccupancy = Math.max(start.used + start.external, end.used + end.external);
    for (const gc of gcs) {
      const usedBefore = usedAt(gc.beforeGC, !exact);
      const externalBefore = gc.beforeGC.heapStatistics.externalMemory;
      if (!exact) heap += usedBefore - usedAt(gc.afterGC, true);
      external += externalBefore - gc.afterGC.heapStatistics.externalMemory;
      maxOccupancy = Math.max(maxOccupancy, usedBefore + externalBefore);
    }
    let count = 0;
    let sites = new Map<string, SiteBytes>();
    let tree: CallTree | null = null;
    if (profile && segmentStart && segmentEnd) {
      const counted = countBetweenMarkers(profile);
      if (counted) {
        count = counted.count;
        heap -= counted.markerBytes;
      } else {
        interval = 0;
        warnLostMarkers();
      }
    } else if (profile) {
      const summary = summariseProfile(profile);
      // Only at interval 1 is each sample one allocation.
      count = interval === 1 ? summary.count : 0;
      sites = summary.sites;
      tree = summary.tree;
    }
    const figures: SegmentFigures = {
      heap,
      external,
      count,
      maxOccupancy,
      bytesMethod: exact ? 'counter' : 'heap-delta',
      samplingInterval: interval,
      sites,
      tree,
    };
    for (const region of this.open) region.add(figures);
  }

  /** Stops the GC profiler; the GCs of the segment, without one that stop() itself triggered after `end`. */
  private stopGcProfiler(end: HeapReading, dataSpaces: boolean): GcEntry[] {
    const result = this.profiler?.stop() as { statistics: GcEntry[] } | undefined;
    this.profiler = null;
    const gcs = result?.statistics ?? [];
    const last = gcs.at(-1);
    if (last) {
      const afterStop = readHeap(dataSpaces);
      if (
        afterStop.used < end.used &&
        usedAt(last.beforeGC, dataSpaces) >= end.used &&
        Math.abs(usedAt(last.afterGC, dataSpaces) - afterStop.used) <= POST_STOP_GC_SLACK
      ) {
        gcs.pop();
      }
    }
    return gcs;
  }
}

/** The one meter of this isolate (V8's counters and its sampler are per isolate), shared by every copy of this module. */
const METER_KEY = Symbol.for('alloc-tracker.meter.v2');
export const meter: Meter =
  ((globalThis as Record<symbol, unknown>)[METER_KEY] as Meter | undefined) ??
  ((globalThis as Record<symbol, unknown>)[METER_KEY] = new Meter());

export function now(): number {
  return performance.now();
}
