/**
 * owner-index.ts - which names an owner (a client connection "c:12" or a
 * worker "w:3") uses in one state type, so that `releaseOwner` touches only
 * that owner's entries instead of scanning every name; and how many entries
 * each owner has, bounded, so one connection cannot grow the primary
 * without end (blocked gets, lock acquires and subscriptions all cost memory).
 * Given the state's StateMemory, every entry also counts against a share of
 * --max-state-mb: 20 connections with 30,000 entries each took 275 MB of
 * the primary's heap, outside any bound, and 300 would have taken all of it.
 */
import { LimitError } from '@corepool/protocol';

import { overTurns } from './leftover-clears.js';
import { ENTRY_COST, type StateMemory } from './state-memory.js';

/** Names an owner gone lets go of between looks at the clock (state/leftover-clears.ts). */
const LEAVE_BATCH = 256;

/** The most entries of one kind (blocked gets, locks held or awaited, subscriptions) one owner may have. */
export const OWNER_LIMIT = 10_000;

/**
 * Entries of one kind every owner may have whatever the daemon's bound on them says: one app
 * that fills the bound (10,487 subscriptions did, under --max-state-mb 16) must not leave the
 * others without a lock, a blocked get or a resubscription after a reconnect. At most
 * 64 x (2 x 400 + 2,000) bytes (179 KB) a connection past the bound.
 */
export const OWNER_FLOOR = 64;

/** A per-owner count with a ceiling: the entry past it is refused with E_LIMIT, nothing changed. */
export class OwnerQuota {
  readonly #counts = new Map<string, number>();
  readonly #limit: number;
  readonly #what: string;
  readonly #memory: StateMemory | undefined;
  readonly #cost: number;

  /** `what` names the entries in the error ("blocked queue gets"); `memory`, where each entry counts too, `cost` bytes. */
  constructor(what: string, memory?: StateMemory, cost = ENTRY_COST, limit = OWNER_LIMIT) {
    this.#what = what;
    this.#limit = limit;
    this.#memory = memory;
    this.#cost = cost;
  }

  /**
   * Throws E_LIMIT when `owner` already has the limit, or has OWNER_FLOOR entries and the state's
   * memory has no room for one more.
   */
  check(owner: string): void {
    const n = this.#counts.get(owner) ?? 0;
    if (n >= this.#limit) {
      throw new LimitError(`too many ${this.#what}: at most ${this.#limit} per connection or worker`);
    }
    if (n >= OWNER_FLOOR) this.#memory?.admitEntry(this.#what, this.#cost);
  }

  /** Counts one more entry (after `check`). */
  add(owner: string): void {
    this.#counts.set(owner, (this.#counts.get(owner) ?? 0) + 1);
    this.#memory?.enter(1, this.#cost);
  }

  /** `k` entries of `owner` ended (one by default). */
  remove(owner: string, k = 1): void {
    // Taken off first: `#memory?.enter(-this.setApart(...))` skipped the count itself where there is no
    // memory (cluster mode), and a worker's locks and blocked gets ever made counted for good.
    const less = this.setApart(owner, k);
    this.#memory?.enter(-less, this.#cost);
  }

  /** Forgets `owner` (all its entries ended). */
  drop(owner: string): void {
    const n = this.#counts.get(owner);
    if (n === undefined) return;
    this.#counts.delete(owner);
    this.#memory?.enter(-n, this.#cost);
  }

  /**
   * `k` entries of `owner` no longer count for it (it may make as many anew), but stay in the
   * memory estimate until each is `gone`: they are blocked calls of a gone owner or an ended task,
   * still in their lines until they leave a slice at a time (waiters.ts). Returns how many it took
   * off `owner`'s count.
   */
  setApart(owner: string, k: number): number {
    const n = this.#counts.get(owner);
    if (n === undefined || k <= 0) return 0;
    const less = Math.min(n, k);
    if (n <= less) this.#counts.delete(owner);
    else this.#counts.set(owner, n - less);
    return less;
  }

  /** One entry set apart (`setApart`) has left its line. */
  gone(): void {
    this.#memory?.enter(-1, this.#cost);
  }

  /** Owners with at least one entry (for tests and leak checks). */
  get owners(): number {
    return this.#counts.size;
  }
}

/** owner -> names, for subscriptions and held locks. */
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

  has(owner: string, name: string): boolean {
    return this.#byOwner.get(owner)?.has(name) ?? false;
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
  readonly #quota: OwnerQuota;

  constructor(what: string, memory?: StateMemory) {
    this.#quota = new OwnerQuota(what, memory);
  }

  /**
   * Idempotent: subscribing twice is one subscription. E_LIMIT past OWNER_LIMIT names per owner.
   * True when the subscription is new (so a caller whose subscribe then fails knows it may end it).
   */
  add(owner: string, name: string): boolean {
    if (this.#index.has(owner, name)) return false;
    this.#quota.check(owner);
    this.#quota.add(owner);
    let owners = this.#byName.get(name);
    if (owners === undefined) {
      owners = new Set();
      this.#byName.set(name, owners);
    }
    owners.add(owner);
    this.#index.add(owner, name);
    return true;
  }

  delete(owner: string, name: string): void {
    const owners = this.#byName.get(name);
    if (owners !== undefined) {
      owners.delete(owner);
      if (owners.size === 0) this.#byName.delete(name);
    }
    if (!this.#index.has(owner, name)) return;
    this.#index.delete(owner, name);
    this.#quota.remove(owner);
  }

  /** The owners subscribed to `name`, or undefined when none (the common, cheap case). */
  of(name: string): Set<string> | undefined {
    return this.#byName.get(name);
  }

  /** Every name with a subscriber, with its subscribers (a copy: a resync walks it while pushing). */
  entries(): [string, Set<string>][] {
    return [...this.#byName].map(([name, owners]) => [name, new Set(owners)]);
  }

  /**
   * Ends every subscription of `owner`: its entries and quota go now, its place in each name's set
   * a slice at a time (state/leftover-clears.ts; 10,000 at once held the primary 4-9 ms, charged to
   * nobody), each name then told to `each`. Meanwhile a change of those names is still pushed to
   * the owner, which is gone and takes none. A name the owner subscribes to again meanwhile is its
   * new subscription's, left alone.
   */
  dropOwner(owner: string, each?: (name: string) => void): void {
    this.#quota.drop(owner);
    const names = this.#index.take(owner);
    if (names === undefined) return;
    const left = names.values();
    const step = (): boolean => {
      for (let k = 0; k < LEAVE_BATCH; k++) {
        const next = left.next();
        if (next.done === true) return true;
        const name = next.value;
        if (this.#index.has(owner, name)) continue;
        const owners = this.#byName.get(name);
        if (owners !== undefined) {
          owners.delete(owner);
          if (owners.size === 0) this.#byName.delete(name);
        }
        each?.(name);
      }
      return false;
    };
    if (!step()) void overTurns(step);
  }
}
