/**
 * The `xattr` repository (priority 0): `user.component` on a file or directory names its
 * component; descendants inherit the nearest ancestor's. `user.update-interval` sets how often the
 * component is expected to change.
 */
import type { FileMap } from '../types.ts';
import { UserError, escapeControl, quote } from '../util.ts';
import { NO_WEAK_CLAIMS, type ComponentMeta, type Repository } from './repository.ts';
import { DEFAULT_UPDATE_INTERVAL, intervalStability, parseUpdateInterval } from './stability.ts';

export const COMPONENT_XATTR = 'user.component';
export const INTERVAL_XATTR = 'user.update-interval';
const NO_NAMES: readonly string[] = Object.freeze([]);

/** Xattr values are stored base64-encoded; tools often add a trailing NUL to text values. */
function decodeXattr(value: string): string {
  // A loop, not /\0+$/: that pattern backtracks quadratically over a long run of NULs inside a value.
  const text = Buffer.from(value, 'base64').toString('utf8');
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0) end--;
  return text.slice(0, end).trim();
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/**
 * Builds the repository from the map. Throws, naming the path, for an empty `user.component` or an
 * unreadable `user.update-interval`.
 *
 * A component declared with several intervals (on different entries) takes the shortest: the most
 * frequent expected change decides. An interval on an entry that inherits its component applies to
 * that inherited component.
 */
export function loadXattrRepository(files: FileMap): Repository {
  // Most images carry no component xattrs: then nothing is claimed, and no map over every path is built.
  let declared = false;
  for (const info of files.values()) {
    if (info.xattrs[COMPONENT_XATTR] !== undefined) {
      declared = true;
      break;
    }
  }
  if (!declared) {
    return {
      name: 'xattr',
      priority: 0,
      strong: () => NO_NAMES,
      weak: () => NO_WEAK_CLAIMS,
      meta: (): ComponentMeta => ({ stability: intervalStability(DEFAULT_UPDATE_INTERVAL), mtimeClamp: Infinity }),
      newestChange: () => undefined,
    };
  }

  /** Effective component per path ('' for none), filled lazily from the nearest ancestor. */
  const effective = new Map<string, string>();
  const intervals = new Map<string, number>();

  const own = (path: string): string | undefined => {
    const raw = files.get(path)?.xattrs[COMPONENT_XATTR];
    if (raw === undefined) return undefined;
    const name = decodeXattr(raw);
    if (name === '') throw new UserError(`${escapeControl(path)}: ${COMPONENT_XATTR} is empty`);
    return name;
  };
  const componentOf = (path: string): string => {
    // Walk up until a known answer or an own declaration; then fill the walked chain.
    const chain: string[] = [];
    let p = path;
    let found = '';
    while (p !== '') {
      const known = effective.get(p);
      if (known !== undefined) {
        found = known;
        break;
      }
      chain.push(p);
      const declared = own(p);
      if (declared !== undefined) {
        found = declared;
        break;
      }
      p = parentOf(p);
    }
    for (const c of chain) effective.set(c, found);
    return found;
  };

  for (const [path, info] of files) {
    const name = componentOf(path);
    const rawInterval = info.xattrs[INTERVAL_XATTR];
    if (name === '' || rawInterval === undefined) continue;
    const text = decodeXattr(rawInterval);
    const days = parseUpdateInterval(text);
    if (days === undefined) {
      throw new UserError(
        `${escapeControl(path)}: ${INTERVAL_XATTR} ${quote(text, 60)} is neither a positive number of days nor ` +
          'daily/weekly/biweekly/monthly/quarterly/yearly',
      );
    }
    intervals.set(name, Math.min(days, intervals.get(name) ?? Infinity));
  }

  return {
    name: 'xattr',
    priority: 0,
    strong(path) {
      const name = componentOf(path);
      return name === '' ? [] : [name];
    },
    weak: () => NO_WEAK_CLAIMS,
    meta(name): ComponentMeta {
      return {
        stability: intervalStability(intervals.get(name) ?? DEFAULT_UPDATE_INTERVAL),
        mtimeClamp: Infinity,
      };
    },
    newestChange: () => undefined,
  };
}
