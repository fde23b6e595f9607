/**
 * lock-holdings.ts - the Redis locks this daemon's owners hold, so an owner
 * that goes away (its connection closed, its worker died) has them released;
 * and the releases Redis did not take (unreachable then), retried until it
 * does or the lock turns out to be someone else's. An acquire still in
 * flight when its owner went is noted, so the grant it brings back is given
 * up at once instead of being held by nobody; one whose answer never came
 * (the link remade under it) may have taken the lock in Redis all the same, so
 * the lock is looked at on the poll and released if it is held that way.
 */

/** An acquire whose answer was lost: its owner, the lock's name and the holder it asked as. */
export interface Doubt {
  owner: string;
  name: string;
  holder: string;
}

/** One held lock: its name, its holder as Redis knows it (`<daemon id>/<owner>`) and its token. */
export interface Holding {
  name: string;
  holder: string;
  token: number;
}

export class LockHoldings {
  readonly #byOwner = new Map<string, Map<string, Holding>>();
  readonly #toRelease = new Map<string, Holding>();
  readonly #inFlight = new Map<string, number>();
  readonly #gone = new Set<string>();
  /** Acquires whose answer was lost, by lock name and holder: the lock may be held by them, unknown here. */
  readonly #doubts = new Map<string, Doubt>();

  /** An acquire for `owner` is sent. */
  acquiring(owner: string): void {
    this.#inFlight.set(owner, (this.#inFlight.get(owner) ?? 0) + 1);
  }

  /** The acquire sent for `owner` came back; true if the owner went meanwhile (its grant must be given up). */
  acquired(owner: string): boolean {
    const n = (this.#inFlight.get(owner) ?? 1) - 1;
    const gone = this.#gone.has(owner);
    if (n > 0) this.#inFlight.set(owner, n);
    else {
      this.#inFlight.delete(owner);
      this.#gone.delete(owner);
    }
    return gone;
  }

  add(owner: string, h: Holding): void {
    let m = this.#byOwner.get(owner);
    if (m === undefined) this.#byOwner.set(owner, (m = new Map()));
    m.set(h.name, h);
  }

  get(owner: string, name: string): Holding | undefined {
    return this.#byOwner.get(owner)?.get(name);
  }

  /** Forgets `owner`'s holding of `name` (released). */
  remove(owner: string, name: string): void {
    const m = this.#byOwner.get(owner);
    if (m === undefined) return;
    m.delete(name);
    if (m.size === 0) this.#byOwner.delete(owner);
  }

  /** The owner is gone: its holdings, to release. */
  take(owner: string): Holding[] {
    if (this.#inFlight.has(owner)) this.#gone.add(owner);
    const m = this.#byOwner.get(owner);
    this.#byOwner.delete(owner);
    return m === undefined ? [] : [...m.values()];
  }

  /** Every owner holding a lock here now. */
  owners(): string[] {
    return [...this.#byOwner.keys()];
  }

  /** A release Redis did not take: tried again later. */
  retryLater(h: Holding): void {
    this.#toRelease.set(`${h.name}\0${h.token}`, h);
  }

  /** An acquire's answer was lost: the lock is looked at on the poll. */
  doubt(d: Doubt): void {
    this.#doubts.set(`${d.name}\0${d.holder}`, d);
  }

  /** The acquires whose answer was lost (removed: those not settled come back through doubt). */
  doubts(): Doubt[] {
    const all = [...this.#doubts.values()];
    this.#doubts.clear();
    return all;
  }

  /** The releases to try again (removed: failing ones come back through retryLater). */
  retries(): Holding[] {
    const all = [...this.#toRelease.values()];
    this.#toRelease.clear();
    return all;
  }
}
