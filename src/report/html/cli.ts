#!/usr/bin/env node
/**
 * The plugin's JSON output file as one self-contained HTML page:
 *
 *   alloc-tracker-html results.json [-o report.html] [--root DIR] [--profiles DIR] [--title TEXT]
 *
 * Call trees: the JSON output holds each phase's top sites only; the plugin saves a failing phase's
 * whole call tree as a `.heapprofile` under `.alloc-profiles/`, and those are attached to their rows.
 */
import { existsSync, statSync } from 'node:fs';
import { writeTextAtomic } from '../atomic.ts';
import path from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { buildReportFromFile } from './files.ts';

const USAGE = 'usage: alloc-tracker-html <results.json> [-o report.html] [--root DIR] [--profiles DIR] [--title TEXT]';

function fail(message: string): never {
  process.stderr.write(`alloc-tracker-html: ${message}\n`);
  process.exit(1);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      root: { type: 'string' },
      profiles: { type: 'string' },
      title: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (error) {
  fail(`${(error as Error).message}\n${USAGE}`);
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (positionals.length !== 1) fail(`expected one JSON file, got ${positionals.length}\n${USAGE}`);
const input = path.resolve(positionals[0]!);
const output = path.resolve(values.output ?? input.replace(/\.json$/i, '') + '.html');
if (output === input) fail(`${positionals[0]}: the output would overwrite the input; pass -o`);
const root = path.resolve(values.root ?? process.cwd());
if (!existsSync(root) || !statSync(root).isDirectory()) fail(`--root ${values.root ?? ''}: not a directory`);
const profiles = values.profiles === undefined ? path.join(root, '.alloc-profiles') : path.resolve(values.profiles);
if (values.profiles !== undefined && !existsSync(profiles)) fail(`--profiles ${values.profiles}: no such directory`);

let result;
try {
  result = buildReportFromFile(input, { root, profileDir: profiles, ...(values.title ? { title: values.title } : {}) });
} catch (error) {
  fail((error as Error).message);
}
// Atomic: a reader never sees half a page, and a failed write leaves the old one.
try {
  writeTextAtomic(output, result.html);
} catch (error) {
  fail(`cannot write ${output}: ${(error as Error).message}`);
}
for (const warning of result.warnings) process.stderr.write(`alloc-tracker-html: warning: ${warning}\n`);
process.stdout.write(
  `alloc-tracker-html: ${path.relative(process.cwd(), output) || output} (${(Buffer.byteLength(result.html) / 1024).toFixed(0)} KiB, ` +
    `${result.phases} phases, ${result.trees} call trees)\n`,
);
