import v8 from 'node:v8';
import { registerHarnessFile } from './sampler.ts';

registerHarnessFile(import.meta.url);

/**
 * One read of V8's heap figures: a single `getHeapStatistics()` call, which no GC can split (unlike
 * the per-space figures, read one space at a time).
 */
export interface HeapReading {
  /** V8's allocation counter (Node >= 25; NaN before): bytes allocated so far, GC copies excluded. */
  allocated: number;
  /** Used heap, all spaces. */
  used: number;
  /** ArrayBuffer / Buffer backing stores outside the heap. */
  external: number;
  /**
   * The used heap is lower than at the read before: a GC ran in between (reads only grow it
   * otherwise). Compared by every read, after its figures were taken, so that every read allocates
   * alike and a caller can test it without allocating after its last read.
   */
  fell: boolean;
}

/**
 * Spaces of compiled code and bytecode. Used-heap growth there depends on when functions tier up, not
 * on what the program does with its data: the used-heap identity (used where the counter is not exact)
 * counts the data spaces only.
 */
export const CODE_SPACES: ReadonlySet<string> = new Set([
  'code_space',
  'code_large_object_space',
  'trusted_space',
  'trusted_large_object_space',
]);

/**
 * The last statistics object and reading, kept so that both always escape: a read then allocates the
 * same whatever the JIT does (optimised code could drop an object that does not escape).
 */
let lastStatistics: v8.HeapInfo | null = null;
let lastReading: HeapReading | null = null;

/**
 * Reads the heap. With `dataSpaces`, `used` is the sum over the data spaces (for the used-heap
 * identity; a multi-space read that a GC can split, which the callers detect); otherwise the used heap
 * of all spaces from the same single read as the counter.
 */
export function readHeap(dataSpaces = false): HeapReading {
  const statistics = v8.getHeapStatistics();
  lastStatistics = statistics;
  let used = statistics.used_heap_size;
  if (dataSpaces) {
    used = 0;
    for (const space of v8.getHeapSpaceStatistics()) if (!CODE_SPACES.has(space.space_name)) used += space.space_used_size;
  }
  const reading = {
    allocated: (statistics as { total_allocated_bytes?: number }).total_allocated_bytes ?? Number.NaN,
    used,
    external: statistics.external_memory,
    fell: lastReading !== null && used < lastReading.used,
  };
  lastReading = reading;
  return reading;
}

/** The statistics object and reading of the last read. */
export function lastRead(): { statistics: v8.HeapInfo | null; reading: HeapReading | null } {
  return { statistics: lastStatistics, reading: lastReading };
}

/** Where `startReading` leaves its result (filled in place: a new object would be allocated after the last read). */
export interface WindowStart {
  reading: HeapReading;
  /** What the last read allocated after its counter was taken. */
  readCost: number;
}

/**
 * The start of a measured window: the reading, and what the read itself allocated after the counter
 * was taken (its result objects fall inside the window and must be taken off).
 *
 * Each read reports the counter as it stood before the read allocated its own result, so the cost of
 * one read shows as the difference between two consecutive reads. Three reads whose two differences
 * agree give it; they disagree only when the reading code changes tier (or a cold call allocates
 * feedback) between them, and then the reads are repeated. The window's own read comes last, and
 * nothing is allocated after it (in interpreted code even comparing two number fields allocates).
 * Returns false when a GC ran between the reads, or between the read before this call and them.
 */
export function startReading(into: WindowStart, dataSpaces: boolean): boolean {
  let gcFree = true;
  for (let attempt = 0; attempt < 8; attempt++) {
    const first = readHeap(dataSpaces);
    const second = readHeap(dataSpaces);
    const third = readHeap(dataSpaces);
    // `first` is compared with the read before this call (the caller's check after starting its GC
    // profiler), so a GC anywhere from there to the window's own read shows.
    if (first.fell || second.fell || third.fell) gcFree = false;
    // The counter where it is exact, else the used heap (which a read grows by its result, too).
    const key = dataSpaces ? 'used' : 'allocated';
    into.readCost = third[key] - second[key];
    if (third[key] - second[key] === second[key] - first[key]) break;
  }
  const last = readHeap(dataSpaces);
  into.reading = last;
  return gcFree && !last.fell;
}
