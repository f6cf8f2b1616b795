/**
 * Issue 11's acceptance, in real Vitest runs of the packed package (Vitest 5 and 4.1, whose matcher
 * context differs for `.not`): a TypeScript project with five leaks (a closure pushed to a module-level
 * array, an event listener never removed, a Map cache without eviction, a timer capturing a large
 * buffer, a retained Buffer) and four non-leaks (a warmed cache, a large transient allocation, a
 * returned value the test drops, a WeakMap-keyed cache). Every leak keeps at least 16 KiB per call and
 * must fail both `toGrowLessThan('1 KiB')` (measure(), repeated) and `toRetainLessThan('4 KiB')` (one
 * span), with a message naming the leak's .ts file and the line of the allocating function,
 * source-mapped; every non-leak must pass both. `.not` is checked both ways.
 * V8's heap profile knows the function that allocated, not the statement: the line named is the one the
 * allocating function starts on.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import type { RunReport } from '../../src/report/baselines.ts';
import { describeRun, FixtureProject, type RunResult } from './helpers/fixture.ts';

interface Fixture {
  /** Source file in the project. */
  file: string;
  /** The function that allocates what stays (or what must not stay). */
  fn: string;
  source: string;
  /** The measured call in the project's test, with `i` counting calls. */
  call: string;
}

// Types and blank lines before each function: the transformed file's lines are not the source's, so a
// line that matches proves the site went through the source map.
const LEAKS: Record<string, Fixture> = {
  'closure pushed to a module-level array': {
    file: 'src/leaks/closure.ts',
    fn: 'registerHandler',
    source: `/** A handler per call, never dropped. */
type Handler = () => number;

const handlers: Handler[] = [];

export function registerHandler(i: number): void {
  const rows: number[] = new Array<number>(2048).fill(i);
  handlers.push(() => rows.length);
}
`,
    call: 'registerHandler(i++)',
  },
  'event listener never removed': {
    file: 'src/leaks/listener.ts',
    fn: 'subscribe',
    source: `import { EventEmitter } from 'node:events';

interface State {
  id: number;
  history: number[];
}

const bus = new EventEmitter();
bus.setMaxListeners(0);

export function subscribe(id: number): void {
  const state: State = { id, history: new Array<number>(2048).fill(id) };
  bus.on('message', () => state.history.length);
}
`,
    call: 'subscribe(i++)',
  },
  'Map cache without eviction': {
    file: 'src/leaks/map-cache.ts',
    fn: 'lookup',
    source: `type Key = string;

const cache = new Map<Key, number[]>();

export function lookup(key: Key): number[] {
  let hit = cache.get(key);
  if (!hit) {
    hit = new Array<number>(2048).fill(key.length);
    cache.set(key, hit);
  }
  return hit;
}
`,
    call: 'lookup(`user-${i++}`)',
  },
  'timer capturing a large buffer': {
    file: 'src/leaks/timer.ts',
    fn: 'scheduleRetry',
    source: `/** An hour: longer than any test. */
const RETRY_MS: number = 3_600_000;

export function scheduleRetry(attempt: number): void {
  const payload = Buffer.alloc(16 * 1024, attempt);
  // unref: the worker may exit; until it fires, the timer still holds its closure and the buffer.
  setTimeout(() => payload.length, RETRY_MS).unref();
}
`,
    call: 'scheduleRetry(i++)',
  },
  'retained Buffer': {
    file: 'src/leaks/buffer.ts',
    fn: 'frame',
    source: `interface Sent {
  length: number;
}

const sent: Buffer[] = [];

export function frame(sequence: number): Sent {
  const bytes = Buffer.alloc(16 * 1024, sequence);
  sent.push(bytes);
  return { length: bytes.length };
}
`,
    call: 'frame(i++)',
  },
};

const NON_LEAKS: Record<string, Fixture> = {
  'a warmed cache': {
    file: 'src/ok/warm-cache.ts',
    fn: 'squareOf',
    source: `type Table = Map<number, number[]>;

let table: Table | null = null;

function build(): Table {
  const out: Table = new Map();
  for (let n = 0; n < 256; n++) out.set(n, [n * n]);
  return out;
}

export function squareOf(n: number): number {
  table ??= build();
  return table.get(n % 256)![0]!;
}
`,
    call: 'squareOf(i++)',
  },
  'a large transient allocation': {
    file: 'src/ok/transient.ts',
    fn: 'checksum',
    source: `type Sum = number;

export function checksum(seed: number): Sum {
  const scratch: number[] = new Array<number>(1 << 20).fill(seed);
  let sum: Sum = 0;
  for (let k = 0; k < scratch.length; k += 4096) sum += scratch[k]!;
  return sum;
}
`,
    call: 'checksum(i++)',
  },
  'a returned value the test drops': {
    file: 'src/ok/render.ts',
    fn: 'render',
    source: `type Lines = string[];

export function render(rows: number): Lines {
  const lines: Lines = [];
  for (let r = 0; r < rows; r++) lines.push(\`row \${r}\`);
  return lines;
}
`,
    call: 'render(500 + (i++ % 2))',
  },
  'a WeakMap-keyed cache': {
    file: 'src/ok/weak-cache.ts',
    fn: 'statsFor',
    source: `interface Request {
  id: number;
}

const derived = new WeakMap<Request, number[]>();

export function statsFor(request: Request): number[] {
  let stats = derived.get(request);
  if (!stats) {
    stats = new Array<number>(2048).fill(request.id);
    derived.set(request, stats);
  }
  return stats;
}
`,
    call: 'statsFor({ id: i++ })',
  },
};

/** What every leak keeps per call: 2048 elements of 8 B, or a 16 KiB Buffer. */
const LEAK_BYTES = 16 * 1024;
/** The leak verdict: growth per iteration; a leak grows by 16x this, a non-leak by nothing. */
const GROW = 1024;
/**
 * What a call may leave behind, per iteration: a quarter of one leaking call. A measured loop of a
 * non-leak keeps one-offs of V8's JIT under it, feedback and optimised-code data made while it ran (up
 * to 963 B per iteration of 8 here, depending on what ran before; 0 B for all four with pinTiers).
 */
const RETAIN = 4096;

const importOf = (f: Fixture): string => `import { ${f.fn} } from '../${f.file}';`;

/**
 * One test per leak and matcher (each must fail on its own), one per non-leak (both matchers must pass),
 * a span whose result is dropped, and `.not` both ways: passing on a leak, then failing on a non-leak.
 */
const TEST = `import { describe, expect, test } from 'vitest';
import { measure, phase, span } from 'alloc-tracker';
${[...Object.values(LEAKS), ...Object.values(NON_LEAKS)].map(importOf).join('\n')}

const options = { iterations: 8, warmup: 2, retained: true };

describe('leak', () => {
${Object.entries(LEAKS)
  .map(
    ([name, f]) => `  test(${JSON.stringify(`${name} grows`)}, () => {
    let i = 0;
    expect(measure(${JSON.stringify(name)}, () => ${f.call}, options)).toGrowLessThan('${GROW / 1024} KiB');
  });
  test(${JSON.stringify(`${name} retains`)}, () => {
    let i = 1000;
    span(${JSON.stringify(`${name} once`)}, () => ${f.call});
    expect(phase(${JSON.stringify(`${name} once`)})).toRetainLessThan('${RETAIN / 1024} KiB');
  });`,
  )
  .join('\n')}
});

describe('no leak', () => {
${Object.entries(NON_LEAKS)
  .map(
    ([name, f]) => `  test(${JSON.stringify(name)}, () => {
    let i = 0;
    const record = measure(${JSON.stringify(name)}, () => ${f.call}, options);
    expect(record).toGrowLessThan('${GROW / 1024} KiB');
    expect(record).toRetainLessThan('${RETAIN / 1024} KiB');
  });`,
  )
  .join('\n')}
  test('a span whose result the test drops', () => {
    span('dropped once', () => render(500));
    expect(phase('dropped once')).toRetainLessThan('${RETAIN / 1024} KiB');
  });
});

test('.not passes on a leak and fails on a non-leak', () => {
  let i = 5000;
  expect(measure('leak again', () => ${LEAKS['retained Buffer']!.call}, options)).not.toGrowLessThan('${GROW / 1024} KiB');
  expect(measure('no leak again', () => ${NON_LEAKS['a WeakMap-keyed cache']!.call}, options)).not.toGrowLessThan('${GROW / 1024} KiB');
});
`;

const CONFIG = `import { defineConfig } from 'vitest/config';
import { allocTracker } from 'alloc-tracker/vitest';

export default defineConfig({
  plugins: [allocTracker({ outputFile: 'alloc-report.json' })],
  test: { include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
`;

/** Vitest's JSON reporter, the part read here. */
interface VitestJson {
  testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

/** The 1-based line of `function <fn>(` in a fixture's source. */
function lineOf(f: Fixture): number {
  const index = f.source.split('\n').findIndex((line) => line.includes(`function ${f.fn}(`));
  if (index < 0) throw new Error(`no function ${f.fn} in ${f.file}`);
  return index + 1;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.each(['v5', 'v4'] as const)('retention in a real Vitest run of the packed package (Vitest %s)', (vitest) => {
  let project: FixtureProject;
  let run: RunResult;
  let results: Map<string, { status: string; message: string }>;
  let report: RunReport;
  const row = (phase: string) => {
    const found = report.files.flatMap((f) => f.rows).find((r) => r.phase === phase);
    if (!found?.record) throw new Error(`no row with a record for phase "${phase}" in alloc-report.json`);
    return found.record;
  };

  beforeAll(async () => {
    const files: Record<string, string> = { 'vitest.config.ts': CONFIG, 'test/retention.test.ts': TEST };
    for (const f of [...Object.values(LEAKS), ...Object.values(NON_LEAKS)]) files[f.file] = f.source;
    project = await FixtureProject.create(`retention-${vitest}`, { vitest, files });
    run = project.run(['run', '--reporter=default', '--reporter=json', '--outputFile.json=results.json']);
    const json = project.readJson<VitestJson>('results.json');
    results = new Map(
      json.testResults
        .flatMap((file) => file.assertionResults)
        .map((r) => [r.fullName, { status: r.status, message: r.failureMessages.join('\n') }]),
    );
    report = project.readJson<RunReport>('alloc-report.json');
  });

  test('the run fails for the leaks and the failing .not, and for nothing else', () => {
    expect(run.status, describeRun(run)).toBe(1);
    const failed = [...results].filter(([, r]) => r.status === 'failed').map(([name]) => name);
    const expected = [
      ...Object.keys(LEAKS).flatMap((name) => [`leak ${name} grows`, `leak ${name} retains`]),
      '.not passes on a leak and fails on a non-leak',
    ];
    expect(failed.sort()).toEqual(expected.sort());
    expect(results.size).toBe(expected.length + Object.keys(NON_LEAKS).length + 1);
  });

  describe.each(Object.entries(LEAKS))('leak: %s', (name, f) => {
    // The top retained site is the leak's function, at its line in the .ts file (not "generated position").
    const site = (): RegExp =>
      new RegExp(
        `still allocated, by the site that allocated it:\\n\\s+[\\d.]+%\\s+[\\d.]+ [kM]?B\\s+${f.fn} \\(${escape(f.file)}:${lineOf(f)}:\\d+\\)\\n`,
      );

    test('fails toGrowLessThan, naming the allocating line; the report has its growth', () => {
      const result = results.get(`leak ${name} grows`)!;
      expect(result.status).toBe('failed');
      expect(result.message).toMatch(
        new RegExp(
          `expected phase "${escape(name)}" to grow by less than [^(]+\\(${GROW} B\\) per iteration, but what it leaves behind grew by`,
        ),
      );
      expect(result.message).toMatch(site());
      const record = row(name);
      expect(record.retainedProblem).toBeNull();
      expect(record.iterations).toBe(8);
      expect(record.growthBytesPerIteration).toBeGreaterThanOrEqual(LEAK_BYTES);
      expect(record.retainedBytes).toBeGreaterThanOrEqual(LEAK_BYTES);
    });

    test('fails toRetainLessThan after one call, naming the allocating line', () => {
      const result = results.get(`leak ${name} retains`)!;
      expect(result.status).toBe('failed');
      expect(result.message).toMatch(
        new RegExp(`expected phase "${escape(name)} once" to leave behind less than [^(]+\\(${RETAIN} B\\), but .* was still reachable`),
      );
      expect(result.message).toMatch(site());
      expect(row(`${name} once`).retainedBytes).toBeGreaterThanOrEqual(LEAK_BYTES);
    });
  });

  test.each(Object.keys(NON_LEAKS))('no leak: %s passes both matchers', (name) => {
    expect(results.get(`no leak ${name}`), describeRun(run)).toEqual({ status: 'passed', message: '' });
    const record = row(name);
    expect(record.retainedProblem).toBeNull();
    expect(record.growthBytesPerIteration).toBeLessThan(GROW);
    expect(record.retainedBytes).toBeLessThan(RETAIN);
  });

  test('a span result the test drops is not retained', () => {
    expect(results.get('no leak a span whose result the test drops')).toEqual({ status: 'passed', message: '' });
    // The dropped lines are ~20 KiB: had the span kept them, far more than this.
    expect(row('dropped once').retainedBytes).toBeLessThan(GROW);
  });

  test('.not: passes on a leak, and the failure on a non-leak says "not"', () => {
    const result = results.get('.not passes on a leak and fails on a non-leak')!;
    expect(result.status).toBe('failed');
    expect(result.message).toMatch(
      new RegExp(
        `expected phase "no leak again" not to grow by less than [^(]+\\(${GROW} B\\) per iteration, but .* grew by [^(]+\\(\\d+ B\\)`,
      ),
    );
    expect(result.message).not.toContain('phase "leak again"');
    expect(row('leak again').growthBytesPerIteration).toBeGreaterThanOrEqual(LEAK_BYTES);
  });
});
