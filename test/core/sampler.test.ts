import { describe, expect, it } from 'vitest';
import { HeapSampler, type ProfileNode } from '../../src/core/sampler.ts';

describe('a stopped profile', () => {
  it('finds the samples of chosen nodes exactly as a full parse of every sample does', () => {
    const sampler = new HeapSampler();
    expect(sampler.start(1)).toBe(true);
    const kept: unknown[] = [];
    for (let i = 0; i < 5_000; i++) kept.push({ i }, [i, i + 1], `s${i}`);
    const profile = sampler.stop()!;
    const all: { size: number; nodeId: number; ordinal: number }[] = [];
    profile.forEachSample((nodeId, size, ordinal) => all.push({ size, nodeId, ordinal }));
    expect(all.length).toBeGreaterThan(15_000);

    const nodeIds: number[] = [];
    const visit = (node: ProfileNode): void => {
      nodeIds.push(node.id);
      node.children.forEach(visit);
    };
    visit(profile.head);
    const byOrdinal = (a: { ordinal: number }, b: { ordinal: number }) => a.ordinal - b.ordinal;
    // Every node, one of them, some of them, none.
    for (const chosen of [nodeIds, [all[0]!.nodeId], nodeIds.filter((_, i) => i % 3 === 0), []]) {
      const set = new Set(chosen);
      expect([...profile.samplesOf(set)].sort(byOrdinal)).toEqual(all.filter((s) => set.has(s.nodeId)).sort(byOrdinal));
    }
    expect(kept.length).toBe(15_000);
  });
});
