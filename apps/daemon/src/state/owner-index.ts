/**
 * owner-index.ts - which names an owner (a client connection "c:12" or a
 * worker "w:3") uses in one state type, so that `releaseOwner` touches only
 * that owner's entries instead of scanning every name.
 */

/** owner -> names, for subscriptions, blocked calls and held locks. */
export class OwnerIndex {
  readonly #byOwner = new Map<string, Set<string>>();

  add(owner: string, name: string): void {
    let names = this.#byOwner.get(owner);
    if (names === undefined) {
      names = new Set();
      this.#byOwner.set(owner, names);
    }
    names.add(name);
  }

  delete(owner: string, name: string): void {
    const names = this.#byOwner.get(owner);
    if (names === undefined) return;
    names.delete(name);
    if (names.size === 0) this.#byOwner.delete(owner);
  }

  /** Removes and returns every name of `owner`. */
  take(owner: string): Set<string> | undefined {
    const names = this.#byOwner.get(owner);
    this.#byOwner.delete(owner);
    return names;
  }
}

/** owner sets per name (the subscribers of a value or a dict), indexed both ways. */
export class Subscribers {
  readonly #byName = new Map<string, Set<string>>();
  readonly #index = new OwnerIndex();

  /** Idempotent: subscribing twice is one subscription. */
  add(owner: string, name: string): void {
    let owners = this.#byName.get(name);
    if (owners === undefined) {
      owners = new Set();
      this.#byName.set(name, owners);
    }
    owners.add(owner);
    this.#index.add(owner, name);
  }

  delete(owner: string, name: string): void {
    const owners = this.#byName.get(name);
    if (owners !== undefined) {
      owners.delete(owner);
      if (owners.size === 0) this.#byName.delete(name);
    }
    this.#index.delete(owner, name);
  }

  /** The owners subscribed to `name`, or undefined when none (the common, cheap case). */
  of(name: string): Set<string> | undefined {
    return this.#byName.get(name);
  }

  dropOwner(owner: string): void {
    const names = this.#index.take(owner);
    if (names === undefined) return;
    for (const name of names) {
      const owners = this.#byName.get(name);
      if (owners === undefined) continue;
      owners.delete(owner);
      if (owners.size === 0) this.#byName.delete(name);
    }
  }
}
