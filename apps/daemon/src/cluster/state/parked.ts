/**
 * parked.ts - calls that wait in this daemon for something in Redis: queue
 * gets on an empty queue, acquires of a held lock. Per name a FIFO (this
 * daemon serves its own waiters in arrival order; across daemons, whoever
 * retries first wins), each with an optional timeout, indexed by owner so an
 * owner going away cancels only its own. No Redis connection is held per
 * waiter: the store retries the oldest waiter of a name when the change feed
 * says the name changed, and on a slow poll.
 *
 * Unlike waiters.ts (the LMDB store's), a waiter stays first in line while
 * the store tries to serve it, and is removed only when settled; a waiter
 * that left meanwhile (timeout, owner gone) is `settled`, and the store gives
 * back what it got for it.
 */
import { MAX_TIMER_MS } from '../../state/waiters.js';
import type { ReplayKey } from '../../state/state-store.js';

/** One parked call. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- T ties a parked call to what answers it
export interface Parked<T> {
  readonly owner: string;
  readonly name: string;
  /** The replay key of a parked queue.get, if its client named itself. */
  readonly key: ReplayKey | undefined;
  /** True once answered or gone: a result got for it now must be given back. */
  settled: boolean;
}

interface Entry<T> extends Parked<T> {
  resolve(v: T): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** Every parked call of one kind, by name and by owner. */
export class ParkedCalls<T> {
  readonly #byName = new Map<string, Set<Entry<T>>>();
  readonly #byOwner = new Map<string, Set<Entry<T>>>();
  readonly #onLeft: (p: Parked<T>, served: boolean) => void;
  /** Per owner, its last cancel (cancel), until it goes (dropOwner) with no first try in flight. */
  readonly #cancels = new Map<string, Error>();
  /** Per owner, its calls whose first try is in flight (firstTry). */
  readonly #trying = new Map<string, number>();
  /** Owners gone with first tries in flight: their marks go with the last. */
  readonly #gone = new Set<string>();
  #size = 0;

  /** `onLeft` hears of every call that stopped waiting, once, and whether it was served. */
  constructor(onLeft: (p: Parked<T>, served: boolean) => void) {
    this.#onLeft = onLeft;
  }

  get size(): number {
    return this.#size;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  /** The oldest call waiting on `name`. */
  first(name: string): Parked<T> | undefined {
    return this.#byName.get(name)?.values().next().value;
  }

  /** Parks a call until `resolve`, its timeout (rejected with `timedOut()`), or its owner goes. */
  park(owner: string, name: string, key: ReplayKey | undefined, timeoutMs: number | undefined, timedOut: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const e: Entry<T> = { owner, name, key, settled: false, resolve, reject, timer: undefined };
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        e.timer = setTimeout(() => this.#end(e, undefined, timedOut()), timeoutMs);
      }
      add(this.#byName, name, e);
      add(this.#byOwner, owner, e);
      this.#size++;
    });
  }

  /** Answers a parked call with `value`; false if it had already left. */
  resolve(p: Parked<T>, value: T): boolean {
    return this.#end(p as Entry<T>, value, undefined);
  }

  /**
   * Fails every call of `owner`, which is gone, and those it has in flight now (firstTry): one whose
   * first try came back empty after the owner went parked for nobody, never to be dropped again (a
   * lock granted to it later was held in Redis, by no one, until the daemon stopped).
   */
  dropOwner(owner: string, err: Error): void {
    if (this.#trying.has(owner)) {
      this.#cancels.set(owner, err);
      this.#gone.add(owner);
    } else this.#cancels.delete(owner);
    this.#failOwner(owner, err);
  }

  /**
   * Fails every call of `owner`, which stays (a worker whose task ended), and those it has in
   * flight now (firstTry). A task's last unawaited calls, each on a name not asked for before,
   * parked after its cancel and kept the worker's quota, which its next task (another app's)
   * needs, until that task ended.
   */
  cancel(owner: string, err: Error): void {
    this.#cancels.set(owner, err);
    this.#failOwner(owner, err);
  }

  /**
   * Runs a call's first try (a round trip to Redis) for `owner`: what it found, and the cancel or the
   * owner's going that came while it was in flight (undefined: none), so the call fails then
   * instead of parking after it.
   */
  async firstTry<R>(owner: string, attempt: () => Promise<R>): Promise<[R, Error | undefined]> {
    const mark = this.#cancels.get(owner);
    this.#trying.set(owner, (this.#trying.get(owner) ?? 0) + 1);
    try {
      const found = await attempt();
      const now = this.#cancels.get(owner);
      return [found, now === mark ? undefined : now];
    } finally {
      const n = this.#trying.get(owner)! - 1;
      if (n > 0) this.#trying.set(owner, n);
      else {
        this.#trying.delete(owner);
        // Its last try is back: a gone owner's mark goes too.
        if (this.#gone.delete(owner)) this.#cancels.delete(owner);
      }
    }
  }

  #failOwner(owner: string, err: Error): void {
    for (const e of [...(this.#byOwner.get(owner) ?? [])]) this.#end(e, undefined, err);
  }

  /** Fails every call. */
  dropAll(err: Error): void {
    for (const set of [...this.#byName.values()]) for (const e of [...set]) this.#end(e, undefined, err);
  }

  #end(e: Entry<T>, value: T | undefined, err: Error | undefined): boolean {
    if (e.settled) return false;
    e.settled = true;
    clearTimeout(e.timer);
    remove(this.#byName, e.name, e);
    remove(this.#byOwner, e.owner, e);
    this.#size--;
    this.#onLeft(e, err === undefined);
    if (err !== undefined) e.reject(err);
    else e.resolve(value as T);
    return true;
  }
}

function add<E>(m: Map<string, Set<E>>, k: string, e: E): void {
  let s = m.get(k);
  if (s === undefined) m.set(k, (s = new Set()));
  s.add(e);
}

function remove<E>(m: Map<string, Set<E>>, k: string, e: E): void {
  const s = m.get(k);
  if (s === undefined) return;
  s.delete(e);
  if (s.size === 0) m.delete(k);
}
