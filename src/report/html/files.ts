/**
 * Reading a run's JSON output file and the heap profiles the plugin saved beside it, for the CLI.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { HeapProfile } from '../../core/types.ts';
import { baselinePathFor } from '../../baseline/store.ts';
import type { FileReport, PhaseRow } from '../baselines.ts';
import { assertRunReport, fromRunReport } from './model.ts';
import { renderHtmlReport } from './render.ts';

/**
 * The file-name form of a test or phase name in a saved heap profile's path; a short hash keeps altered
 * names apart (`a/b`, `a?b`). The plugin saves profiles by savedProfilePath, and this page finds them by it.
 */
export function profileNamePart(name: string): string {
  const safe =
    name
      .replace(/[^A-Za-z0-9._ -]+/g, '_')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 120) || '_';
  return safe === name ? safe : `${safe}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/** Where the plugin saves the heap profile of `test` / `phase` of a test file (relative to `root`). */
export function savedProfilePath(root: string, profileDir: string, testFile: string, test: string, phase: string): string {
  const dir = baselinePathFor(root, profileDir, path.resolve(root, testFile)).slice(0, -'.json'.length);
  return path.join(dir, `${profileNamePart(test)} - ${profileNamePart(phase)}.heapprofile`);
}

function isHeapProfile(value: unknown): value is HeapProfile {
  const head = (value as { head?: { callFrame?: unknown; children?: unknown } } | null)?.head;
  return typeof head === 'object' && head !== null && typeof head.callFrame === 'object' && Array.isArray(head.children);
}

export interface BuildOptions {
  /** Project root: the test files in the JSON are relative to it, and paths under it are shown relative. */
  root: string;
  /** Directory of saved `.heapprofile` files (the plugin's `profiles` option, default `.alloc-profiles`). */
  profileDir?: string;
  title?: string;
}

export interface BuiltReport {
  html: string;
  phases: number;
  /** Phases drawn from a call tree (a saved profile, or the tree the plugin put in the JSON); the rest from their top sites. */
  trees: number;
  warnings: string[];
}

/** Statuses for which the plugin saves a profile: the phase failed its test. */
const PROFILED = new Set(['regressed', 'missing']);

/** The page for a JSON output file. Throws an Error whose message names the file and the problem. */
export function buildReportFromFile(file: string, options: BuildOptions): BuiltReport {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: not JSON: ${(error as Error).message}`, { cause: error });
  }
  try {
    assertRunReport(report);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
  }
  const warnings: string[] = [];
  const profileOf = (fileReport: FileReport, row: PhaseRow): HeapProfile | null => {
    if (!options.profileDir || !PROFILED.has(row.status)) return null;
    const saved = savedProfilePath(options.root, options.profileDir, fileReport.file, row.test, row.phase);
    if (!existsSync(saved)) return null;
    try {
      const profile: unknown = JSON.parse(readFileSync(saved, 'utf8'));
      if (!isHeapProfile(profile)) throw new Error('not a heap profile (no head node)');
      return profile;
    } catch (error) {
      warnings.push(`${saved}: skipped: ${(error as Error).message}`);
      return null;
    }
  };
  const model = fromRunReport(report, {
    root: options.root,
    profileOf,
    title: options.title ?? `alloc-tracker: ${path.basename(file)}`,
  });
  const html = renderHtmlReport(model);
  const phases = model.files.flatMap((f) => f.phases);
  return { html, phases: phases.length, trees: phases.filter((p) => p.tree).length, warnings };
}
