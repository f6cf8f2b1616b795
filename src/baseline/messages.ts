/**
 * Failure messages a person can act on: which test, phase and metric, by how much, against which
 * tolerance, where the memory went, and the stored entry diffed against the new measurement.
 */
import { diffString } from 'json-diff';
import type { AllocationSite } from '../core/types.ts';
import { formatBytes } from '../format/table.ts';
import type { MetricComparison, PhaseComparison } from './compare.ts';
import type { BaselineMetrics, Metric, Tolerance } from './types.ts';

/** A path as a shell word: quoted when it holds anything but plain path characters. */
export function shellWord(text: string): string {
  return /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that rewrites the baselines of one test file. The file comes first: Vitest's `-u` takes
 * an optional value and would swallow a filter written after it.
 */
export function updateCommand(file: string): string {
  return `npx vitest run ${shellWord(file)} -u`;
}

/** How to accept a change, in every message that asks for one: commands that work as written. */
export function updateHint(file: string): string {
  return (
    `${updateCommand(file)} (in watch mode: press u; baselines without snapshots: ` +
    `ALLOC_TRACKER_UPDATE=all npx vitest run ${shellWord(file)})`
  );
}

export function formatMetricValue(metric: Metric, value: number): string {
  return metric === 'count' ? `${value} allocations` : `${formatBytes(value)} (${value} B)`;
}

export function formatChange(c: Pick<MetricComparison, 'metric' | 'change' | 'changePercent'>): string {
  const sign = c.change > 0 ? '+' : c.change < 0 ? '-' : '±';
  const absolute = c.metric === 'count' ? `${Math.abs(c.change)}` : formatBytes(Math.abs(c.change));
  const percent = c.changePercent === null ? 'from 0' : `${sign}${Math.abs(c.changePercent).toFixed(2)}%`;
  return `${percent} (${sign}${absolute})`;
}

export function formatTolerance(metric: Metric, tolerance: Tolerance): string {
  const floor = metric === 'count' ? `${tolerance.count} allocations` : formatBytes(tolerance.bytes);
  return `±${tolerance.percent}% or ${floor}, whichever is larger`;
}

/** Top sites as indented lines; file URLs and paths under `root` are shown relative to it. */
export function formatSites(sites: readonly AllocationSite[], root: string, limit = 5): string[] {
  if (sites.length === 0) {
    return [
      '    (none recorded: sampling was off, or `counts: true` counted without sites; `samplingInterval: 1` records counts and sites)',
    ];
  }
  const prefixes = [`file://${root}/`, `${root}/`];
  return sites.slice(0, limit).map((site) => {
    let location = site.location;
    for (const prefix of prefixes) if (location.startsWith(prefix)) location = location.slice(prefix.length);
    // Set by the plugin's source mapping: no map led back to the source a person wrote.
    const generated = (site as { position?: string }).position === 'generated' ? ', generated position' : '';
    return `    ${(site.share * 100).toFixed(1).padStart(5)}%  ${formatBytes(site.bytes).padStart(9)}  ${site.functionName} (${location}${generated})`;
  });
}

/** json-diff of the stored entry against the measurement, uncoloured unless asked. */
export function formatEntryDiff(baseline: BaselineMetrics, current: BaselineMetrics, color: boolean): string {
  // json-diff's options may mutate inputs: hand it copies.
  const text = diffString(structuredClone(baseline), structuredClone(current), { color, full: true });
  return text.trimEnd();
}

export interface PhaseContext {
  /** Full test name, `describe > test`. */
  test: string;
  /** Test file, relative to the project root. */
  file: string;
  phase: string;
  /** Baseline file, relative to the project root. */
  baselineFile: string;
  environment: string;
  root: string;
  color: boolean;
}

/** The message of a phase whose figures left the tolerance upwards. */
export function formatRegression(
  ctx: PhaseContext,
  result: PhaseComparison,
  tolerance: Tolerance,
  baseline: BaselineMetrics,
  current: BaselineMetrics,
  sites: readonly AllocationSite[],
): string {
  const lines = [`alloc-tracker: allocation regression in test "${ctx.test}" (${ctx.file}), phase "${ctx.phase}"`];
  for (const c of result.comparisons.filter((x) => x.status === 'regressed')) {
    lines.push(
      `  metric ${c.metric}: baseline ${formatMetricValue(c.metric, c.baseline)}, current ${formatMetricValue(c.metric, c.current)}, ` +
        `change ${formatChange(c)}; tolerance ${formatTolerance(c.metric, tolerance)}`,
    );
  }
  const others = result.comparisons.filter((x) => x.status !== 'regressed');
  if (others.length > 0) {
    lines.push(`  within tolerance: ${others.map((c) => `${c.metric} ${formatChange(c)} (${c.status})`).join(', ')}`);
  }
  lines.push(`  top allocation sites of "${ctx.phase}":`, ...formatSites(sites, ctx.root));
  lines.push(`  stored entry (${ctx.baselineFile}, ${ctx.environment}) vs this run:`);
  lines.push(
    ...formatEntryDiff(baseline, current, ctx.color)
      .split('\n')
      .map((l) => `    ${l}`),
  );
  lines.push(`  If the increase is intended, accept it: ${updateHint(ctx.file)}`);
  return lines.join('\n');
}

/** The message of a phase with no stored baseline where none may be written (CI). */
export function formatMissing(
  ctx: PhaseContext,
  current: BaselineMetrics,
  environmentKnown: boolean,
  partialBecause = '',
  partialRemedy = '',
): string {
  const where = partialRemedy
    ? `  (same Node major, platform, arch): ${partialRemedy}; this setup never records (${partialBecause}); then run the file without CI set,`
    : partialBecause
      ? `  (same Node major, platform, arch): run the whole file, npx vitest run ${shellWord(ctx.file)}, without CI set (this run was partial: ${partialBecause}),`
      : `  (same Node major, platform, arch): npx vitest run ${shellWord(ctx.file)} without CI set writes missing baselines`;
  return [
    `alloc-tracker: no baseline for test "${ctx.test}" (${ctx.file}), phase "${ctx.phase}" ` +
      `in ${ctx.baselineFile} for environment ${ctx.environment}` +
      (environmentKnown ? '' : ' (the file has no entries for this environment at all)'),
    `  measured: bytes ${formatMetricValue('bytes', current.bytes)}` +
      (current.countMethod === 'exact' ? `, count ${current.count}` : ' (count not measured)'),
    '  In CI baselines are never written (nor with --update=none). Create it where the code runs the same way',
    where,
    `  (in CI: add --update=new), then commit ${ctx.baselineFile}.`,
  ].join('\n');
}

/**
 * The message of a phase whose stored entry was measured in another context than this whole run of
 * its file (other tests before it, or an earlier version's method): its figures cannot be compared.
 */
export function formatStale(ctx: PhaseContext, stored: BaselineMetrics, current: BaselineMetrics): string {
  const why =
    (stored.bytesMethod ?? 'heap-delta') !== (current.bytesMethod ?? 'heap-delta')
      ? `it was measured by another method (${stored.bytesMethod ?? 'used-heap growth, alloc-tracker before 0.2'}; now ${current.bytesMethod ?? 'used-heap growth'})`
      : 'other tests ran before it in its file when it was recorded (a test was added, removed, renamed or moved before it): how warm they leave the code changes its figures';
  return [
    `alloc-tracker: the baseline of test "${ctx.test}" (${ctx.file}), phase "${ctx.phase}" in ${ctx.baselineFile} cannot be compared:`,
    `  ${why}.`,
    `  Re-record it: ${updateCommand(ctx.file)}, then commit ${ctx.baselineFile}.`,
  ].join('\n');
}

/** One line per obsolete entry, for the file-level failure in CI. */
export function formatObsolete(
  file: string,
  baselineFile: string,
  environment: string,
  entries: readonly { test: string; phase: string | null }[],
): string {
  return [
    `alloc-tracker: ${entries.length} obsolete baseline ${entries.length === 1 ? 'entry' : 'entries'} in ${baselineFile} (${environment}) ` +
      `for ${file}: no test of that name exists or it no longer records the phase`,
    ...entries.map((e) => `  - "${e.test}"${e.phase === null ? ' (whole test)' : ` > phase "${e.phase}"`}`),
    `  Remove them with: ${updateCommand(file)}`,
  ].join('\n');
}
