/** The oci-chunk CLI: build/inspect/extract/reuse as a user runs them. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { describe as suite, expect, it } from 'vitest';
import type { InspectResult, ReuseReport } from '../src/inspect.ts';
import { DEBIAN_V1, DEBIAN_V2, DEBIAN_V3, NODE, PACKAGE, runCli, tempDir } from './helpers.ts';

suite('oci-chunk CLI', async () => {
  const dir = await tempDir('oci-cli');
  const built = [DEBIAN_V1, DEBIAN_V2, DEBIAN_V3].map((_, i) => join(dir, `v${i + 1}.tar`));

  it('build prints a summary and writes the archive', async () => {
    for (const [i, input] of [DEBIAN_V1, DEBIAN_V2, DEBIAN_V3].entries()) {
      const r = await runCli(['build', input, '-o', built[i]!, '--max-layers', '8', '--compressed', '--tag', `v${i + 1}`], {
        SOURCE_DATE_EPOCH: '1700000000',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/: [1-8] layers \(.*\) from 75 paths in \d+ components, manifest sha256:[0-9a-f]{64}\n$/);
    }
    expect((await readdir(dir)).filter((n) => n.includes('.partial'))).toEqual([]);
  });

  const hasZstd = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';
  it.runIf(hasZstd)('build --zstd writes zstd layers; with --compressed it is refused', async () => {
    const out = join(dir, 'zstd.tar');
    const r = await runCli(['build', DEBIAN_V1, '-o', out, '--max-layers', '4', '--zstd']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const info = JSON.parse((await runCli(['inspect', out, '--json'])).stdout) as InspectResult;
    expect(info.layers.length).toBeGreaterThan(0);
    for (const layer of info.layers) expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    const both = await runCli(['build', DEBIAN_V1, '-o', join(dir, 'both.tar'), '--zstd', '--compressed']);
    expect(both.status).toBe(1);
    expect(both.stderr).toBe('oci-chunk: --compressed (gzip) and --zstd: choose one\n');
  });

  it('inspect --json lists layers with components and the copied config', async () => {
    const r = await runCli(['inspect', built[0]!, '--json']);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as InspectResult;
    expect(info.layers.length).toBeLessThanOrEqual(8);
    expect(info.layers.map((l) => l.component).join(' ')).toContain('dpkg/glibc');
    expect(info.layers.every((l) => l.mediaType.endsWith('tar+gzip') && l.size > 0)).toBe(true);
    expect(info.config['Cmd']).toEqual(['/usr/bin/bash']);
    expect(info.created).toBe('2023-11-14T22:13:20Z');
    expect(info.totalSize).toBe(info.layers.reduce((s, l) => s + l.size, 0));
  });

  it('inspect prints a readable table', async () => {
    const r = await runCli(['inspect', built[0]!]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^manifest: {2}sha256:[0-9a-f]{64}$/m);
    expect(r.stdout).toMatch(/^ {2}Cmd: \["\/usr\/bin\/bash"\]$/m);
    expect(r.stdout).toMatch(/^\s+\d+ [0-9a-f]{12}\s+[\d.]+ (B|KiB|MiB)\s+[\d.]+\s+.*bigfiles\/model\.bin/m);
  });

  it('reuse: consecutive versions share the unchanged layers', async () => {
    const r = await runCli(['reuse', ...built, '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as ReuseReport;
    expect(report.summary.updates).toBe(2);
    for (const pair of report.pairs) {
      // Only a few packages change per version: most layers (the big file's above all) are reused.
      expect(pair.sharedLayers).toBeGreaterThan(0);
      expect(pair.newLayers).toBeGreaterThan(0);
      expect(pair.reuseRatio).toBeGreaterThan(0.5);
      expect(pair.reuseRatio).toBeCloseTo(pair.sharedBytes / (pair.sharedBytes + pair.downloadBytes), 10);
    }
    expect(report.summary.totalDownload).toBe(report.pairs[0]!.downloadBytes + report.pairs[1]!.downloadBytes);
    expect(report.summary.minDownload).toBeLessThanOrEqual(report.summary.maxDownload);

    const same = JSON.parse((await runCli(['reuse', built[0]!, built[0]!, '--json'])).stdout) as ReuseReport;
    expect(same.summary.minDownload).toBe(0); // identical versions download nothing
    expect(same.pairs[0]!.reuseRatio).toBe(1);

    const text = await runCli(['reuse', ...built]);
    expect(text.stdout).toMatch(/^summary: 2 updates, average reuse \d+\.\d%, download avg .*, min .*, max .*, total .*$/m);
  });

  it('extract writes the root filesystem', async () => {
    const target = join(dir, 'rootfs');
    const r = await runCli(['extract', built[2]!, target]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${target}: 75 paths extracted\n`);
    expect(existsSync(join(target, 'usr', 'bin', 'bash'))).toBe(true);
  });

  it('build --alloc-report prints the per-phase allocation table to stderr', async () => {
    const r = await runCli(['build', DEBIAN_V1, '-o', join(dir, 'report.tar'), '--alloc-report']);
    expect(r.status).toBe(0);
    for (const name of ['scan', 'components', 'packing', 'oci_build'])
      expect(r.stderr).toMatch(new RegExp(`^\\| ${name}\\s+\\|\\s+\\d+ \\|\\s+\\d+ \\|$`, 'm'));
  });

  it.runIf(existsSync('/proc/self/cmdline'))(
    'build runs with a small young generation and one malloc arena: the same process re-executed',
    async () => {
      const rootfs = join(dir, 'semi-rootfs');
      await mkdir(rootfs);
      await writeFile(join(rootfs, 'big.bin'), '');
      await truncate(join(rootfs, 'big.bin'), 1024 * 1024 * 1024); // takes a while to gzip: long enough to look at
      const scratch = join(dir, 'semi-scratch');
      await mkdir(scratch);
      const child = spawn(NODE, [join(PACKAGE, 'src/cli.ts'), 'build', rootfs, '-o', join(dir, 'semi.tar'), '--compressed'], {
        env: { ...process.env, TMPDIR: scratch, NODE_OPTIONS: '' },
        stdio: 'ignore',
      });
      const exited = new Promise((res) => child.on('exit', res));
      while ((await readdir(scratch)).length === 0) await new Promise((r) => setTimeout(r, 20));
      const argv = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
      const environ = (await readFile(`/proc/${child.pid}/environ`, 'utf8')).split('\0');
      child.kill('SIGINT');
      await exited;
      expect(argv).toContain('--max-semi-space-size=4');
      expect(argv).toContain('--expose-gc');
      expect(environ).toContain(`MALLOC_ARENA_MAX=${process.env['MALLOC_ARENA_MAX'] ?? '1'}`);
      // glibc's mmap threshold is left alone: a fixed one made builds up to 2x slower.
      if (process.env['MALLOC_MMAP_THRESHOLD_'] === undefined)
        expect(environ.some((v) => v.startsWith('MALLOC_MMAP_THRESHOLD_='))).toBe(false);
      expect(argv.slice(argv.indexOf('build'))).toEqual(['build', rootfs, '-o', join(dir, 'semi.tar'), '--compressed', '']);
    },
  );

  it('an interrupted build removes its scratch directory and partial output', async () => {
    const rootfs = join(dir, 'big-rootfs');
    await mkdir(rootfs);
    await writeFile(join(rootfs, 'big.bin'), '');
    await truncate(join(rootfs, 'big.bin'), 1024 * 1024 * 1024); // sparse: costs no disk, takes a while to gzip
    const scratch = join(dir, 'scratch');
    await mkdir(scratch);
    const outDir = join(dir, 'interrupted');
    await mkdir(outDir);
    const child = spawn(NODE, [join(PACKAGE, 'src/cli.ts'), 'build', rootfs, '-o', join(outDir, 'out.tar'), '--compressed'], {
      env: { ...process.env, TMPDIR: scratch },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal })),
    );
    // Interrupt once the build has started writing (its scratch directory exists).
    while ((await readdir(scratch)).length === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    // It dies by the signal after cleaning up (the shell reports 130): exit() could hang on a blocked thread.
    expect(await exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(stderr).toBe('oci-chunk: interrupted\n');
    expect(await readdir(scratch)).toEqual([]);
    expect(await readdir(outDir)).toEqual([]);
  });
});
