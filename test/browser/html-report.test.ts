/**
 * The HTML report in a real browser (Debian's Chromium, headless, through playwright-core): a page made
 * by the CLI from the JSON output of two real Vitest runs, and a 500-phase page from real Session
 * records. The screenshot is kept for CI at .work/artifacts/html-report.png.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunReport } from '../../src/report/baselines.ts';
import { renderHtmlReport } from '../../src/report/html/render.ts';
import { describeRun, REPO } from '../vitest/helpers/fixture.ts';
import { launchChromium, sessionReportModel, type Browser } from './helpers.ts';
import { createReportProject, HOSTILE_PHASE, HOSTILE_TEST } from './report-fixture.ts';

const ARTIFACTS = path.join(REPO, '.work/artifacts');
const CLI = path.join(REPO, 'src/report/html/cli.ts');

interface Opened {
  page: Page;
  problems: string[];
  requests: string[];
}

async function open(browser: Browser, file: string): Promise<Opened> {
  const page = await browser.context.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console.${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, problems, requests };
}

/** Rows the page shows: [test, phase, status] of every visible phase row. */
function visibleRows(page: Page): Promise<string[][]> {
  return page.$$eval('tr.phase:not([hidden])', (rows) =>
    rows.map((row) => [
      row.closest('tbody')!.getAttribute('data-test')!,
      row.getAttribute('data-phase')!,
      row.getAttribute('data-status')!,
    ]),
  );
}

describe('HTML report in Chromium', () => {
  let browser: Browser;
  let report: RunReport;
  let page: string;

  beforeAll(async () => {
    const project = await createReportProject();
    const first = project.run(['run']);
    expect(first.status, describeRun(first)).toBe(0);
    const second = project.run(['run'], { SECOND_RUN: '1' });
    expect(second.status, describeRun(second)).toBe(1);
    report = project.readJson<RunReport>('results.json');
    page = path.join(project.root, 'report.html');
    const cli = spawnSync(process.execPath, [CLI, 'results.json', '-o', page], { cwd: project.root, encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    // Every sampled phase has its call tree (the plugin samples sites by default).
    expect(cli.stdout).toMatch(/, (\d+) call trees/);
    const trees = Number(/, (\d+) call trees/.exec(cli.stdout)![1]);
    expect(trees).toBeGreaterThanOrEqual(Math.max(2, report.files.flatMap((f) => f.rows).filter((r) => r.tree).length));
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
  });

  test('shows every row of the run, draws the regressed phases as flame graphs, with no console error', async () => {
    const { page: tab, problems, requests } = await open(browser, page);
    const expected = report.files.flatMap((f) => f.rows.map((r) => [r.test, r.phase, r.status]));
    expect(expected.map((r) => r[2]).sort()).toEqual(['improved', 'new', 'obsolete', 'ok', 'ok', 'regressed', 'regressed']);
    expect((await visibleRows(tab)).sort()).toEqual(expected.sort());
    // Regressed phases open by themselves, each with an icicle whose frames name the fixture's source.
    await tab.waitForSelector('tr.detail .flame .fn');
    const flames = await tab.$$eval('tr.detail:not([hidden]) .flame', (boxes) =>
      boxes.map((box) => ({
        label: box.getAttribute('aria-label'),
        frames: Array.from(box.querySelectorAll('.fn')).map((fn) => fn.getAttribute('title') ?? ''),
        height: box.getBoundingClientRect().height,
      })),
    );
    expect(flames.map((f) => f.label).sort()).toEqual(['flame graph of index', 'flame graph of parse']);
    for (const flame of flames) {
      expect(flame.frames.some((title) => /workload\.ts:\d+:\d+/.test(title))).toBe(true);
      expect(flame.height).toBeGreaterThan(30);
    }
    expect(flames.find((f) => f.label === 'flame graph of parse')!.frames.some((t) => t.startsWith('parseRows\n'))).toBe(true);
    // Hostile names arrive as text, and nothing they contain ran.
    expect(await tab.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await tab.$$eval('tr.test-head th', (heads) => heads.map((h) => h.firstChild?.textContent))).toContain(HOSTILE_TEST);
    expect(await tab.$$eval('td.name', (cells) => cells.map((c) => c.firstChild?.textContent))).toContain(HOSTILE_PHASE);
    expect(await tab.$$eval('img', (imgs) => imgs.length)).toBe(0);
    mkdirSync(ARTIFACTS, { recursive: true });
    await tab.screenshot({ path: path.join(ARTIFACTS, 'html-report.png'), fullPage: true });
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(page).href]);
    await tab.close();
  });

  test('status and text filters hide the other rows; a frame click zooms', async () => {
    const { page: tab, problems } = await open(browser, page);
    const all = (await visibleRows(tab)).length;
    await tab.click('button[data-filter="regressed"]');
    const regressed = await visibleRows(tab);
    expect(regressed.map((r) => r[1]).sort()).toEqual(['index', 'parse']);
    expect(await tab.$$eval('tr.phase[hidden]', (rows) => rows.length)).toBe(all - 2);
    expect(await tab.textContent('#shown')).toBe(`showing 2 of ${all} phases`);
    // A second status adds to the first; "all" clears.
    await tab.click('button[data-filter="new"]');
    expect((await visibleRows(tab)).map((r) => r[2]).sort()).toEqual(['new', 'regressed', 'regressed']);
    await tab.click('button[data-filter="all"]');
    expect(await visibleRows(tab)).toHaveLength(all);
    await tab.fill('#search', 'Pipeline > REPORT');
    expect((await visibleRows(tab)).map((r) => r[1]).sort()).toEqual(['added', 'legacy', 'render']);
    await tab.fill('#search', 'no such phase');
    expect(await visibleRows(tab)).toHaveLength(0);
    expect(await tab.isVisible('#none')).toBe(true);
    expect(await tab.$$eval('section.file:not([hidden])', (s) => s.length)).toBe(0);
    await tab.fill('#search', '');
    // Open a row by hand, then zoom into a frame and back.
    await tab.click('tr.phase[data-phase="render"] button.toggle');
    const render = tab.locator('tr.phase[data-phase="render"] + tr.detail');
    await render.locator('.flame .fn').nth(1).click();
    expect(await render.locator('.flame .fn').first().textContent()).toContain('(zoomed, click to go back)');
    await render.getByText('reset zoom').click();
    expect(await render.locator('.flame .fn').first().textContent()).toMatch(/^render \(/);
    await tab.click('button[data-filter="improved"]');
    expect(await render.isVisible()).toBe(true);
    await tab.click('button[data-filter="improved"]');
    await tab.click('button[data-filter="regressed"]');
    expect(await render.isVisible()).toBe(false);
    expect(problems).toEqual([]);
    await tab.close();
  });

  test('a 500-phase page is under 2 MB and paints its table promptly (npm run bench:html measures)', async () => {
    const file = path.join(ARTIFACTS, 'html-report-500.html');
    mkdirSync(ARTIFACTS, { recursive: true });
    const html = renderHtmlReport(sessionReportModel(50, 10));
    writeFileSync(file, html);
    expect(statSync(file).size).toBeLessThan(2 * 1024 * 1024);
    const { page: tab, problems } = await open(browser, file);
    // The paint entry can be recorded after the page reports loaded: wait for it (buffered) rather
    // than read it once, or a slow machine reads "no paint yet".
    const timing = await tab.evaluate(
      () =>
        new Promise<{ dcl: number; fcp: number }>((resolve) => {
          const dcl = (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).domContentLoadedEventEnd;
          new PerformanceObserver((list, observer) => {
            const paint = list.getEntriesByName('first-contentful-paint')[0];
            if (!paint) return;
            observer.disconnect();
            resolve({ dcl, fcp: paint.startTime });
          }).observe({ type: 'paint', buffered: true });
          setTimeout(() => resolve({ dcl, fcp: Infinity }), 10_000);
        }),
    );
    expect(await tab.$$eval('tr.phase', (rows) => rows.length)).toBe(500);
    // Generous: the target (1 s) is for the benchmark; this only catches a page that stalls.
    expect(Math.max(timing.dcl, timing.fcp)).toBeLessThan(5000);
    await tab.click('button[data-filter="regressed"]');
    const regressed = (await visibleRows(tab)).length;
    expect(regressed).toBeGreaterThan(0);
    expect(regressed).toBe(html.match(/data-status="regressed"/g)!.length);
    expect(problems).toEqual([]);
    await tab.close();
    expect(readFileSync(file, 'utf8')).toBe(html);
  });
});
