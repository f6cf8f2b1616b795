import { AsyncLocalStorage } from 'node:async_hooks';
import { Report } from './report.ts';
import { determinismStatus, environmentFingerprint } from './environment.ts';
import { meter, now, type Region, type SegmentFigures } from './meter.ts';
import { emptyCallTree, mergeCallTree, registerHarnessFile, type CallTree, type SiteBytes } from './sampling.ts';
import type { AllocationSite, HeapProfile, HeapProfileNode, MeasureOptions, PhaseRecord, SessionOptions } from './types.ts';

registerHarnessFile(import.meta.url);

const DEFAULT_TOP_SITES = 10;
const MAX_NAME_LENGTH = 200;

interface Scope {
  session: Session;
  region: PhaseRegion | null;
  /** False inside `measure()`'s warm-up calls: spans there record nothing. */
  recording: boolean;
}

const scopes = new AsyncLocalStorage<Scope>();
/** Session.run scopes still running: while 0 and no session is activated, span() is a plain call. */
let runningScopes = 0;
/** Activated sessions, most recent last; they may be deactivated in any order. */
const activations: Session[] = [];
let activated: Session | null = null;

/** Names already checked, so the idle path costs a set lookup. Bounded: names may be dynamic. */
const validNames = new Set<string>();
const MAX_REMEMBERED_NAMES = 1024;
function checkName(name: unknown, what: string): asserts name is string {
  if (typeof name === 'string' && validNames.has(name)) return;
  let problem = '';
  if (typeof name !== 'string') problem = `must be a string, got ${name === null ? 'null' : typeof name}`;
  else if (name.trim() === '') problem = 'must not be empty';
  else if (name !== name.trim()) problem = 'must not start or end with white space';
  else if (name.length > MAX_NAME_LENGTH) problem = `must be at most ${MAX_NAME_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  else if (/[\u0000-\u001f\u007f]/.test(name)) problem = 'must not contain control characters';
  if (problem) throw new TypeError(`alloc-tracker: ${what} name ${JSON.stringify(name) ?? String(name)} ${problem}`);
  if (validNames.size >= MAX_REMEMBERED_NAMES) validNames.clear();
  validNames.add(name as string);
}

/**
 * Only native promises make a call async. Other thenables (query builders that run on `.then`) are
 * returned untouched, as they are without a session: a span must not change what `fn` returns.
 */
function isPromise(value: unknown): value is Promise<unknown> {
  return value instanceof Promise;
}

/** Figures of one open phase, fed by the meter segment by segment. */
class PhaseRegion implements Region {
  readonly name: string;
  readonly session: Session;
  readonly parent: PhaseRegion | null;
  readonly samplingInterval: number;
  measuredInterval = 0;
  /** Calls measured; `measure` lowers it when a call throws before all iterations ran. */
  iterations: number;
  readonly warmup: number;
  startOccupancy = 0;
  heap = 0;
  external = 0;
  count = 0;
  /** Highest occupancy above the region's start seen so far. */
  peak = 0;
  readonly sites = new Map<string, SiteBytes>();
  tree: CallTree | null = null;
  readonly overlappedWith = new Set<string>();
  readonly startedAt = now();

  constructor(name: string, session: Session, parent: PhaseRegion | null, iterations: number, warmup = 0) {
    this.name = name;
    this.session = session;
    this.parent = parent;
    this.iterations = iterations;
    this.warmup = warmup;
    this.samplingInterval = session.samplingInterval;
  }

  add(segment: SegmentFigures): void {
    this.heap += segment.heap;
    this.external += segment.external;
    this.count += segment.count;
    this.peak = Math.max(this.peak, segment.maxOccupancy - this.startOccupancy);
    for (const [key, site] of segment.sites) {
      const mine = this.sites.get(key);
      if (mine) mine.bytes += site.bytes;
      else this.sites.set(key, { ...site });
    }
    if (segment.tree) mergeCallTree((this.tree ??= emptyCallTree()), segment.tree);
  }

  isAncestorOf(other: PhaseRegion): boolean {
    for (let p = other.parent; p; p = p.parent) if (p === this) return true;
    return false;
  }
}

/** Per-phase totals across every call in a session. */
interface Accumulator {
  name: string;
  parent: string | null;
  iterations: number;
  warmup: number;
  heap: number;
  external: number;
  count: number;
  peak: number;
  wallMs: number;
  sites: Map<string, SiteBytes>;
  tree: CallTree | null;
  overlappedWith: Set<string>;
  /** Sampling intervals the calls were measured at (see Region.measuredInterval). */
  intervals: Set<number>;
}

/** The closest enclosing region of the same session (another session's phases are not its parents). */
function nearestOwnAncestor(region: PhaseRegion): PhaseRegion | null {
  for (let r = region.parent; r; r = r.parent) if (r.session === region.session) return r;
  return null;
}

/** Each session's accumulators, kept off the class so that recording is not public API. */
const phasesOf = new WeakMap<Session, Map<string, Accumulator>>();

function recordRegion(region: PhaseRegion, wallMs: number): void {
  const phases = phasesOf.get(region.session);
  if (!phases) return;
  let acc = phases.get(region.name);
  if (!acc) {
    acc = {
      name: region.name,
      parent: nearestOwnAncestor(region)?.name ?? null,
      iterations: 0,
      warmup: 0,
      heap: 0,
      external: 0,
      count: 0,
      peak: 0,
      wallMs: 0,
      sites: new Map(),
      tree: null,
      overlappedWith: new Set(),
      intervals: new Set(),
    };
    phases.set(region.name, acc);
  }
  acc.iterations += region.iterations;
  acc.warmup += region.warmup;
  acc.heap += region.heap;
  acc.external += region.external;
  acc.count += region.count;
  acc.wallMs += wallMs;
  acc.peak = Math.max(acc.peak, region.peak);
  acc.intervals.add(region.measuredInterval);
  if (region.tree) mergeCallTree((acc.tree ??= emptyCallTree()), region.tree);
  for (const [key, site] of region.sites) {
    const mine = acc.sites.get(key);
    if (mine) mine.bytes += site.bytes;
    else acc.sites.set(key, { ...site });
  }
  for (const other of region.overlappedWith) {
    acc.overlappedWith.add(other);
    // The other side of an overlap may have closed first: mark it too.
    phases.get(other)?.overlappedWith.add(region.name);
  }
}

/**
 * The harness cost that a span adds inside its own first segment (AsyncLocalStorage.run and the
 * call frames around `fn`), learned by timing empty spans; the meter already removes the per-segment
 * cost of its own reads.
 */
const spanOverhead = new Map<number, { heap: number; count: number }>();

function learnSpanOverhead(samplingInterval: number): void {
  if (spanOverhead.has(samplingInterval) || meter.openRegions.size > 0) return;
  spanOverhead.set(samplingInterval, { heap: 0, count: 0 });
  const probe = new Session({ samplingInterval, topSites: 0 });
  let heap = Infinity;
  let count = Infinity;
  for (let i = 0; i < 7; i++) {
    const region = openRegion('calibration', probe, null, 1);
    runInRegion(region, () => undefined);
    closeRegion(region, false);
    heap = Math.min(heap, region.heap);
    count = Math.min(count, region.count);
  }
  spanOverhead.set(samplingInterval, { heap, count });
}

function openRegion(name: string, session: Session, parent: PhaseRegion | null, iterations: number, warmup = 0): PhaseRegion {
  meter.pause();
  const region = new PhaseRegion(name, session, parent, iterations, warmup);
  for (const other of meter.openRegions) {
    if (other instanceof PhaseRegion && !other.isAncestorOf(region)) {
      other.overlappedWith.add(region.name);
      region.overlappedWith.add(other.name);
    }
  }
  meter.enter(region);
  return region;
}

function runInRegion<T>(region: PhaseRegion, fn: () => T): T {
  return scopes.run({ session: region.session, region, recording: true }, fn);
}

function closeRegion(region: PhaseRegion, record: boolean): void {
  meter.leave(region);
  const endedAt = now();
  const overhead = spanOverhead.get(region.measuredInterval);
  if (overhead) {
    // The region and every still-open ancestor contain this span's harness cost.
    for (let r: PhaseRegion | null = region; r; r = r.parent) {
      if (r !== region && !meter.openRegions.has(r)) continue;
      r.heap -= overhead.heap;
      r.count = Math.max(0, r.count - overhead.count);
    }
  }
  if (record) recordRegion(region, endedAt - region.startedAt);
  meter.resume();
}

/** Run `fn` as one measured call of the phase `region`, closing it however `fn` ends. */
function measureCall<T>(region: PhaseRegion, fn: () => T): T {
  let result: T;
  try {
    result = runInRegion(region, fn);
  } catch (error) {
    closeRegion(region, true);
    throw error;
  }
  if (isPromise(result)) {
    return result.then(
      (value) => {
        closeRegion(region, true);
        return value;
      },
      (error: unknown) => {
        closeRegion(region, true);
        throw error;
      },
    ) as T;
  }
  closeRegion(region, true);
  return result;
}

function currentScope(): Scope | null {
  if (runningScopes === 0 && activated === null) return null;
  return scopes.getStore() ?? (activated ? { session: activated, region: null, recording: true } : null);
}

/**
 * Run `fn` (sync or async) and return its result. When a session is active (see `Session.run` and
 * `Session.activate`), the call is recorded as phase `name`; a span inside a span is its own phase
 * and is included in its parent. Without an active session this is a plain call.
 */
export function span<T>(name: string, fn: () => T): T {
  checkName(name, 'span');
  if (typeof fn !== 'function') throw new TypeError(`alloc-tracker: span(${JSON.stringify(name)}, fn) needs a function`);
  if (runningScopes === 0 && activated === null) return fn();
  const scope = currentScope();
  if (!scope || !scope.recording) return fn();
  // Recursion into a phase already open is one call of it: recording it again would count it twice.
  for (let r = scope.region; r; r = r.parent) if (r.name === name && r.session === scope.session) return fn();
  learnSpanOverhead(scope.session.samplingInterval);
  return measureCall(openRegion(name, scope.session, scope.region, 1), fn);
}

/** The active session's record of phase `name`. Throws, listing the recorded phases, when there is none. */
export function phase(name: string): PhaseRecord {
  checkName(name, 'phase');
  const scope = currentScope();
  if (!scope) {
    throw new Error(
      `alloc-tracker: phase(${JSON.stringify(name)}) needs an active session: call it inside ` +
        'Session.run(), after Session.activate(), or in a test with the alloc-tracker Vitest plugin',
    );
  }
  return scope.session.phase(name);
}

/** The session `span()` would record into right now, if any. */
export function activeSession(): Session | null {
  return currentScope()?.session ?? null;
}

/** A named operation of a session, measured over repeated calls. */
export class Operation {
  readonly name: string;
  readonly session: Session;

  constructor(session: Session, name: string) {
    checkName(name, 'operation');
    this.session = session;
    this.name = name;
  }

  /**
   * Call `fn` `warmup` times unmeasured, then measure `iterations` calls and record per-iteration
   * means. Returns the phase record (a promise when `fn` is async).
   */
  measure(fn: () => Promise<unknown>, options?: MeasureOptions): Promise<PhaseRecord>;
  measure(fn: () => unknown, options?: MeasureOptions): PhaseRecord;
  measure(fn: () => unknown, options: MeasureOptions = {}): PhaseRecord | Promise<PhaseRecord> {
    const iterations = options.iterations ?? 1;
    const warmup = options.warmup ?? 0;
    if (!Number.isInteger(iterations) || iterations < 1) {
      throw new RangeError(`alloc-tracker: iterations must be a whole number >= 1, got ${String(iterations)}`);
    }
    if (!Number.isInteger(warmup) || warmup < 0) {
      throw new RangeError(`alloc-tracker: warmup must be a whole number >= 0, got ${String(warmup)}`);
    }
    if (typeof fn !== 'function') throw new TypeError('alloc-tracker: measure(fn) needs a function');

    // Spans inside fn nest under the measured phase, which nests under any span around measure().
    const current = scopes.getStore();
    const outer = current?.region ?? null;
    // Inside another measure()'s warm-up nothing may be recorded: measure into a scratch session.
    const session =
      current && !current.recording
        ? new Session({ samplingInterval: this.session.samplingInterval, topSites: this.session.topSites })
        : this.session;
    const scope: Scope = { session, region: outer, recording: true };
    const warmUpScope: Scope = { session, region: outer, recording: false };
    const measured = (): PhaseRecord | Promise<PhaseRecord> => {
      learnSpanOverhead(session.samplingInterval);
      const region = openRegion(this.name, session, outer, iterations, warmup);
      let started = 0;
      const loop = (from: number): unknown => {
        for (let i = from; i < iterations; i++) {
          started = i + 1;
          const result = fn();
          if (isPromise(result)) return result.then(() => loop(i + 1));
        }
        return undefined;
      };
      // A throwing call ends the loop: the means are over the calls that ran, the error propagates.
      const countStarted = (error: unknown): never => {
        region.iterations = started;
        throw error;
      };
      const guardedLoop = (): unknown => {
        try {
          const result = loop(0);
          return isPromise(result) ? result.catch(countStarted) : result;
        } catch (error) {
          return countStarted(error);
        }
      };
      const done = measureCall(region, guardedLoop);
      return isPromise(done) ? done.then(() => session.phase(this.name)) : session.phase(this.name);
    };
    const warm = (from: number): PhaseRecord | Promise<PhaseRecord> => {
      for (let i = from; i < warmup; i++) {
        const result = scopes.run(warmUpScope, fn);
        if (isPromise(result)) return result.then(() => warm(i + 1));
      }
      return measured();
    };
    runningScopes++;
    try {
      const out = scopes.run(scope, () => warm(0));
      if (isPromise(out)) {
        return out.finally(() => {
          runningScopes--;
        });
      }
      runningScopes--;
      return out;
    } catch (error) {
      runningScopes--;
      throw error;
    }
  }
}

/**
 * A set of phase records. `span()` calls reached from `run(fn)` (across awaits), or made while the
 * session is activated, are recorded into it.
 */
export class Session {
  readonly samplingInterval: number;
  readonly topSites: number;

  constructor(options: SessionOptions = {}) {
    const interval = options.samplingInterval ?? 1;
    if (!Number.isInteger(interval) || interval < 0) {
      throw new RangeError(`alloc-tracker: samplingInterval must be a whole number >= 0, got ${String(interval)}`);
    }
    const topSites = options.topSites ?? DEFAULT_TOP_SITES;
    if (!Number.isInteger(topSites) || topSites < 0) {
      throw new RangeError(`alloc-tracker: topSites must be a whole number >= 0, got ${String(topSites)}`);
    }
    this.samplingInterval = interval;
    this.topSites = topSites;
    phasesOf.set(this, new Map());
  }

  private get phases(): Map<string, Accumulator> {
    return phasesOf.get(this) as Map<string, Accumulator>;
  }

  operation(name: string): Operation {
    return new Operation(this, name);
  }

  /** Make this session active for every span reached from `fn`, across awaits. Returns fn's result. */
  run<T>(fn: () => T): T {
    runningScopes++;
    let result: T;
    try {
      result = scopes.run({ session: this, region: null, recording: true }, fn);
    } catch (error) {
      runningScopes--;
      throw error;
    }
    if (isPromise(result)) {
      return result.finally(() => {
        runningScopes--;
      }) as T;
    }
    runningScopes--;
    return result;
  }

  /**
   * Make this session the active one for spans outside any `run` scope (one per isolate; test
   * harnesses use it around each test). Returns a function that deactivates it.
   */
  activate(): () => void {
    activations.push(this);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the isolate's active session is this one
    activated = this;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const at = activations.lastIndexOf(this);
      if (at !== -1) activations.splice(at, 1);
      activated = activations.at(-1) ?? null;
    };
  }

  /** Names of the phases recorded so far, sorted. */
  phaseNames(): string[] {
    return [...this.phases.keys()].sort();
  }

  has(name: string): boolean {
    return this.phases.has(name);
  }

  phase(name: string): PhaseRecord {
    const acc = this.phases.get(name);
    if (!acc) {
      const names = this.phaseNames();
      throw new Error(
        `alloc-tracker: no phase ${JSON.stringify(name)} was recorded; ` +
          (names.length ? `recorded phases: ${names.map((n) => JSON.stringify(n)).join(', ')}` : 'no phase was recorded'),
      );
    }
    return this.toRecord(acc);
  }

  /**
   * Where phase `name` allocated, by call path, over all its iterations (sampled bytes; exact at
   * interval 1). Null when sampling was off. Save it as JSON with the `.heapprofile` extension to open it
   * in Chrome DevTools (Memory > Load).
   */
  profile(name: string): HeapProfile | null {
    this.phase(name); // the same clear error for an unknown phase
    const tree = this.phases.get(name)?.tree;
    if (!tree) return null;
    let nextId = 1;
    const toNode = (node: CallTree): HeapProfileNode => ({
      callFrame: { ...node.callFrame },
      selfSize: node.selfSize,
      id: nextId++,
      children: [...node.children.values()].map(toNode),
    });
    return { head: toNode(tree), samples: [] };
  }

  records(): PhaseRecord[] {
    return this.phaseNames().map((name) => this.phase(name));
  }

  report(): Report {
    return new Report(this.records(), environmentFingerprint(), determinismStatus());
  }

  private toRecord(acc: Accumulator): PhaseRecord {
    const n = acc.iterations;
    const sampledTotal = [...acc.sites.values()].reduce((sum, s) => sum + s.bytes, 0);
    const sites: AllocationSite[] = [...acc.sites.values()]
      .sort((a, b) => b.bytes - a.bytes || a.location.localeCompare(b.location))
      .slice(0, this.topSites)
      .map((s) => ({
        functionName: s.functionName,
        location: s.location,
        bytes: Math.round(s.bytes / n),
        share: sampledTotal > 0 ? s.bytes / sampledTotal : 0,
      }));
    const heap = Math.max(0, acc.heap);
    const external = Math.max(0, acc.external);
    return {
      name: acc.name,
      iterations: n,
      warmup: acc.warmup,
      bytes: Math.round((heap + external) / n),
      heapBytes: Math.round(heap / n),
      externalBytes: Math.round(external / n),
      count: Math.round(acc.count / n),
      // Exact only when every call was measured at interval 1 (see Region.measuredInterval).
      countMethod: acc.intervals.size === 1 && acc.intervals.has(1) ? 'exact' : 'off',
      samplingInterval: acc.intervals.size === 1 ? (acc.intervals.values().next().value ?? this.samplingInterval) : this.samplingInterval,
      peakBytes: Math.max(0, acc.peak),
      wallMs: acc.wallMs / n,
      totalBytes: heap + external,
      totalHeapBytes: heap,
      totalExternalBytes: external,
      totalCount: acc.count,
      overlapped: acc.overlappedWith.size > 0,
      overlappedWith: [...acc.overlappedWith].sort(),
      parent: acc.parent,
      deterministic: determinismStatus().deterministic,
      sites,
    };
  }
}
