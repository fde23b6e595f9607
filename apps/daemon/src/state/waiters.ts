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
 * and timeouts due together leave the line at once but are answered in slices
 * of LEAVE_SLICE_MS a turn, their timeouts' errors made without a stack: 200,000 timeouts due
 * together held the primary 7-11 s in one go, a stack and a socket write each.
 *
 * An owner's calls leave their lines a slice at a time too (state/leftover-clears.ts):
 * taking 10,000 out at once held the primary 6-45 ms, charged to nobody. They
 * are set apart from its later calls at once (a group per owner, marked gone),
 * so a call of a gone owner is never served, nor taken for the owner's next
 * ones (a worker's cancelled gets and the gets of its next task).
 *
 * Until they have left, a take must not pay for them: each line counts its
 * calls still waiting, so a line of gone calls alone answers at once, and a
 * take lets go of at most a few gone calls ahead of the first one still
 * waiting. Past that, the take answers none (the type keeps its item, or its
 * lock free, and makes no newer call jump the line: `has`) and the line's
 * front is cleared over turns like any leftover, `onFront` telling the type
 * when a waiting call is first again. A put walked every gone call ahead
 * instead: 300,000 of a killed app's gets on one queue made each put of a
 * neighbour step over them all, 50 ms for the first, charged to that
 * neighbour's connection, which then went unread for ~500 ms.
 */
import { overTurns } from './leftover-clears.js';

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
  readonly group: Group<T, D>;
  readonly line: Line<T, D>;
}

/** One owner's calls, from its first until it goes (dropOwner): a later call of the same owner is in a new group. */
interface Group<T, D> {
  readonly entries: Set<Entry<T, D>>;
  /** How many of its calls each line holds while it is there (what it takes from their `live` when it goes). */
  readonly lines: Map<Line<T, D>, number>;
  /** Set when its owner went: the error its calls are answered with. */
  left: Error | undefined;
}

/** The calls on one name, oldest first (a Set keeps insertion order). */
interface Line<T, D> {
  readonly name: string;
  readonly entries: Set<Entry<T, D>>;
  /** Its calls whose owner is still there: 0, a take answers at once whatever else the line holds. */
  live: number;
  /** Its front is being cleared over turns (a take found a waiting call behind more than a batch of gone ones). */
  clearing: boolean;
}

/** Calls taken out of their lines between looks at the clock. */
const DEPART_BATCH = 128;

/**
 * Gone calls a take lets go of before the first live one (a worker's few cancelled gets before
 * its next task's); past them it answers none, and the line's front is cleared over turns.
 */
const TAKE_BATCH = 16;

/** Most of a turn spent answering calls that stopped waiting; the rest are answered in the turns after. */
export const LEAVE_SLICE_MS = 2;

/** Every blocked call of one type, by name (FIFO) and by owner. */
export class Waiters<T, D = undefined> {
  readonly #byName = new Map<string, Line<T, D>>();
  /** owner -> its waiters, oldest first (its owner's gone groups are out of this map). */
  readonly #byOwner = new Map<string, Group<T, D>>();
  readonly #onLeft: (w: Waiter<T, D>, ownerGone: boolean) => void;
  readonly #onFront: (name: string) => void;
  /** Calls waiting, those of gone owners not counted. */
  #size = 0;
  /** Calls out of their lines, still to be answered: with their error, or how to make it (a timeout). */
  #leaving: [Entry<T, D>, Error | (() => Error)][] = [];
  #leavingAt = 0;
  #draining: NodeJS.Immediate | undefined;

  /**
   * `onLeft` hears of each waiter that stopped waiting unserved, as it is removed (before it is
   * rejected, maybe turns before); `ownerGone`: its owner went (dropOwner): its owner's own count
   * was given back by the caller at once, what each call counts in the memory estimate goes as
   * the call leaves. `onFront` hears that a call still waiting is first on `name` again after a
   * take answered none while it waited behind gone calls: the type serves it now, if it can.
   */
  constructor(onLeft: (w: Waiter<T, D>, ownerGone: boolean) => void = () => {}, onFront: (name: string) => void = () => {}) {
    this.#onLeft = onLeft;
    this.#onFront = onFront;
  }

  /**
   * Blocks `owner` on `name` until `take` hands the call over, `timeoutMs` passes (it is
   * rejected with `timedOut()`), or its owner goes. No timeout when `timeoutMs` is undefined
   * or above MAX_TIMER_MS.
   */
  wait(owner: string, name: string, timeoutMs: number | undefined, timedOut: () => Error, data: D): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let group = this.#byOwner.get(owner);
      if (group === undefined) this.#byOwner.set(owner, (group = { entries: new Set(), lines: new Map(), left: undefined }));
      let line = this.#byName.get(name);
      if (line === undefined) this.#byName.set(name, (line = { name, entries: new Set(), live: 0, clearing: false }));
      const w: Entry<T, D> = { owner, name, data, resolve, reject, timer: undefined, group, line };
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
      line.entries.add(w);
      line.live++;
      this.#size++;
      group.entries.add(w);
      group.lines.set(line, (group.lines.get(line) ?? 0) + 1);
    });
  }

  /** How many calls wait, on every name. */
  get size(): number {
    return this.#size;
  }

  /**
   * Whether a call of an owner still there waits on `name` (calls of gone owners leave within a few
   * slices). While one does, a new call must queue behind it, even when the type could serve it now:
   * a take may have answered none for the gone calls before it (see `take`).
   */
  has(name: string): boolean {
    return (this.#byName.get(name)?.live ?? 0) > 0;
  }

  /**
   * Removes the oldest waiter on `name` and returns it, for the caller to settle; undefined when none
   * is first within TAKE_BATCH gone calls. Then, if one still waits behind them (`has`), the front is
   * cleared over turns and `onFront` hears when it is first: the type serves it then.
   */
  take(name: string): Waiter<T, D> | undefined {
    const first = this.#first(name);
    if (first !== undefined) this.#remove(first);
    return first;
  }

  /**
   * The oldest call on `name` of an owner still there, if it is first once at most TAKE_BATCH gone
   * calls before it have left (answering them is what costs: a rejection and its reactions).
   */
  #first(name: string): Entry<T, D> | undefined {
    const line = this.#byName.get(name);
    if (line === undefined || line.live === 0) return undefined;
    let gone: Entry<T, D>[] | undefined;
    let found: Entry<T, D> | undefined;
    for (const w of line.entries) {
      if (w.group.left === undefined) {
        found = w;
        break;
      }
      if ((gone?.length ?? 0) === TAKE_BATCH) break;
      this.#remove(w);
      (gone ??= []).push(w);
    }
    if (gone !== undefined) for (const w of gone) this.#told(w);
    if (found === undefined && !line.clearing && line.live > 0) this.#clearFront(line);
    return found;
  }

  /**
   * Takes the gone calls before `line`'s first waiting one out, a batch a time within the leftovers'
   * budget (charged to nobody, as their owners' own clears), then tells the type it is first.
   */
  #clearFront(line: Line<T, D>): void {
    line.clearing = true;
    const step = (): boolean => {
      let k = 0;
      for (const w of line.entries) {
        if (w.group.left === undefined) break;
        if (k++ === DEPART_BATCH) return false;
        this.#depart(w);
      }
      line.clearing = false;
      if (line.live > 0 && this.#byName.get(line.name) === line) this.#onFront(line.name);
      return true;
    };
    // Not in the take's turn: its caller has yet to keep what the take did not hand over (the item, the free lock).
    setImmediate(() => void overTurns(step));
  }

  /**
   * Rejects every waiter of `owner` with `err`, oldest first: set apart from the owner's later
   * calls now, taken out of their lines and answered a slice at a time (state/leftover-clears.ts).
   * Returns how many were waiting.
   */
  dropOwner(owner: string, err: Error): number {
    const group = this.#byOwner.get(owner);
    if (group === undefined) return 0;
    this.#byOwner.delete(owner);
    group.left = err;
    const n = group.entries.size;
    this.#size -= n;
    for (const [line, k] of group.lines) line.live -= k;
    // Always a slice at a time, however many are departing: they stay in the memory estimate of the
    // connections' entries until they leave (the types' onLeft), so owners that go faster than their
    // calls leave find new blocked calls refused past that bound. Past 100,000 departing they used
    // to go at once, each owner's in one turn: 20 connections killed with 10,000 gets each held the
    // primary 563-941 ms, a neighbour's add waiting it out.
    void overTurns(() => {
      let k = 0;
      for (const w of group.entries) {
        if (k++ >= DEPART_BATCH) return false;
        this.#depart(w);
      }
      return true;
    });
    return n;
  }

  /** A call of a gone owner leaves its line, answered with its owner's error now. */
  #depart(w: Entry<T, D>): void {
    if (this.#remove(w)) this.#told(w);
  }

  /** A call of a gone owner, out of its line: what it counted is given back, and it is answered. */
  #told(w: Entry<T, D>): void {
    this.#onLeft(w, true);
    w.reject(w.group.left!);
  }

  /** Rejects every waiter with `err` (shutdown), and answers those still to be told now. */
  dropAll(err: Error): void {
    for (const line of [...this.#byName.values()]) for (const w of [...line.entries]) if (this.#remove(w)) this.#left(w, err);
    this.#drain(Infinity);
  }

  /** `w` is out of its line: what it counted against is given back now (a client at its quota may wait again at once); its answer waits its turn. */
  #left(w: Entry<T, D>, err: Error | (() => Error)): void {
    this.#onLeft(w, w.group.left !== undefined);
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
    const line = w.line;
    if (!line.entries.delete(w)) return false;
    const group = w.group;
    if (group.left === undefined) {
      this.#size--;
      line.live--;
      const k = group.lines.get(line)!;
      if (k === 1) group.lines.delete(line);
      else group.lines.set(line, k - 1);
    }
    if (line.entries.size === 0 && this.#byName.get(w.name) === line) this.#byName.delete(w.name);
    group.entries.delete(w);
    if (group.entries.size === 0 && this.#byOwner.get(w.owner) === group) this.#byOwner.delete(w.owner);
    return true;
  }
}
