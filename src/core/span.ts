import { PhaseRegion } from './ledger.ts';
import { liveBytes, retention } from './retention.ts';
import { meter } from './meter.ts';
import { runtime, type Scope } from './runtime.ts';
import { registerHarnessFile } from './sampler.ts';
import type { Session } from './session.ts';
import type { MeasureOptions, PhaseRecord } from './types.ts';

registerHarnessFile(import.meta.url);

const MAX_NAME_LENGTH = 200;

/** Names already checked, so the idle path costs a set lookup. Bounded: names may be dynamic. */
const validNames = new Set<string>();
const MAX_REMEMBERED_NAMES = 1024;

export function checkName(name: unknown, what: string): asserts name is string {
  if (typeof name === 'string' && validNames.has(name)) return;
  let problem = '';
  if (typeof name !== 'string') problem = `must be a string, got ${name === null ? 'null' : typeof name}`;
  else if (name.trim() === '') problem = 'must not be empty';
  else if (name !== name.trim()) problem = 'must not start or end with white space';
  else if (name.length > MAX_NAME_LENGTH) problem = `must be at most ${MAX_NAME_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  else if (/[\u0000-\u001f\u007f]/.test(name)) problem = 'must not contain control characters';
  if (problem) throw new TypeError(`alloc-tracker: ${what} name ${JSON.stringify(name) ?? String(name)} ${problem}`);
  if (validNames.size >= MAX_REMEMBERED_NAMES) validNames.clear();
  validNames.add(name as string);
}

/**
 * Only native promises make a call async. Other thenables (query builders that run on `.then`) are
 * returned untouched, as they are without a session: a span must not change what `fn` returns.
 */
export function isPromise(value: unknown): value is Promise<unknown> {
  return value instanceof Promise;
}

/** Sampling settings (interval, and sites at interval 1) whose harness paths have run once (see warmHarness). */
const warmedSamplings = new Set<string>();
function samplingKey(interval: number, sites: boolean): string {
  return `${interval}:${sites}`;
}

/**
 * Runs every harness path that executes inside a measured segment once, in a scratch session, before
 * the first real phase: a function's first call allocates its feedback (and may compile it), which
 * must not be charged to the user's first phase. Only with nothing open, or those regions would count it.
 */
function warmHarness(like: Session): void {
  warmedSamplings.add(samplingKey(like.samplingInterval, like.sites));
  const scratch = new (like.constructor as new (options: { samplingInterval: number; sites: boolean; topSites: number }) => Session)({
    samplingInterval: like.samplingInterval,
    sites: like.sites,
    topSites: 0,
  });
  const nothing = (): undefined => undefined;
  const failure = new Error('warm-up');
  scratch.run(() => {
    for (let i = 0; i < 2; i++) {
      span('warm', nothing);
      span('warm-outer', () => span('warm-inner', nothing));
      try {
        span('warm-throw', () => {
          throw failure;
        });
      } catch {
        // expected
      }
    }
  });
  scratch.measure('warm-measure', nothing, { iterations: 2 });
}

/**
 * A region for one call of phase `name`, not yet entered. The running segment is closed first, so
 * that the bookkeeping here and until `enter` is counted in no phase.
 */
export function openRegion(
  name: string,
  session: Session,
  parent: PhaseRegion | null,
  iterations: number,
  warmup: number,
  retained = session.retained,
): PhaseRegion {
  // Paused first: the bookkeeping below allocates, and must not count in an enclosing region.
  meter.pause();
  const sampling = { samplingInterval: meter.intervalFor(session), sites: meter.sitesFor(session) };
  if (meter.openRegions.size === 0 && !warmedSamplings.has(samplingKey(sampling.samplingInterval, sampling.sites))) warmHarness(session);
  const region = new PhaseRegion(name, session.ledger, parent, sampling, iterations, warmup);
  if (retained) {
    // The start marker goes before anything the call allocates; for several iterations, a marker and
    // the live external memory after each one give the growth per iteration.
    region.retention = retention.begin();
    if (region.retention && iterations > 1) region.externalAfter = [];
  }
  for (const other of meter.openRegions) {
    if (other instanceof PhaseRegion && !other.isAncestorOf(region)) {
      other.overlappedWith.add(region.name);
      region.overlappedWith.add(other.name);
    }
  }
  return region;
}

/**
 * Runs `fn` `region.iterations` times as measured calls of `region`, and closes the region however
 * the calls end: returned, thrown, resolved or rejected. Sync calls run back to back; when a call
 * returns a promise, the segment pauses while the continuation is attached (so the tracker's own
 * promise bookkeeping is counted nowhere) and the loop goes on when it settles. On an exception the
 * means are over the calls that ran, and the very same error is thrown or rejected.
 *
 * Returns fn's last result (or `resultOf()`), or a promise of it once a call was async. The meter is
 * left paused when this returns: the caller resumes it once its own bookkeeping is done (restoring
 * the async context after `AsyncLocalStorage.run` allocates, and must not count in the parent).
 */
export function runMeasured<T>(region: PhaseRegion, fn: () => T, resultOf?: () => unknown): T {
  let done = 0;
  /** `outer` is set once a call returns a promise: what the caller gets instead of the last result. */
  const state: { outer: PromiseWithResolvers<unknown> | null; syncResult: unknown } = { outer: null, syncResult: undefined };

  const close = (): void => {
    meter.leave(region);
    region.ledger.record(region);
  };
  const abort = (error: unknown): void => {
    region.iterations = done;
    close();
    if (!state.outer) throw error;
    state.outer.reject(error);
    meter.resume();
  };
  // Returns nothing when it continues a promise: a value returned from a `then` callback would make V8
  // resolve the derived promise with it, inside the measured segment.
  /** With retention over several iterations: a boundary marker and live external memory after each (counted nowhere). */
  const afterCall = (): void => {
    if (!region.externalAfter || !region.retention) return;
    meter.pause();
    region.externalAfter.push(liveBytes().external);
    retention.iteration(region.retention);
    meter.resume();
  };
  const loop = (previous: unknown): void => {
    const continuing = state.outer !== null;
    let result = previous;
    try {
      if (continuing) afterCall();
      while (done < region.iterations) {
        done++;
        result = fn();
        if (!isPromise(result)) afterCall();
        else {
          meter.pause();
          region.async = true;
          state.outer ??= Promise.withResolvers();
          result.then(loop, abort);
          if (continuing) meter.resume();
          return;
        }
      }
    } catch (error) {
      abort(error);
      return;
    }
    close();
    // measure() hands back its record, not fn's result: let the result go before the record (and any
    // retention it evaluates) is made.
    if (resultOf) {
      result = undefined;
      // eslint-disable-next-line no-useless-assignment -- the parameter would keep the last value alive
      previous = undefined;
    }
    const value = resultOf ? resultOf() : result;
    if (!continuing) {
      state.syncResult = value;
      return;
    }
    state.outer!.resolve(value);
    meter.resume();
  };
  meter.enter(region);
  loop(undefined);
  return (state.outer ? state.outer.promise : state.syncResult) as T;
}

/**
 * Run `fn` (sync or async) and return its result. When a session is active (see `Session.run` and
 * `Session.activate`), the call is recorded as phase `name`; a span inside a span is its own phase
 * and is included in its parent. Without an active session this is a plain call.
 */
export function span<T>(name: string, fn: () => T): T {
  checkName(name, 'span');
  if (typeof fn !== 'function') throw new TypeError(`alloc-tracker: span(${JSON.stringify(name)}, fn) needs a function`);
  // Kept small so that the JIT inlines it where spans sit in hot code: without a session this is a call.
  return runtime.idle ? fn() : recordSpan(name, fn);
}

function recordSpan<T>(name: string, fn: () => T): T {
  const scope = runtime.currentScope();
  if (!scope || !scope.recording) return fn();
  // Recursion into a phase already open is one call of it: recording it again would count it twice.
  for (let r = scope.region; r; r = r.parent) if (r.name === name && r.ledger === scope.session.ledger) return fn();
  const region = openRegion(name, scope.session, scope.region, 1, 0);
  const inner: Scope = { session: scope.session, region, recording: true };
  try {
    return runtime.scopes.run(inner, runMeasured, region, fn);
  } finally {
    meter.resume();
  }
}

/** The active session's record of phase `name`. Throws, listing the recorded phases, when there is none. */
export function phase(name: string): PhaseRecord {
  checkName(name, 'phase');
  const scope = runtime.currentScope();
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
  return runtime.currentScope()?.session ?? null;
}

/**
 * `Session.measure` on the active session: `measure(name, fn, { iterations, warmup, retained })` inside
 * `Session.run`, after `Session.activate`, or in a test with the alloc-tracker Vitest plugin.
 */
export function measure(name: string, fn: () => Promise<unknown>, options?: MeasureOptions): Promise<PhaseRecord>;
export function measure(name: string, fn: () => unknown, options?: MeasureOptions): PhaseRecord;
export function measure(name: string, fn: () => unknown, options?: MeasureOptions): PhaseRecord | Promise<PhaseRecord> {
  checkName(name, 'phase');
  const scope = runtime.currentScope();
  if (!scope) {
    throw new Error(
      `alloc-tracker: measure(${JSON.stringify(name)}, fn) needs an active session: call it inside ` +
        'Session.run(), after Session.activate(), or in a test with the alloc-tracker Vitest plugin',
    );
  }
  return scope.session.measure(name, fn, options);
}
