/**
 * A fresh project outside the repository with the packed package and Vitest installed by a real
 * `npm install` (no symlinks into this checkout): the benchmarks that run the plugin as users get it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** The directory of the Node running the benchmark: the only one on the projects' PATH. */
export const NODE_DIR = path.dirname(process.execPath);

/**
 * A working directory per benchmark and checkout. Outside the repository: Vitest keeps its module
 * cache under the workspace root it finds above the project (this repository's node_modules), and
 * two benches running at once would share it.
 */
export function workDir(bench: string): string {
  return path.join(tmpdir(), `alloc-tracker-${bench}-${createHash('sha256').update(REPO).digest('hex').slice(0, 8)}`);
}

const npmCli = path.join(NODE_DIR, '../lib/node_modules/npm/bin/npm-cli.js');
/** npm of the running Node when it ships one, else the npm on PATH. */
export function npm(cwd: string, args: string[]): string {
  return execFileSync(existsSync(npmCli) ? process.execPath : 'npm', [...(existsSync(npmCli) ? [npmCli] : []), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_loglevel: 'error', npm_config_fund: 'false', npm_config_audit: 'false' },
  });
}

/**
 * Empties `work`, packs this checkout there and installs the tarball and `packages` into
 * `<work>/project` (with `src/` and `test/` made). Returns the project's directory.
 */
export function freshProject(work: string, name: string, packages: string[]): string {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  console.log('packing the repository and installing it in a fresh project (real npm install)...');
  const tarball = path.join(work, npm(REPO, ['pack', '--silent', '--pack-destination', work]).trim().split('\n').pop()!.trim());
  const project = path.join(work, 'project');
  mkdirSync(path.join(project, 'src'), { recursive: true });
  mkdirSync(path.join(project, 'test'), { recursive: true });
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  npm(project, ['install', '--prefer-offline', '--no-save', tarball, ...packages]);
  return project;
}
