/**
 * lock.ts - Lock: a named mutex with fencing tokens (what `client.lock(name)`
 * and `ctx.lock(name)` share).
 *
 * Invariants:
 *  - At most one holder per lock; blocked acquirers are granted in arrival
 *    order (a lock released while they wait behind a gone app's acquires
 *    stays free until they are first: waiters.ts). Not reentrant: a second
 *    acquire by the same owner queues.
 *  - Every grant carries a fencing token from one counter shared by all
 *    locks, strictly increasing, also across restarts (the counter is stored
 *    under ['lock'] in `meta` and committed before the grant is replied).
 *  - Locks themselves are not durable: holders are connections. When an
 *    owner goes away its locks pass on and its blocked acquires fail.
 *  - release needs the current holder and its token; otherwise E_LOCK_NOT_HELD.
 *  - timeoutMs absent: wait as long as it takes; 0: try once.
 *  - An owner holds or awaits at most OWNER_LIMIT locks (E_LIMIT past it); a
 *    grant whose token fails to commit is not given, and the lock passes on.
 */
import { CancelledError, LockNotHeldError, TimeoutError } from '@corepool/protocol';

import { OwnerIndex, OwnerQuota } from './owner-index.js';
import type { StateMemory } from './state-memory.js';
import { decodeNumber, encodeNumber } from './number-record.js';
import type { Dirty, Store, Table } from './store.js';
import { Waiters } from './waiters.js';

const COUNTER_KEY = ['lock'];

/** One lock: its holder and the token of its grant (its blocked acquirers are in Locks#acquirers). */
class LockRecord {
  holder: string | null = null;
  token = 0;
}

/** Every Lock, in memory; only the token counter is stored. */
export class Locks implements Dirty {
  readonly table: Table;
  readonly key = COUNTER_KEY;
  readonly #store: Store;
  readonly #map = new Map<string, LockRecord>();
  /** owner -> names of the locks it holds. */
  readonly #holding = new OwnerIndex();
  /** Locks held or awaited per owner, bounded: a grant moves an entry from awaited to held. */
  readonly #quota: OwnerQuota;
  /** Blocked acquires by lock, oldest first; one that times out or is cancelled gives back its quota entry. */
  readonly #acquirers = new Waiters<number>(
    (a, ownerGone) => {
      // An owner gone had its count given back at once (dropOwner): this one's memory only now.
      if (ownerGone) this.#quota.gone();
      else this.#quota.remove(a.owner);
      const l = this.#map.get(a.name);
      if (l !== undefined) this.#forgetIfIdle(a.name, l);
    },
    // Its acquirers were behind a gone app's when it was released: the oldest gets it now.
    (name) => {
      const l = this.#map.get(name);
      if (l !== undefined && l.holder === null) this.#handOn(name, l);
    },
  );
  #lastToken: number;

  private constructor(store: Store, lastToken: number, memory: StateMemory) {
    this.#store = store;
    this.table = store.meta;
    this.#lastToken = lastToken;
    this.#quota = new OwnerQuota('locks held or awaited', memory);
  }

  /** Loads the token counter; `memory` counts the locks held or awaited. */
  static load(store: Store, memory: StateMemory): Locks {
    const stored = store.meta.get(COUNTER_KEY);
    return new Locks(store, stored !== undefined && stored.length === 8 ? decodeNumber(stored) : 0, memory);
  }

  /** The counter's record, serialised at commit. */
  record(): Uint8Array {
    return encodeNumber(this.#lastToken);
  }

  /** Lock records in memory: held or awaited locks (a leak check). */
  get records(): number {
    return this.#map.size;
  }

  /** Acquires waiting for a held lock, on every lock. */
  get waiting(): number {
    return this.#acquirers.size;
  }

  /** Locks currently held. */
  get count(): number {
    let n = 0;
    for (const l of this.#map.values()) if (l.holder !== null) n++;
    return n;
  }

  /** Who holds lock `name` now, if anyone. */
  holder(name: string): string | undefined {
    return this.#map.get(name)?.holder ?? undefined;
  }

  /** Every held lock, with its holder (the dashboard's listing). */
  *all(): Generator<[string, string]> {
    for (const [name, l] of this.#map) if (l.holder !== null) yield [name, l.holder];
  }

  /** Grants the lock now (the token) or blocks `owner` until it is released to it, or the timeout passes. */
  acquire(owner: string, name: string, timeoutMs: number | undefined): number | Promise<number> {
    this.#quota.check(owner);
    let l = this.#map.get(name);
    if (l === undefined) {
      l = new LockRecord();
      this.#map.set(name, l);
    }
    // Free, but with acquirers still to be handed it (behind a gone app's, Waiters#take): this one queues behind them.
    const ahead = this.#acquirers.has(name);
    if (l.holder === null && !ahead) return this.#grant(name, l, owner);
    if (timeoutMs === 0) return Promise.reject(new TimeoutError(`lock "${name}" is ${ahead ? 'awaited' : 'held'}`, { timeoutMs }));
    this.#quota.add(owner);
    const timedOut = (): Error => new TimeoutError(`lock "${name}": not acquired within ${timeoutMs} ms`, { timeoutMs });
    return this.#acquirers.wait(owner, name, timeoutMs, timedOut, undefined);
  }

  /** Releases a lock `owner` holds with `token`, passing it to the oldest waiter. */
  release(owner: string, name: string, token: number): void {
    const l = this.#map.get(name);
    if (l === undefined || l.holder === null) throw new LockNotHeldError(`lock "${name}" is not held`);
    if (l.holder !== owner || l.token !== token) {
      throw new LockNotHeldError(`lock "${name}" is not held with token ${token} by this requester`);
    }
    this.#passOn(name, l);
  }

  /** Fails the blocked acquires of `owner` (E_CANCELLED) and releases its locks. */
  dropOwner(owner: string, err: Error = new CancelledError('the requester went away')): void {
    this.#quota.setApart(owner, this.#acquirers.dropOwner(owner, err));
    this.#quota.drop(owner);
    const held = this.#holding.take(owner);
    if (held !== undefined) {
      for (const name of held) {
        const l = this.#map.get(name);
        if (l !== undefined && l.holder === owner) this.#passOn(name, l);
      }
    }
  }

  /**
   * Fails the blocked acquires of `owner` with `err`, leaving the locks it holds held: a worker whose
   * tasks left acquires waiting when they ended. Their quota entries go now (waiters of a gone
   * group are not given back one by one: onLeft's ownerGone), so the worker's next tasks may wait again;
   * their memory as each leaves its line.
   */
  cancelAcquires(owner: string, err: Error): void {
    this.#quota.setApart(owner, this.#acquirers.dropOwner(owner, err));
  }

  /** Fails every blocked acquire (shutdown). */
  dropAll(err: Error): void {
    this.#acquirers.dropAll(err);
  }

  /** Grants to `owner`; a waiter's entry is already counted, a fresh acquire's is counted here. */
  #grant(name: string, l: LockRecord, owner: string, counted = false): number {
    if (!counted) this.#quota.add(owner);
    const token = ++this.#lastToken;
    this.#store.touch(this);
    l.holder = owner;
    l.token = token;
    this.#holding.add(owner, name);
    // A grant whose token is not committed is not given: the lock passes on (the acquirer hears the commit's error).
    this.#store.committed().catch(() => {
      if (this.#map.get(name) === l && l.holder === owner && l.token === token) this.#passOn(name, l);
    });
    return token;
  }

  #passOn(name: string, l: LockRecord): void {
    this.#holding.delete(l.holder!, name);
    this.#quota.remove(l.holder!);
    l.holder = null;
    this.#handOn(name, l);
  }

  /** Grants free lock `l` to its oldest acquirer, if one is first in line; forgets it if nobody waits. */
  #handOn(name: string, l: LockRecord): void {
    // The oldest acquirer's quota entry stays: it now counts a held lock.
    const a = this.#acquirers.take(name);
    if (a === undefined) {
      this.#forgetIfIdle(name, l);
      return;
    }
    const token = this.#grant(name, l, a.owner, true);
    // The grant is replied once the counter is committed.
    this.#store.committed().then(
      () => a.resolve(token),
      (err: Error) => a.reject(err),
    );
  }

  #forgetIfIdle(name: string, l: LockRecord): void {
    if (l.holder === null && !this.#acquirers.has(name)) this.#map.delete(name);
  }
}
