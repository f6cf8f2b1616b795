/// <reference lib="dom" />
// playwright-core's types name DOM classes (page.evaluate callbacks run in the page).
/**
 * Shared by the browser test and the HTML benchmark: Debian's Chromium driven by playwright-core, and
 * a many-phase report model made from real Session records (no hand-written figures).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { Session, span } from '../../src/index.ts';
import type { HeapProfile, PhaseRecord } from '../../src/core/types.ts';
import { flameTreeFromProfile, type HtmlReportModel, type ReportPhase, type ReportStatus } from '../../src/report/html/model.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface Browser {
  context: BrowserContext;
  close: () => Promise<void>;
}

/** Headless Chromium with a fresh profile directory and everything that would reach the network off. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/install-system-deps.sh (installs Debian's chromium)`);
  }
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'alloc-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Workloads with distinct call paths, so each phase's tree has a shape of its own.
function makeRecords(n: number): { id: number; name: string }[] {
  return Array.from({ length: n }, (_, id) => ({ id, name: `item-${id}` }));
}
function joinStrings(n: number): string {
  let text = '';
  for (let i = 0; i < n; i++) text += `line ${i}\n`;
  return text;
}
function parseRoundTrip(n: number): unknown {
  return JSON.parse(JSON.stringify(makeRecords(n)));
}
function buffers(n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Buffer.from(`chunk ${i}`).length;
  return sum;
}
function nested(n: number): number {
  const level2 = (k: number): number[] => Array.from({ length: k }, (_, i) => i * 2);
  const level1 = (k: number): number => level2(k).length + makeRecords(k).length;
  return level1(n);
}
const WORKLOADS = [makeRecords, joinStrings, parseRoundTrip, buffers, nested];

const SIZES = [1, 3];
const FACTORS = [0.3, 1, 3];

/**
 * Every (workload, size, factor) phase measured once, for real. Starting V8's sampler costs ~25 ms per
 * span, so a page of hundreds of phases reuses these records rather than measuring each row anew.
 */
function measurePool(withTrees: boolean): Map<string, { record: PhaseRecord; profile: HeapProfile | null }> {
  const session = new Session({ samplingInterval: 1 });
  const names: string[] = [];
  session.run(() => {
    WORKLOADS.forEach((work, w) => {
      for (const size of SIZES) {
        for (const factor of FACTORS) {
          const name = `${w}/${size}/${factor}`;
          names.push(name);
          span(name, () => work(Math.round(60 * size * factor)));
        }
      }
    });
  });
  return new Map(names.map((name) => [name, { record: session.phase(name), profile: withTrees ? session.profile(name) : null }]));
}

export function sessionReportModel(tests: number, phasesPerTest: number, withTrees = true): HtmlReportModel {
  const kind = (t: number, p: number): 'same' | 'more' | 'less' | 'new' | 'gone' => {
    const k = (t * 7 + p * 3) % 23;
    return k === 0 ? 'more' : k === 1 ? 'less' : k === 2 ? 'new' : k === 3 ? 'gone' : 'same';
  };
  const pool = measurePool(withTrees);
  const measured = (t: number, p: number, factor: number) =>
    pool.get(`${(t + p) % WORKLOADS.length}/${SIZES[p % SIZES.length]!}/${factor}`)!;
  const root = path.resolve(import.meta.dirname, '../..');
  const files: HtmlReportModel['files'] = [];
  const perFile = 10;
  for (let f = 0; f < tests; f += perFile) {
    const phases: ReportPhase[] = [];
    for (let t = f; t < Math.min(tests, f + perFile); t++) {
      const test = `suite ${Math.floor(t / 3)} > test ${t}`;
      for (let p = 0; p < phasesPerTest; p++) {
        const name = `phase ${p}`;
        const k = kind(t, p);
        const b = k === 'new' ? null : measured(t, p, 1).record;
        const after = k === 'gone' ? null : measured(t, p, k === 'more' ? 3 : k === 'less' ? 0.3 : 1);
        const c = after?.record ?? null;
        let status: ReportStatus;
        if (!b) status = 'new';
        else if (!c) status = 'obsolete';
        else {
          const allowed = Math.max(b.bytes * 0.05, 16 * 1024);
          status = c.bytes - b.bytes > allowed ? 'regressed' : b.bytes - c.bytes > allowed ? 'improved' : 'ok';
        }
        const profile = after?.profile ?? null;
        phases.push({
          test,
          phase: name,
          status,
          testState: 'passed',
          baseline: b ? { bytes: b.bytes, count: b.count } : null,
          current: c ? { bytes: c.bytes, count: c.count } : null,
          sites: (c?.sites ?? []).map((s) => ({ ...s, location: s.location.replace(`file://${root}/`, '') })),
          tree: profile ? flameTreeFromProfile(profile, root) : null,
        });
      }
    }
    files.push({
      file: `test/generated-${f / perFile}.test.ts`,
      baselineFile: `baselines/test/generated-${f / perFile}.test.ts.json`,
      phases,
    });
  }
  return {
    title: `${tests * phasesPerTest} phases from real sessions`,
    environment: 'node26-linux-x64',
    mode: 'local',
    deterministic: true,
    files,
  };
}
