import { compareCodePoints } from './order.ts';

/** Path -> component names, built while reading a package database. */
export class ClaimTable {
  readonly #claims = new Map<string, Set<string>>();

  add(path: string, component: string): void {
    let set = this.#claims.get(path);
    if (set === undefined) this.#claims.set(path, (set = new Set()));
    set.add(component);
  }

  /** Component names claiming `path`, sorted; empty for none. */
  get(path: string): readonly string[] {
    const set = this.#claims.get(path);
    return set === undefined ? [] : [...set].sort(compareCodePoints);
  }
}
