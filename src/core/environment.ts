import process from 'node:process';
import type { DeterminismStatus, EnvironmentFingerprint } from './types.ts';

/**
 * V8 flags that change allocation figures, so they belong in the fingerprint. Matched as prefixes of
 * the flag name (without a value).
 */
const FIGURE_CHANGING_FLAGS = [
  '--single-threaded',
  '--predictable',
  '--jitless',
  '--no-opt',
  '--max-opt',
  '--no-maglev',
  '--no-turbofan',
  '--no-sparkplug',
  '--max-semi-space-size',
  '--min-semi-space-size',
  '--semi-space-growth-factor',
  '--max-young-generation-size',
  '--random-seed',
  '--hash-seed',
  '--no-concurrent',
  '--expose-gc',
  '--sampling-heap-profiler-suppress-randomness',
];

function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return (eq === -1 ? arg : arg.slice(0, eq)).replace(/_/g, '-');
}

/** The figure-changing flags this process was started with, sorted. */
export function relevantFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return execArgv
    .filter((arg) => FIGURE_CHANGING_FLAGS.some((prefix) => flagName(arg).startsWith(prefix)))
    .map((arg) => arg.replace(/^--([^=]*)/, (_, name: string) => `--${name.replace(/_/g, '-')}`))
    .sort();
}

export function environmentFingerprint(): EnvironmentFingerprint {
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  return {
    key: `node${nodeMajor}-${process.platform}-${process.arch}`,
    nodeMajor,
    nodeVersion: process.versions.node,
    v8Version: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    flags: relevantFlags(),
  };
}

/**
 * The flags that make figures repeat: `--single-threaded` removes V8's concurrent JIT and GC threads
 * (bytes varied up to 92% run to run without it, <= 0.34% with it; see bench/determinism.ts).
 */
export function requiredFlags(): string[] {
  return ['--single-threaded'];
}

/** `--predictable` implies everything `--single-threaded` does. */
function hasFlag(flags: readonly string[], flag: string): boolean {
  if (flags.includes(flag)) return true;
  return flag === '--single-threaded' && flags.includes('--predictable');
}

export function determinismStatus(execArgv: readonly string[] = process.execArgv): DeterminismStatus {
  const flags = relevantFlags(execArgv);
  const required = requiredFlags();
  const missing = required.filter((flag) => !hasFlag(flags, flag));
  return {
    deterministic: missing.length === 0,
    required,
    missing,
    warning:
      missing.length === 0
        ? ''
        : `allocation figures may vary run to run: node was started without ${missing.join(' ')} ` +
          `(put it on the node command line or in a child process's execArgv; NODE_OPTIONS rejects it)`,
  };
}
