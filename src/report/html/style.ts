/** The page's stylesheet, inlined into every report (no network assets). */
export const STYLE = `
:root {
  --fg: #1d2327; --muted: #646970; --line: #dcdcde; --bg: #fff; --head: #f6f7f7;
  --regressed: #c62828; --missing: #e65100; --new: #1565c0; --improved: #2e7d32; --updated: #6a1b9a;
  --obsolete: #795548; --removed: #795548; --ok: #757575; --unchecked: #9e9e9e; --base: #b0bec5;
}
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { position: sticky; top: 0; z-index: 2; background: var(--head); border-bottom: 1px solid var(--line); padding: 10px 16px; }
h1 { font-size: 17px; margin: 0 0 2px; }
.meta { color: var(--muted); margin: 0 0 8px; }
.meta .warn { color: var(--missing); }
.filters { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.filters button { font: inherit; border: 1px solid var(--line); background: #fff; border-radius: 12px; padding: 2px 10px; cursor: pointer; }
.filters button[aria-pressed="true"] { background: var(--fg); color: #fff; border-color: var(--fg); }
.filters button .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 5px; vertical-align: 0; }
.filters input { font: inherit; padding: 3px 8px; border: 1px solid var(--line); border-radius: 4px; min-width: 260px; }
.filters .shown { color: var(--muted); margin-left: auto; }
main { padding: 8px 16px 40px; }
section.file { margin: 14px 0 22px; }
/* Off-screen files skip layout and paint until scrolled near: a page of hundreds of phases paints at once. */
section.file + section.file { content-visibility: auto; contain-intrinsic-size: auto 1200px; }
section.file h2 { font-size: 14px; margin: 0 0 4px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
section.file h2 small { color: var(--muted); font-weight: normal; }
.error { color: var(--regressed); margin: 4px 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-weight: 600; color: var(--muted); font-size: 12px; background: #fff; }
col.toggle { width: 26px; } col.name { width: 24%; } col.fig { width: 22%; } col.change { width: 10%; } col.status { width: 12%; }
tr.test-head th { background: var(--head); font-weight: 600; word-break: break-word; }
tr.test-head .state { color: var(--muted); font-weight: normal; margin-left: 6px; }
td.name { word-break: break-word; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
td.name .warn { color: var(--missing); cursor: help; margin-left: 4px; }
.vals { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-variant-numeric: tabular-nums; }
.vals .b { color: var(--muted); }
.bars { height: 10px; margin-top: 2px; background-repeat: no-repeat;
  background-image: linear-gradient(var(--base), var(--base)), linear-gradient(var(--c-color), var(--c-color));
  background-size: var(--b, 0) 4px, var(--c, 0) 4px; background-position: 0 0, 0 6px; }
td.change { font-variant-numeric: tabular-nums; white-space: nowrap; }
.up { color: var(--regressed); } .down { color: var(--improved); }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; color: #fff; font-size: 12px; }
.note { display: block; color: var(--muted); font-size: 12px; }
button.toggle { border: 0; background: none; cursor: pointer; font-size: 12px; padding: 0 4px; color: var(--muted); }
button.toggle[aria-expanded="true"] { transform: rotate(90deg); }
tr.detail > td { background: #fbfbfc; padding: 8px 10px 12px; }
.flame-title { color: var(--muted); margin: 0 0 4px; }
.flame-title button { font: inherit; margin-left: 8px; }
.flame { position: relative; width: 100%; overflow: hidden; }
.flame .fn { position: absolute; height: 17px; line-height: 17px; font-size: 11px; padding: 0 3px; overflow: hidden; white-space: nowrap;
  text-overflow: ellipsis; border: 1px solid rgba(255,255,255,.8); border-radius: 2px; cursor: pointer; color: #1d1d1d; }
.flame .fn:hover { filter: brightness(1.1); outline: 1px solid #333; }
.flame .fn .loc { color: rgba(0,0,0,.6); }
ol.sites { margin: 8px 0 0; padding-left: 22px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
ol.sites .pct { display: inline-block; width: 5.5em; text-align: right; margin-right: 8px; font-variant-numeric: tabular-nums; }
tr.st-regressed .bars { --c-color: var(--regressed); } tr.st-missing .bars { --c-color: var(--missing); }
tr.st-new .bars { --c-color: var(--new); } tr.st-improved .bars { --c-color: var(--improved); } tr.st-updated .bars { --c-color: var(--updated); }
.bars { --c-color: var(--ok); }
.s-regressed { background: var(--regressed); } .s-missing { background: var(--missing); } .s-new { background: var(--new); }
.s-improved { background: var(--improved); } .s-updated { background: var(--updated); } .s-obsolete { background: var(--obsolete); }
.s-removed { background: var(--removed); } .s-ok { background: var(--ok); } .s-unchecked { background: var(--unchecked); }
.s-stale { background: var(--missing); } .s-not-compared { background: var(--unchecked); }
tr.phase.st-regressed td.name { box-shadow: inset 3px 0 0 var(--regressed); }
tr.phase.st-improved td.name { box-shadow: inset 3px 0 0 var(--improved); }
tr.phase.st-new td.name { box-shadow: inset 3px 0 0 var(--new); }
tr.phase.st-missing td.name { box-shadow: inset 3px 0 0 var(--missing); }
.empty { color: var(--muted); padding: 20px 0; }
[hidden] { display: none !important; }
`;
