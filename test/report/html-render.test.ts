/** The HTML report's renderer and converter, on models made from real Session records. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Session, span } from '../../src/index.ts';
import type { RunReport } from '../../src/report/baselines.ts';
import { assertRunReport, flameTreeFromProfile, fromRunReport, type FlameNode, type HtmlReportModel } from '../../src/report/html/model.ts';
import { Encoder, encodeTree, escapeHtml, jsonForScript, renderHtmlReport } from '../../src/report/html/render.ts';

const HOSTILE = [
  '<script>window.__pwned = 1</script>',
  `"double" 'single' & <b>bold</b>`,
  '__proto__',
  'constructor',
  '</script><img src=x onerror="window.__pwned = 2">',
  '<!-- comment',
  'line\u2028separator',
];

function hostileModel(): HtmlReportModel {
  return {
    title: '<title>x</title>',
    environment: 'node26-<linux>-x64',
    mode: 'local"',
    deterministic: false,
    files: [
      {
        file: 'test/</script>.test.ts',
        baselineFile: 'baselines/"x".json',
        error: '<script>error</script>',
        phases: HOSTILE.map((name, i) => ({
          test: HOSTILE[(i + 1) % HOSTILE.length]!,
          phase: name,
          status: i % 2 ? 'regressed' : 'ok',
          note: name,
          baseline: { bytes: 1000 + i, count: 10 },
          current: { bytes: 2000 + i, count: null },
          sites: [{ functionName: name, location: `${name}.ts:1:1`, bytes: 100, share: 1 }],
          tree: {
            functionName: '(root)',
            location: '',
            selfBytes: 0,
            children: [{ functionName: name, location: `${name}:2:3`, selfBytes: 100, children: [] }],
          },
          warnings: [name],
        })),
      },
    ],
  };
}

function scripts(html: string): string[] {
  return [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
}

describe('renderHtmlReport with hostile names', () => {
  const html = renderHtmlReport(hostileModel());

  it('has exactly its own two script elements: the data block and the page script', () => {
    expect(html.match(/<script/gi)).toHaveLength(2);
    expect(html.match(/<\/script/gi)).toHaveLength(2);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<!--');
    expect(html).not.toContain('<title>x</title><');
  });

  it('escapes names in text and attributes, and keeps them whole in the data block', () => {
    expect(html).toContain('&#60;script&#62;window.__pwned = 1&#60;/script&#62;');
    expect(html).toContain('data-phase="&#34;double&#34; &#39;single&#39; &#38; &#60;b&#62;bold&#60;/b&#62;"');
    const data = JSON.parse(scripts(html)[0]!) as { s: string[] };
    for (const name of HOSTILE) expect(data.s).toContain(name);
    expect(scripts(html)[0]).not.toMatch(/[<>\u2028]/);
  });

  it('counts every row, __proto__ and constructor included, and offers a filter per status present', () => {
    expect(html.match(/<tr class="phase /g)).toHaveLength(HOSTILE.length);
    expect(html).toContain('data-phase="__proto__"');
    expect(html).toContain('data-test="__proto__"');
    expect(html).toContain('data-test="constructor"');
    expect(html).toContain(`all ${HOSTILE.length}`);
    expect(html).toMatch(/data-filter="regressed"[^>]*>.*regressed 3</);
    expect(html).toMatch(/data-filter="ok"[^>]*>.*ok 4</);
    expect(html).not.toContain('data-filter="new"');
  });

  it('allows only its own script, by hash, and no network at all', () => {
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1]!;
    const hash = createHash('sha256').update(scripts(html)[1]!).digest('base64');
    expect(csp).toContain(`script-src 'sha256-${hash}'`);
    expect(csp).toContain("default-src 'none'");
    expect(html).not.toMatch(/\b(src|href)=["']?(https?:)?\/\//);
  });

  it('escapeHtml and jsonForScript leave nothing that can end an element or attribute', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#60;/a&#62;');
    const json = jsonForScript({ k: '</script><!--\u2029' });
    expect(json).not.toMatch(/[<>&\u2029]/);
    expect(JSON.parse(json)).toEqual({ k: '</script><!--\u2029' });
  });
});

describe('figures in the table', () => {
  it('shows bytes and counts of both sides, the change, and a dash for what is absent', () => {
    const model: HtmlReportModel = {
      title: 't',
      environment: 'e',
      mode: 'local',
      deterministic: true,
      files: [
        {
          file: 'a.test.ts',
          phases: [
            {
              test: 'x',
              phase: 'grew',
              status: 'regressed',
              baseline: { bytes: 4509935, count: 100 },
              current: { bytes: 5183905, count: 90 },
              sites: [],
            },
            { test: 'x', phase: 'fresh', status: 'new', baseline: null, current: { bytes: 10, count: null }, sites: [] },
          ],
        },
      ],
    };
    const html = renderHtmlReport(model);
    const grew = /<tr class="phase st-regressed"[\s\S]*?<\/tr>/.exec(html)![0];
    expect(grew).toContain('4.51 MB</span> → <span class="c">5.18 MB');
    expect(grew).toContain('+14.94%');
    expect(grew).toContain('+674.0 kB');
    expect(grew).toContain('-10.00%');
    // No samples: no toggle to open.
    expect(grew).not.toContain('button');
    const fresh = /<tr class="phase st-new"[\s\S]*?<\/tr>/.exec(html)![0];
    expect(fresh).toContain('<span class="b">-</span> → <span class="c">10 B');
    expect(fresh).toContain('<span class="b">-</span> → <span class="c">-');
  });
});

describe('encodeTree', () => {
  const leaf = (name: string, self: number): FlameNode => ({
    functionName: name,
    location: `${name}.ts:1:1`,
    selfBytes: self,
    children: [],
  });
  const chain = (names: string[], below: FlameNode[]): FlameNode => {
    let node: FlameNode = { functionName: names.at(-1)!, location: 'x', selfBytes: 0, children: below };
    for (const name of names.slice(0, -1).reverse()) node = { functionName: name, location: 'x', selfBytes: 0, children: [node] };
    return node;
  };

  it('folds the frames every path shares, keeping the one the paths part from', () => {
    const tree: FlameNode = {
      functionName: '(root)',
      location: '',
      selfBytes: 0,
      children: [chain(['runTest', 'span', 'work'], [leaf('a', 600), leaf('b', 400)])],
    };
    const encoder = new Encoder();
    const { root, collapsed } = encodeTree(tree, encoder, 0.001)!;
    expect(collapsed.map((i) => encoder.strings[i])).toEqual(['runTest (x)', 'span (x)']);
    // root -> work -> [a, b]
    const work = root[3]![0]!;
    expect(encoder.strings[work[0]]).toBe('work');
    expect(work[3]!.map((n) => encoder.strings[n[0]])).toEqual(['a', 'b']);
  });

  it('folds paths under the minimum share into one node per parent, keeping the total', () => {
    const tree: FlameNode = {
      functionName: '(root)',
      location: '',
      selfBytes: 0,
      children: [leaf('big', 9_000), leaf('tiny1', 4), leaf('tiny2', 5), leaf('mid', 991)],
    };
    const encoder = new Encoder();
    const { root } = encodeTree(tree, encoder, 0.001)!;
    const names = root[3]!.map((n) => [encoder.strings[n[0]], n[2]]);
    expect(names).toEqual([
      ['big', 9000],
      ['mid', 991],
      ['(smaller paths)', 9],
    ]);
  });

  it('gives nothing to draw for an empty profile', () => {
    expect(encodeTree({ functionName: '(root)', location: '', selfBytes: 0, children: [] }, new Encoder(), 0.001)).toBeNull();
  });
});

describe('fromRunReport', () => {
  it('converts real records: sites relative to the root, count null when counting was off, trees from profiles', () => {
    const root = process.cwd();
    const session = new Session();
    const build = (): unknown[] => Array.from({ length: 500 }, (_, i) => ({ i }));
    session.run(() => span('build', build));
    const record = session.phase('build');
    const off = new Session({ samplingInterval: 0 });
    off.run(() => span('build', build));
    const metrics = (r: typeof record) => ({
      bytes: r.bytes,
      count: r.count,
      heapBytes: r.heapBytes,
      externalBytes: r.externalBytes,
      iterations: r.iterations,
      countMethod: r.countMethod,
    });
    const report: RunReport = {
      version: 1,
      mode: 'local',
      environment: 'node26-linux-x64',
      deterministic: true,
      summary: {
        ok: 1,
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
              test: 't',
              phase: 'build',
              status: 'regressed',
              baseline: metrics(off.phase('build')),
              current: metrics(record),
              comparisons: [],
              tolerance: null,
              metrics: ['bytes'],
              record,
              testState: 'failed',
            },
            // What the plugin writes today for a phase named __proto__: an empty baseline object.
            {
              test: 't',
              phase: '__proto__',
              status: 'ok',
              baseline: {} as never,
              current: metrics(record),
              comparisons: [],
              tolerance: null,
              metrics: ['bytes'],
              record: null,
              testState: 'passed',
            },
          ],
        },
      ],
    };
    assertRunReport(JSON.parse(JSON.stringify(report)));
    const model = fromRunReport(report, { root, profileOf: (_file, row) => (row.phase === 'build' ? session.profile('build') : null) });
    const [build1, proto] = model.files[0]!.phases;
    expect(build1!.baseline).toEqual({ bytes: off.phase('build').bytes, count: null });
    expect(build1!.current).toEqual({ bytes: record.bytes, count: record.count });
    expect(build1!.sites[0]!.location).toMatch(/^test\/report\/html-render\.test\.ts:\d+:\d+$/);
    const names = (node: FlameNode): string[] => [node.functionName, ...node.children.flatMap(names)];
    expect(names(build1!.tree!)).toContain('build');
    expect(proto!.baseline).toBeNull();
    expect(renderHtmlReport(model)).not.toContain('NaN');
  });

  it('flameTreeFromProfile keeps every byte of the profile', () => {
    const session = new Session();
    session.run(() => span('p', () => Array.from({ length: 300 }, () => ({}))));
    const profile = session.profile('p')!;
    const sum = (n: { selfSize?: number; selfBytes?: number; children: unknown[] }): number =>
      (n.selfSize ?? n.selfBytes ?? 0) + (n.children as (typeof n)[]).reduce((a, c) => a + sum(c), 0);
    expect(sum(flameTreeFromProfile(profile))).toBe(sum(profile.head));
    expect(sum(profile.head)).toBeGreaterThan(0);
  });

  it('assertRunReport says what is wrong in one line', () => {
    expect(() => assertRunReport([])).toThrow('not an alloc-tracker JSON report (expected an object)');
    expect(() => assertRunReport({ version: 2, files: [] })).toThrow('unsupported report version 2');
    expect(() => assertRunReport({ version: 1 })).toThrow('no "files" array');
    expect(() => assertRunReport({ version: 1, files: [{ file: 'a', rows: [{ test: 't', phase: 'p' }] }] })).toThrow(
      'files[0].rows[0] is not a phase row',
    );
    expect(() => assertRunReport({ version: 1, files: [{ file: 'a', rows: [{ test: 't', phase: 'p', status: 'meh' }] }] })).toThrow(
      'unknown status "meh"',
    );
  });
});
