#!/usr/bin/env node
/**
 * `vitest-alloc`: runs the project's own Vitest with any arguments, and accepts `--update-baselines`
 * among them (Vitest's CLI rejects unknown options before any plugin loads): the flag is removed and
 * ALLOC_TRACKER_UPDATE=1 is set for the run.  Example: `npx vitest-alloc run --update-baselines`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { UPDATE_ENV, UPDATE_FLAG } from './settings.ts';

const args = process.argv.slice(2);
if (args.includes(UPDATE_FLAG)) process.env[UPDATE_ENV] = '1';
const vitestArgs = args.filter((arg) => arg !== UPDATE_FLAG);

// Resolve vitest the way the project sees it (from the working directory), not from this package.
const requireFromCwd = createRequire(path.join(process.cwd(), 'package.json'));
let manifestPath: string;
try {
  manifestPath = requireFromCwd.resolve('vitest/package.json');
} catch {
  process.stderr.write(`vitest-alloc: cannot find the package "vitest" from ${process.cwd()}; install it there (npm i -D vitest)\n`);
  process.exit(1);
}
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { bin?: string | Record<string, string> };
const binEntry = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.vitest;
if (!binEntry) {
  process.stderr.write(`vitest-alloc: ${manifestPath} declares no "vitest" bin\n`);
  process.exit(1);
}
const vitestBin = path.resolve(path.dirname(manifestPath), binEntry);
// Vitest's CLI reads process.argv: make it look as if `vitest <args>` was run.
process.argv = [process.argv[0] ?? process.execPath, vitestBin, ...vitestArgs];
await import(pathToFileURL(vitestBin).href);
