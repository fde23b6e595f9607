/**
 * lock.ts - Lock: a named mutex with fencing tokens (what `client.lock(name)`
 * and `ctx.lock(name)` share).
 *
 * Invariants:
 *  - At most one holder per lock; blocked acquirers are granted in arrival
 *    order. Not reentrant: a second acquire by the same owner queues.
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
import { decodeNumber, encodeNumber, type Dirty, type Store, type Table } from './store.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
const COUNTER_KEY = ['lock'];

interface Acquirer {
  owner: string;
  resolve: (token: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

class LockRecord {
  holder: string | null = null;
  token = 0;
  /** Insertion-ordered: the first is the oldest acquirer. */
  readonly waiters = new Set<Acquirer>();
}

/** Every Lock, in memory; only the token counter is stored. */
export class Locks implements Dirty {
  readonly table: Table;
  readonly key = COUNTER_KEY;
  readonly #store: Store;
  readonly #map = new Map<string, LockRecord>();
  readonly #held = new OwnerIndex();
  readonly #waiting = new OwnerIndex();
  /** Locks held or awaited per owner, bounded: a grant moves an entry from awaited to held. */
  readonly #quota = new OwnerQuota('locks held or awaited');
  #lastToken: number;

  private constructor(store: Store, lastToken: number) {
    this.#store = store;
    this.table = store.meta;
    this.#lastToken = lastToken;
  }

  /** Loads the token counter. */
  static load(store: Store): Locks {
    const stored = store.meta.get(COUNTER_KEY);
    return new Locks(store, stored !== undefined && stored.length === 8 ? decodeNumber(stored) : 0);
  }

  /** The counter's record, serialised at commit. */
  record(): Uint8Array {
    return encodeNumber(this.#lastToken);
  }

  /** Lock records in memory: held or awaited locks (a leak check). */
  get records(): number {
    return this.#map.size;
  }

  /** Locks currently held. */
  get count(): number {
    let n = 0;
    for (const l of this.#map.values()) if (l.holder !== null) n++;
    return n;
  }

  /** Grants the lock now (the token) or blocks `owner` until it is released to it, or the timeout passes. */
  acquire(owner: string, name: string, timeoutMs: number | undefined): number | Promise<number> {
    this.#quota.check(owner);
    let l = this.#map.get(name);
    if (l === undefined) {
      l = new LockRecord();
      this.#map.set(name, l);
    }
    if (l.holder === null) return this.#grant(name, l, owner);
    if (timeoutMs === 0) return Promise.reject(new TimeoutError(`lock "${name}" is held`, { timeoutMs }));
    const rec = l;
    this.#quota.add(owner);
    return new Promise<number>((resolve, reject) => {
      const a: Acquirer = { owner, resolve, reject, timer: undefined };
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        a.timer = setTimeout(() => {
          this.#unblock(name, rec, a);
          reject(new TimeoutError(`lock "${name}": not acquired within ${timeoutMs} ms`, { timeoutMs }));
        }, timeoutMs);
      }
      rec.waiters.add(a);
      this.#waiting.add(owner, name);
    });
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
    this.#quota.drop(owner);
    const waiting = this.#waiting.take(owner);
    if (waiting !== undefined) {
      for (const name of waiting) {
        const l = this.#map.get(name);
        if (l === undefined) continue;
        for (const a of l.waiters) {
          if (a.owner !== owner) continue;
          if (a.timer !== undefined) clearTimeout(a.timer);
          l.waiters.delete(a);
          a.reject(err);
        }
        this.#forgetIfIdle(name, l);
      }
    }
    const held = this.#held.take(owner);
    if (held !== undefined) {
      for (const name of held) {
        const l = this.#map.get(name);
        if (l !== undefined && l.holder === owner) this.#passOn(name, l);
      }
    }
  }

  /** Fails every blocked acquire (shutdown). */
  dropAll(err: Error): void {
    for (const [name, l] of this.#map) {
      for (const a of l.waiters) {
        if (a.timer !== undefined) clearTimeout(a.timer);
        this.#waiting.delete(a.owner, name);
        this.#quota.remove(a.owner);
        a.reject(err);
      }
      l.waiters.clear();
    }
  }

  /** Grants to `owner`; a waiter's entry is already counted, a fresh acquire's is counted here. */
  #grant(name: string, l: LockRecord, owner: string, counted = false): number {
    if (!counted) this.#quota.add(owner);
    const token = ++this.#lastToken;
    this.#store.touch(this);
    l.holder = owner;
    l.token = token;
    this.#held.add(owner, name);
    // A grant whose token is not committed is not given: the lock passes on (the acquirer hears the commit's error).
    this.#store.committed().catch(() => {
      if (this.#map.get(name) === l && l.holder === owner && l.token === token) this.#passOn(name, l);
    });
    return token;
  }

  #passOn(name: string, l: LockRecord): void {
    this.#held.delete(l.holder!, name);
    this.#quota.remove(l.holder!);
    l.holder = null;
    const first = l.waiters.values().next();
    if (first.done) {
      this.#map.delete(name);
      return;
    }
    const a = first.value;
    const token = this.#grant(name, l, a.owner, true);
    this.#unblock(name, l, a, true);
    // The grant is replied once the counter is committed.
    this.#store.committed().then(() => a.resolve(token), (err: Error) => a.reject(err));
  }

  /** `a` stops waiting; `granted`: it now holds the lock, and its quota entry stays. */
  #unblock(name: string, l: LockRecord, a: Acquirer, granted = false): void {
    if (a.timer !== undefined) clearTimeout(a.timer);
    l.waiters.delete(a);
    if (!granted) this.#quota.remove(a.owner);
    let stillWaiting = false;
    for (const other of l.waiters) if (other.owner === a.owner) { stillWaiting = true; break; }
    if (!stillWaiting) this.#waiting.delete(a.owner, name);
    this.#forgetIfIdle(name, l);
  }

  #forgetIfIdle(name: string, l: LockRecord): void {
    if (l.holder === null && l.waiters.size === 0) this.#map.delete(name);
  }
}
