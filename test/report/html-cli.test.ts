/** The HTML report's command line: a JSON output file (and saved heap profiles) in, one page out. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Session, span } from '../../src/index.ts';
import type { PhaseRecord } from '../../src/core/types.ts';
import type { RunReport } from '../../src/report/baselines.ts';
import { savedProfilePath } from '../../src/report/html/files.ts';
import type { WorkerSettings } from '../../src/vitest/settings.ts';
import { saveFailureProfile } from '../../src/vitest/runtime.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/report/html/cli.ts');
const root = mkdtempSync(path.join(tmpdir(), 'alloc-html-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TEST = 'suite > <b>"odd"</b> / name?';
const PHASE = '__proto__';

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function measured(): { session: Session; record: PhaseRecord } {
  // Sparse sampling keeps whole stacks (at interval 1 the sampler keeps 8 frames, for speed).
  const session = new Session({ samplingInterval: 256 });
  session.run(() => span(PHASE, () => Array.from({ length: 400 }, (_, i) => ({ i }))));
  return { session, record: session.phase(PHASE) };
}

function reportFor(record: PhaseRecord): RunReport {
  const metrics = {
    bytes: record.bytes,
    count: record.count,
    heapBytes: record.heapBytes,
    externalBytes: 0,
    iterations: 1,
    countMethod: record.countMethod,
  };
  return {
    version: 1,
    mode: 'local',
    environment: 'node26-linux-x64',
    deterministic: true,
    summary: {
      ok: 0,
      improved: 0,
      regressed: 1,
      new: 0,
      missing: 0,
      updated: 0,
      stale: 0,
      'not-compared': 0,
      obsolete: 0,
      removed: 0,
      unchecked: 0,
    },
    files: [
      {
        file: 'test/a.test.ts',
        project: '',
        baselineFile: 'baselines/test/a.test.ts.json',
        written: false,
        error: null,
        rows: [
          {
            test: TEST,
            phase: PHASE,
            status: 'regressed',
            baseline: { ...metrics, bytes: Math.round(record.bytes / 2) },
            current: metrics,
            comparisons: [],
            tolerance: null,
            metrics: ['bytes', 'count'],
            record,
            testState: 'failed',
          },
        ],
      },
    ],
  };
}

describe('alloc-tracker-html CLI', () => {
  it('finds the heap profile the plugin saved for a failing phase, under any name', () => {
    const { session, record } = measured();
    const settings: WorkerSettings = {
      mode: 'local',
      root,
      baselineDir: 'baselines',
      profileDir: '.alloc-profiles',
      metrics: ['bytes'],
      tolerance: {},
      asyncTolerance: {},
      overrides: [],
      auto: true,
      include: [],
      samplingInterval: 1,
      sites: true,
      topSites: 10,
      retained: false,
      deterministicPool: true,
      pool: 'forks',
      isolate: true,
      keyTags: [],
      timeoutFactor: 3,
      color: false,
      annotationLocation: true,
    };
    const testFile = path.join(root, 'test/a.test.ts');
    const note = saveFailureProfile(
      settings,
      { id: 't', name: TEST, type: 'test', file: { filepath: testFile }, meta: {} },
      session,
      record,
    ).note;
    const saved = path.join(root, /: (\S.*\.heapprofile) \(/.exec(note)![1]!);
    expect(savedProfilePath(root, '.alloc-profiles', 'test/a.test.ts', TEST, PHASE)).toBe(saved);

    writeFileSync(path.join(root, 'results.json'), JSON.stringify(reportFor(record)));
    const result = cli(['results.json', '-o', 'out/report.html']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/out\/report\.html \(\d+ KiB, 1 phases, 1 call trees\)/);
    const html = readFileSync(path.join(root, 'out/report.html'), 'utf8');
    expect(html).toContain('data-phase="__proto__"');
    // The tree came along: its frames (the folded callers too) are in the data block.
    const strings = (JSON.parse(/<script type="application\/json" id="alloc-data">(.*?)<\/script>/s.exec(html)![1]!) as { s: string[] }).s;
    expect(strings).toContain('from');
    expect(strings.some((s) => s.startsWith('measured ('))).toBe(true);
    // No temporary file left behind.
    expect(readdirSync(path.join(root, 'out'))).toEqual(['report.html']);
  });

  it('writes results.html beside results.json by default', () => {
    const { record } = measured();
    mkdirSync(path.join(root, 'd'), { recursive: true });
    writeFileSync(path.join(root, 'd/results.json'), JSON.stringify(reportFor(record)));
    expect(cli(['d/results.json']).status).toBe(0);
    expect(existsSync(path.join(root, 'd/results.html'))).toBe(true);
  });

  it('bad input is one line naming the file, and an existing page is left as it was', () => {
    writeFileSync(path.join(root, 'broken.json'), '{"version": 1, "files": [');
    writeFileSync(path.join(root, 'old.html'), 'previous page');
    const broken = cli(['broken.json', '-o', 'old.html']);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/^alloc-tracker-html: \S*broken\.json: not JSON: .+\n$/);
    expect(readFileSync(path.join(root, 'old.html'), 'utf8')).toBe('previous page');

    writeFileSync(path.join(root, 'v2.json'), JSON.stringify({ version: 2, files: [] }));
    expect(cli(['v2.json', '-o', 'old.html']).stderr).toMatch(/v2\.json: unsupported report version 2 \(this page reads version 1\)\n$/);
    expect(cli(['missing.json']).stderr).toMatch(/missing\.json: cannot read: ENOENT\n$/);
    expect(cli(['v2.json', '-o', 'v2.json']).stderr).toContain('the output would overwrite the input');
    expect(cli([]).stderr).toContain('expected one JSON file, got 0');
    expect(cli(['--nope', 'x.json']).status).toBe(1);
  });

  it('skips an unreadable saved profile with a warning, and still writes the page', () => {
    const { record } = measured();
    writeFileSync(path.join(root, 'results.json'), JSON.stringify(reportFor(record)));
    const saved = savedProfilePath(root, '.alloc-profiles', 'test/a.test.ts', TEST, PHASE);
    writeFileSync(saved, '{"head": 1}');
    const result = cli(['results.json', '-o', 'warned.html']);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/warning: .*\.heapprofile: skipped: not a heap profile/);
    expect(result.stdout).toContain('0 call trees');
  });
});
