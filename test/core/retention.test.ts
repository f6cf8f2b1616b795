/**
 * What phases leave behind: real leaks are seen (growth per iteration, retained bytes, the allocating
 * line); caches filled once, transient garbage, dropped results and weakly held data are not.
 */
import { EventEmitter } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { Session, span, type PhaseRecord } from '../../src/index.ts';

const handlers: (() => number)[] = [];
const emitter = new EventEmitter();
emitter.setMaxListeners(0);
const cache = new Map<number, object>();
const timers: NodeJS.Timeout[] = [];
const kept: Buffer[] = [];
let warmCache: Map<string, number[]> | null = null;
const weakCache = new WeakMap<object, number[]>();
afterAll(() => {
  for (const timer of timers) clearTimeout(timer);
});

/** Each leak keeps what one call made; the allocating function is what the report must name. */
function leakClosure(i: number): void {
  const data = new Array<number>(100).fill(i);
  handlers.push(() => data.length);
}
function leakListener(i: number): void {
  const data = { i, payload: new Array<number>(50).fill(i) };
  emitter.on('tick', () => data.i);
}
function leakMapCache(i: number): void {
  cache.set(i, { i, payload: new Array<number>(50).fill(i) });
}
function leakTimer(i: number): void {
  const big = Buffer.alloc(10_000, i);
  timers.push(setTimeout(() => big.length, 1e9));
}
function leakBuffer(i: number): void {
  kept.push(Buffer.alloc(5000, i));
}
const leaks: Record<string, (i: number) => void> = {
  'closure pushed to a module-level array': leakClosure,
  'event listener never removed': leakListener,
  'Map cache without eviction': leakMapCache,
  'timer capturing a large buffer': leakTimer,
  'retained Buffer': leakBuffer,
};

const nonLeaks: Record<string, () => unknown> = {
  'a warmed cache': () => {
    warmCache ??= new Map([['a', new Array<number>(1000).fill(1)]]);
    return warmCache.get('a')?.length;
  },
  'a large transient allocation': () => new Array<number>(100_000).fill(1).length,
  'a returned value the caller drops': () => new Array<number>(10_000).fill(2),
  'a WeakMap-keyed cache': () => {
    weakCache.set({}, new Array<number>(1000).fill(3));
  },
};

function repeated(name: string, fn: () => unknown): PhaseRecord {
  return new Session({ samplingInterval: 0 }).measure(name, fn, { iterations: 8, warmup: 2, retained: true });
}

describe('leaks are flagged by repetition and by what a span left behind', () => {
  for (const [name, call] of Object.entries(leaks)) {
    it(name, () => {
      let i = 0;
      const record = repeated(name, () => call(i++));
      expect(record.retainedProblem).toBeNull();
      expect(record.growthBytesPerIteration).toBeGreaterThan(300);
      expect(record.retainedBytes).toBeGreaterThan(300);
      expect(record.retainedSites[0]?.functionName, JSON.stringify(record.retainedSites)).toBe(call.name);

      const session = new Session({ samplingInterval: 0, retained: true });
      session.run(() => span(name, () => call(i++)));
      const phase = session.phase(name);
      expect(phase.retainedBytes).toBeGreaterThan(150);
      expect(phase.retainedSites[0]?.functionName, JSON.stringify(phase.retainedSites)).toBe(call.name);
      expect(phase.retainedSites[0]?.location).toMatch(/retention\.test\.ts:\d+:\d+$/);
    });
  }
});

describe('no leak, no flag', () => {
  for (const [name, fn] of Object.entries(nonLeaks)) {
    it(name, () => {
      const record = repeated(name, fn);
      expect(record.retainedProblem).toBeNull();
      expect(record.growthBytesPerIteration).toBe(0);

      const session = new Session({ samplingInterval: 0, retained: true });
      // The span's result is dropped right away, as a test that does not keep it would.
      session.run(() => {
        span(name, fn);
      });
      // At most the WeakMap's own table growing: far below anything a leak leaves.
      expect(session.phase(name).retainedBytes).toBeLessThan(128);
    });
  }
});

describe('retention records', () => {
  it('are null where retention was not asked for, and count what the caller still holds when asked', () => {
    const plain = new Session({ samplingInterval: 0 });
    plain.run(() => span('plain', () => new Array<number>(10)));
    expect(plain.phase('plain').retainedBytes).toBeNull();
    expect(plain.phase('plain').growthBytesPerIteration).toBeNull();

    const session = new Session({ samplingInterval: 0, retained: true });
    const held = session.run(() => span('held', () => new Array<number>(5000).fill(1)));
    // Read while the result is still held: it counts (16 B header + 8 B per element, plus the 32 B array).
    expect(session.phase('held').retainedBytes).toBeGreaterThanOrEqual(5000 * 8);
    expect(held.length).toBe(5000);
  });

  it("keep their markers in a long measured loop, once the tracker's code is optimised", () => {
    // Markers made in the tracker's own context were lost here once V8 optimised the marking code:
    // the second round said "retention markers lost (108 of 302)". Each iteration collects garbage
    // twice, so the loop is no longer than it needs to be.
    const kept: { i: number }[] = [];
    const session = new Session({ retained: true });
    for (let round = 0; round < 2; round++) {
      const record = session.measure(`leak${round}`, () => void kept.push({ i: round }), { iterations: 300 });
      expect(record.retainedProblem).toBeNull();
      // Each call keeps one object (24 B header, one field) and a slot of the growing array.
      expect(record.retainedBytes).toBeGreaterThanOrEqual(32);
    }
    expect(kept.length).toBe(600);
  });

  it('nest: a parent retains what its children retained', () => {
    const session = new Session({ samplingInterval: 0, retained: true });
    session.run(() =>
      span('parent', () => {
        span('child', () => {
          kept.push(Buffer.alloc(2048));
        });
        handlers.push(() => 1);
      }),
    );
    const parent = session.phase('parent');
    const child = session.phase('child');
    expect(child.retainedBytes).toBeGreaterThanOrEqual(2048);
    expect(parent.retainedBytes).toBeGreaterThan(child.retainedBytes!);
  });
});
