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
import { shellWord, updateCommand } from '../baseline/messages.ts';
import type { BaselineMetrics, Metric, Mode, Tolerance } from '../baseline/types.ts';
import { formatBytes } from '../format/table.ts';
import type { FlameNode } from './html/model.ts';

export type RowStatus =
  'ok' | 'improved' | 'regressed' | 'new' | 'missing' | 'updated' | 'stale' | 'not-compared' | 'obsolete' | 'removed' | 'unchecked';

/** How the figures compared with the stored entry, before the mode decided what to do about it. */
export type Verdict = 'new' | 'ok' | 'improved' | 'regressed';

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
  /** The comparison's verdict whatever the mode (an `updated` row says here what was accepted); null when not gated. */
  verdict?: Verdict | null;
  /** Whether this run wrote (or removed) the row's stored entry. */
  written?: boolean;
  /** The test's line in its file, when Vitest collected locations. */
  line?: number;
  /** Set when the phase failed its test through the baseline gate. */
  failure?: { kind: 'regressed' | 'missing'; via: 'gate' | 'matcher'; message: string };
  /** The phase's allocation call tree (sampled bytes over the whole phase), source-mapped, paths under 0.1% folded. */
  tree?: FlameNode;
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
  /** `--shard=i/n` of this run, when sharded. */
  shard?: { index: number; count: number } | null;
  /** Set when this process did not write baselines because `vitest --merge-reports` will (sharded run with the blob reporter). */
  deferred?: boolean;
  /** Set when this report merges sharded runs (`vitest --merge-reports`). */
  merged?: boolean;
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

/** What a row's status cell says: the note when there is one, else the status (with what an update accepted). */
export function rowLabel(row: PhaseRow): string {
  if (row.note) return row.note;
  switch (row.status) {
    case 'new':
      return row.written === false ? 'new (not written)' : 'new (written)';
    case 'missing':
      return 'missing (not written)';
    case 'removed':
      return 'obsolete (removed)';
    case 'stale':
      return 'stale: recorded in another context, re-record with -u';
    case 'not-compared':
      return 'not compared (partial run)';
    case 'updated':
      switch (row.verdict) {
        case 'regressed':
          return 'updated: regression accepted';
        case 'improved':
          return 'updated: improvement locked in';
        case 'new':
          return 'updated: new';
        default:
          return 'updated (within tolerance)';
      }
    default:
      return row.status;
  }
}

function percent(change: number | null): string {
  if (change === null) return '';
  const sign = change > 0 ? '+' : change < 0 ? '-' : '±';
  return `${sign}${Math.abs(change).toFixed(2)}%`;
}

const NOT_MEASURED = 'not measured';

function countOff(m: BaselineMetrics | null): boolean {
  return m !== null && m.countMethod === 'off';
}

function changeOf(row: PhaseRow, metric: Metric): string {
  if (metric === 'count' && (countOff(row.baseline) || countOff(row.current))) return row.baseline && row.current ? NOT_MEASURED : '';
  const c = row.comparisons.find((x) => x.metric === metric);
  if (c) return c.changePercent === null ? (c.change === 0 ? '±0.00%' : 'from 0') : percent(c.changePercent);
  if (row.baseline && row.current) {
    const base = row.baseline[metric];
    const now = row.current[metric];
    if (base !== undefined && now !== undefined) return base !== 0 ? percent(((now - base) / base) * 100) : now === 0 ? '±0.00%' : 'from 0';
  }
  return '';
}

function bytesCell(m: BaselineMetrics | null): string {
  return m ? formatBytes(m.bytes) : '-';
}
function countCell(m: BaselineMetrics | null): string {
  return m ? (m.countMethod === 'off' ? NOT_MEASURED : String(m.count)) : '-';
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

/** Counts of rows by what their status cells say, in the order they first appear: the summary always agrees with the rows. */
function labelCounts(report: RunReport): string[] {
  const counts = new Map<string, number>();
  for (const file of report.files) for (const row of file.rows) counts.set(rowLabel(row), (counts.get(rowLabel(row)) ?? 0) + 1);
  const order = (label: string): number => (label.startsWith('ok') ? 1 : 0);
  return [...counts].sort((a, b) => order(a[0]) - order(b[0])).map(([label, n]) => `${n} ${label}`);
}

/** What the run accepted into the stored baselines: changed entries, removals, deleted files. */
export function acceptedRows(report: RunReport): { file: FileReport; row: PhaseRow }[] {
  const out: { file: FileReport; row: PhaseRow }[] = [];
  for (const file of report.files) {
    for (const row of file.rows) {
      if (row.written !== true) continue;
      if ((row.status === 'updated' && row.verdict !== 'ok') || row.status === 'removed') out.push({ file, row });
    }
  }
  return out;
}

const ACCEPTED: Readonly<Record<Verdict, string>> = { regressed: 'regression', improved: 'improvement', new: 'new entry', ok: 'rewritten' };

function figures(row: PhaseRow, metric: 'bytes' | 'count'): string {
  const cell = metric === 'bytes' ? bytesCell : countCell;
  if (!row.baseline) return `new: ${cell(row.current)}`;
  if (!row.current) return `${cell(row.baseline)} -> removed`;
  const change = changeOf(row, metric);
  return `${cell(row.baseline)} -> ${cell(row.current)}${change && change !== NOT_MEASURED ? ` (${change})` : ''}`;
}

/**
 * The list every run that rewrote baselines prints: each accepted change (phase, old, new, change),
 * regressions first, so that nothing is accepted silently.
 */
export function formatAccepted(report: RunReport): string {
  const accepted = acceptedRows(report);
  let rewritten = 0;
  let created = 0;
  for (const file of report.files) {
    for (const r of file.rows) {
      if (r.written !== true) continue;
      if (r.status === 'updated' && r.verdict === 'ok') rewritten++;
      if (r.status === 'new') created++;
    }
  }
  const deleted = report.files.filter((f) => f.deleted);
  if (accepted.length === 0 && rewritten === 0 && created === 0 && deleted.length === 0) return '';
  const rank = (row: PhaseRow): number =>
    row.verdict === 'regressed' ? 0 : row.verdict === 'improved' ? 1 : row.verdict === 'new' ? 2 : 3;
  const sorted = [...accepted].sort((a, b) => rank(a.row) - rank(b.row));
  const out = [
    accepted.length > 0
      ? `alloc-tracker: this run rewrote baselines (mode ${report.mode}); accepted ${accepted.length} ${accepted.length === 1 ? 'change' : 'changes'}:`
      : `alloc-tracker: this run wrote baselines (mode ${report.mode}):`,
  ];
  if (sorted.length > 0) {
    const table = formatLongTable(
      ['Test file', 'Test', 'Phase', 'Bytes', 'Count', 'Accepted'],
      sorted.map(({ file, row }) => [
        file.file,
        row.test,
        row.phase,
        figures(row, 'bytes'),
        figures(row, 'count'),
        row.status === 'removed' ? 'removed' : ACCEPTED[row.verdict ?? 'ok'],
      ]),
      new Set(),
    );
    for (const l of table.split('\n')) out.push(`  ${l}`);
  }
  if (created > 0) out.push(`  ${created} new ${created === 1 ? 'entry' : 'entries'} written (no baseline before)`);
  if (rewritten > 0) out.push(`  ${rewritten} ${rewritten === 1 ? 'entry' : 'entries'} rewritten within tolerance`);
  for (const file of deleted) out.push(`  deleted ${file.baselineFile} (its test file is gone)`);
  return `${out.join('\n')}\n`;
}

/**
 * The terminal text. `onlyChanges` (the default report) keeps the rows whose status is not ok and
 * sums the unchanged ones up in one line; false prints a row for every phase.
 */
export function formatRunReport(report: RunReport, onlyChanges: boolean): string {
  const out: string[] = [];
  const counts = labelCounts(report);
  const phases = report.files.reduce((n, f) => n + f.rows.length, 0);
  const shard = report.shard ? `, shard ${report.shard.index}/${report.shard.count}` : '';
  // Rows are pushed one by one below: spreading 100k+ lines into push() would overflow the stack too.
  out.push(
    `alloc-tracker: ${phases} ${phases === 1 ? 'phase' : 'phases'} in ${report.files.length} ` +
      `${report.files.length === 1 ? 'file' : 'files'} (${report.environment}, mode ${report.mode}${shard}${report.merged ? ', merged shards' : ''})` +
      (counts.length ? `: ${counts.join(', ')}` : ''),
  );
  if (report.deferred) {
    out.push('  nothing written here (baselines, JSON, HTML, GitHub summary): `vitest --merge-reports` writes them for all shards');
  }
  if (!report.deterministic) {
    out.push('  note: workers ran without --single-threaded (threads pool?); figures may vary run to run');
  }
  let unchanged = 0;
  let unchangedFiles = 0;
  for (const file of report.files) {
    const rows = onlyChanges ? file.rows.filter((r) => r.status !== 'ok') : file.rows;
    const hidden = file.rows.length - rows.length;
    unchanged += hidden;
    if (hidden > 0) unchangedFiles++;
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
        rowLabel(r),
      ]),
      new Set([2, 3, 4, 5, 6, 7]),
    );
    for (const l of table.split('\n')) out.push(`  ${l}`);
    // One working command per file for what the rows suggest (never in a row: a table of commands is noise).
    const improved = rows.filter((r) => r.status === 'improved').length;
    const obsolete = rows.filter((r) => r.status === 'obsolete').length;
    const wanted = [
      improved > 0 ? `lock in ${improved} ${improved === 1 ? 'improvement' : 'improvements'}` : '',
      obsolete > 0 ? `remove ${obsolete} obsolete ${obsolete === 1 ? 'entry' : 'entries'}` : '',
    ].filter(Boolean);
    if (wanted.length > 0 && !report.deferred) {
      // A deleted test file's baselines go with any update run; deleting the file by hand says exactly what it does.
      out.push(
        file.file.endsWith(' (deleted)')
          ? `  delete it: rm ${shellWord(file.baselineFile)}`
          : `  ${wanted.join(' and ')}: ${updateCommand(file.file)}`,
      );
    }
  }
  if (onlyChanges && unchanged > 0) {
    out.push(
      '',
      `${unchanged} unchanged ${unchanged === 1 ? 'phase' : 'phases'} (ok) in ${unchangedFiles} ${unchangedFiles === 1 ? 'file' : 'files'} not listed; report: 'full' lists every phase`,
    );
  }
  return `${out.join('\n')}\n`;
}
