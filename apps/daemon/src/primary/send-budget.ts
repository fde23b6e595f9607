/**
 * send-budget.ts - what all slow clients together may hold in the primary.
 * Each connection's send side (outflow.ts) keeps what its client has not
 * taken under that connection's hard cap, and cuts off a client that takes
 * nothing for softCapMs. Many clients that subscribe and stop reading would
 * still each hold up to the high-water mark for that long: in a hostile
 * co-tenant run, 600 of them held 5.1 GB of the primary's memory, and the
 * daemon's other clients waited tens of milliseconds per request while it
 * grew. The connections holding a megabyte or more that their clients have
 * not taken (or their high-water mark, if lower: outflow.ts) share this
 * budget: once what they hold together passes it, those that have taken
 * nothing for STALE_MS are cut off (E_SLOW_CONSUMER), the stalest first,
 * until they fit. A client that reads, even one behind a burst (a large value
 * pushed to a hundred subscribers at once), keeps taking bytes, and is not
 * stale. Past twice the budget the stalest are cut off whether stale or not:
 * memory comes first.
 */
import { realClock, type Clock, type Timer } from './clock.js';

/** A connection's send side, while the budget counts it. */
export interface HeldSend {
  /** Bytes its socket holds that the client has not taken. */
  readonly buffered: number;
  /** When it last saw its client take bytes (or began to be counted); it may look at its socket to tell. */
  takenSince(): number;
  /** Cuts its client off: the budget is spent. */
  cutOffOverBudget(): void;
}

/** The budget for a daemon whose connections have these send limits: room for 32 clients at the mark, or 2 at the cap. */
export function sendBudgetBytes(highWater: number, hardCap: number): number {
  return Math.max(32 * highWater, 2 * hardCap);
}

/** How long a counted connection must have taken nothing before the budget may cut it off. */
export const STALE_MS = 1000;

/** The bytes the connections counted may hold together. */
export class SendBudget {
  readonly #limit: number;
  readonly #clock: Clock;
  readonly #counted = new Set<HeldSend>();
  /** Set while the budget is spent by connections not yet stale: it looks again once the stalest is. */
  #recheck: Timer | undefined;

  constructor(limitBytes: number, clock: Clock = realClock) {
    this.#limit = limitBytes;
    this.#clock = clock;
  }

  /** Bytes the connections counted hold now. */
  get held(): number {
    let total = 0;
    for (const o of this.#counted) total += o.buffered;
    return total;
  }

  /** A connection is counted from now, or wrote more while counted. */
  enter(o: HeldSend): void {
    this.#counted.add(o);
    this.#check();
  }

  /** A connection holds less than the floor again, or closed. */
  leave(o: HeldSend): void {
    this.#counted.delete(o);
  }

  /** While over the budget: the stale connections are cut off, stalest first; if none is stale yet, a look again once one is. */
  #check(): void {
    let total = this.held;
    const now = this.#clock.now();
    while (total > this.#limit) {
      let stalest: HeldSend | undefined;
      let stalestSince = Infinity;
      for (const x of this.#counted) {
        const since = x.takenSince();
        if (since < stalestSince) [stalest, stalestSince] = [x, since];
      }
      if (stalest === undefined) return;
      const staleIn = stalestSince + STALE_MS - now;
      // Not stale yet: wait, unless the budget is spent twice over. Many clients that stop reading at once
      // fill their kernel buffers for seconds first (which looks like taking bytes), and hold gigabytes meanwhile.
      if (staleIn > 0 && total <= 2 * this.#limit) {
        if (this.#recheck === undefined)
          this.#recheck = this.#clock.after(staleIn, () => {
            this.#recheck = undefined;
            this.#check();
          });
        return;
      }
      this.#counted.delete(stalest);
      total -= stalest.buffered;
      stalest.cutOffOverBudget();
    }
  }
}
