/** A streaming reader of deb822 stanzas (`/var/lib/dpkg/status`). */

export interface Stanza {
  /** Field names lower-cased (deb822 field names are case-insensitive); values trimmed. */
  fields: Map<string, string>;
  /** 1-based line of the stanza's first field, for error messages. */
  line: number;
}

/**
 * Stanzas from lines. Blank lines separate stanzas; `#` lines are comments; a line starting with a
 * space or tab continues the previous field (joined with `\n`). Anything else must be
 * `Field: value`. A malformed line or a repeated field throws an error naming `where` and the line.
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
      if (last === undefined) throw new Error(`${where}:${lineNo}: continuation line outside a field`);
      fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
      continue;
    }
    const match = /^([^\s:]+):(.*)$/.exec(line);
    if (match === null) throw new Error(`${where}:${lineNo}: expected "Field: value", got "${clip(line)}"`);
    const key = (match[1] as string).toLowerCase();
    if (fields.has(key)) throw new Error(`${where}:${lineNo}: field "${match[1]}" repeated in one stanza`);
    if (fields.size === 0) start = lineNo;
    fields.set(key, (match[2] as string).trim());
    last = key;
  }
  if (fields.size > 0) yield { fields, line: start };
}

function clip(line: string): string {
  return line.length > 60 ? `${line.slice(0, 60)}...` : line;
}
