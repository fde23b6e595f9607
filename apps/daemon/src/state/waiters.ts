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
 *
 * An app may leave hundreds of thousands of calls waiting (10,000 per
 * connection), so what they cost when they stop must not stall the others:
 * an owner's calls are found through its own index, never by scanning a
 * name's whole line (one client leaving a line of 400,000 scanned it all),
 * and calls that stop together (timeouts due at once, an owner with thousands
 * waiting) leave the line at once but are answered in slices of LEAVE_SLICE_MS
 * a turn, their timeouts' errors made without a stack: 200,000 timeouts due
 * together held the primary 7-11 s in one go, a stack and a socket write each.
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

/** Most of a turn spent answering calls that stopped waiting; the rest are answered in the turns after. */
export const LEAVE_SLICE_MS = 2;

/** Every blocked call of one type, by name (FIFO) and by owner. */
export class Waiters<T, D = undefined> {
  /** A Set keeps insertion order: the first is the oldest waiter. */
  readonly #byName = new Map<string, Set<Entry<T, D>>>();
  /** owner -> its waiters, oldest first. */
  readonly #byOwner = new Map<string, Set<Entry<T, D>>>();
  readonly #onLeft: (w: Waiter<T, D>) => void;
  #size = 0;
  /** Calls out of their lines, still to be answered: with their error, or how to make it (a timeout). */
  #leaving: [Entry<T, D>, Error | (() => Error)][] = [];
  #leavingAt = 0;
  #draining: NodeJS.Immediate | undefined;

  /** `onLeft` hears of each waiter that stopped waiting unserved, as it is removed (before it is rejected, maybe turns before). */
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
          // Answered with the other timeouts due now, in one go (#drain): one frame per connection, not a write each.
          if (this.#remove(w)) {
            this.#left(w, timedOut);
            this.#drainSoon();
          }
        }, timeoutMs);
      }
      let line = this.#byName.get(name);
      if (line === undefined) this.#byName.set(name, (line = new Set()));
      line.add(w);
      this.#size++;
      let mine = this.#byOwner.get(owner);
      if (mine === undefined) this.#byOwner.set(owner, (mine = new Set()));
      mine.add(w);
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

  /** Rejects every waiter of `owner` with `err`, oldest first: the first within a slice now, the rest in the next turns. */
  dropOwner(owner: string, err: Error): void {
    const mine = this.#byOwner.get(owner);
    if (mine === undefined) return;
    // Told now unless calls that stopped earlier still wait to be told (they go first).
    const now = this.#leavingAt === this.#leaving.length;
    for (const w of [...mine]) if (this.#remove(w)) this.#left(w, err);
    if (now) this.#drain(LEAVE_SLICE_MS);
    this.#drainSoon();
  }

  /** Rejects every waiter with `err` (shutdown), and answers those still to be told now. */
  dropAll(err: Error): void {
    for (const line of [...this.#byName.values()]) for (const w of [...line]) if (this.#remove(w)) this.#left(w, err);
    this.#drain(Infinity);
  }

  /** `w` is out of its line: what it counted against is given back now (a client at its quota may wait again at once); its answer waits its turn. */
  #left(w: Entry<T, D>, err: Error | (() => Error)): void {
    this.#onLeft(w);
    this.#leaving.push([w, err]);
  }

  /** Arms the next turn's slice if calls wait to be told. */
  #drainSoon(): void {
    if (this.#leavingAt < this.#leaving.length && this.#draining === undefined) this.#draining = setImmediate(this.#drainLater);
  }

  readonly #drainLater = (): void => {
    this.#draining = undefined;
    this.#drain(LEAVE_SLICE_MS);
    this.#drainSoon();
  };

  /** Tells the calls waiting to be told, oldest first, for up to `budgetMs`. */
  #drain(budgetMs: number): void {
    const list = this.#leaving;
    const t0 = performance.now();
    // A timeout's error is an answer on the wire, never thrown here: its stack would cost more than the rest of it.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      while (this.#leavingAt < list.length) {
        const [w, err] = list[this.#leavingAt]!;
        list[this.#leavingAt++] = undefined!;
        w.reject(typeof err === 'function' ? err() : err);
        if ((this.#leavingAt & 63) === 0 && performance.now() - t0 >= budgetMs) break;
      }
    } finally {
      Error.stackTraceLimit = limit;
      if (this.#leavingAt === list.length) {
        this.#leaving = [];
        this.#leavingAt = 0;
      }
    }
  }

  /** False when `w` was no longer waiting. */
  #remove(w: Entry<T, D>): boolean {
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.timer = undefined;
    const line = this.#byName.get(w.name);
    if (line === undefined || !line.delete(w)) return false;
    this.#size--;
    if (line.size === 0) this.#byName.delete(w.name);
    const mine = this.#byOwner.get(w.owner)!;
    mine.delete(w);
    if (mine.size === 0) this.#byOwner.delete(w.owner);
    return true;
  }
}
