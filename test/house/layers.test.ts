/**
 * The folders of src/ are layers; imports point one way, from higher to lower:
 *   format  <-  core  <-  baseline  <-  report  <-  vitest
 * (format: units and tables, no tracker concepts; core: measuring, no Vitest; baseline: stored figures
 * and their comparison; report: rendering a run's results; vitest: the plugin). The entry points
 * (src/index.ts, the package's `.`) sit above core and below the plugin.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');
export const LAYERS = ['format', 'core', 'baseline', 'report', 'vitest'] as const;

/** The layer of a file under src/ (top-level files such as index.ts count as the entry layer). */
function layerOf(root: string, file: string): number {
  const top = path.relative(root, file).split(path.sep)[0] ?? '';
  const index = (LAYERS as readonly string[]).indexOf(top);
  // The entry (src/index.ts) may use everything below the plugin.
  return index === -1 ? LAYERS.indexOf('vitest') - 0.5 : index;
}

/** Relative import specifiers of a TypeScript source (static, dynamic and type-only). */
export function relativeImports(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) specifiers.push(match[1]!);
  return specifiers;
}

/** Every import from a lower layer to a higher one, as `from -> to`. */
export function upwardImports(root: string): string[] {
  root = path.resolve(root);
  const violations: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    for (const specifier of relativeImports(readFileSync(file, 'utf8'))) {
      const target = path.resolve(path.dirname(file), specifier);
      if (!target.startsWith(root + path.sep)) {
        violations.push(`${path.relative(root, file)} -> ${specifier} (outside src/)`);
      } else if (layerOf(root, target) > layerOf(root, file)) {
        violations.push(`${path.relative(root, file)} -> ${path.relative(root, target)}`);
      }
    }
  }
  return violations.sort();
}

describe('src/ layers', () => {
  it('imports point from higher layers to lower ones only', () => {
    expect(upwardImports(SRC)).toEqual([]);
  });

  it('fails on a lower folder importing a higher one, or anything outside src/', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'layers-'));
    try {
      for (const [file, text] of [
        ['core/meter.ts', "import { x } from '../vitest/plugin.ts';\nimport { y } from '../format/units.ts';"],
        ['baseline/store.ts', "import type { R } from '../report/run.ts';"],
        ['format/units.ts', "import { z } from '../../test/helper.ts';"],
        ['vitest/plugin.ts', "import { m } from '../core/meter.ts';"],
        ['report/run.ts', 'export type R = 1;'],
      ] as const) {
        mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
        writeFileSync(path.join(root, file), text);
      }
      expect(upwardImports(root)).toEqual([
        'baseline/store.ts -> report/run.ts',
        'core/meter.ts -> vitest/plugin.ts',
        'format/units.ts -> ../../test/helper.ts (outside src/)',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('the check sees static, dynamic and type-only imports', () => {
    expect(
      relativeImports(
        `import { a } from '../vitest/x.ts';\nimport type { B } from "./y.ts";\nconst c = await import('../report/z.ts');\nimport './side.ts';`,
      ),
    ).toEqual(['../vitest/x.ts', './y.ts', '../report/z.ts', './side.ts']);
  });

  it('every folder of src/ is a known layer', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(
      folders.every((f) => (LAYERS as readonly string[]).includes(f)),
      folders.join(', '),
    ).toBe(true);
  });
});
