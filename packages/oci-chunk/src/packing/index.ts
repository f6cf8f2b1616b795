/**
 * Phase 3 of the re-chunker: group components into at most `maxLayers` layers ("statistical
 * partitioning").
 *
 * 1. No more components than the budget: one layer each.
 * 2. Size outliers (size >= median + 1.5 MAD) get their own layers, at most
 *    floor(0.8 x (budget - 1)) of them (floor(0.8 x budget) when nothing else remains); the largest
 *    keep their layers, the rest return to the pool.
 * 3. The pool is split into stability tiers (high >= mean + sd, low <= mean - sd, mid between) that
 *    share the remaining bins by component count; within a tier a component's bin is the FNV-1a-64
 *    hash of its id modulo the tier's bins, so membership survives unrelated changes with no stored
 *    state. Empty bins take the largest item from a bin holding several.
 * 4. Layers are ordered most stable first.
 */
import type { Component, LayerGroup } from '../types.ts';
import { compareCodePoints } from '../components/order.ts';
import { nameHash } from './fnv.ts';
import { meanAndSd, median, medianAbsoluteDeviation } from './stats.ts';

export { fnv1a64, nameHash } from './fnv.ts';
export { median, medianAbsoluteDeviation, meanAndSd } from './stats.ts';

export const DEFAULT_MAX_LAYERS = 64;
/** Above this many layers a warning is emitted (`process.emitWarning`, code OCI_CHUNK_MANY_LAYERS). */
export const MAX_LAYERS_WARNING_THRESHOLD = 500;
/** Outliers may take at most this share of the bins. */
const OUTLIER_SHARE = 0.8;

/**
 * Groups `components` into at most `maxLayers` non-empty layers, each component exactly once, most
 * stable first (ties by name). The result depends only on the components' ids, sizes and
 * stabilities, not on their order in the input.
 *
 * Throws a RangeError when `maxLayers` is not an integer >= 1, and for a component with a duplicate
 * id, a size that is not a finite number >= 0, or a stability outside 0..1.
 */
export function packComponents(components: Component[], maxLayers: number): LayerGroup[] {
  if (!Number.isInteger(maxLayers) || maxLayers < 1) {
    throw new RangeError(`maxLayers must be an integer >= 1, got ${maxLayers}`);
  }
  if (maxLayers > MAX_LAYERS_WARNING_THRESHOLD) {
    process.emitWarning(
      `maxLayers ${maxLayers} is above ${MAX_LAYERS_WARNING_THRESHOLD}; container runtimes and registries may reject images with that many layers`,
      { code: 'OCI_CHUNK_MANY_LAYERS' },
    );
  }
  const items = validated(components);
  if (items.length <= maxLayers) return ordered(items.map((c) => makeGroup([c])));

  const { outliers, pool } = splitOutliers(items, maxLayers);
  const bins = maxLayers - outliers.length;
  const groups = outliers.map((c) => makeGroup([c]));
  if (pool.length <= bins) {
    for (const c of pool) groups.push(makeGroup([c]));
  } else {
    for (const members of partitionByStability(pool, bins)) groups.push(makeGroup(members));
  }
  return ordered(groups);
}

function validated(components: readonly Component[]): Component[] {
  const seen = new Set<string>();
  for (const c of components) {
    if (seen.has(c.id)) throw new RangeError(`component ${c.id} appears twice`);
    seen.add(c.id);
    if (!(c.size >= 0) || !Number.isFinite(c.size)) {
      throw new RangeError(`component ${c.id}: size must be a finite number >= 0, got ${c.size}`);
    }
    if (!(c.stability >= 0 && c.stability <= 1)) {
      throw new RangeError(`component ${c.id}: stability must be within 0..1, got ${c.stability}`);
    }
  }
  return [...components].sort(byId);
}

function byId(a: Component, b: Component): number {
  return compareCodePoints(a.id, b.id);
}

/** Largest first; equal sizes by id so that capping is deterministic. */
function bySizeDescending(a: Component, b: Component): number {
  return b.size - a.size || byId(a, b);
}

/**
 * Size outliers of `items` (sorted by id) and the rest. MAD below 1% of the median (sizes nearly all
 * alike) is replaced by the median, so that near-uniform sizes do not turn ordinary items into
 * outliers. When more than half of the components are empty, median and MAD are 0 and every item
 * is a candidate; the cap then uses the whole budget (nothing else remains) and returns all but the
 * largest floor(0.8 x budget) to the pool, as the specification has it.
 */
export function splitOutliers(items: readonly Component[], maxLayers: number): { outliers: Component[]; pool: Component[] } {
  const sizes = items.map((c) => c.size);
  const med = median(sizes);
  let mad = medianAbsoluteDeviation(sizes, med);
  if (mad < 0.01 * med) mad = med;
  const threshold = med + 1.5 * mad;
  let outliers: Component[] = [];
  let pool: Component[] = [];
  for (const c of items) (c.size >= threshold ? outliers : pool).push(c);
  const cap = Math.floor(OUTLIER_SHARE * (pool.length > 0 ? maxLayers - 1 : maxLayers));
  if (outliers.length > cap) {
    outliers.sort(bySizeDescending);
    pool = pool.concat(outliers.slice(cap)).sort(byId);
    outliers = outliers.slice(0, cap);
  }
  return { outliers, pool };
}

/**
 * Splits `pool` (sorted by id, more items than `bins`) into at most `bins` non-empty groups by
 * stability tier and name hash.
 */
function partitionByStability(pool: readonly Component[], bins: number): Component[][] {
  const { mean, sd } = meanAndSd(pool.map((c) => c.stability));
  const high: Component[] = [];
  const mid: Component[] = [];
  const low: Component[] = [];
  for (const c of pool) {
    if (c.stability >= mean + sd) high.push(c);
    else if (c.stability <= mean - sd) low.push(c);
    else mid.push(c);
  }
  let tiers = [high, mid, low].filter((t) => t.length > 0);
  let shares: number[];
  if (bins < tiers.length) {
    tiers = [[...pool]];
    shares = [bins];
  } else {
    shares = shareBins(
      tiers.map((t) => t.length),
      bins,
    );
  }
  const groups: Component[][] = [];
  tiers.forEach((tier, i) => groups.push(...hashIntoBins(tier, shares[i] as number)));
  return groups;
}

/**
 * Bins per tier, proportional to the tiers' component counts: each but the last gets
 * max(1, round(bins x count / total)), the last the remainder. Should rounding leave the last tier
 * with none, bins are taken back one at a time from the tier holding the most (the earlier on a tie).
 * Requires bins >= counts.length.
 */
export function shareBins(counts: readonly number[], bins: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const shares = counts.slice(0, -1).map((n) => Math.max(1, Math.round((bins * n) / total)));
  let last = bins - shares.reduce((a, b) => a + b, 0);
  while (last < 1) {
    let j = 0;
    for (let i = 1; i < shares.length; i++) if ((shares[i] as number) > (shares[j] as number)) j = i;
    shares[j] = (shares[j] as number) - 1;
    last++;
  }
  shares.push(last);
  return shares;
}

/**
 * Places each component of `tier` (sorted by id) in bin nameHash(id) mod `count`, then fills empty
 * bins, lowest index first, with the largest item (ties: smallest id) found in any bin holding
 * several. Returns the non-empty bins.
 */
export function hashIntoBins(tier: readonly Component[], count: number): Component[][] {
  const bins: Component[][] = Array.from({ length: count }, () => []);
  const modulus = BigInt(count);
  for (const c of tier) (bins[Number(nameHash(c.id) % modulus)] as Component[]).push(c);
  for (const empty of bins) {
    if (empty.length > 0) continue;
    let donor: Component[] | undefined;
    let best: Component | undefined;
    for (const bin of bins) {
      if (bin.length < 2) continue;
      for (const c of bin) {
        if (best === undefined || bySizeDescending(c, best) < 0) {
          best = c;
          donor = bin;
        }
      }
    }
    if (donor === undefined || best === undefined) break;
    donor.splice(donor.indexOf(best), 1);
    empty.push(best);
  }
  return bins.filter((b) => b.length > 0);
}

function makeGroup(members: readonly Component[]): LayerGroup {
  const sorted = [...members].sort(byId);
  let stability = 1;
  let size = 0;
  let mtimeClamp = -Infinity;
  for (const c of sorted) {
    stability *= c.stability;
    size += c.size;
    mtimeClamp = Math.max(mtimeClamp, c.mtimeClamp);
  }
  return { name: sorted.map((c) => c.id).join(' '), components: sorted, stability, size, mtimeClamp };
}

/** Most stable first; equal stabilities by name (code point order). */
function ordered(groups: LayerGroup[]): LayerGroup[] {
  return groups.sort((a, b) => b.stability - a.stability || compareCodePoints(a.name, b.name));
}
