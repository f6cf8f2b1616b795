/**
 * Extended attributes of a directory tree. Node has no xattr API and we take no native addons, so
 * `getfattr` (Debian package `attr`) is run once per tree; without it xattrs are skipped with a note.
 */
import { execFile } from 'node:child_process';
import { UserError } from '../util.ts';

/** Kept in images: everything but SELinux labels (host-specific) and `trusted.*` (privileged). */
export function keepXattr(key: string): boolean {
  return key !== 'security.selinux' && !key.startsWith('trusted.');
}

/** Linux's limits (XATTR_NAME_MAX, XATTR_SIZE_MAX): nothing longer can exist on a real file. */
export const MAX_XATTR_NAME_BYTES = 255;
export const MAX_XATTR_VALUE_BYTES = 64 * 1024;
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.', 'system.'];

/**
 * Why an xattr name from an image cannot be used, or '' when it can. Names are printable ASCII
 * without white space, `=` or `\`, in one of Linux's namespaces: a name that could not be set on a
 * real file has no business in an image, and nothing in it can be read as syntax by the tools that
 * write xattrs (a newline in a name once smuggled a `# file:` line into a setfattr restore).
 */
export function xattrNameProblem(name: string): string {
  if (!XATTR_NAMESPACES.some((ns) => name.startsWith(ns) && name.length > ns.length)) {
    return `is not in a Linux xattr namespace (${XATTR_NAMESPACES.map((ns) => `${ns}*`).join(', ')})`;
  }
  if (Buffer.byteLength(name, 'utf8') > MAX_XATTR_NAME_BYTES) return `is longer than ${MAX_XATTR_NAME_BYTES} bytes`;
  if (!/^[\x21-\x7e]+$/.test(name) || /[=\\]/.test(name)) {
    return 'contains white space, a control character, a non-ASCII character, "=" or "\\"';
  }
  return '';
}

/** Throws a UserError-like message (via `fail`) for a name or value that cannot be used. */
export function checkXattr(name: string, valueBytes: number, fail: (problem: string) => never): void {
  const problem = xattrNameProblem(name);
  if (problem) fail(`xattr name ${JSON.stringify(name)} ${problem}`);
  if (valueBytes > MAX_XATTR_VALUE_BYTES)
    fail(`xattr ${name} has a ${valueBytes}-byte value; Linux allows at most ${MAX_XATTR_VALUE_BYTES}`);
}

/** getfattr's dump of a whole tree is held in memory (one string): bounded well below V8's string limit. */
const MAX_GETFATTR_OUTPUT = 256 * 1024 * 1024;

let getfattrPresent: boolean | undefined;

export async function hasGetfattr(): Promise<boolean> {
  if (getfattrPresent === undefined) {
    getfattrPresent = await new Promise<boolean>((resolve) => {
      execFile('getfattr', ['--version'], (err) => resolve(!err));
    });
  }
  return getfattrPresent;
}

/** getfattr escapes unusual bytes in names as `\ooo` octal. */
function unescapeName(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (s[i] === '\\' && s[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 1;
    } else {
      for (const b of Buffer.from(s[i] ?? '', 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function valueToBase64(raw: string): string {
  if (raw.startsWith('0s')) return raw.slice(2);
  if (raw.startsWith('0x')) return Buffer.from(raw.slice(2), 'hex').toString('base64');
  if (raw.startsWith('"') && raw.endsWith('"')) return Buffer.from(raw.slice(1, -1), 'utf8').toString('base64');
  return Buffer.from(raw, 'utf8').toString('base64');
}

/** Host path -> (key -> base64 value), for every entry under `root` that has any kept xattr. */
export async function readTreeXattrs(root: string): Promise<Map<string, Record<string, string>>> {
  const result = new Map<string, Record<string, string>>();
  if (!(await hasGetfattr())) return result;
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      'getfattr',
      ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', root],
      { maxBuffer: MAX_GETFATTR_OUTPUT, encoding: 'utf8' },
      // getfattr exits 1 when some entries cannot be read; what it printed is still valid.
      (err, stdout) => {
        if ((err as NodeJS.ErrnoException | null)?.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          reject(new UserError(`${root}: the tree's xattrs take more than ${MAX_GETFATTR_OUTPUT} bytes of getfattr output`));
        } else if (err && !stdout) reject(new UserError(`${root}: getfattr failed: ${err.message.split('\n')[0]}`, { cause: err }));
        else resolve(stdout);
      },
    );
  });
  let current: Record<string, string> | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {};
      result.set(unescapeName(line.slice('# file: '.length)), current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) continue;
    const key = unescapeName(line.slice(0, eq));
    const value = valueToBase64(line.slice(eq + 1));
    checkXattr(key, Buffer.from(value, 'base64').length, (problem) => {
      throw new UserError(`${root}: ${problem}`);
    });
    if (keepXattr(key)) current[key] = value;
  }
  for (const [path, attrs] of result) if (Object.keys(attrs).length === 0) result.delete(path);
  return result;
}
