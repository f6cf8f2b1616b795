import { describe, expect, it } from 'vitest';
import { Session, determinismStatus, environmentFingerprint, span } from '../../src/index.ts';

/** Kept outside the functions so the JIT cannot remove the allocations. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- written, never read, on purpose
let sink: unknown;

function makeObjects(): void {
  const out = new Array(100_000);
  for (let i = 0; i < out.length; i++) out[i] = { a: i, b: i };
  sink = out;
}

describe('accuracy against analytic sizes (warm)', () => {
  it('1e5 two-field objects: exactly their analytic size with the counter (within 0.1% without it)', () => {
    const record = new Session({ samplingInterval: 0 }).measure('objects', makeObjects, { iterations: 5, warmup: 30 });
    // Node builds V8 without pointer compression: map + properties + elements + 2 in-object fields = 40 B;
    // interpreted object literals carry a 16-byte allocation memento (V8's allocation-site tracking),
    // optimised ones do not. The array: a 32-byte JSArray and a FixedArray of 16 + 8 per element.
    const perObject = determinismStatus().pinnedTiers ? 56 : 40;
    const analytic = 100_000 * perObject + 32 + 16 + 100_000 * 8;
    if (record.bytesMethod === 'counter' && determinismStatus().pinnedTiers) expect(record.heapBytes).toBe(analytic);
    else expect(Math.abs(record.heapBytes - analytic) / analytic).toBeLessThan(0.001);
    expect(record.externalBytes).toBe(0);
  });

  it('ArrayBuffers of mixed sizes: external bytes exact', () => {
    const sizes = [128, 4096, 65_536, 1 << 20, 3000, 777_777];
    const record = new Session().measure('buffers', () => {
      sink = sizes.map((size) => new ArrayBuffer(size));
    });
    expect(record.externalBytes).toBe(sizes.reduce((a, b) => a + b, 0));
  });

  it('Buffer.alloc above the pool size: exact external bytes', () => {
    const record = new Session().measure('buffer-alloc', () => {
      sink = [Buffer.alloc(10_000), Buffer.alloc(200_000)];
    });
    expect(record.externalBytes).toBe(210_000);
  });

  it('counts scale with the work: twice the objects, twice the allocation events', () => {
    const session = new Session();
    const count = (n: number): number =>
      session.measure(
        `n${n}`,
        () => {
          const out: { i: number }[] = [];
          for (let i = 0; i < n; i++) out.push({ i });
          sink = out;
        },
        { iterations: 3, warmup: 30 },
      ).count;
    const small = count(20_000);
    const large = count(40_000);
    expect(small).toBeGreaterThan(1000);
    expect(large / small).toBeGreaterThan(1.9);
    expect(large / small).toBeLessThan(2.1);
  });

  it('names the function that allocated most as the top site', () => {
    function allocateManyStrings(): string[] {
      const out: string[] = [];
      for (let i = 0; i < 20_000; i++) out.push(`value-${i}-${'y'.repeat(i % 30)}`);
      return out;
    }
    const record = new Session().measure('strings', () => {
      sink = allocateManyStrings();
    });
    const top = record.sites[0];
    expect(top?.functionName).toBe('allocateManyStrings');
    expect(top?.location).toMatch(/accuracy\.test\.ts:\d+:\d+$/);
    // Builtins (String.prototype.repeat, the template's string concatenation) count for their caller.
    expect(top?.share).toBeGreaterThan(0.9);
    expect(record.sites.some((site) => site.functionName === 'repeat' || site.location.startsWith('node:'))).toBe(false);
    const shares = record.sites.reduce((sum, site) => sum + site.share, 0);
    expect(shares).toBeLessThanOrEqual(1.000001);
  });

  it('keeps a call-tree profile of the phase, in the format Chrome DevTools loads', () => {
    function allocateRows(): unknown[] {
      const out: unknown[] = [];
      for (let i = 0; i < 5_000; i++) out.push({ row: i, label: `row-${i}` });
      return out;
    }
    const session = new Session();
    const record = session.measure(
      'rows',
      () => {
        sink = allocateRows();
      },
      { iterations: 2 },
    );
    const profile = session.profile('rows');
    expect(profile).not.toBeNull();
    const nodes: NonNullable<typeof profile>['head'][] = [];
    const walk = (node: NonNullable<typeof profile>['head']): void => {
      nodes.push(node);
      node.children.forEach(walk);
    };
    walk(profile!.head);
    const total = nodes.reduce((sum, node) => sum + node.selfSize, 0);
    // The tree holds the same samples as the sites (which are per iteration).
    const sitesTotal = record.sites.reduce((sum, site) => sum + site.bytes, 0) * record.iterations;
    expect(Math.abs(total - sitesTotal)).toBeLessThanOrEqual(record.sites.length * record.iterations);
    expect(nodes.some((node) => node.callFrame.functionName === 'allocateRows' && node.selfSize > 0)).toBe(true);
    expect(new Set(nodes.map((node) => node.id)).size).toBe(nodes.length);
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
    const off = new Session({ samplingInterval: 0 });
    off.measure('none', () => undefined);
    expect(off.profile('none')).toBeNull();
    expect(() => off.profile('missing')).toThrow(/no phase "missing" was recorded/);
  });

  it('peakBytes of measure() covers the whole loop, as documented', () => {
    const work = (): void => {
      sink = new ArrayBuffer(1 << 20); // 1 MiB of external memory, garbage by the next iteration
    };
    const peakOf = (iterations: number): number =>
      new Session({ samplingInterval: 0 }).measure(`peak${iterations}`, work, { iterations, warmup: 3 }).peakBytes;
    expect(peakOf(1)).toBeGreaterThanOrEqual(1 << 20);
    // No GC frees external memory that fast: garbage of earlier iterations counts.
    expect(peakOf(5)).toBeGreaterThanOrEqual(5 << 20);
  });

  it('peakBytes sees a large transient allocation that is garbage by the end', () => {
    const record = new Session({ samplingInterval: 0 }).measure('transient', () => {
      const big = new ArrayBuffer(8 << 20);
      sink = big.byteLength;
    });
    expect(record.peakBytes).toBeGreaterThanOrEqual(8 << 20);
  });
});

describe('counting without sites (interval 1, sites: false)', () => {
  function garbage(n: number): () => void {
    return () => {
      let last: { i: number } | null = null;
      for (let i = 0; i < n; i++) last = { i };
      sink = last;
    };
  }

  it('gives the count and bytes that counting with sites gives, and keeps no sites or profile', () => {
    // 300k short-lived objects: scavenges run inside the phase and free most samples before it ends.
    for (const work of [makeObjects, garbage(300_000)]) {
      const withSites = new Session({ samplingInterval: 1 });
      const countOnly = new Session({ samplingInterval: 1, sites: false });
      const full = withSites.measure('work', work, { iterations: 3, warmup: 30 });
      const counted = countOnly.measure('work', work, { iterations: 3, warmup: 30 });
      expect(counted.countMethod).toBe('exact');
      expect(counted.count).toBe(full.count);
      // Bytes agree within a few of the tracker's own objects (counting with sites reads more inside its window).
      expect(Math.abs(counted.heapBytes - full.heapBytes)).toBeLessThanOrEqual(128);
      expect(counted.count).toBeGreaterThanOrEqual(100_000);
      expect(counted.sites).toEqual([]);
      expect(countOnly.profile('work')).toBeNull();
      expect(full.sites.length).toBeGreaterThan(0);
    }
  });

  it("keeps exact counts once the tracker's own code is optimised (its markers are never inlined)", () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const session = new Session({ samplingInterval: 1, sites: false });
      session.run(() => {
        for (let i = 0; i < 3000; i++) span(`p${i % 3}`, () => (sink = [{ i }, { i }]));
      });
      for (const name of ['p0', 'p1', 'p2']) {
        const record = session.phase(name);
        expect(record.countMethod).toBe('exact');
        expect(record.iterations).toBe(1000);
      }
      const pair = (): void => void (sink = [{ a: 1 }, { a: 2 }]);
      const counted = session.measure('pair', pair, { iterations: 3, warmup: 30 });
      const full = new Session({ samplingInterval: 1 }).measure('pair', pair, { iterations: 3, warmup: 30 });
      expect(counted.count).toBe(full.count);
      expect(counted.count).toBeGreaterThanOrEqual(3);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((m) => m.includes('alloc-tracker'))).toEqual([]);
  });

  it('refuses sites: false where nothing else would be sampled', () => {
    expect(() => new Session({ samplingInterval: 4096, sites: false })).toThrow(/sites: false leaves nothing to sample/);
    expect(() => new Session({ sites: 'no' as unknown as boolean })).toThrow(/sites must be true or false/);
  });
});

describe('determinism and environment', () => {
  it('says which flags are missing, and that --predictable implies --single-threaded', () => {
    expect(determinismStatus([]).missing).toEqual(['--single-threaded', '--no-inline-new', '--no-allocation-site-pretenuring']);
    expect(determinismStatus([]).warning).toMatch(/may vary run to run.*--single-threaded --no-inline-new/);
    expect(determinismStatus(['--single-threaded', '--no-inline-new', '--no-allocation-site-pretenuring']).deterministic).toBe(true);
    expect(determinismStatus(['--single-threaded', '--no-inline-new', '--no-allocation-site-pretenuring']).pinnedTiers).toBe(false);
    expect(determinismStatus(['--predictable', '--no_inline_new', '--no_allocation_site_pretenuring']).deterministic).toBe(true);
    expect(determinismStatus(['--single-threaded']).missing).toEqual(['--no-inline-new', '--no-allocation-site-pretenuring']);
    expect(
      determinismStatus([
        '--single-threaded',
        '--no-inline-new',
        '--no-allocation-site-pretenuring',
        '--max-opt=0',
        '--no-lazy-feedback-allocation',
      ]).pinnedTiers,
    ).toBe(true);
    expect(determinismStatus(['--expose-gc']).deterministic).toBe(false);
  });

  it('interval > 1 gives allocation sites but no count; interval 0 gives neither', () => {
    function allocateSparsely(): unknown[] {
      const out: unknown[] = [];
      for (let i = 0; i < 50_000; i++) out.push({ i });
      return out;
    }
    const sparse = new Session({ samplingInterval: 4096 }).measure('sparse', () => {
      sink = allocateSparsely();
    });
    expect(sparse.countMethod).toBe('off');
    expect(sparse.count).toBe(0);
    expect(sparse.sites[0]?.functionName).toBe('allocateSparsely');
    const off = new Session({ samplingInterval: 0 }).measure('off', () => {
      sink = allocateSparsely();
    });
    expect(off.sites).toEqual([]);
    expect(off.bytes).toBeGreaterThan(50_000 * 16);
  });

  it('marks records and the report with the process flags', () => {
    const session = new Session({ samplingInterval: 0 });
    const record = session.measure('flags', () => undefined);
    const expected = ['--single-threaded', '--no-inline-new', '--no-allocation-site-pretenuring'].every((flag) =>
      process.execArgv.includes(flag),
    );
    expect(record.deterministic).toBe(expected);
    // The counter is exact with object-sized buffers alone; determinism needs every flag.
    expect(record.bytesMethod).toBe(process.execArgv.includes('--no-inline-new') ? 'counter' : 'heap-delta');
    expect(session.report().toJSON().determinism.deterministic).toBe(expected);
  });

  it('fingerprints node major, platform and arch into the key, and tags other flag sets apart', () => {
    const base = `node${process.versions.node.split('.')[0]}-${process.platform}-${process.arch}`;
    const deterministic = ['--single-threaded', '--no-inline-new', '--no-allocation-site-pretenuring'];
    expect(environmentFingerprint(deterministic).key).toBe(base);
    expect(environmentFingerprint([...deterministic].reverse().concat('--stack-size=2000')).key).toBe(base);
    expect(environmentFingerprint([...deterministic, '--max-opt=0', '--no-lazy-feedback-allocation']).key).toBe(`${base}+pinned`);
    expect(environmentFingerprint([]).key).toBe(`${base}+threads+inline-new+pretenuring`);
    expect(environmentFingerprint([...deterministic, '--max-semi-space-size=64']).key).toBe(`${base}+max-semi-space-size=64`);
    // A debugger can attach: figures under --inspect are keyed apart, whatever the port.
    expect(environmentFingerprint([...deterministic, '--inspect-brk=127.0.0.1:9230', '--inspect']).key).toBe(`${base}+inspect`);
    const fingerprint = environmentFingerprint();
    expect(fingerprint.v8Version).toBe(process.versions.v8);
    expect([...fingerprint.flags].sort()).toEqual(fingerprint.flags);
  });
});
