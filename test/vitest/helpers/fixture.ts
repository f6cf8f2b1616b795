/**
 * Real Vitest runs on small fixture projects that use the package as users get it:
 *   1. once per test run, the clean checkout (the repository's tracked files, as they are now; no dist,
 *      no untracked files) is copied and `npm pack`ed there, which builds dist through `prepack`;
 *   2. once per run and Vitest version, that tarball and vitest are installed into an empty folder with
 *      a real `npm install --save-dev` (from the npm registry; --prefer-offline uses npm's cache);
 *   3. each fixture project is a copy of that install plus its own files;
 *   4. Vitest runs there through node_modules/.bin with nothing but this repository's Node on PATH.
 * Parallel test files share steps 1 and 2 through directory locks.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/**
 * Outside the repository: Node resolves packages up the directory tree, so a project inside it would
 * find the repository's node_modules and hide a dependency the packed package forgot.
 */
// One directory per checkout: two checkouts' runs must not share installs or the node link.
export const WORK = path.join(
  os.tmpdir(),
  `alloc-tracker-e2e-${process.getuid?.() ?? 'user'}-${createHash('sha256').update(REPO).digest('hex').slice(0, 8)}`,
);
/** The Node that runs fixture projects: this repository's pinned Node 26. */
export const NODE = realpathSync(path.join(REPO, 'node_modules/.bin/node'));

/** The Vitest versions the plugin is tested on. */
export const VITEST_VERSIONS = { v5: '5.1.1', v4: '4.1.12' } as const;
export type VitestVersion = keyof typeof VITEST_VERSIONS;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** This test run's id (test/vitest/helpers/global-setup.ts); a run outside `vitest run` gets one per process. */
function runId(): string {
  try {
    const id = inject('allocTrackerE2eRun');
    if (id) return id;
  } catch {
    // not inside a Vitest worker with the global setup
  }
  return `pid-${process.pid}`;
}
const runDir = (): string => path.join(WORK, `run-${runId()}`);

/** Run `fn` while holding a directory lock (mkdir is atomic), so parallel test files do a step once. */
async function withLock<T>(name: string, fn: () => T): Promise<T> {
  const lock = path.join(WORK, `${name}.lock`);
  mkdirSync(WORK, { recursive: true });
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than 5 minutes belongs to a killed run.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (waited > 300_000 || age > 300_000) rmSync(lock, { recursive: true, force: true });
      await sleep(100);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** npm's CLI script: the one running `npm test`, else the `npm` on PATH. Run with our Node. */
function npmCli(): string {
  const fromNpm = process.env.npm_execpath;
  if (fromNpm && /npm-cli\.c?js$/.test(fromNpm)) return fromNpm;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'npm');
    if (!dir || !existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    if (real.endsWith('.js')) return real;
    const cli = path.join(path.dirname(real), '../lib/node_modules/npm/bin/npm-cli.js');
    if (existsSync(cli)) return cli;
  }
  throw new Error('cannot find npm (npm-cli.js) on PATH');
}

/**
 * Run npm in `cwd`. The environment is ours minus what an outer `npm test` exported (npm_* and
 * INIT_CWD: npm_config_local_prefix would install into the repository), so proxy and certificate
 * settings still reach the registry. Our Node comes first on PATH for install scripts.
 */
export function npm(args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^npm_/i.test(key) && key !== 'INIT_CWD') env[key] = value;
  }
  if (process.env.npm_config_cache) env.npm_config_cache = process.env.npm_config_cache;
  Object.assign(env, {
    PATH: `${path.dirname(NODE)}${path.delimiter}${process.env.PATH ?? ''}`,
    npm_config_loglevel: 'error',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  });
  return spawnSync(NODE, [npmCli(), ...args], { cwd, encoding: 'utf8', env, timeout: 300_000 });
}

function npmOrThrow(args: readonly string[], cwd: string): string {
  const result = npm(args, cwd);
  if (result.status !== 0) {
    throw new Error(`npm ${args.join(' ')} in ${cwd} failed (exit ${String(result.status)}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** Remove what runs older than an hour left (projects stay after a run for debugging). */
function removeOldRuns(): void {
  for (const parent of [WORK, path.join(WORK, 'projects')]) {
    for (const entry of existsSync(parent) ? readdirSync(parent) : []) {
      if (parent === WORK && !entry.startsWith('run-') && !entry.startsWith('pack-')) continue;
      const dir = path.join(parent, entry);
      try {
        if (Date.now() - statSync(dir).mtimeMs > 3_600_000) rmSync(dir, { recursive: true, force: true });
      } catch {
        // a mount or an immutable file left by a killed run: not ours to force
      }
    }
  }
}

/**
 * The package tarball of the clean checkout, packed once per run: the tracked files as they are in the
 * working tree are copied to .work/run-<id>/checkout (with this repository's node_modules linked for
 * the build tools) and `npm pack` runs there, so `prepack` must build dist from scratch.
 */
export async function packedTarball(): Promise<string> {
  return withLock('pack', () => {
    const dir = runDir();
    const done = path.join(dir, 'tarball');
    if (existsSync(done)) return readFileSync(done, 'utf8');
    removeOldRuns();
    const checkout = path.join(dir, 'checkout');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(checkout, { recursive: true });
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const file of tracked) {
      const from = path.join(REPO, file);
      if (!lstatSync(from, { throwIfNoEntry: false })) continue; // deleted in the working tree
      mkdirSync(path.dirname(path.join(checkout, file)), { recursive: true });
      cpSync(from, path.join(checkout, file), { verbatimSymlinks: true });
    }
    symlinkSync(path.join(REPO, 'node_modules'), path.join(checkout, 'node_modules'), 'dir');
    const out = npmOrThrow(['pack', '--pack-destination', dir], checkout);
    const tarball = path.join(dir, out.trim().split('\n').pop()!.trim());
    if (!existsSync(tarball)) throw new Error(`npm pack printed ${out} but ${tarball} does not exist`);
    writeFileSync(done, tarball);
    return tarball;
  });
}

/** A folder where the tarball and Vitest `version` were installed with `npm install`, once per run. */
export async function installedBase(version: VitestVersion): Promise<string> {
  const tarball = await packedTarball();
  return withLock(`base-${version}`, () => {
    const base = path.join(runDir(), `vitest-${VITEST_VERSIONS[version]}`);
    if (existsSync(path.join(base, '.installed'))) return base;
    rmSync(base, { recursive: true, force: true });
    mkdirSync(base, { recursive: true });
    writeFileSync(path.join(base, 'package.json'), `${JSON.stringify({ name: 'fixture', private: true, type: 'module' }, null, 2)}\n`);
    // @types/node as a TypeScript project has it (the types tests compile against it).
    const typesNode = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> })
      .devDependencies['@types/node']!;
    npmOrThrow(
      ['install', '--save-dev', '--prefer-offline', tarball, `vitest@${VITEST_VERSIONS[version]}`, `@types/node@${typesNode}`],
      base,
    );
    writeFileSync(path.join(base, '.installed'), '');
    return base;
  });
}

/** A directory with nothing but `node` (this repository's Node 26): the PATH of fixture runs. */
function nodeOnlyPath(): string {
  const dir = path.join(WORK, 'node-only-bin');
  const link = path.join(dir, 'node');
  mkdirSync(dir, { recursive: true });
  try {
    symlinkSync(NODE, link);
  } catch {
    // Made by a parallel test file already; a link left by an older Node is replaced.
    if (readlinkSync(link) !== NODE) {
      rmSync(link, { force: true });
      symlinkSync(NODE, link);
    }
  }
  return dir;
}

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

/**
 * A copy of an install. Files are hard links where the platform's cp can make them (GNU `cp -al`):
 * nothing writes into an installed package, and 30 scenarios x 45 MB of node_modules add up.
 */
function copyInstall(base: string, root: string): void {
  if (spawnSync('cp', ['-al', base, root]).status === 0) {
    rmSync(path.join(root, '.installed'), { force: true });
    // Files a scenario may write (package.json) must not be links to the base's.
    for (const name of ['package.json', 'package-lock.json']) {
      rmSync(path.join(root, name), { force: true });
      cpSync(path.join(base, name), path.join(root, name));
    }
    return;
  }
  rmSync(root, { recursive: true, force: true });
  cpSync(base, root, { recursive: true, verbatimSymlinks: true, filter: (source) => path.basename(source) !== '.installed' });
}

let counter = 0;

/** A fixture project: a copy of a real install of the packed package and Vitest, plus its files. */
export class FixtureProject {
  readonly root: string;
  readonly vitest: VitestVersion;

  private constructor(root: string, vitest: VitestVersion) {
    this.root = root;
    this.vitest = vitest;
  }

  static async create(name: string, options: FixtureOptions): Promise<FixtureProject> {
    const vitest = options.vitest ?? 'v5';
    const base = await installedBase(vitest);
    const root = path.join(WORK, 'projects', `${name}-${process.pid}-${Date.now()}-${counter++}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(path.dirname(root), { recursive: true });
    copyInstall(base, root);
    const project = new FixtureProject(root, vitest);
    project.write(options.files);
    return project;
  }

  write(files: Record<string, string>): void {
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(this.root, file)), { recursive: true });
      writeFileSync(path.join(this.root, file), text);
    }
  }

  /**
   * The environment of fixture runs, built from scratch: the outer run may itself be on CI (CI,
   * GITHUB_ACTIONS, ... make std-env say CI) or in update mode.
   */
  baseEnv(): Record<string, string> {
    return { PATH: nodeOnlyPath(), HOME: process.env.HOME ?? this.root, NO_COLOR: '1' };
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
   * Run the project's `vitest` (or one of the package's bins) from node_modules/.bin, with only this
   * repository's Node on PATH and the environment of baseEnv() plus `env`.
   */
  run(
    args: readonly string[],
    env: Record<string, string> = {},
    bin: 'vitest' | 'vitest-alloc' | 'alloc-tracker-html' = 'vitest',
    timeout = 120_000,
  ): RunResult {
    const result = spawnSync(path.join(this.root, 'node_modules/.bin', bin), args, {
      cwd: this.root,
      encoding: 'utf8',
      timeout,
      env: { ...this.baseEnv(), ...env },
    });
    const stdout = result.stdout ?? '';
    const stderr = result.stderr ?? '';
    return { status: result.status, stdout, stderr, output: `${stdout}\n${stderr}` };
  }
}

/**
 * Vitest in a real terminal: a tmux session on its own server (socket), so watch mode's keyboard
 * shortcuts work (Vitest reads keys only from a TTY). Output goes to a log file.
 */
export class TerminalSession {
  readonly log: string;
  readonly project: FixtureProject;
  private readonly socket: string;

  constructor(project: FixtureProject, args: readonly string[], env: Record<string, string>) {
    this.project = project;
    this.socket = `alloc-tracker-${process.pid}-${counter++}`;
    this.log = path.join(project.root, '.terminal.log');
    rmSync(this.log, { force: true });
    const assignments = Object.entries({ ...project.baseEnv(), ...env }).map(([k, v]) => `${k}=${shellQuote(v)}`);
    const command =
      `cd ${shellQuote(project.root)} && env -i ${assignments.join(' ')} node_modules/.bin/vitest ${args.map(shellQuote).join(' ')} ` +
      `> ${shellQuote(this.log)} 2>&1; echo "EXIT $?" >> ${shellQuote(this.log)}`;
    const started = spawnSync(
      'tmux',
      ['-L', this.socket, '-f', '/dev/null', 'new-session', '-d', '-s', 'vitest', '-x', '200', '-y', '50', command],
      {
        encoding: 'utf8',
      },
    );
    if (started.error || started.status !== 0) {
      throw new Error(
        `cannot start tmux (the watch-mode test needs it: apt-get install tmux): ${started.error?.message ?? started.stderr}`,
      );
    }
  }

  output(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }

  /** Waits until the output after `from` (a length of earlier output) matches `pattern`; returns that part. */
  async waitFor(pattern: RegExp, from = 0, timeout = 90_000): Promise<string> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const text = this.output().slice(from);
      if (pattern.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(pattern)}; output:\n${text.slice(-4000)}`);
      await sleep(200);
    }
  }

  /** Types keys into the terminal (tmux send-keys). */
  press(keys: string): void {
    execFileSync('tmux', ['-L', this.socket, 'send-keys', '-t', 'vitest', keys]);
  }

  close(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}

function shellQuote(text: string): string {
  return /^[\w./=:,@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** What `run` printed, for assertion messages. */
export function describeRun(result: RunResult): string {
  return `exit ${String(result.status)}\n--- output ---\n${result.output.slice(-6000)}`;
}
