/** One fresh process of bench/retention.ts: each leak and no-leak fixture measured with retention, JSON out. */
import { EventEmitter } from 'node:events';
import { Session, span } from '../src/index.ts';

const handlers: (() => number)[] = [];
const emitter = new EventEmitter();
emitter.setMaxListeners(0);
const cache = new Map<number, object>();
const timers: NodeJS.Timeout[] = [];
const kept: Buffer[] = [];
let warmCache: Map<string, number[]> | null = null;
const weakCache = new WeakMap<object, number[]>();

const fixtures: Record<string, (i: number) => unknown> = {
  'leak: closure in a module array': (i) => {
    const data = new Array<number>(100).fill(i);
    handlers.push(() => data.length);
  },
  'leak: listener never removed': (i) => {
    const data = { i, payload: new Array<number>(50).fill(i) };
    emitter.on('tick', () => data.i);
  },
  'leak: Map cache, no eviction': (i) => cache.set(i, { i, payload: new Array<number>(50).fill(i) }),
  'leak: timer holding a buffer': (i) => {
    const big = Buffer.alloc(10_000, i);
    timers.push(setTimeout(() => big.length, 1e9));
  },
  'leak: retained Buffer': (i) => kept.push(Buffer.alloc(5000, i)),
  'ok: warmed cache': () => {
    warmCache ??= new Map([['a', new Array<number>(1000).fill(1)]]);
    return warmCache.get('a')?.length;
  },
  'ok: large transient': () => new Array<number>(100_000).fill(1).length,
  'ok: dropped result': () => new Array<number>(10_000).fill(2),
  'ok: WeakMap-keyed cache': () => weakCache.set({}, new Array<number>(1000).fill(3)),
};
const out: Record<string, { growth: number | null; retained: number | null; spanRetained: number | null }> = {};
for (const [name, fn] of Object.entries(fixtures)) {
  let i = 0;
  const record = new Session({ samplingInterval: 0 }).measure(name, () => fn(i++), { iterations: 8, warmup: 2, retained: true });
  const session = new Session({ samplingInterval: 0, retained: true });
  session.run(() => {
    span(name, () => fn(i++));
  });
  out[name] = { growth: record.growthBytesPerIteration, retained: record.retainedBytes, spanRetained: session.phase(name).retainedBytes };
}
for (const timer of timers) clearTimeout(timer);
process.stdout.write(`${JSON.stringify(out)}\n`);
