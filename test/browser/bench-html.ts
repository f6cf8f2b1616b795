/**
 * `npm run bench:html`: size and render time of the HTML report for a 500-phase run (made from real
 * Session records, with call trees), in Debian's headless Chromium. Loads alternate between the
 * 500-phase page and a 10-phase page of the same kind, so the ratio says what the size costs on this
 * (noisy, shared) machine. Target: under 2 MB, DOMContentLoaded and first contentful paint under 1 s.
 *
 *   node --single-threaded test/browser/bench-html.ts [phases per test=10] [tests=50] [loads=9]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderHtmlReport } from '../../src/report/html/render.ts';
import { launchChromium, sessionReportModel } from './helpers.ts';

const [phasesPerTest = 10, tests = 50, loads = 9] = process.argv.slice(2).map(Number);
const out = path.resolve(import.meta.dirname, '../../.work/artifacts');
mkdirSync(out, { recursive: true });

let started = performance.now();
const model = sessionReportModel(tests, phasesPerTest);
const measureMs = performance.now() - started;
started = performance.now();
const big = renderHtmlReport(model);
const renderMs = performance.now() - started;
const small = renderHtmlReport({ ...model, files: [{ ...model.files[0]!, phases: model.files[0]!.phases.slice(0, 10) }] });
const bigFile = path.join(out, `html-report-${tests * phasesPerTest}.html`);
const smallFile = path.join(out, 'html-report-10.html');
writeFileSync(bigFile, big);
writeFileSync(smallFile, small);
const phases = model.files.reduce((n, f) => n + f.phases.length, 0);
const trees = model.files.reduce((n, f) => n + f.phases.filter((p) => p.tree).length, 0);
console.log(`model: ${phases} phases (${trees} with call trees) from real sessions in ${measureMs.toFixed(0)} ms`);
console.log(
  `page: ${(big.length / 1024).toFixed(0)} KiB (${(big.length / 1024 / 1024).toFixed(2)} MiB) rendered in ${renderMs.toFixed(0)} ms; ${bigFile}`,
);

interface Load {
  dcl: number;
  fcp: number;
  wall: number;
}
const browser = await launchChromium();
async function load(file: string): Promise<Load> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  const t0 = performance.now();
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  const wall = performance.now() - t0;
  // The paint entry may be queued after load: wait for it (or give up after 5 s: NaN).
  await page.evaluate(
    () =>
      new Promise<void>((resolve) => {
        new PerformanceObserver((list) => {
          if (list.getEntriesByName('first-contentful-paint').length) resolve();
        }).observe({ type: 'paint', buffered: true });
        setTimeout(resolve, 5000);
      }),
  );
  const timing = await page.evaluate(() => ({
    dcl: (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).domContentLoadedEventEnd,
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN,
  }));
  await page.close();
  if (errors.length) throw new Error(`${file}: page errors: ${errors.join('; ')}`);
  return { ...timing, wall };
}
const median = (values: number[]): number => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;
const bigLoads: Load[] = [];
const smallLoads: Load[] = [];
try {
  await load(bigFile); // warm the browser's own caches once
  for (let i = 0; i < loads; i++) {
    bigLoads.push(await load(bigFile));
    smallLoads.push(await load(smallFile));
  }
} finally {
  await browser.close();
}
const row = (name: string, values: Load[]): string =>
  `${name.padEnd(16)} DOMContentLoaded ${median(values.map((l) => l.dcl))
    .toFixed(0)
    .padStart(5)} ms  ` +
  `first paint ${median(values.map((l) => l.fcp))
    .toFixed(0)
    .padStart(5)} ms  ` +
  `goto..load ${median(values.map((l) => l.wall))
    .toFixed(0)
    .padStart(5)} ms`;
console.log(`medians of ${loads} alternating loads in ${browser.context.browser()?.version() ?? 'chromium'}:`);
console.log(row(`${phases} phases`, bigLoads));
console.log(row('10 phases', smallLoads));
const worst = Math.max(median(bigLoads.map((l) => l.dcl)), median(bigLoads.map((l) => l.fcp)));
console.log(
  `ratio ${phases}/10 phases: DOMContentLoaded ${(median(bigLoads.map((l) => l.dcl)) / median(smallLoads.map((l) => l.dcl))).toFixed(2)}x, ` +
    `first paint ${(median(bigLoads.map((l) => l.fcp)) / median(smallLoads.map((l) => l.fcp))).toFixed(2)}x`,
);
const sizeOk = big.length < 2 * 1024 * 1024;
const timeOk = worst < 1000;
console.log(`target: < 2 MiB ${sizeOk ? 'met' : 'MISSED'}; DOMContentLoaded and first paint < 1000 ms ${timeOk ? 'met' : 'MISSED'}`);
if (!sizeOk || !timeOk) process.exitCode = 1;
