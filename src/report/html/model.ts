/**
 * The HTML report's own input: a small view model, kept apart from the plugin's JSON output (whose shape
 * is versioned separately) so that the page depends only on what it shows. `fromRunReport` is the thin
 * converter from today's `RunReport`; call trees come from `.heapprofile`-shaped profiles.
 */
import type { HeapProfile, HeapProfileNode } from '../../core/types.ts';
import type { BaselineMetrics } from '../../baseline/types.ts';
import type { FileReport, PhaseRow, RowStatus, RunReport } from '../baselines.ts';

export type ReportStatus = RowStatus;

/** Every status, in the order the page lists them (the ones that need attention first). */
export const STATUS_ORDER: readonly ReportStatus[] = [
  'regressed',
  'missing',
  'new',
  'improved',
  'updated',
  'stale',
  'not-compared',
  'obsolete',
  'removed',
  'ok',
  'unchecked',
];

/** One side of a comparison: per-iteration bytes and allocation count (null when counting was off). */
export interface ReportFigures {
  bytes: number;
  count: number | null;
}

/** One allocation site: the nearest frame outside Node's internals. */
export interface ReportSite {
  functionName: string;
  /** `file:line:column` (1-based), or `(native)`. */
  location: string;
  /** Bytes per iteration. */
  bytes: number;
  /** Share of the phase's sampled bytes, 0..1. */
  share: number;
}

/** A node of a phase's allocation call tree. Sizes are sampled bytes over the whole phase. */
export interface FlameNode {
  functionName: string;
  /** `file:line:column` (1-based), `(native)` for builtins, '' for the root. */
  location: string;
  /** Bytes allocated directly in this frame on this call path. */
  selfBytes: number;
  children: FlameNode[];
}

export interface ReportPhase {
  test: string;
  phase: string;
  status: ReportStatus;
  /** Replaces the status's usual wording, e.g. why a new entry was not written. */
  note?: string;
  /** passed / failed / skipped / deleted, as the test runner said. */
  testState?: string;
  baseline: ReportFigures | null;
  current: ReportFigures | null;
  /** Top sites, biggest first (empty when sampling was off). */
  sites: ReportSite[];
  /** The full call tree when the input had one; the page falls back to `sites` without it. */
  tree?: FlameNode | null;
  /** Things a reader should know about the figures (overlap with another phase, ...). */
  warnings?: string[];
}

export interface ReportFile {
  /** Test file, relative to the project root. */
  file: string;
  baselineFile?: string;
  /** Set when the baseline file could not be used. */
  error?: string | null;
  phases: ReportPhase[];
}

export interface HtmlReportModel {
  title: string;
  environment: string;
  mode: string;
  deterministic: boolean;
  /** ISO time the input was made, when known. */
  generatedAt?: string;
  files: ReportFile[];
}

/** Shows paths under `root` relative to it (file URLs too), as the terminal report does. */
export function relativeLocation(location: string, root: string | undefined): string {
  if (!root) return location;
  const base = root.replace(/[\\/]+$/, '');
  for (const prefix of [`file://${base}/`, `${base}/`]) if (location.startsWith(prefix)) return location.slice(prefix.length);
  return location;
}

function locationOf(frame: HeapProfileNode['callFrame']): string {
  if (frame.url === '') return frame.functionName === '(root)' ? '' : '(native)';
  return `${frame.url}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
}

/** A `.heapprofile` (Session.profile, or a saved file) as a flame tree. */
export function flameTreeFromProfile(profile: HeapProfile, root?: string): FlameNode {
  const convert = (node: HeapProfileNode): FlameNode => ({
    functionName: node.callFrame.functionName || '(anonymous)',
    location: relativeLocation(locationOf(node.callFrame), root),
    selfBytes: node.selfSize,
    children: node.children.map(convert),
  });
  return convert(profile.head);
}

/** A tree whose locations under `root` are shown relative to it. */
function relativeTree(tree: FlameNode, root: string | undefined): FlameNode {
  if (!root) return tree;
  const convert = (node: FlameNode): FlameNode => ({
    ...node,
    location: relativeLocation(node.location, root),
    children: node.children.map(convert),
  });
  return convert(tree);
}

/** Default share under which the page folds call paths (and the plugin prunes trees before sending them). */
export const MIN_TREE_SHARE = 0.001;

/**
 * The tree as small as the page needs it: paths under `minShare` of the whole become one
 * "(smaller paths)" node per parent (they would be under a pixel wide, and they are most of a
 * profile's nodes). Null when the tree has no bytes.
 */
export function pruneFlameTree(tree: FlameNode, minShare = MIN_TREE_SHARE): FlameNode | null {
  const sizes = new Map<FlameNode, number>();
  const total = (node: FlameNode): number => {
    let sum = node.selfBytes;
    for (const child of node.children) sum += total(child);
    sizes.set(node, sum);
    return sum;
  };
  const whole = total(tree);
  if (whole <= 0) return null;
  const limit = whole * minShare;
  const prune = (node: FlameNode): FlameNode => {
    const children: FlameNode[] = [];
    let small = 0;
    for (const child of node.children) {
      const size = sizes.get(child) ?? 0;
      if (size <= 0) continue;
      if (size < limit) small += size;
      else children.push(prune(child));
    }
    if (small > 0) children.push({ functionName: '(smaller paths)', location: '', selfBytes: small, children: [] });
    return { functionName: node.functionName, location: node.location, selfBytes: node.selfBytes, children };
  };
  return prune(tree);
}

/** Figures only when they are numbers: an entry without them (e.g. `{}`) shows as absent, not as NaN. */
function figuresOf(metrics: BaselineMetrics | null): ReportFigures | null {
  if (!metrics || typeof metrics.bytes !== 'number' || !Number.isFinite(metrics.bytes)) return null;
  const count = metrics.countMethod !== 'off' && typeof metrics.count === 'number' && Number.isFinite(metrics.count) ? metrics.count : null;
  return { bytes: metrics.bytes, count };
}

export interface FromRunReportOptions {
  /** Paths under this directory are shown relative to it. */
  root?: string;
  title?: string;
  generatedAt?: string;
  /** The call tree of a phase, when one was saved (e.g. the plugin's `.heapprofile` of a failing phase). */
  profileOf?: (file: FileReport, row: PhaseRow) => HeapProfile | null;
}

/** Today's `RunReport` (the plugin's `outputFile`) as the page's model. */
export function fromRunReport(report: RunReport, options: FromRunReportOptions = {}): HtmlReportModel {
  const { root } = options;
  return {
    title: options.title ?? 'alloc-tracker report',
    environment: report.environment,
    mode: report.mode,
    deterministic: report.deterministic,
    ...(options.generatedAt ? { generatedAt: options.generatedAt } : {}),
    files: report.files.map((file) => ({
      file: file.file,
      baselineFile: file.baselineFile,
      error: file.error,
      phases: file.rows.map((row): ReportPhase => {
        const record = row.record;
        const profile = options.profileOf?.(file, row) ?? null;
        const warnings: string[] = [];
        if (record?.overlapped) {
          warnings.push(`ran at the same time as ${record.overlappedWith.join(', ')}: figures include their allocations`);
        }
        if (record && !record.deterministic) warnings.push('measured without --single-threaded: figures may vary run to run');
        return {
          test: row.test,
          phase: row.phase,
          status: row.status,
          ...(row.note ? { note: row.note } : {}),
          testState: row.testState,
          baseline: figuresOf(row.baseline),
          current: figuresOf(row.current),
          sites: (record?.sites ?? []).map((site) => ({ ...site, location: relativeLocation(site.location, root) })),
          // A saved profile is the whole tree; the plugin's own (source-mapped, pruned) tree otherwise.
          tree: profile ? flameTreeFromProfile(profile, root) : row.tree ? relativeTree(row.tree, root) : null,
          ...(warnings.length ? { warnings } : {}),
        };
      }),
    })),
  };
}

/** Checks that parsed JSON looks like a RunReport before converting it; throws a one-line reason. */
export function assertRunReport(value: unknown): asserts value is RunReport {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(value)) throw new Error('not an alloc-tracker JSON report (expected an object)');
  if (value.version !== 1) throw new Error(`unsupported report version ${JSON.stringify(value.version)} (this page reads version 1)`);
  if (!Array.isArray(value.files)) throw new Error('not an alloc-tracker JSON report (no "files" array)');
  for (const [i, file] of value.files.entries()) {
    if (!isObject(file) || typeof file.file !== 'string' || !Array.isArray(file.rows)) {
      throw new Error(`files[${i}] is not a test file entry (needs "file" and "rows")`);
    }
    for (const [j, row] of file.rows.entries()) {
      if (!isObject(row) || typeof row.test !== 'string' || typeof row.phase !== 'string' || typeof row.status !== 'string') {
        throw new Error(`files[${i}].rows[${j}] is not a phase row (needs "test", "phase" and "status")`);
      }
      if (!(STATUS_ORDER as readonly string[]).includes(row.status)) {
        throw new Error(`files[${i}].rows[${j}] has an unknown status ${JSON.stringify(row.status)}`);
      }
    }
  }
}
