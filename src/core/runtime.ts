import { AsyncLocalStorage } from 'node:async_hooks';
import type { PhaseRegion } from './ledger.ts';
import { registerHarnessFile } from './sampler.ts';
import type { Session } from './session.ts';

registerHarnessFile(import.meta.url);

/** Where a span records: the session, the phase it runs inside, and whether recording is on. */
export interface Scope {
  session: Session;
  region: PhaseRegion | null;
  /** False inside `measure()`'s warm-up calls: spans there record nothing. */
  recording: boolean;
}

/**
 * The tracker's state in this isolate: which session spans record into. One instance per isolate
 * (V8's counters are per isolate), shared by every copy of this module that a test runner may load.
 */
class TrackerRuntime {
  readonly scopes = new AsyncLocalStorage<Scope>();
  /**
   * True when no span can record: no `Session.run` scope is running and no session is activated. The
   * idle fast path of span() reads this one field.
   */
  idle = true;
  /** `Session.run` scopes still running. */
  private running = 0;
  /** Activated sessions, most recent last; they may be deactivated in any order. */
  private readonly activations: Session[] = [];
  private activated: Session | null = null;

  enterRun(): void {
    this.running++;
    this.idle = false;
  }

  leaveRun(): void {
    this.running--;
    this.idle = this.running === 0 && this.activated === null;
  }

  currentScope(): Scope | null {
    if (this.idle) return null;
    return this.scopes.getStore() ?? (this.activated ? { session: this.activated, region: null, recording: true } : null);
  }

  activate(session: Session): () => void {
    this.activations.push(session);
    this.activated = session;
    this.idle = false;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const at = this.activations.lastIndexOf(session);
      if (at !== -1) this.activations.splice(at, 1);
      this.activated = this.activations.at(-1) ?? null;
      this.idle = this.running === 0 && this.activated === null;
    };
  }
}

/**
 * A test runner can evaluate this module more than once in one process (a module graph per test file,
 * source and built copies side by side): every copy must see the same sessions, or spans made through
 * one copy would miss the session activated through another. The key names the shape's version.
 */
const RUNTIME_KEY = Symbol.for('alloc-tracker.runtime.v2');
export const runtime: TrackerRuntime =
  ((globalThis as Record<symbol, unknown>)[RUNTIME_KEY] as TrackerRuntime | undefined) ??
  ((globalThis as Record<symbol, unknown>)[RUNTIME_KEY] = new TrackerRuntime());
