import { determinismStatus, environmentFingerprint } from './environment.ts';
import { Ledger } from './ledger.ts';
import { Report } from './report.ts';
import { runtime, type Scope } from './runtime.ts';
import { registerHarnessFile } from './sampler.ts';
import { meter } from './meter.ts';
import { checkName, isPromise, openRegion, runMeasured } from './span.ts';
import type { HeapProfile, MeasureOptions, PhaseRecord, SessionOptions } from './types.ts';

registerHarnessFile(import.meta.url);

const DEFAULT_TOP_SITES = 10;

function wholeNumber(value: unknown, min: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`alloc-tracker: ${what} must be a whole number >= ${min}, got ${String(value)}`);
  }
  return value;
}

/**
 * A set of phase records. `span()` calls reached from `run(fn)` (across awaits), or made while the
 * session is activated, are recorded into it; `measure(name, fn)` records repeated calls of `fn`.
 */
export class Session {
  readonly samplingInterval: number;
  /** Whether phases get allocation sites and call trees; false at interval 1 counts only (see SessionOptions.sites). */
  readonly sites: boolean;
  readonly topSites: number;
  /** Whether phases track what they leave behind (see SessionOptions.retained). */
  readonly retained: boolean;
  /** The phases recorded so far. */
  readonly ledger = new Ledger();

  constructor(options: SessionOptions = {}) {
    this.samplingInterval = wholeNumber(options.samplingInterval ?? 1, 0, 'samplingInterval');
    this.topSites = wholeNumber(options.topSites ?? DEFAULT_TOP_SITES, 0, 'topSites');
    if (options.sites !== undefined && typeof options.sites !== 'boolean') {
      throw new TypeError(`alloc-tracker: sites must be true or false, got ${String(options.sites)}`);
    }
    if (options.sites === false && this.samplingInterval > 1) {
      throw new RangeError(
        `alloc-tracker: sites: false leaves nothing to sample at samplingInterval ${this.samplingInterval}: ` +
          'use samplingInterval 1 (exact counts without sites) or 0 (no sampling)',
      );
    }
    this.sites = options.sites ?? true;
    if (options.retained !== undefined && typeof options.retained !== 'boolean') {
      throw new TypeError(`alloc-tracker: retained must be true or false, got ${String(options.retained)}`);
    }
    this.retained = options.retained ?? false;
  }

  /** Make this session active for every span reached from `fn`, across awaits. Returns fn's result. */
  run<T>(fn: () => T): T {
    return withScope({ session: this, region: null, recording: true }, fn);
  }

  /**
   * Make this session the active one for spans outside any `run` scope (one per isolate; test
   * harnesses use it around each test). Returns a function that deactivates it.
   */
  activate(): () => void {
    return runtime.activate(this);
  }

  /**
   * Call `fn` `warmup` times unmeasured, then measure `iterations` calls as phase `name` and record
   * per-iteration means (Go's AllocsPerRun). Returns the phase record, or a promise of it when `fn`
   * is async. Spans inside `fn` nest under the phase; inside an enclosing span, the phase nests there.
   */
  measure(name: string, fn: () => Promise<unknown>, options?: MeasureOptions): Promise<PhaseRecord>;
  measure(name: string, fn: () => unknown, options?: MeasureOptions): PhaseRecord;
  measure(name: string, fn: () => unknown, options: MeasureOptions = {}): PhaseRecord | Promise<PhaseRecord> {
    checkName(name, 'phase');
    const iterations = wholeNumber(options.iterations ?? 1, 1, 'iterations');
    const warmup = wholeNumber(options.warmup ?? 0, 0, 'warmup');
    if (options.retained !== undefined && typeof options.retained !== 'boolean') {
      throw new TypeError(`alloc-tracker: retained must be true or false, got ${String(options.retained)}`);
    }
    const retained = options.retained ?? this.retained;
    if (typeof fn !== 'function') throw new TypeError('alloc-tracker: measure(name, fn) needs a function');

    const current = runtime.scopes.getStore();
    const outer = current?.region ?? null;
    // Inside another measure()'s warm-up nothing may be recorded: measure into a scratch session.
    const session =
      current && !current.recording
        ? new Session({ samplingInterval: this.samplingInterval, sites: this.sites, topSites: this.topSites })
        : this;
    const warmUpScope: Scope = { session, region: outer, recording: false };
    const recordOf = (): PhaseRecord => session.phase(name);
    const measured = (): PhaseRecord | Promise<PhaseRecord> => {
      const region = openRegion(name, session, outer, iterations, warmup, retained);
      try {
        return runtime.scopes.run({ session, region, recording: true }, runMeasured, region, fn, recordOf) as
          PhaseRecord | Promise<PhaseRecord>;
      } finally {
        meter.resume();
      }
    };
    const warm = (from: number): PhaseRecord | Promise<PhaseRecord> => {
      for (let i = from; i < warmup; i++) {
        const result = runtime.scopes.run(warmUpScope, fn);
        if (isPromise(result)) return result.then(() => warm(i + 1));
      }
      return measured();
    };
    return withScope({ session, region: outer, recording: true }, () => warm(0));
  }

  /** Names of the phases recorded so far, sorted. */
  phaseNames(): string[] {
    return this.ledger.names();
  }

  has(name: string): boolean {
    return this.ledger.has(name);
  }

  phase(name: string): PhaseRecord {
    const record = this.ledger.toRecord(name, this.topSites);
    if (!record) {
      const names = this.phaseNames();
      throw new Error(
        `alloc-tracker: no phase ${JSON.stringify(name)} was recorded; ` +
          (names.length ? `recorded phases: ${names.map((n) => JSON.stringify(n)).join(', ')}` : 'no phase was recorded'),
      );
    }
    return record;
  }

  /**
   * Where phase `name` allocated, by call path, over all its iterations (sampled bytes; exact at
   * interval 1). Null when sampling was off. Save it as JSON with the `.heapprofile` extension to open
   * it in Chrome DevTools (Memory > Load).
   */
  profile(name: string): HeapProfile | null {
    this.phase(name); // the same clear error for an unknown phase
    return this.ledger.profile(name);
  }

  records(): PhaseRecord[] {
    return this.phaseNames().map((name) => this.phase(name));
  }

  report(): Report {
    return new Report(this.records(), environmentFingerprint(), determinismStatus());
  }
}

/** Runs `fn` in `scope`, keeping span() off its idle fast path until fn (or its promise) is done. */
function withScope<T>(scope: Scope, fn: () => T): T {
  runtime.enterRun();
  let result: T;
  try {
    result = runtime.scopes.run(scope, fn);
  } catch (error) {
    runtime.leaveRun();
    throw error;
  }
  if (isPromise(result)) {
    return result.finally(() => {
      runtime.leaveRun();
    }) as T;
  }
  runtime.leaveRun();
  return result;
}
