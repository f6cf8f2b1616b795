/**
 * Workloads of different kinds for the core's accuracy, determinism and cost benchmarks. Each keeps
 * what it allocates reachable until it returns, so nothing is optimised away.
 */
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface Workload {
  name: string;
  run: () => unknown;
  /** Exact external (ArrayBuffer backing store) bytes per call, when known analytically. */
  externalBytes?: number;
}

const jsonText = JSON.stringify(
  Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b', String(i % 7)], score: i / 3 })),
);

/** Sizes from 128 B to 1 MiB: above V8's 64-byte limit for on-heap typed arrays, so all external. */
const bufferSizes = Array.from({ length: 64 }, (_, i) => 128 << (i % 14));
const bufferTotal = bufferSizes.reduce((a, b) => a + b, 0);

const streamChunks = Array.from({ length: 2_000 }, (_, i) => `chunk ${i} `.repeat(20));

export const workloads: Workload[] = [
  {
    name: 'small-objects',
    run: () => {
      const out: unknown[] = new Array<unknown>(100_000);
      for (let i = 0; i < out.length; i++) out[i] = { a: i, b: i };
      return out;
    },
  },
  {
    name: 'strings',
    run: () => {
      const parts: string[] = [];
      for (let i = 0; i < 20_000; i++) parts.push(`line ${i}: ${'x'.repeat(i % 50)}`);
      return parts.join('\n');
    },
  },
  {
    name: 'array-growth',
    run: () => {
      const out: number[] = [];
      for (let i = 0; i < 200_000; i++) out.push(i * 1.5);
      return out;
    },
  },
  {
    name: 'map',
    run: () => {
      const map = new Map<string, number>();
      for (let i = 0; i < 50_000; i++) map.set(`k${i}`, i);
      return map;
    },
  },
  { name: 'json-parse', run: () => JSON.parse(jsonText) as unknown },
  {
    name: 'array-buffers',
    run: () => bufferSizes.map((size) => new ArrayBuffer(size)),
    externalBytes: bufferTotal,
  },
  {
    name: 'stream-pipeline',
    run: async () => {
      const collected: Buffer[] = [];
      await pipeline(
        Readable.from(streamChunks),
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            done(null, Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'));
          },
        }),
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            collected.push(chunk);
            done();
          },
        }),
      );
      return collected;
    },
  },
];

export function workloadNamed(name: string): Workload {
  const found = workloads.find((w) => w.name === name);
  if (!found) throw new Error(`no workload ${JSON.stringify(name)}; known: ${workloads.map((w) => w.name).join(', ')}`);
  return found;
}

/** The cost benchmark's workloads: small allocations at two scales, a 1 MB JSON.parse, a Buffer stream. */
export interface CostWorkload {
  name: string;
  run: () => unknown;
  warmup: number;
  iterations: number;
}
let costSink: unknown;
const oneMegabyteJson = JSON.stringify(
  Array.from({ length: 16_000 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b'], score: i / 3 })),
);
export const costWorkloads: CostWorkload[] = [
  {
    name: 'objects-1e5',
    warmup: 5,
    iterations: 5,
    run: () => {
      for (let i = 0; i < 100_000; i++) costSink = { i };
    },
  },
  {
    name: 'objects-1e6',
    warmup: 2,
    iterations: 1,
    run: () => {
      for (let i = 0; i < 1_000_000; i++) costSink = { i };
    },
  },
  { name: 'json-parse-1mb', warmup: 5, iterations: 5, run: () => (costSink = JSON.parse(oneMegabyteJson) as unknown) },
  {
    name: 'buffer-stream',
    warmup: 5,
    iterations: 5,
    run: async () => {
      const collected: Buffer[] = [];
      await pipeline(
        Readable.from(Array.from({ length: 512 }, (_, i) => Buffer.alloc(4096, i))),
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            done(null, Buffer.concat([chunk, chunk]));
          },
        }),
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            collected.push(chunk);
            done();
          },
        }),
      );
      costSink = collected;
    },
  },
];
export function keepCostSink(): unknown {
  return costSink;
}
