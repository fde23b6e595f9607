/**
 * waiters.ts - blocked calls on named things (a queue's gets, a lock's
 * acquires): per name, a FIFO of waiters, each with an optional timeout,
 * indexed by owner so that an owner going away cancels only its own.
 *
 * The type that blocks (queue.ts, lock.ts) decides when a waiter is served:
 * it takes the oldest with `take` and settles it itself (after the commit of
 * what serves it). A waiter that stops waiting without being served (its
 * timeout passed, its owner went away, shutdown) is rejected here, and the
 * type hears of it through `onLeft` to give back what the waiter counted
 * against (its owner's quota, its record in memory).
 */
/** Longest timer Node can arm; longer timeouts wait forever. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** One blocked call: whose, on what name, what it carries, and how to answer it. */
export interface Waiter<T, D> {
  readonly owner: string;
  readonly name: string;
  /** What the type keeps with the call (a queue's "taken" hook), given to `wait`. */
  readonly data: D;
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
}

interface Entry<T, D> extends Waiter<T, D> {
  timer: NodeJS.Timeout | undefined;
}

/** Every blocked call of one type, by name (FIFO) and by owner. */
export class Waiters<T, D = undefined> {
  /** A Set keeps insertion order: the first is the oldest waiter. */
  readonly #byName = new Map<string, Set<Entry<T, D>>>();
  /** owner -> name -> how many of its waiters wait there. */
  readonly #byOwner = new Map<string, Map<string, number>>();
  readonly #onLeft: (w: Waiter<T, D>) => void;
  #size = 0;

  /** `onLeft` hears of each waiter that stopped waiting unserved, after it is removed and before it is rejected. */
  constructor(onLeft: (w: Waiter<T, D>) => void = () => {}) {
    this.#onLeft = onLeft;
  }

  /**
   * Blocks `owner` on `name` until `take` hands the call over, `timeoutMs` passes (it is
   * rejected with `timedOut()`), or its owner goes. No timeout when `timeoutMs` is undefined
   * or above MAX_TIMER_MS.
   */
  wait(owner: string, name: string, timeoutMs: number | undefined, timedOut: () => Error, data: D): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w: Entry<T, D> = { owner, name, data, resolve, reject, timer: undefined };
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        w.timer = setTimeout(() => {
          w.timer = undefined;
          this.#leave(w, timedOut());
        }, timeoutMs);
      }
      let line = this.#byName.get(name);
      if (line === undefined) this.#byName.set(name, (line = new Set()));
      line.add(w);
      this.#size++;
      let names = this.#byOwner.get(owner);
      if (names === undefined) this.#byOwner.set(owner, (names = new Map()));
      names.set(name, (names.get(name) ?? 0) + 1);
    });
  }

  /** How many calls wait, on every name. */
  get size(): number {
    return this.#size;
  }

  /** Whether anyone waits on `name`. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Removes the oldest waiter on `name` and returns it, for the caller to settle; undefined when none waits. */
  take(name: string): Waiter<T, D> | undefined {
    const first = this.#byName.get(name)?.values().next();
    if (first === undefined || first.done) return undefined;
    this.#remove(first.value);
    return first.value;
  }

  /** Rejects every waiter of `owner` with `err`, oldest first per name. */
  dropOwner(owner: string, err: Error): void {
    const names = this.#byOwner.get(owner);
    if (names === undefined) return;
    for (const name of [...names.keys()]) {
      for (const w of [...(this.#byName.get(name) ?? [])]) if (w.owner === owner) this.#leave(w, err);
    }
  }

  /** Rejects every waiter with `err` (shutdown). */
  dropAll(err: Error): void {
    for (const line of [...this.#byName.values()]) for (const w of [...line]) this.#leave(w, err);
  }

  #leave(w: Entry<T, D>, err: Error): void {
    if (!this.#remove(w)) return;
    this.#onLeft(w);
    w.reject(err);
  }

  /** False when `w` was no longer waiting. */
  #remove(w: Entry<T, D>): boolean {
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.timer = undefined;
    const line = this.#byName.get(w.name);
    if (line === undefined || !line.delete(w)) return false;
    this.#size--;
    if (line.size === 0) this.#byName.delete(w.name);
    const names = this.#byOwner.get(w.owner)!;
    const n = names.get(w.name)!;
    if (n > 1) names.set(w.name, n - 1);
    else {
      names.delete(w.name);
      if (names.size === 0) this.#byOwner.delete(w.owner);
    }
    return true;
  }
}
