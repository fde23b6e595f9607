/**
 * receive-budget.ts - bounds the memory that all connections' unfinished
 * incoming messages hold together. ws buffers a message until its last byte
 * arrives, up to --max-payload per connection, and a peer may declare (or
 * fragment) a message just under it and never finish: 100 such connections
 * took a daemon from 1.8 to 2.6 GB and 300 to 4.2 GB in a hostile run, and at
 * the default --max-clients that is past any machine's memory. The fragmented
 * kind answers pings between fragments, so the heartbeat never drops it.
 *
 * Each connection reports what its parser holds after every read; past the
 * budget (64 frames of --max-payload), the connection that has held bytes the
 * longest is dropped (E_LIMIT), oldest first, until the rest fit. A client's
 * real message is in flight for milliseconds, so the oldest holder is the one
 * that never finishes, and a newcomer's message is never what is refused while
 * a stalled one holds room.
 */

/** The budget for a daemon whose largest frame is `maxPayload`: 64 of them at once (512 MiB at the default 8 MiB). */
export function receiveBudgetBytes(maxPayload: number): number {
  return 64 * maxPayload;
}

/** A connection as the budget sees it. */
export interface Receiver {
  /** Bytes counted for it now (the budget keeps this). */
  held: number;
  /** Drops the connection: it holds too much for too long. */
  evict(budgetBytes: number): void;
}

export class ReceiveBudget {
  readonly #limit: number;
  #total = 0;
  /** Receivers holding bytes, in the order they started to (a Set keeps insertion order). */
  readonly #holders = new Set<Receiver>();

  /** `limit`: bytes all unfinished messages may hold together. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Bytes held now, by every connection. */
  get total(): number {
    return this.#total;
  }

  /** `r`'s parser now holds `bytes`; the oldest holders go while the total is over the budget. */
  update(r: Receiver, bytes: number): void {
    const before = r.held;
    if (bytes === before) return;
    this.#total += bytes - before;
    r.held = bytes;
    if (bytes === 0) {
      this.#holders.delete(r);
      return;
    }
    if (before === 0) this.#holders.add(r);
    while (this.#total > this.#limit) {
      const oldest = this.#holders.values().next().value!;
      this.drop(oldest);
      oldest.evict(this.#limit);
    }
  }

  /** `r` is gone (closed): what it held is free. */
  drop(r: Receiver): void {
    this.#total -= r.held;
    r.held = 0;
    this.#holders.delete(r);
  }
}
