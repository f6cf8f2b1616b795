import { describe, expect, it } from 'vitest';
import {
  fnv1a64,
  hashIntoBins,
  median,
  medianAbsoluteDeviation,
  meanAndSd,
  nameHash,
  packComponents,
  shareBins,
  splitOutliers,
} from '../src/packing/index.ts';
import type { Component, LayerGroup } from '../src/types.ts';

const MASK = (1n << 64n) - 1n;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function comp(id: string, size: number, stability: number, mtimeClamp = Infinity): Component {
  return { id, paths: [`/${id}`], size, stability, mtimeClamp };
}

/** mulberry32: a tiny seeded PRNG, so every random case is reproducible from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomComponents(random: () => number, n: number): Component[] {
  const stabilityKinds = [
    () => random(),
    () => [0, 0.368, 0.99][Math.floor(random() * 3)] as number, // few distinct values: ties and sd of tiers
    () => 0.5, // all equal: sd 0
    () => (random() < 0.9 ? 0.99 : Math.exp(-7 * random())),
  ];
  const stability = stabilityKinds[Math.floor(random() * stabilityKinds.length)] as () => number;
  const sizeKinds = [
    () => Math.floor(Math.exp(random() * 25)), // 1 B .. ~70 GB, log-uniform
    () => 4096, // identical sizes: MAD 0
    () => (random() < 0.6 ? 0 : Math.floor(random() * 1e6)), // mostly empty: median 0
    () => (random() < 0.95 ? 1000 + Math.floor(random() * 100) : 1e10), // a few huge outliers
  ];
  const size = sizeKinds[Math.floor(random() * sizeKinds.length)] as () => number;
  const out: Component[] = [];
  for (let i = 0; i < n; i++) {
    const repo = ['dpkg', 'xattr', 'bigfiles', 'apk'][Math.floor(random() * 4)] as string;
    out.push(comp(`${repo}/pkg-${i}-${Math.floor(random() * 1e6).toString(36)}`, size(), stability(), Math.floor(random() * 1e9)));
  }
  return out;
}

/** The invariants the specification names, plus the group fields' definitions. */
function checkInvariants(input: Component[], groups: LayerGroup[], maxLayers: number): void {
  expect(groups.length).toBeLessThanOrEqual(maxLayers);
  expect(groups.length).toBe(Math.min(input.length, maxLayers)); // bins are filled, none wasted
  const placed = groups.flatMap((g) => g.components.map((c) => c.id)).sort();
  expect(placed).toEqual(input.map((c) => c.id).sort()); // each exactly once
  let total = 0;
  for (const [i, g] of groups.entries()) {
    expect(g.components.length).toBeGreaterThan(0);
    const ids = g.components.map((c) => c.id);
    expect(g.name).toBe([...ids].sort().join(' '));
    expect(g.size).toBe(g.components.reduce((s, c) => s + c.size, 0));
    expect(g.stability).toBeCloseTo(
      g.components.reduce((p, c) => p * c.stability, 1),
      12,
    );
    expect(g.mtimeClamp).toBe(Math.max(...g.components.map((c) => c.mtimeClamp)));
    const next = groups[i + 1];
    if (next !== undefined) expect(g.stability).toBeGreaterThanOrEqual(next.stability);
    total += g.size;
  }
  expect(total).toBe(input.reduce((s, c) => s + c.size, 0));
}

describe('FNV-1a-64', () => {
  it('matches the published FNV-1a-64 test vectors', () => {
    // From the FNV reference test suite (Noll): "" is the offset basis itself.
    expect(fnv1a64(utf8(''))).toBe(0xcbf29ce484222325n);
    expect(fnv1a64(utf8('a'))).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64(utf8('foobar'))).toBe(0x85944171f73967e8n);
  });

  it('hashes a name as its UTF-8 bytes followed by one 0xff byte', () => {
    // One round by hand: basis ^ 0xff flips the low byte 0x25 -> 0xda; the prime is 2^40 + 0x1b3,
    // so the product is (x << 40) + x * 0x1b3, mod 2^64.
    const x = 0xcbf29ce484222325n ^ 0xffn;
    expect(x).toBe(0xcbf29ce4842223dan);
    const expected = ((x << 40n) + x * 0x1b3n) & MASK;
    expect(expected).toBe(0xaf64724c8602eb6en);
    expect(nameHash('')).toBe(expected);
    expect(nameHash('a')).toBe(0x089bc907b544c769n);
    expect(nameHash('a')).toBe(fnv1a64(Uint8Array.of(0x61, 0xff)));
    // Non-ASCII is hashed as UTF-8, not UTF-16: "é" is the two bytes c3 a9.
    expect(nameHash('é')).toBe(fnv1a64(Uint8Array.of(0xc3, 0xa9, 0xff)));
  });
});

describe('statistics', () => {
  it('median averages the two middle values; MAD and population sd', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(medianAbsoluteDeviation([1, 2, 3, 4, 5, 1000], 3.5)).toBe(1.5);
    // Population sd of 2,4,4,4,5,5,7,9 is exactly 2 (a sample sd would be ~2.14).
    expect(meanAndSd([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, sd: 2 });
  });
});

describe('packComponents', () => {
  it('rejects a budget below 1 or not an integer', () => {
    expect(() => packComponents([], 0)).toThrow(RangeError);
    expect(() => packComponents([], -3)).toThrow(/maxLayers must be an integer >= 1, got -3/);
    expect(() => packComponents([], 2.5)).toThrow(RangeError);
    expect(() => packComponents([], NaN)).toThrow(RangeError);
  });

  it('rejects duplicate ids and impossible sizes or stabilities', () => {
    expect(() => packComponents([comp('a/x', 1, 0.5), comp('a/x', 2, 0.5)], 4)).toThrow(/a\/x appears twice/);
    expect(() => packComponents([comp('a/x', -1, 0.5)], 4)).toThrow(/size/);
    expect(() => packComponents([comp('a/x', 1, 1.5)], 4)).toThrow(/stability/);
    expect(() => packComponents([comp('a/x', 1, NaN)], 4)).toThrow(/stability/);
  });

  it('emits a process warning above 500 layers', async () => {
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    const groups = packComponents([comp('a/x', 1, 0.5)], 501);
    expect(groups).toHaveLength(1);
    const warning = (await warned) as Error & { code?: string };
    expect(warning.code).toBe('OCI_CHUNK_MANY_LAYERS');
    expect(warning.message).toMatch(/501/);
  });

  it('gives each component its own layer when they fit, most stable first', () => {
    const input = [comp('b/two', 10, 0.2), comp('a/one', 20, 0.9), comp('c/three', 30, 0.2), comp('d/four', 0, 1)];
    const groups = packComponents(input, 4);
    // Equal stabilities (b and c) are ordered by name.
    expect(groups.map((g) => g.name)).toEqual(['d/four', 'a/one', 'b/two', 'c/three']);
    expect(groups.every((g) => g.components.length === 1)).toBe(true);
    expect(packComponents([], 3)).toEqual([]);
  });

  it('merges everything into one layer with a budget of 1', () => {
    const input = [comp('x/b', 5, 0.5, 100), comp('x/a', 7, 0.5, 300), comp('x/c', 1e9, 0.2, 200)];
    const [only, ...rest] = packComponents(input, 1);
    expect(rest).toEqual([]);
    expect(only?.name).toBe('x/a x/b x/c');
    expect(only?.size).toBe(1e9 + 12);
    expect(only?.stability).toBeCloseTo(0.05, 12);
    expect(only?.mtimeClamp).toBe(300);
  });

  it('holds the invariants on 200 random inputs, whatever the input order', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = prng(seed);
      const n = Math.floor(random() * 300);
      const maxLayers = 1 + Math.floor(random() * 80);
      const input = randomComponents(random, n);
      const groups = packComponents(input, maxLayers);
      checkInvariants(input, groups, maxLayers);
      // Same components in another order: identical layers (the output may not depend on order).
      const shuffled = [...input].sort(() => random() - 0.5);
      expect(packComponents(shuffled, maxLayers)).toEqual(groups);
    }
  });

  it('does not mutate its input', () => {
    const input = randomComponents(prng(7), 50);
    const copy = structuredClone(input);
    packComponents(input, 5);
    expect(input).toEqual(copy);
  });
});

describe('size outliers', () => {
  it('finds items at or above median + 1.5 MAD', () => {
    // sizes 1..5 and 1000: median 3.5, MAD 1.5, threshold 5.75.
    const items = [1, 2, 3, 4, 5, 1000].map((s, i) => comp(`p/${i}`, s, 0.5));
    const { outliers, pool } = splitOutliers(items, 4);
    expect(outliers.map((c) => c.size)).toEqual([1000]);
    expect(pool).toHaveLength(5);
  });

  it('uses the median as MAD when MAD is under 1% of the median', () => {
    // MAD here is 0, so without the rule 101 (>= 100 + 0) would be an outlier; with it the
    // threshold is 100 + 1.5 x 100 = 250.
    const items = [100, 100, 100, 100, 101, 249, 250].map((s, i) => comp(`p/${i}`, s, 0.5));
    expect(splitOutliers(items, 10).outliers.map((c) => c.size)).toEqual([250]);
  });

  it('caps outliers at floor(0.8 x (budget - 1)) and keeps the largest', () => {
    // 20 small items and 6 huge ones; budget 5 leaves room for floor(0.8 x 4) = 3 outlier layers.
    const small = Array.from({ length: 20 }, (_, i) => comp(`s/${String(i).padStart(2, '0')}`, 100 + i, 0.5));
    const huge = [6, 1, 5, 2, 4, 3].map((k) => comp(`h/${k}`, k * 1e9, 0.5));
    const { outliers, pool } = splitOutliers([...huge, ...small], 5);
    expect(outliers.map((c) => c.id)).toEqual(['h/6', 'h/5', 'h/4']);
    expect(pool.map((c) => c.id).filter((id) => id.startsWith('h/'))).toEqual(['h/1', 'h/2', 'h/3']);

    const groups = packComponents([...small, ...huge], 5);
    checkInvariants([...small, ...huge], groups, 5);
    for (const id of ['h/4', 'h/5', 'h/6']) expect(groups.map((g) => g.name)).toContain(id);
  });

  it('caps at floor(0.8 x budget) when every item is an outlier', () => {
    // Mostly empty components: median 0 and MAD 0 (not below 1% of 0), so the threshold is 0 and
    // every item qualifies. Nothing else remains, so the cap is floor(0.8 x 3) = 2: the largest,
    // then the smallest id among the equal sizes; the rest go back to the pool.
    const items = [0, 0, 0, 0, 5].map((s, i) => comp(`p/${i}`, s, 0.5));
    const { outliers, pool } = splitOutliers(items, 3);
    expect(outliers.map((c) => c.id)).toEqual(['p/4', 'p/0']);
    expect(pool.map((c) => c.id)).toEqual(['p/1', 'p/2', 'p/3']);
  });

  it('allows no outlier layer below a budget of 3', () => {
    // floor(0.8 x (budget - 1)) is 0 for budgets 1 and 2, so the huge item shares a layer.
    const items = [comp('a/1', 1, 0.5), comp('a/2', 2, 0.5), comp('a/3', 1e12, 0.5)];
    expect(splitOutliers(items, 1).outliers).toEqual([]);
    expect(splitOutliers(items, 2).outliers).toEqual([]);
    expect(splitOutliers(items, 3).outliers.map((c) => c.id)).toEqual(['a/3']);
  });
});

describe('stability tiers and bins', () => {
  it('shares bins by count, at least one per tier, the last tier taking the remainder', () => {
    expect(shareBins([20, 20, 20], 6)).toEqual([2, 2, 2]);
    expect(shareBins([1, 1, 100], 3)).toEqual([1, 1, 1]); // the "at least one" rule
    expect(shareBins([10, 30], 8)).toEqual([2, 6]);
    // round(4 x 50/101) = 2 twice would leave the last tier nothing: one bin is taken back.
    expect(shareBins([50, 50, 1], 4)).toEqual([1, 2, 1]);
  });

  it('never mixes tiers in one layer', () => {
    // mean 0.5, population sd 0.4: 0.99 is high (>= 0.9), 0.01 low (<= 0.1), 0.5 mid.
    const input = [0.99, 0.5, 0.01].flatMap((s, t) => Array.from({ length: 20 }, (_, i) => comp(`t${t}/c${i}`, 1000, s)));
    const groups = packComponents(input, 6);
    checkInvariants(input, groups, 6);
    for (const g of groups) expect(new Set(g.components.map((c) => c.stability)).size).toBe(1);
    // Two bins each, most stable tier first.
    expect(groups.map((g) => g.components[0]?.stability)).toEqual([0.99, 0.99, 0.5, 0.5, 0.01, 0.01]);
  });

  it('hashes everything together when there are fewer bins than tiers', () => {
    const input = [0.99, 0.5, 0.01].flatMap((s, t) => Array.from({ length: 5 }, (_, i) => comp(`t${t}/c${i}`, 1000, s)));
    const groups = packComponents(input, 2);
    checkInvariants(input, groups, 2);
    // With one shared hash space some layer must hold more than one stability value.
    expect(groups.some((g) => new Set(g.components.map((c) => c.stability)).size > 1)).toBe(true);
  });

  it('places by hash and lets an empty bin take the largest item of a crowded bin', () => {
    // Three ids that all hash to bin 0 of 2, found by search so the test does not hide a constant.
    const ids: string[] = [];
    for (let i = 0; ids.length < 3; i++) if (nameHash(`pkg/${i}`) % 2n === 0n) ids.push(`pkg/${i}`);
    const [a, b, c] = ids as [string, string, string];
    const bins = hashIntoBins([comp(a, 5, 0.5), comp(b, 9, 0.5), comp(c, 7, 0.5)], 2);
    expect(bins.map((bin) => bin.map((x) => x.id))).toEqual([[a, c], [b]]);
  });

  it('fills every bin when a tier has at least as many items as bins', () => {
    const random = prng(99);
    for (let k = 1; k <= 40; k++) {
      const tier = randomComponents(random, k + Math.floor(random() * 50));
      expect(hashIntoBins(tier, k)).toHaveLength(k);
    }
  });

  it('keeps memberships when one unrelated component is added', () => {
    // One tier (equal stabilities), equal sizes (no outliers), 200 components in 8 bins: adding a
    // component changes no bin count, so every other component keeps its companions.
    const before = Array.from({ length: 200 }, (_, i) => comp(`dpkg/package-${i}`, 1000, 0.99));
    const added = comp('dpkg/newcomer', 1000, 0.99);
    const groupsBefore = packComponents(before, 8);
    const groupsAfter = packComponents([...before, added], 8);
    const withoutNew = groupsAfter.map((g) => g.components.filter((c) => c.id !== added.id).map((c) => c.id));
    expect(withoutNew.sort()).toEqual(groupsBefore.map((g) => g.components.map((c) => c.id)).sort());
    // And the newcomer went exactly where its hash says (all 8 bins were non-empty before).
    const home = groupsAfter.find((g) => g.components.some((c) => c.id === added.id));
    const expectedBin = Number(nameHash(added.id) % 8n);
    const binOf = (id: string): number => Number(nameHash(id) % 8n);
    expect(home?.components.filter((c) => c.id !== added.id).every((c) => binOf(c.id) === expectedBin)).toBe(true);
  });
});
