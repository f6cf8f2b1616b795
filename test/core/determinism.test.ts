/**
 * Fresh processes with the deterministic flags repeat their figures to the byte (and counts exactly),
 * cold and warm: V8's allocation counter with object-sized allocation buffers, and the JIT pinned.
 * bench/determinism.ts runs the same over every workload, more processes, and without the flags.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { deterministicFlags } from '../../src/index.ts';

const run = promisify(execFile);
const child = fileURLToPath(new URL('../../bench/determinism-child.ts', import.meta.url));

interface Figures {
  bytes: number;
  count: number;
}
async function measureInFreshProcess(workload: string, interval: number): Promise<{ cold: Figures; warm: Figures }> {
  const { stdout } = await run(process.execPath, [...deterministicFlags(), child, workload, String(interval)]);
  return JSON.parse(stdout) as { cold: Figures; warm: Figures };
}

describe('fresh processes with the deterministic flags repeat their figures exactly', () => {
  for (const [workload, interval] of [
    ['json-parse', 0],
    ['map', 1],
    ['stream-pipeline', 4096],
  ] as const) {
    it(`${workload} (sampling interval ${interval})`, async () => {
      const runs = [];
      for (let i = 0; i < 3; i++) runs.push(await measureInFreshProcess(workload, interval));
      for (const mode of ['cold', 'warm'] as const) {
        const bytes = runs.map((r) => r[mode].bytes);
        const counts = runs.map((r) => r[mode].count);
        expect(new Set(bytes).size, `${mode} bytes ${bytes.join(', ')}`).toBe(1);
        expect(new Set(counts).size, `${mode} counts ${counts.join(', ')}`).toBe(1);
      }
    });
  }
});
