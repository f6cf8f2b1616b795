/**
 * Prune rules: `/p` drops the path and everything below it; `/p/` keeps the directory and drops
 * its children.
 */
import { UserError, isSameOrBelow } from '../util.ts';

export interface PruneRule {
  path: string;
  keepSelf: boolean;
}

export function parsePruneRules(specs: readonly string[] = []): PruneRule[] {
  return specs.map((spec) => {
    if (!spec.startsWith('/')) throw new UserError(`--prune ${spec}: must be an absolute path inside the image`);
    if (spec.split('/').includes('..')) throw new UserError(`--prune ${spec}: must not contain ".."`);
    const keepSelf = spec.length > 1 && spec.endsWith('/');
    const path = '/' + spec.split('/').filter(Boolean).join('/');
    return { path, keepSelf: keepSelf || path === '/' };
  });
}

export function isPruned(path: string, rules: readonly PruneRule[]): boolean {
  for (const rule of rules) {
    if (rule.keepSelf ? path !== rule.path && isSameOrBelow(path, rule.path) : isSameOrBelow(path, rule.path)) {
      return true;
    }
  }
  return false;
}
