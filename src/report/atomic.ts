/**
 * Report files (the JSON output, the HTML page, saved heap profiles) written as baselines are: to a
 * temporary file beside the target, then renamed over it. A reader sees the old file or the new one,
 * never half of one, and a failed write leaves the old file in place.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeTextAtomic as writeFileAtomic } from '../baseline/store.ts';

export function writeTextAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, text);
}
