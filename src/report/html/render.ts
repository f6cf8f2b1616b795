/**
 * One self-contained HTML page from a report model: the table is rendered here (it paints before any
 * script runs, and reads without one); flame graphs and site lists are drawn by the inline script from
 * a JSON block when a row is opened, so a page of hundreds of phases stays small and fast.
 * A Content-Security-Policy allows only the page's own script (by hash) and no network at all.
 */
import { createHash } from 'node:crypto';
import { formatBytes } from '../../format/table.ts';
import { CLIENT_SCRIPT } from './client.ts';
import { STATUS_ORDER, type FlameNode, type HtmlReportModel, type ReportFigures, type ReportPhase, type ReportStatus } from './model.ts';
import { STYLE } from './style.ts';

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON that is safe inside a `<script type="application/json">` element: `<`, `>` and `&` become
 * \u escapes, so no `</script>` or `<!--` can end or alter the block; U+2028/2029 for old parsers.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const STATUS_LABEL: Record<ReportStatus, string> = {
  regressed: 'regressed',
  missing: 'missing',
  new: 'new',
  improved: 'improved',
  updated: 'updated',
  stale: 'stale',
  'not-compared': 'not-compared',
  obsolete: 'obsolete',
  removed: 'removed',
  ok: 'ok',
  unchecked: 'unchecked',
};

export interface RenderOptions {
  /**
   * Call-tree paths smaller than this share of their phase are folded into one "(smaller paths)" node
   * per parent (default 0.001 = 0.1%): they would be under a pixel wide, and they make up most of a
   * profile's nodes.
   */
  minShare?: number;
}

/** Flame data for the page: strings interned once, nodes as small arrays. */
export class Encoder {
  readonly strings: string[] = [];
  private readonly index = new Map<string, number>();

  str(text: string): number {
    let i = this.index.get(text);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(text);
      this.index.set(text, i);
    }
    return i;
  }
}

export type EncodedNode = [number, number, number] | [number, number, number, EncodedNode[]];

function totals(node: FlameNode, into: Map<FlameNode, number>): number {
  let sum = node.selfBytes;
  for (const child of node.children) sum += totals(child, into);
  into.set(node, sum);
  return sum;
}

/**
 * The tree as the page draws it. Frames every path shares at the top (the test runner's own frames)
 * are folded into a list shown on hover; paths under `minShare` become one node per parent.
 */
export function encodeTree(tree: FlameNode, encoder: Encoder, minShare: number): { root: EncodedNode; collapsed: number[] } | null {
  const sizes = new Map<FlameNode, number>();
  const whole = totals(tree, sizes);
  if (whole <= 0) return null;
  const collapsed: number[] = [];
  let top = tree;
  while (top.selfBytes === 0 && top.children.length === 1) {
    top = top.children[0]!;
    collapsed.push(encoder.str(`${top.functionName}${top.location ? ` (${top.location})` : ''}`));
  }
  // The last folded frame is still drawn: it is the first frame the paths part from.
  if (top !== tree) collapsed.pop();
  const limit = whole * minShare;
  const encode = (node: FlameNode, isRoot: boolean): EncodedNode => {
    const kept: EncodedNode[] = [];
    let small = 0;
    for (const child of node.children) {
      const size = sizes.get(child) ?? 0;
      if (size < limit) small += size;
      else kept.push(encode(child, false));
    }
    if (small > 0) kept.push([encoder.str('(smaller paths)'), encoder.str(''), small]);
    const name = isRoot ? encoder.str('') : encoder.str(node.functionName);
    const location = isRoot ? encoder.str('') : encoder.str(node.location);
    return kept.length ? [name, location, node.selfBytes, kept] : [name, location, node.selfBytes];
  };
  const root: EncodedNode = top === tree ? encode(tree, true) : [encoder.str(''), encoder.str(''), 0, [encode(top, false)]];
  return { root, collapsed };
}

function treeFromSites(phase: ReportPhase): FlameNode | null {
  if (phase.sites.length === 0) return null;
  return {
    functionName: '(root)',
    location: '',
    selfBytes: 0,
    children: phase.sites.map((site) => ({
      functionName: site.functionName,
      location: site.location,
      selfBytes: site.bytes,
      children: [],
    })),
  };
}

/** The change in percent and absolute; coloured only when the gate judged it (within tolerance reads plain). */
function changeCell(base: number | null | undefined, now: number | null | undefined, bytes: boolean, status: ReportStatus): string {
  if (base === null || base === undefined || now === null || now === undefined) return '<td class="change"></td>';
  const diff = now - base;
  const cls = status === 'regressed' && diff > 0 ? 'up' : status === 'improved' && diff < 0 ? 'down' : '';
  const sign = diff > 0 ? '+' : diff < 0 ? '-' : '±';
  const percent = base !== 0 ? `${sign}${Math.abs((diff / base) * 100).toFixed(2)}%` : diff === 0 ? '±0.00%' : 'from 0';
  const absolute = bytes ? formatBytes(Math.abs(diff)) : String(Math.abs(diff));
  return `<td class="change ${cls}">${percent}<span class="note">${diff === 0 ? '' : `${sign}${escapeHtml(absolute)}`}</span></td>`;
}

function figureCell(base: number | null | undefined, now: number | null | undefined, scale: number, bytes: boolean): string {
  const show = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : bytes ? formatBytes(v) : String(v));
  // Both bars are backgrounds of one element (see STYLE): fewer elements keep a long page fast.
  const width = (v: number | null | undefined): string | null =>
    v === null || v === undefined ? null : scale > 0 && v > 0 ? `${Math.max(0.2, (v / scale) * 100).toFixed(2)}%` : '0';
  const b = width(base);
  const c = width(now);
  const style = [b === null ? '' : `--b:${b}`, c === null ? '' : `--c:${c}`].filter(Boolean).join(';');
  return (
    `<td class="fig"><div class="vals"><span class="b">${escapeHtml(show(base))}</span> → <span class="c">${escapeHtml(show(now))}</span></div>` +
    `<div class="bars"${style ? ` style="${style}"` : ''}></div></td>`
  );
}

function phaseRow(phase: ReportPhase, index: number, hasDetail: boolean, scale: { bytes: number; count: number }): string {
  const base: ReportFigures | null = phase.baseline;
  const now: ReportFigures | null = phase.current;
  const warn = phase.warnings?.length ? `<span class="warn" title="${escapeHtml(phase.warnings.join('\n'))}">⚠</span>` : '';
  const toggle = hasDetail ? `<button type="button" class="toggle" aria-expanded="false" title="allocation sites">▶</button>` : '';
  const note = phase.note ? `<span class="note">${escapeHtml(phase.note)}</span>` : '';
  return (
    `<tr class="phase st-${phase.status}" data-i="${index}" data-status="${phase.status}" data-phase="${escapeHtml(phase.phase)}">` +
    `<td>${toggle}</td><td class="name">${escapeHtml(phase.phase)}${warn}</td>` +
    figureCell(base?.bytes, now?.bytes, scale.bytes, true) +
    changeCell(base?.bytes, now?.bytes, true, phase.status) +
    figureCell(base?.count, now?.count, scale.count, false) +
    changeCell(base?.count, now?.count, false, phase.status) +
    `<td><span class="badge s-${phase.status}">${STATUS_LABEL[phase.status]}</span>${note}</td></tr>`
  );
}

/** The report as one HTML document. */
export function renderHtmlReport(model: HtmlReportModel, options: RenderOptions = {}): string {
  const minShare = options.minShare ?? 0.001;
  const encoder = new Encoder();
  const phaseData: unknown[] = [];
  const counts = new Map<ReportStatus, number>();
  const sections: string[] = [];
  let total = 0;
  for (const file of model.files) {
    let scaleBytes = 0;
    let scaleCount = 0;
    for (const p of file.phases) {
      scaleBytes = Math.max(scaleBytes, p.baseline?.bytes ?? 0, p.current?.bytes ?? 0);
      scaleCount = Math.max(scaleCount, p.baseline?.count ?? 0, p.current?.count ?? 0);
    }
    // Group rows by test, keeping the order in which tests first appear.
    const tests = new Map<string, ReportPhase[]>();
    for (const p of file.phases) {
      const list = tests.get(p.test);
      if (list) list.push(p);
      else tests.set(p.test, [p]);
    }
    const bodies: string[] = [];
    for (const [test, phases] of tests) {
      const rows: string[] = [];
      const states = new Set(phases.map((p) => p.testState).filter((s): s is string => Boolean(s)));
      for (const phase of phases) {
        counts.set(phase.status, (counts.get(phase.status) ?? 0) + 1);
        total++;
        const fromSites = !phase.tree;
        const tree = phase.tree ?? treeFromSites(phase);
        const encoded = tree ? encodeTree(tree, encoder, fromSites ? 0 : minShare) : null;
        const sites = phase.sites.map((s) => [encoder.str(s.functionName), encoder.str(s.location), s.bytes, Math.round(s.share * 1000)]);
        const index = phaseData.length;
        phaseData.push(encoded || sites.length ? [encoded?.root ?? null, sites, encoded?.collapsed ?? [], fromSites ? 1 : 0] : null);
        rows.push(phaseRow(phase, index, Boolean(encoded || sites.length), { bytes: scaleBytes, count: scaleCount }));
      }
      bodies.push(
        `<tbody class="test" data-test="${escapeHtml(test)}"><tr class="test-head"><th colspan="7">${escapeHtml(test)}` +
          `${states.size ? `<span class="state">${escapeHtml([...states].join(', '))}</span>` : ''}</th></tr>${rows.join('')}</tbody>`,
      );
    }
    sections.push(
      `<section class="file" data-file="${escapeHtml(file.file)}"><h2>${escapeHtml(file.file)}` +
        `${file.baselineFile ? ` <small>→ ${escapeHtml(file.baselineFile)}</small>` : ''}</h2>` +
        `${file.error ? `<p class="error">${escapeHtml(file.error)}</p>` : ''}` +
        (bodies.length
          ? '<table><colgroup><col class="toggle"><col class="name"><col class="fig"><col class="change"><col class="fig"><col class="change"><col class="status"></colgroup>' +
            '<thead><tr><th></th><th>Phase</th><th>Bytes: baseline → current</th><th>Change</th><th>Count: baseline → current</th><th>Change</th><th>Status</th></tr></thead>' +
            `${bodies.join('')}</table>`
          : '') +
        '</section>',
    );
  }
  const filterButtons = [
    `<button type="button" data-filter="all" aria-pressed="true">all ${total}</button>`,
    ...STATUS_ORDER.filter((s) => counts.has(s)).map(
      (s) =>
        `<button type="button" data-filter="${s}" aria-pressed="false"><span class="dot s-${s}"></span>${STATUS_LABEL[s]} ${counts.get(s) ?? 0}</button>`,
    ),
  ].join('');
  const meta = [
    escapeHtml(model.environment),
    `mode ${escapeHtml(model.mode)}`,
    `${total} ${total === 1 ? 'phase' : 'phases'} in ${model.files.length} ${model.files.length === 1 ? 'file' : 'files'}`,
    ...(model.generatedAt ? [escapeHtml(model.generatedAt)] : []),
    ...(model.deterministic ? [] : ['<span class="warn">measured without --single-threaded: figures may vary run to run</span>']),
  ].join(' · ');
  const script = CLIENT_SCRIPT;
  const scriptHash = createHash('sha256').update(script).digest('base64');
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${scriptHash}'; img-src data:; base-uri 'none'; form-action 'none'`;
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${csp}">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(model.title)}</title><style>${STYLE}</style></head><body>` +
    `<header><h1>${escapeHtml(model.title)}</h1><p class="meta">${meta}</p>` +
    `<nav class="filters" aria-label="filters">${filterButtons}` +
    '<input id="search" type="search" placeholder="filter by file, test or phase" aria-label="filter by file, test or phase">' +
    `<span class="shown" id="shown">${total} phases</span></nav></header>` +
    `<main>${sections.join('\n')}<p class="empty" id="none"${total === 0 ? '' : ' hidden'}>No phase matches.</p></main>` +
    `<script type="application/json" id="alloc-data">${jsonForScript({ s: encoder.strings, p: phaseData })}</script>` +
    `<script>${script}</script></body></html>\n`
  );
}
