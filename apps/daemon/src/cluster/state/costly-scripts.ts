/**
 * costly-scripts.ts - bounds the Lua time this daemon has in flight to Redis,
 * owner by owner, so that one app's costly scripts cannot hold Redis for every
 * daemon.
 *
 * Redis runs one script at a time, and a connection's pipelined commands back
 * to back. An add to a 950 KB bigint is 50-80 ms of Lua; forty of them sent
 * together by one app held Redis ~2 s, past the daemons' 1 s silent-link
 * check (membership.ts): they remade their connections and the neighbours'
 * adds failed with E_UNAVAILABLE or waited 1.3-1.8 s.
 *
 * - A request is costly when its estimated Lua time is COSTLY_MS or more
 *   (value-sizes.ts); costly requests in flight from this daemon together stay
 *   within BUDGET_MS of it, though one may always go. The others wait in their
 *   owner's line, and the owners with one take turns, so a single owner's burst
 *   holds Redis for one script at a time, not for all of them.
 * - A request whose cost is not known (an add to a value whose size this
 *   daemon has not seen) comes with a measure (redis-state.ts reads the
 *   value's length, one O(1) read, as the request arrives). It waits in its
 *   owner's line for that answer, the owner's later requests behind it, then
 *   is costed like any other. Measures need no turn and no room. Before, such
 *   an add went alone for its owner, one at a time on the daemon (its reply
 *   told the size): after a restart one app's first adds to 2,000 values it
 *   had not seen went a round trip at a time, and a neighbour's first add to
 *   its own waited behind them all. Measured, forty owners' adds to forty
 *   950 KB values not seen are ~80 ms each, and take turns as any costly ones.
 * - Once an owner has a request waiting, its later requests wait behind it,
 *   cheap ones too: they reach Redis in the order they came, as pipelining
 *   alone gave. A cheap request of an owner with nothing waiting goes at once.
 * - A costly request goes at once only while no owner waits; after that the
 *   owners' turns decide, and none is passed over: an add estimated over the
 *   whole budget goes once nothing is in flight, which the waiting lines make
 *   sure of (a neighbour's steady ~8 ms adds, let past it, kept it and what its
 *   owner queued behind it, a lock's release say, waiting for ever).
 * - A request waiting is not yet sent: when its owner goes, it goes too,
 *   never applied, and the replay table forgets it (state-store.ts
 *   NOT_APPLIED), so the client's resend runs it afresh, once, on whichever
 *   daemon it reaches (kept, the failure answered the resend and the write
 *   was never applied; run in its turn instead, it could land beside a resend
 *   another daemon applied). A task's blocking calls waiting here go when it
 *   ends, and everything when the store closes.
 */

/** Estimated Lua time from which a request is paced. */
export const COSTLY_MS = 1;
/** Estimated Lua time of the costly requests this daemon may have in flight together. */
export const BUDGET_MS = 50;

/** Finds a request's estimated Lua time in ms before it is sent (its rejection is the request's). */
export type Measure = () => Promise<number>;

/** A request's estimated Lua time in ms, or how to find it. */
export type Cost = number | Measure;

interface Waiting {
  readonly op: string;
  readonly cost: Cost;
  start(): void;
  drop(err: Error): void;
}

interface Measuring {
  readonly op: string;
  /** Fails the request at once (its owner went, or the store closes); its measure's answer is then ignored. */
  readonly drop: (err: Error) => void;
  dropped: boolean;
}

/** The lines of the owners whose costly requests wait for their turn. */
export class CostlyScripts {
  #inFlightMs = 0;
  /** Owners with requests waiting, in turn order. */
  readonly #lines = new Map<string, Waiting[]>();
  /** Owners with a request being measured (their lines wait for it): the request's op and how to fail it. */
  readonly #measuring = new Map<string, Measuring>();

  /** Runs `run` (a request `op`) now, or once `owner`'s earlier requests went and the budget has room for `cost`. */
  enter<T>(owner: string, op: string, cost: Cost, run: () => Promise<T>): Promise<T> {
    const line = this.#lines.get(owner);
    if (line === undefined && !this.#measuring.has(owner) && this.#fits(cost) && (!costly(cost) || !this.#waiting()))
      return this.#run(owner, op, cost, run);
    return new Promise<T>((resolve, reject) => {
      const w = this.#waiter(owner, op, cost, run, resolve, reject);
      if (line === undefined) this.#lines.set(owner, [w]);
      else line.push(w);
    });
  }

  /** Fails `owner`'s waiting requests whose op `which` picks (all by default) with `err`; the rest keep their places. */
  drop(owner: string, err: Error, which: (op: string) => boolean = () => true): void {
    // One being measured is not sent yet either: it goes now, and what its owner keeps may start.
    const m = this.#measuring.get(owner);
    const measured = m !== undefined && which(m.op);
    if (measured) {
      this.#measuring.delete(owner);
      m.dropped = true;
      m.drop(err);
    }
    const line = this.#lines.get(owner);
    if (line === undefined) {
      if (measured) this.#next();
      return;
    }
    const kept = line.filter((w) => !which(w.op));
    if (kept.length === 0) this.#lines.delete(owner);
    else this.#lines.set(owner, kept);
    for (const w of line) if (which(w.op)) w.drop(err);
    // What was first in its line may be gone: the next may start now.
    if (measured || kept.length !== line.length) this.#next();
  }

  /** Fails every waiting request with `err`, starting none (the store is closing). */
  dropAll(err: Error): void {
    const measuring = [...this.#measuring.values()];
    this.#measuring.clear();
    for (const m of measuring) {
      m.dropped = true;
      m.drop(err);
    }
    const lines = [...this.#lines.values()];
    this.#lines.clear();
    for (const line of lines) for (const w of line) w.drop(err);
  }

  #waiter<T>(owner: string, op: string, cost: Cost, run: () => Promise<T>, resolve: (v: T) => void, reject: (e: Error) => void): Waiting {
    return {
      op,
      cost,
      start: () => {
        this.#run(owner, op, cost, run).then(resolve, reject);
      },
      drop: reject,
    };
  }

  /** Whether an owner waits for its turn (not merely for its own measure's answer). */
  #waiting(): boolean {
    for (const owner of this.#lines.keys()) if (!this.#measuring.has(owner)) return true;
    return false;
  }

  /** Whether `owner`'s front `w` starts without a turn: cheap or to be measured, and the owner not waiting for a measure. */
  #startsNow(owner: string, w: Waiting): boolean {
    return !this.#measuring.has(owner) && !costly(w.cost);
  }

  #fits(cost: Cost): boolean {
    return typeof cost === 'function' || cost < COSTLY_MS || this.#inFlightMs === 0 || this.#inFlightMs + cost <= BUDGET_MS;
  }

  #run<T>(owner: string, op: string, cost: Cost, run: () => Promise<T>): Promise<T> {
    if (typeof cost === 'function') return this.#measure(owner, op, cost, run);
    if (cost < COSTLY_MS) return run();
    this.#inFlightMs += cost;
    return run().finally(() => {
      this.#inFlightMs -= cost;
      if (this.#inFlightMs < 1e-9) this.#inFlightMs = 0; // float sums drift
      this.#next();
    });
  }

  /** Measures a request, then puts it back at the front of its owner's line with its cost: what came after it stays behind it. */
  #measure<T>(owner: string, op: string, measure: Measure, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const m: Measuring = { op, drop: reject, dropped: false };
      this.#measuring.set(owner, m);
      // Dropped meanwhile, it was failed then, and its owner's line let go.
      const answered = (): boolean => {
        if (m.dropped) return false;
        this.#measuring.delete(owner);
        return true;
      };
      let known: Promise<number>;
      try {
        known = measure();
      } catch (e) {
        known = Promise.reject(e as Error); // a measure that throws fails its request, not the line
      }
      known.then(
        (ms) => {
          if (!answered()) return;
          const w = this.#waiter(owner, op, ms, run, resolve, reject);
          const line = this.#lines.get(owner);
          if (line === undefined) this.#lines.set(owner, [w]);
          else line.unshift(w);
          this.#next();
        },
        (err: unknown) => {
          if (!answered()) return;
          reject(err as Error);
          this.#next();
        },
      );
    });
  }

  /**
   * Starts what the budget now has room for: each owner's cheap requests up to its next costly one,
   * costly ones in the owners' turns. The owner whose turn it is waits for room, and nobody passes it.
   */
  #next(): void {
    for (;;) {
      // Every line's cheap front first (and one to be measured, which then holds the rest of its owner's
      // line): they need no room, and must not wait for another owner's costly turn.
      for (const [owner, line] of this.#lines) {
        while (line.length > 0 && this.#startsNow(owner, line[0]!)) line.shift()!.start();
        if (line.length === 0) this.#lines.delete(owner);
      }
      // The first owner whose front is costly.
      let turn: string | undefined;
      for (const [owner, line] of this.#lines) {
        if (!this.#measuring.has(owner) && costly(line[0]!.cost)) {
          turn = owner;
          break;
        }
      }
      if (turn === undefined) return;
      const line = this.#lines.get(turn)!;
      if (!this.#fits(line[0]!.cost)) return;
      line.shift()!.start();
      // What it has behind that is cheap goes right after it, in its order (as pipelined).
      while (line.length > 0 && this.#startsNow(turn, line[0]!)) line.shift()!.start();
      // Its turn taken, the owner goes to the back (a Map keeps insertion order).
      this.#lines.delete(turn);
      if (line.length > 0) this.#lines.set(turn, line);
    }
  }
}

function costly(cost: Cost): boolean {
  return typeof cost === 'number' && cost >= COSTLY_MS;
}
