/** A streaming reader of deb822 stanzas (`/var/lib/dpkg/status`). */
import { MAX_LINE_CHARS } from '../limits.ts';
import { UserError, escapeControl, quote } from '../util.ts';

export interface Stanza {
  /** Field names lower-cased (deb822 field names are case-insensitive); values trimmed. */
  fields: Map<string, string>;
  /** 1-based line of the stanza's first field, for error messages. */
  line: number;
}

/**
 * Stanzas from lines. Blank lines separate stanzas; `#` lines are comments; a line starting with a
 * space or tab continues the previous field (joined with `\n`). Anything else must be
 * `Field: value`. A malformed line, a repeated field or a value longer than MAX_LINE_CHARS throws a
 * UserError naming `where` and the line.
 */
export async function* readStanzas(lines: AsyncIterable<string>, where: string): AsyncGenerator<Stanza, void, undefined> {
  let fields = new Map<string, string>();
  let start = 0;
  let last: string | undefined;
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') {
      if (fields.size > 0) yield { fields, line: start };
      fields = new Map();
      last = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last === undefined) throw new UserError(`${where}:${lineNo}: continuation line outside a field`);
      const value = `${fields.get(last) ?? ''}\n${line.trim()}`;
      if (value.length > MAX_LINE_CHARS)
        throw new UserError(`${where}:${lineNo}: field "${escapeControl(last)}" is longer than ${MAX_LINE_CHARS} characters`);
      fields.set(last, value);
      continue;
    }
    const match = /^([^\s:]+):(.*)$/.exec(line);
    if (match === null) throw new UserError(`${where}:${lineNo}: expected "Field: value", got ${quote(line, 60)}`);
    const key = (match[1] as string).toLowerCase();
    if (fields.has(key)) throw new UserError(`${where}:${lineNo}: field ${quote(match[1] as string, 60)} repeated in one stanza`);
    if (fields.size === 0) start = lineNo;
    fields.set(key, (match[2] as string).trim());
    last = key;
  }
  if (fields.size > 0) yield { fields, line: start };
}
