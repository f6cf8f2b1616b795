import { compareCodePoints } from './order.ts';

/**
 * Path -> component names, built while reading a package database. Almost every path has one
 * owner: it is held as the name itself (a Set per path cost about 100 bytes of heap for each of
 * an image's paths), and a Set is made only for a path several components claim.
 */
export class ClaimTable {
  readonly #claims = new Map<string, string | Set<string>>();
  /** One frozen answer per component name: `get` allocates nothing for a single owner. */
  readonly #single = new Map<string, readonly string[]>();

  add(path: string, component: string): void {
    const known = this.#claims.get(path);
    if (known === undefined) this.#claims.set(path, component);
    else if (typeof known === 'string') {
      if (known !== component) this.#claims.set(path, new Set([known, component]));
    } else known.add(component);
  }

  /** Component names claiming `path`, sorted; empty for none. */
  get(path: string): readonly string[] {
    const known = this.#claims.get(path);
    if (known === undefined) return [];
    if (typeof known !== 'string') return [...known].sort(compareCodePoints);
    let single = this.#single.get(known);
    if (single === undefined) this.#single.set(known, (single = Object.freeze([known])));
    return single;
  }
}
