#!/usr/bin/env node
/**
 * oci-chunk: re-chunk OCI images by software component.
 *   oci-chunk build <input> -o <output> [--max-layers N] [--prune P]... [--compressed | --zstd] [--tag T] [--alloc-report]
 *   oci-chunk inspect <archive> [--json]
 *   oci-chunk extract <archive> <dir>
 *   oci-chunk reuse <archive>... [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
// The commands' modules (and the tracker, which the pipeline imports) are loaded by the command
// that needs them: a build re-executes itself first (reexecWithHeapFlags), and loading them twice
// cost 60-70 ms of every build (`performance.now()` when pipeline.js had loaded: 126-149 ms, twice).
import type { ChunkOptions, ChunkResult } from './pipeline.ts';
import { UserError, escapeControl, formatBinaryBytes, isFsError, isMainModule, progressDone, removeAllPending } from './util.ts';

const USAGE = `usage:
  oci-chunk build <input> -o <output> [--max-layers N] [--prune PATH]... [--compressed | --zstd] [--tag NAME]
                  [--skip-special] [--alloc-report]
      <input>: an oci-archive, an OCI layout directory, or a root-filesystem directory
  oci-chunk inspect <archive> [--json]
  oci-chunk extract <archive> <dir> [--skip-special]
  oci-chunk reuse <archive> <archive>... [--json]
`;

/** The child running the build with the determinism flags (--alloc-report), while it runs. */
let respawned: ChildProcess | undefined;

/** Set in the re-spawned child so it never re-spawns again. */
const RESPAWN_GUARD = 'OCI_CHUNK_RESPAWNED';

function parse(args: string[], options: ParseArgsOptionsConfig) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UserError((e as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
}

async function build(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    output: { type: 'string', short: 'o' },
    'max-layers': { type: 'string' },
    prune: { type: 'string', multiple: true },
    compressed: { type: 'boolean' },
    zstd: { type: 'boolean' },
    tag: { type: 'string' },
    'skip-special': { type: 'boolean' },
    'alloc-report': { type: 'boolean' },
  });
  const input = positionals[0];
  const output = values['output'] as string | undefined;
  if (!input || positionals.length > 1) throw new UserError('build takes exactly one <input>');
  if (!output) throw new UserError('build needs -o <output>');
  const maxRaw = values['max-layers'] as string | undefined;
  if (maxRaw !== undefined && !/^[1-9]\d*$/.test(maxRaw)) throw new UserError(`--max-layers must be a positive integer, got "${maxRaw}"`);
  const options: ChunkOptions = {
    maxLayers: maxRaw === undefined ? undefined : Number(maxRaw),
    prune: values['prune'] as string[] | undefined,
    compressed: values['compressed'] === true,
    compression: values['zstd'] === true ? 'zstd' : undefined,
    tag: values['tag'] as string | undefined,
    skipSpecial: values['skip-special'] === true,
  };
  if (values['zstd'] && values['compressed']) throw new UserError('--compressed (gzip) and --zstd: choose one');
  if (options.maxLayers !== undefined && options.maxLayers > 500) {
    process.stderr.write(`warning: --max-layers ${options.maxLayers} is above 500; many runtimes limit layer counts\n`);
  }

  const { chunkImage } = await import('./pipeline.ts');
  if (values['alloc-report']) {
    // Allocation figures repeat only under the tracker's flags (single-threaded V8, object-sized
    // allocation, no pretenuring): run the build in a child that has them.
    const { deterministicFlags } = await import('alloc-tracker');
    const missing = deterministicFlags().filter((f) => !process.execArgv.includes(f));
    if (missing.length > 0 && !process.env[RESPAWN_GUARD] && process.argv[1]) {
      // Asynchronous, so that a signal to this process is handled (and passed on) while the child runs.
      const child = spawn(process.execPath, [...process.execArgv, ...missing, process.argv[1], ...process.argv.slice(2)], {
        stdio: 'inherit',
        env: { ...process.env, [RESPAWN_GUARD]: '1' },
      });
      respawned = child;
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
      respawned = undefined;
      if (signal) raise(signal);
      process.exitCode = code ?? 1;
      return;
    }
    const { Session } = await import('alloc-tracker');
    const session = new Session();
    const result = await session.run(() => chunkImage(input, output, options));
    printBuildSummary(output, result);
    process.stderr.write(session.report().toString() + '\n');
    return;
  }
  printBuildSummary(output, await chunkImage(input, output, options));
}

function printBuildSummary(output: string, r: ChunkResult): void {
  const total = r.layers.reduce((s, l) => s + l.size, 0);
  process.stdout.write(
    `${escapeControl(output)}: ${r.layers.length} layers (${formatBinaryBytes(total)}) from ${r.fileCount} paths in ${r.componentCount} components, manifest ${r.manifestDigest}\n`,
  );
}

async function inspect(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UserError('inspect takes exactly one <archive>');
  const { formatInspect, inspectArchive } = await import('./inspect.ts');
  const result = await inspectArchive(positionals[0]!);
  process.stdout.write(values['json'] ? JSON.stringify(result, null, 2) + '\n' : formatInspect(result));
}

async function extract(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { 'skip-special': { type: 'boolean' } });
  if (positionals.length !== 2) throw new UserError('extract takes <archive> <dir>');
  const { extractImage } = await import('./extract.ts');
  const r = await extractImage(positionals[0]!, positionals[1]!, { skipSpecial: values['skip-special'] === true });
  process.stdout.write(`${escapeControl(positionals[1]!)}: ${r.files} paths extracted\n`);
  if (!r.xattrsRestored)
    process.stderr.write('note: extended attributes were not restored (setfattr not found; install the "attr" package)\n');
}

async function reuse(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } });
  if (positionals.length < 2) throw new UserError('reuse needs at least two archives (consecutive versions, oldest first)');
  const { computeReuse, formatReuse, inspectArchive } = await import('./inspect.ts');
  const images = [];
  for (const archive of positionals) images.push(await inspectArchive(archive));
  const report = computeReuse(images);
  process.stdout.write(values['json'] ? JSON.stringify(report, null, 2) + '\n' : formatReuse(report));
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'build':
        await build(rest);
        break;
      case 'inspect':
        await inspect(rest);
        break;
      case 'extract':
        await extract(rest);
        break;
      case 'reuse':
        await reuse(rest);
        break;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UserError(`unknown command "${command}" (try --help)`);
    }
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    // Messages quote names from the input: whatever they hold, one line and no terminal escapes.
    if (e instanceof UserError) {
      process.stderr.write(`oci-chunk: ${escapeControl(e.message)}\n`);
      return 1;
    }
    // Filesystem mistakes (missing file, no permission, disk full) are the user's: one line too.
    if (isFsError(e)) {
      process.stderr.write(`oci-chunk: ${escapeControl((e as Error).message)}\n`);
      return 1;
    }
    process.stderr.write(`oci-chunk: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 70;
  }
}

/**
 * Ends the process by `signal` with its default action, as an interrupted program should (the
 * shell reports 128 + the signal number). Unlike process.exit(), this cannot hang: exit() waits for
 * the thread pool, and a thread blocked in a system call (a FIFO open, a stuck mount) never returns.
 */
function raise(signal: NodeJS.Signals): never {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  // Not reached unless the signal is blocked or ignored by whoever started us.
  process.exit(128 + (osConstants.signals[signal] ?? 0));
}

/** Interrupted: remove scratch directories and partial outputs, pass the signal on, then die by it. */
function onSignal(signal: NodeJS.Signals): void {
  progressDone();
  respawned?.kill(signal);
  removeAllPending();
  process.stderr.write(`oci-chunk: interrupted\n`);
  raise(signal);
}

/** SIGINT, SIGTERM and SIGHUP: clean up, then end the process by the signal, whatever it waits on. */
export function handleSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => onSignal(signal));
}

/**
 * V8's young generation grows to 3 x 16 MiB, and a build's stream of short-lived objects (a header,
 * a promise, a chunk per tar entry) fills it: 4 MiB semi-spaces take 25-40 MiB off the peak RSS of
 * a build at no measurable cost in time (bench/oci.ts). V8 reads the flag only at start-up, so a
 * build re-executes itself with it (the same process, by execve) unless the flag was given. glibc
 * also gives each thread-pool thread that compresses its own malloc arena, and each keeps the
 * memory of the zlib streams it freed: one arena takes about 10 MiB off a compressed build
 * (unless the caller chose a value). glibc's mmap threshold is left to rise: fixed at 64 KiB, every
 * 1 MiB decompressor buffer was a fresh mmap, faulted in page by page, for 2-4 MiB less peak RSS;
 * the Debian build took 1.5x as long and a 512 MiB image twice as long (`/usr/bin/time`, alternating).
 * `--expose-gc` lets chunkImage collect between phases (collectGarbage in util.ts).
 */
const HEAP_FLAGS = ['--max-semi-space-size=4', '--expose-gc'];

function reexecWithHeapFlags(argv: string[]): void {
  // --alloc-report re-spawns with its own flags; a platform without execve runs as it is.
  if (argv[0] !== 'build' || argv.includes('--alloc-report') || !process.execve || !process.argv[1]) return;
  const given = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  if (given.some((flag) => flag.startsWith('--max-semi-space-size'))) return;
  const env = { MALLOC_ARENA_MAX: '1', ...process.env };
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...HEAP_FLAGS, process.argv[1], ...argv], env);
}

if (isMainModule(import.meta.url)) {
  if (process.platform !== 'win32') reexecWithHeapFlags(process.argv.slice(2));
  handleSignals();
  let finished = false;
  // The event loop ran dry while a command was still waiting: a promise nothing can settle any more.
  // Node would exit 13 with no word and skip every `finally`; say so, clean up, and exit 70.
  process.once('beforeExit', () => {
    if (finished) return;
    removeAllPending();
    process.stderr.write('oci-chunk: internal error: the command stalled (it waited on something that can never finish)\n');
    process.exit(70);
  });
  process.exitCode = await main(process.argv.slice(2));
  finished = true;
}
