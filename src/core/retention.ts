import v8 from 'node:v8';
import vm from 'node:vm';
import { readHeap } from './counter.ts';
import { attributeNodes, HeapSampler, registerHarnessFile, retentionMarker, samplesOfMarker, type SiteBytes } from './sampler.ts';

registerHarnessFile(import.meta.url);

/**
 * What a phase leaves behind: the objects it allocated that are still reachable when asked, after
 * full garbage collections.
 *
 * V8's sampling heap profiler, run at interval 1 without keeping collected objects, reports at stop
 * every object sampled since its start that is still alive, with its size, the call path that
 * allocated it, and its allocation order (ordinal). The tracker allocates a marker object at the
 * start and at the end of every tracked call (and after every iteration of a measured loop); at
 * evaluation it collects garbage, stops the profiler, and counts for each call the live samples whose
 * ordinals lie between its markers. Evaluation waits until someone asks (a record is read) with no
 * tracked call open, so that what the caller dropped meanwhile (a value it did not keep) is not counted.
 *
 * ArrayBuffer and Buffer backing stores live outside the heap and are not sampled: external memory
 * retained is the growth of live external memory (after full collections) from a call's start to the
 * evaluation, and for a measured loop from each iteration to the next.
 */

const COLLECTOR_FILE = 'alloc-tracker:collect-garbage';
registerHarnessFile(COLLECTOR_FILE);
let collect: (() => void) | null = null;

/** A full GC, twice: objects freed by the first one's finalisers and weak callbacks go in the second. */
export function collectGarbage(): void {
  if (!collect) {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') collect = exposed as () => void;
    else {
      // --expose-gc takes effect for contexts made after it is set: a fresh one hands out `gc`.
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc', {}, { filename: COLLECTOR_FILE }) as () => void;
      collect = () => gc();
    }
  }
  collect();
  collect();
}

/** Live bytes, heap and external, after full collections. */
export function liveBytes(): { heap: number; external: number } {
  collectGarbage();
  const reading = readHeap();
  return { heap: reading.used, external: reading.external };
}

/** Where the retained figures of a tracked call go once evaluated. */
export interface RetentionTarget {
  /**
   * `heapPerIteration`: for a measured loop, the heap bytes each iteration left behind (in order);
   * `external`: live external bytes gained from the call's start to the evaluation.
   */
  addRetained(heap: number, count: number, sites: ReadonlyMap<string, SiteBytes>, heapPerIteration: number[], external: number): void;
}

/** One tracked call: its markers (start, one per iteration, end) and the live external bytes at its start. */
interface TrackedCall {
  target: RetentionTarget;
  marks: number[];
  externalAtStart: number;
}

/** A call being tracked, between `begin` and `end`. */
export interface OpenCall {
  readonly marks: number[];
  readonly externalAtStart: number;
}

class RetentionTracker {
  private readonly sampler = new HeapSampler();
  /** Whether the live-object profiler runs (it makes every allocation buffer one object). */
  running = false;
  /** Markers in allocation order; kept alive (they must be in the live profile) until evaluation. */
  private markers: object[] = [];
  private calls: TrackedCall[] = [];
  private open = 0;
  /** Set when the profiler could not be started (another heap profile runs): calls are not tracked. */
  problem: string | null = null;

  /** Starts tracking a call (a full collection first, for its external baseline); null when unavailable. */
  begin(): OpenCall | null {
    if (!this.running) {
      if (!this.sampler.start(1, { liveOnly: true })) {
        this.problem = 'another heap profile of this process was running (V8 allows one at a time)';
        return null;
      }
      this.running = true;
      this.problem = null;
    }
    this.open++;
    const externalAtStart = liveBytes().external;
    return { marks: [this.mark()], externalAtStart };
  }

  /** A boundary between iterations of a tracked call. */
  iteration(call: OpenCall): void {
    call.marks.push(this.mark());
  }

  /** Ends tracking a call; its figures go to `target` at evaluation. */
  end(call: OpenCall, target: RetentionTarget): void {
    call.marks.push(this.mark());
    this.calls.push({ target, marks: call.marks, externalAtStart: call.externalAtStart });
    this.open--;
  }

  private mark(): number {
    this.markers.push(retentionMarker());
    return this.markers.length - 1;
  }

  /** True when closed calls wait for evaluation. */
  get pending(): boolean {
    return this.calls.length > 0;
  }

  /**
   * Collects garbage, reads what the closed calls left alive, and hands it to their targets. Only with
   * no tracked call open (its earlier allocations would be lost when the profiler restarts).
   */
  evaluate(): { problem: string | null } {
    if (!this.running || this.calls.length === 0) return { problem: this.problem };
    if (this.open > 0) return { problem: 'a tracked phase is still running' };
    const externalNow = liveBytes().external;
    const profile = this.sampler.stop();
    this.running = false;
    const calls = this.calls;
    const markerCount = this.markers.length;
    this.calls = [];
    if (!profile) {
      this.markers = [];
      return { problem: 'the heap profiler returned nothing' };
    }

    const nodes = attributeNodes(profile.head);
    // The markers are the samples of the one size that the marker function allocated exactly
    // `markerCount` times; anything else in its frame (its feedback, once) is the harness's.
    const inMarkerFrame = samplesOfMarker(profile, 'retentionMark');
    const sizes = new Map<number, number>();
    for (const s of inMarkerFrame) sizes.set(s.size, (sizes.get(s.size) ?? 0) + 1);
    const markerSize = [...sizes].find(([, n]) => n === markerCount)?.[0];
    const markerOrdinals = inMarkerFrame.filter((s) => s.size === markerSize).map((s) => s.ordinal);
    const samples: { ordinal: number; size: number; nodeId: number }[] = [];
    profile.forEachSample((nodeId, size, ordinal) => {
      if (!nodes.get(nodeId)?.harness) samples.push({ ordinal, size, nodeId });
    });
    // Only now may the markers go: a collected one would leave its call without a bound.
    this.markers = [];
    if (markerOrdinals.length !== markerCount) return { problem: `retention markers lost (${markerOrdinals.length} of ${markerCount})` };
    markerOrdinals.sort((a, b) => a - b);
    samples.sort((a, b) => a.ordinal - b.ordinal);

    const firstAtOrAfter = (ordinal: number): number => {
      let low = 0;
      let high = samples.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (samples[mid]!.ordinal < ordinal) low = mid + 1;
        else high = mid;
      }
      return low;
    };
    for (const call of calls) {
      const bounds = call.marks.map((mark) => firstAtOrAfter(markerOrdinals[mark]!));
      let heap = 0;
      const sites = new Map<string, SiteBytes>();
      const perIteration: number[] = [];
      for (let part = 1; part < bounds.length; part++) {
        let partBytes = 0;
        for (let i = bounds[part - 1]!; i < bounds[part]!; i++) {
          const sample = samples[i]!;
          partBytes += sample.size;
          const site = nodes.get(sample.nodeId)?.site ?? { functionName: '(unknown)', location: '(native)' };
          const key = `${site.functionName}\u0000${site.location}`;
          const mine = sites.get(key);
          if (mine) mine.bytes += sample.size;
          else sites.set(key, { ...site, bytes: sample.size });
        }
        heap += partBytes;
        perIteration.push(partBytes);
      }
      const count = bounds[bounds.length - 1]! - bounds[0]!;
      call.target.addRetained(heap, count, sites, perIteration, Math.max(0, externalNow - call.externalAtStart));
    }
    return { problem: null };
  }
}

const TRACKER_KEY = Symbol.for('alloc-tracker.retention.v1');
/** The one retention tracker of this isolate (V8 runs one heap profile at a time), shared by every copy of this module. */
export const retention: RetentionTracker =
  ((globalThis as Record<symbol, unknown>)[TRACKER_KEY] as RetentionTracker | undefined) ??
  ((globalThis as Record<symbol, unknown>)[TRACKER_KEY] = new RetentionTracker());
