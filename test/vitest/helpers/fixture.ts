/**
 * Real Vitest runs on small fixture projects that use the PACKED alloc-tracker: the repository is packed
 * once per dist build into test/vitest/.work/, each fixture gets a copy of the extracted package and a
 * symlink to the repository's Vitest 5 (`vitest`) or 4.1 (`vitest-v4`), so nothing is downloaded.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const WORK = path.join(REPO, 'test/vitest/.work');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function distHash(): string {
  const hash = createHash('sha256');
  hash.update(readFileSync(path.join(REPO, 'package.json')));
  const dist = path.join(REPO, 'dist');
  const files = readdirSync(dist, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
  for (const file of files) hash.update(file).update(readFileSync(file));
  return hash.digest('hex').slice(0, 16);
}

/** Run `fn` while holding a directory lock (mkdir is atomic), so parallel test files pack only once. */
async function withLock<T>(name: string, fn: () => T): Promise<T> {
  const lock = path.join(WORK, `${name}.lock`);
  mkdirSync(WORK, { recursive: true });
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than 3 minutes belongs to a killed run.
      if (waited > 180_000 || Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 180_000)
        rmSync(lock, { recursive: true, force: true });
      await sleep(100);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The extracted package directory. Builds first when dist is missing or older than src (`npm test`
 * builds anyway), then `npm pack`s into .work/pack-<hash of dist>/ unless that exists.
 */
export async function packedPackage(): Promise<string> {
  return withLock('pack', () => {
    // Projects stay after a run for debugging; those of older runs (over an hour) are removed.
    const projects = path.join(WORK, 'projects');
    for (const entry of existsSync(projects) ? readdirSync(projects) : []) {
      const dir = path.join(projects, entry);
      if (Date.now() - statSync(dir).mtimeMs > 3_600_000) rmSync(dir, { recursive: true, force: true });
    }
    const marker = path.join(REPO, 'dist/vitest/index.js');
    if (!existsSync(marker) || newestMtime(path.join(REPO, 'src')) > statSync(marker).mtimeMs) {
      execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
        cwd: REPO,
        stdio: 'pipe',
      });
    }
    const target = path.join(WORK, `pack-${distHash()}`);
    const extracted = path.join(target, 'package');
    if (existsSync(path.join(target, 'done'))) return extracted;
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    const npmCli = path.join(path.dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js');
    const npm = existsSync(npmCli) ? [process.execPath, npmCli] : ['npm'];
    const out = execFileSync(npm[0]!, [...npm.slice(1), 'pack', '--silent', '--pack-destination', target], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, npm_config_loglevel: 'error' },
    });
    const tarball = path.join(target, out.trim().split('\n').pop()!.trim());
    execFileSync('tar', ['xzf', tarball, '-C', target]);
    writeFileSync(path.join(target, 'done'), '');
    return extracted;
  });
}

export type VitestVersion = 'v5' | 'v4';
const VITEST_DIR: Record<VitestVersion, string> = { v5: 'vitest', v4: 'vitest-v4' };

export interface RunResult {
  status: number | null;
  output: string;
  stdout: string;
  stderr: string;
}

export interface FixtureOptions {
  vitest?: VitestVersion;
  /** Files relative to the project root. */
  files: Record<string, string>;
}

let counter = 0;

/** A fixture project with its own node_modules (the packed package and a Vitest symlink). */
export class FixtureProject {
  readonly root: string;
  readonly vitest: VitestVersion;

  private constructor(root: string, vitest: VitestVersion) {
    this.root = root;
    this.vitest = vitest;
  }

  static async create(name: string, options: FixtureOptions): Promise<FixtureProject> {
    const pkg = await packedPackage();
    const vitest = options.vitest ?? 'v5';
    const root = path.join(WORK, 'projects', `${name}-${process.pid}-${Date.now()}-${counter++}`);
    rmSync(root, { recursive: true, force: true });
    const modules = path.join(root, 'node_modules');
    mkdirSync(path.join(modules, '.bin'), { recursive: true });
    // A copy, not a symlink: Node resolves a symlinked package's imports from its real path, which
    // would find the repository's Vitest 5 instead of the fixture's.
    cpSync(pkg, path.join(modules, 'alloc-tracker'), { recursive: true });
    symlinkSync(path.join(REPO, 'node_modules', VITEST_DIR[vitest]), path.join(modules, 'vitest'), 'dir');
    // What npm does for a bin on install.
    const bin = path.join(modules, 'alloc-tracker/dist/vitest/bin.js');
    chmodSync(bin, 0o755);
    symlinkSync('../alloc-tracker/dist/vitest/bin.js', path.join(modules, '.bin/vitest-alloc'));
    const project = new FixtureProject(root, vitest);
    project.write({ 'package.json': JSON.stringify({ name, private: true, type: 'module' }, null, 2), ...options.files });
    return project;
  }

  write(files: Record<string, string>): void {
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(this.root, file)), { recursive: true });
      writeFileSync(path.join(this.root, file), text);
    }
  }

  read(file: string): string {
    return readFileSync(path.join(this.root, file), 'utf8');
  }

  readJson<T = unknown>(file: string): T {
    return JSON.parse(this.read(file)) as T;
  }

  exists(file: string): boolean {
    return existsSync(path.join(this.root, file));
  }

  remove(file: string): void {
    rmSync(path.join(this.root, file), { recursive: true, force: true });
  }

  /**
   * Run Vitest (or the package's vitest-alloc bin) in the project. The environment is built from
   * scratch: the outer run may itself be on CI (CI, GITHUB_ACTIONS, ... make std-env say CI) or in
   * update mode, so nothing but PATH and HOME is inherited.
   */
  run(args: readonly string[], env: Record<string, string> = {}, bin: 'vitest' | 'vitest-alloc' = 'vitest', timeout = 120_000): RunResult {
    const nodeDir = path.dirname(process.execPath);
    const command =
      bin === 'vitest'
        ? [process.execPath, path.join(this.root, 'node_modules/vitest/vitest.mjs')]
        : [path.join(this.root, 'node_modules/.bin/vitest-alloc')];
    const result = spawnSync(command[0]!, [...command.slice(1), ...args], {
      cwd: this.root,
      encoding: 'utf8',
      timeout,
      env: {
        PATH: `${nodeDir}${path.delimiter}${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? this.root,
        NO_COLOR: '1',
        ...env,
      },
    });
    const stdout = result.stdout ?? '';
    const stderr = result.stderr ?? '';
    return { status: result.status, stdout, stderr, output: `${stdout}\n${stderr}` };
  }
}

/** What `run` printed, for assertion messages. */
export function describeRun(result: RunResult): string {
  return `exit ${String(result.status)}\n--- output ---\n${result.output.slice(-6000)}`;
}
