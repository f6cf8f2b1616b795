/**
 * The end-of-run report of baseline checks: per test file a table with one row per test phase
 * (baseline, current, change, status), a summary line, and the JSON document for tools.
 * No Vitest import: the plugin's reporter fills these shapes.
 *
 * RunReport is a public contract (the `outputFile` JSON, documented in the README): `version` changes
 * when a field is removed or changes meaning; fields may be added within a version.
 */
import type { PhaseRecord } from '../core/types.ts';
import type { MetricComparison } from '../baseline/compare.ts';
import type { BaselineMetrics, Metric, Mode, Tolerance } from '../baseline/types.ts';
import { formatBytes } from '../format/table.ts';

export type RowStatus =
  'ok' | 'improved' | 'regressed' | 'new' | 'missing' | 'updated' | 'stale' | 'not-compared' | 'obsolete' | 'removed' | 'unchecked';

export interface PhaseRow {
  test: string;
  phase: string;
  status: RowStatus;
  /** The stored entry before the run (null when there was none). */
  baseline: BaselineMetrics | null;
  /** This run's figures (null for obsolete entries). */
  current: BaselineMetrics | null;
  comparisons: MetricComparison[];
  tolerance: Tolerance | null;
  metrics: Metric[];
  /** The full record of this run, for tools (sites, wall time, overlap). */
  record: PhaseRecord | null;
  /** The Vitest state of the test: passed, failed, skipped. */
  testState: string;
  /** Replaces the status's usual wording in the table, e.g. why a new entry was not written. */
  note?: string;
}

export interface FileReport {
  /** Test file relative to its project root. */
  file: string;
  project: string;
  baselineFile: string;
  /** Whether the baseline file was written (or deleted when empty) in this run. */
  written: boolean;
  /** Set when the file was deleted because its test file no longer exists. */
  deleted?: boolean;
  /** Set when the baseline file could not be used; it was not touched. */
  error: string | null;
  rows: PhaseRow[];
}

/** The `outputFile` JSON document. */
export interface RunReport {
  /** Version of this schema. */
  version: 1;
  mode: Mode;
  environment: string;
  deterministic: boolean;
  files: FileReport[];
  summary: Record<RowStatus, number>;
}

const STATUS_NOTE: Partial<Record<RowStatus, string>> = {
  new: 'new (written)',
  improved: 'improved: lock in with --update-baselines',
  missing: 'missing (CI writes nothing)',
  obsolete: 'obsolete: remove with --update-baselines',
  removed: 'obsolete (removed)',
  stale: 'stale: recorded in another context, re-record with -u',
  'not-compared': 'not compared (partial run)',
};

function percent(change: number | null): string {
  if (change === null) return '';
  const sign = change > 0 ? '+' : change < 0 ? '-' : '±';
  return `${sign}${Math.abs(change).toFixed(2)}%`;
}

function changeOf(row: PhaseRow, metric: Metric): string {
  const c = row.comparisons.find((x) => x.metric === metric);
  if (c) return percent(c.changePercent);
  if (row.baseline && row.current) {
    const base = row.baseline[metric];
    const now = row.current[metric];
    if (base !== undefined && now !== undefined && base !== 0) return percent(((now - base) / base) * 100);
  }
  return '';
}

function bytesCell(m: BaselineMetrics | null): string {
  return m ? formatBytes(m.bytes) : '-';
}
function countCell(m: BaselineMetrics | null): string {
  return m ? (m.countMethod === 'off' ? '-' : String(m.count)) : '-';
}

export function emptySummary(): Record<RowStatus, number> {
  return {
    ok: 0,
    improved: 0,
    regressed: 0,
    new: 0,
    missing: 0,
    updated: 0,
    stale: 0,
    'not-compared': 0,
    obsolete: 0,
    removed: 0,
    unchecked: 0,
  };
}

/**
 * A pipe table like format/table.ts's, computed with loops: a run can report hundreds of thousands of
 * rows, and spreading them into Math.max overflows the stack.
 */
function formatLongTable(headers: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths = headers.map((h) => h.length);
  for (const row of rows) for (let c = 0; c < widths.length; c++) widths[c] = Math.max(widths[c]!, (row[c] ?? '').length);
  const line = (cells: readonly string[]): string =>
    `| ${widths.map((w, c) => (rightAligned.has(c) ? (cells[c] ?? '').padStart(w) : (cells[c] ?? '').padEnd(w))).join(' | ')} |`;
  const out = [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`];
  for (const row of rows) out.push(line(row));
  return out.join('\n');
}

/** The terminal text. `onlyChanges` keeps the rows whose status is not ok. */
export function formatRunReport(report: RunReport, onlyChanges: boolean): string {
  const out: string[] = [];
  const counts = Object.entries(report.summary)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${STATUS_NOTE[status as RowStatus] ?? status}`);
  const phases = report.files.reduce((n, f) => n + f.rows.length, 0);
  // Rows are pushed one by one below: spreading 100k+ lines into push() would overflow the stack too.
  out.push(
    `alloc-tracker: ${phases} phase ${phases === 1 ? 'entry' : 'entries'} in ${report.files.length} ` +
      `${report.files.length === 1 ? 'file' : 'files'} (${report.environment}, mode ${report.mode})` +
      (counts.length ? `: ${counts.join(', ')}` : ''),
  );
  if (!report.deterministic) {
    out.push('  note: workers ran without --single-threaded (threads pool?); figures may vary run to run');
  }
  for (const file of report.files) {
    const rows = onlyChanges ? file.rows.filter((r) => r.status !== 'ok') : file.rows;
    if (rows.length === 0 && !file.error) continue;
    out.push('', `${file.file}  ->  ${file.baselineFile}${file.deleted ? ' (deleted)' : file.written ? ' (written)' : ''}`);
    if (file.error) out.push(`  ERROR: ${file.error}`);
    if (rows.length === 0) continue;
    const table = formatLongTable(
      ['Test', 'Phase', 'Baseline bytes', 'Bytes', 'Change', 'Baseline count', 'Count', 'Change', 'Status'],
      rows.map((r) => [
        r.test,
        r.phase,
        bytesCell(r.baseline),
        bytesCell(r.current),
        changeOf(r, 'bytes'),
        countCell(r.baseline),
        countCell(r.current),
        changeOf(r, 'count'),
        r.note ?? STATUS_NOTE[r.status] ?? r.status,
      ]),
      new Set([2, 3, 4, 5, 6, 7]),
    );
    for (const l of table.split('\n')) out.push(`  ${l}`);
  }
  return `${out.join('\n')}\n`;
}
