import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const child = fileURLToPath(new URL('../../bench/determinism-child.ts', import.meta.url));

interface Figures {
  bytes: number;
  count: number;
}
async function measureInFreshProcess(workload: string): Promise<{ cold: Figures; warm: Figures }> {
  const { stdout } = await run(process.execPath, ['--single-threaded', child, workload, '1']);
  return JSON.parse(stdout) as { cold: Figures; warm: Figures };
}

describe('fresh processes under --single-threaded repeat their figures', () => {
  for (const workload of ['json-parse', 'stream-pipeline']) {
    it(workload, async () => {
      const runs = [];
      for (let i = 0; i < 4; i++) runs.push(await measureInFreshProcess(workload));
      for (const mode of ['cold', 'warm'] as const) {
        const bytes = runs.map((r) => r[mode].bytes);
        const counts = runs.map((r) => r[mode].count);
        const spread = (values: number[]) => (Math.max(...values) - Math.min(...values)) / Math.max(...values);
        expect(spread(bytes), `${mode} bytes ${bytes.join(', ')}`).toBeLessThanOrEqual(0.005);
        expect(spread(counts), `${mode} counts ${counts.join(', ')}`).toBeLessThanOrEqual(0.01);
      }
    });
  }
});
