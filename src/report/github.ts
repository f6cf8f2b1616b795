/**
 * GitHub Actions output of a run: one `::error` workflow command per phase that failed through the
 * baseline gate (regressed or missing), at the test's line, and a Markdown section for the job summary
 * (`$GITHUB_STEP_SUMMARY`). No Vitest import: the plugin's reporter hands over the RunReport.
 */
import path from 'node:path';
import { formatBytes } from '../format/table.ts';
import { rowLabel, type FileReport, type PhaseRow, type RunReport } from './baselines.ts';
import { relativeLocation } from './html/model.ts';

/** Workflow command data: `%`, CR and LF escaped (actions/toolkit's escapeData). */
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Workflow command property: data escaping plus `:` and `,` (actions/toolkit's escapeProperty). */
function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export interface GithubErrorOptions {
  /** Project root: report files are relative to it. */
  root: string;
  /** `GITHUB_WORKSPACE`: annotation paths are relative to the repository checkout when the file is inside it. */
  workspace?: string | undefined;
  /**
   * Leave out phases that failed through toMatchAllocationBaseline: Vitest's own github-actions reporter
   * already annotates those failed assertions at their line.
   */
  skipMatcherFailures: boolean;
}

function annotationPath(file: FileReport, options: GithubErrorOptions): string {
  const absolute = path.resolve(options.root, file.file);
  if (options.workspace) {
    const relative = path.relative(options.workspace, absolute);
    if (relative && !relative.startsWith('..') && !path.isAbsolute(relative)) return relative.split(path.sep).join('/');
  }
  return file.file;
}

/** One `::error file=…,line=…,title=…::message` line per phase that failed through the gate. */
export function githubErrors(report: RunReport, options: GithubErrorOptions): string[] {
  const lines: string[] = [];
  for (const file of report.files) {
    for (const row of file.rows) {
      if (!row.failure) continue;
      if (row.failure.via === 'matcher' && options.skipMatcherFailures) continue;
      const what = row.failure.kind === 'missing' ? 'no baseline' : 'allocation regression';
      const properties = [
        `file=${escapeProperty(annotationPath(file, options))}`,
        ...(row.line !== undefined ? [`line=${row.line}`] : []),
        `title=${escapeProperty(`alloc-tracker: ${what} in ${row.test} / ${row.phase}`)}`,
      ];
      lines.push(`::error ${properties.join(',')}::${escapeData(row.failure.message)}`);
    }
    if (file.error)
      lines.push(`::error file=${escapeProperty(annotationPath(file, options))},title=alloc-tracker::${escapeData(file.error)}`);
  }
  return lines;
}

/** Text inside HTML elements of the summary (`<details>`, `<code>`). */
function html(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A Markdown table cell: pipes escaped, newlines flattened. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function change(row: PhaseRow, metric: 'bytes' | 'count'): string {
  const base = row.baseline?.[metric];
  const now = row.current?.[metric];
  if (metric === 'count' && (row.baseline?.countMethod === 'off' || row.current?.countMethod === 'off')) return 'not measured';
  if (base === undefined || now === undefined) return '';
  if (base === 0) return now === 0 ? '±0.00%' : 'from 0';
  const pct = ((now - base) / base) * 100;
  return `${pct > 0 ? '+' : pct < 0 ? '-' : '±'}${Math.abs(pct).toFixed(2)}%`;
}

function value(row: PhaseRow, side: 'baseline' | 'current', metric: 'bytes' | 'count'): string {
  const m = row[side];
  if (!m) return '-';
  if (metric === 'count') return m.countMethod === 'off' ? 'not measured' : String(m.count);
  return formatBytes(m.bytes);
}

/**
 * The job summary section: the run's verdict, then per file a table of the phases that are not ok
 * (all phases when `full`), and under it the top allocation sites of each regression.
 */
export function githubStepSummary(report: RunReport, options: { full?: boolean; topSites?: number; root?: string } = {}): string {
  const out: string[] = [];
  const total = report.files.reduce((n, f) => n + f.rows.length, 0);
  const failing = report.files.reduce((n, f) => n + f.rows.filter((r) => r.status === 'regressed' || r.status === 'missing').length, 0);
  const errors = report.files.filter((f) => f.error).length;
  const verdict = failing > 0 || errors > 0 ? '❌' : '✅';
  out.push(
    `## ${verdict} alloc-tracker: ${total} ${total === 1 ? 'phase' : 'phases'} in ${report.files.length} ${report.files.length === 1 ? 'file' : 'files'}`,
  );
  out.push('');
  const counts = new Map<string, number>();
  for (const file of report.files) for (const row of file.rows) counts.set(rowLabel(row), (counts.get(rowLabel(row)) ?? 0) + 1);
  out.push(
    `Environment \`${report.environment}\`, mode \`${report.mode}\`` +
      (report.merged ? ', merged shards' : '') +
      (counts.size ? `: ${[...counts].map(([label, n]) => `${n} ${label}`).join(', ')}` : '') +
      '.',
  );
  if (!report.deterministic) out.push('', '> Workers ran without `--single-threaded`: figures may vary run to run.');
  let hidden = 0;
  for (const file of report.files) {
    const rows = options.full ? file.rows : file.rows.filter((r) => r.status !== 'ok');
    hidden += file.rows.length - rows.length;
    if (rows.length === 0 && !file.error) continue;
    out.push('', `### \`${file.file}\``, '');
    if (file.error) out.push(`**Error:** ${cell(file.error)}`, '');
    if (rows.length === 0) continue;
    out.push('| Test | Phase | Baseline bytes | Bytes | Change | Baseline count | Count | Change | Status |');
    out.push('|---|---|--:|--:|--:|--:|--:|--:|---|');
    for (const row of rows) {
      out.push(
        `| ${cell(row.test)} | ${cell(row.phase)} | ${value(row, 'baseline', 'bytes')} | ${value(row, 'current', 'bytes')} | ${change(row, 'bytes')} | ` +
          `${value(row, 'baseline', 'count')} | ${value(row, 'current', 'count')} | ${change(row, 'count')} | ${cell(rowLabel(row))} |`,
      );
    }
    for (const row of rows) {
      if (row.status !== 'regressed' || !row.record || row.record.sites.length === 0) continue;
      out.push('', `<details><summary>Top allocation sites of <code>${html(row.test)} / ${html(row.phase)}</code></summary>`, '');
      out.push('| Share | Bytes | Function | Location |', '|--:|--:|---|---|');
      for (const site of row.record.sites.slice(0, options.topSites ?? 5)) {
        out.push(
          `| ${(site.share * 100).toFixed(1)}% | ${formatBytes(site.bytes)} | \`${cell(site.functionName)}\` | \`${cell(relativeLocation(site.location, options.root))}\` |`,
        );
      }
      out.push('', '</details>');
    }
  }
  if (hidden > 0) out.push('', `${hidden} unchanged ${hidden === 1 ? 'phase' : 'phases'} (ok) not listed.`);
  return `${out.join('\n')}\n`;
}
