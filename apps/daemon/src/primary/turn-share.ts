/**
 * turn-share.ts - one connection's share of a turn of the primary's event
 * loop (session.ts): the time its messages took in the turn, against
 * TURN_BUDGET_MS, past which its socket is not read until a later turn; and
 * the shorter budget every busy connection has while a light one, a client
 * awaiting its calls one at a time, keeps coming back (TurnBudgets).
 *
 * Work the primary does for a connection outside its messages is charged here
 * too: a blocked call of its timing out (its timer, its error, its reply), the
 * pushes its writes make (state/fanout.ts), the reading and decoding of its
 * frames and what their bytes cost later (RECEIVED_BYTE_MS), and its tasks'
 * state requests, which wait while its share is spent (worker-state-link.ts); and
 * what passes the turn's budget is carried into the next turns as a debt,
 * paid a budget a turn: a client that keeps 10,000 gets of 1-200 ms waiting
 * and posts a new one as each times out (~70,000 timeouts a second) left its
 * neighbour's awaited adds at ~2,000 in 10 s, since the timeouts came due in
 * turns of their own and were never its messages. With the debt it is read
 * only as fast as it pays for them (12,400-13,100 adds in the same run; about
 * what a client with thousands of writes in flight costs).
 */

/**
 * How long a connection's messages may take to handle in one turn; the rest
 * wait (parked, its socket not read) for a later turn, so that the other
 * connections' input is read in between. A client coalesces the requests it
 * makes in a turn into one frame of up to MAX_BATCH_MESSAGES (4096): handled
 * whole, beside 4,096 small sets in flight a neighbour's awaited add waited
 * p50 29 ms, p99 ~177 ms (68 us alone).
 */
export const TURN_BUDGET_MS = 0.5;

/**
 * What a byte a connection sends costs the primary besides handling its message: ws copying
 * it out of the socket's reads, the garbage it leaves, and for a stored value the journal
 * write and the LMDB checkpoint. Measured under a client writing 64 KiB values in 50 loops
 * (twenty-seventh session): about 3.7 ns a byte of the primary's busy time outside the
 * messages' own handling, none of it charged to the writer, whose neighbour's awaited adds
 * fell to 4,800-11,400 in 10 s. A frame is charged its bytes at this rate, with its decoding.
 */
export const RECEIVED_BYTE_MS = 3.5e-6;

/**
 * A connection as the work it causes elsewhere sees it: charged to its share, and held back
 * while the share is spent. Its tasks' state requests are such work (worker-state-link.ts).
 */
export interface TurnPayer {
  /** Work done for it outside its messages (turn-share's charge); `messages`: the requests it handled, if any (a task's). */
  charge(ms: number, messages?: number): void;
  /** True while this turn's share is spent: its messages and the work it causes wait for a later turn. */
  spent(): boolean;
}

/**
 * A busy connection's budget while another connection is light: a client awaiting one call at a
 * time waits for the rest of the turn each call, so its rate is one call a turn whatever its fair
 * share. Beside a raw client keeping four frames of 1,000 adds in flight, a neighbour's awaited
 * adds in 8 s were ~9,000 at 0.5 ms, 27,000 at 0.1 and 42,000 at 0.05 (~112,000 alone); the busy
 * client alone lost 20% at 0.1 and 32% at 0.05 to the turns' own cost, hence the full budget
 * whenever no light connection is about.
 */
export const SHARED_TURN_BUDGET_MS = 0.1;

/**
 * How soon a light connection must be back (its light turns this close together) to hold the
 * others to the shared budget, and how long after its last such turn they stay there. Shorter turns
 * serve a client that waits on the primary, awaiting one call after another; one that calls now and
 * then gains nothing from them, and a busy app paid for them all the same: beside a connection
 * reading a value every 15 ms, an app whose tasks kept 200 state writes each in flight lost a
 * quarter of its writes to the turns' own cost (hostile review; the window was then 20 ms after any
 * light turn).
 */
export const LIGHT_WINDOW_MS = 5;

/**
 * Most messages a light connection's last turn handled: a client awaiting a call or two at a time.
 * Not spending its budget is no sign of that alone: a client keeping one frame of 60 adds in flight
 * on each of 8 connections ended every turn of each under budget, so each was light, kept the whole
 * budget and held every other connection to the shared one (an honest client keeping 4 frames of
 * 1,000 in flight beside it: 1.05-1.14M adds in 8 s against its 2.11-2.58M; 2.13-2.34M against
 * 1.68-1.75M before the shared budget). Nor is a turn under budget light when a message or two
 * took most of it (a set of ~100 KB): its last turn must also have taken under the shared budget.
 */
export const LIGHT_MESSAGES = 4;

/** Most debt a connection carries (200 turns): past it, charged work is forgotten, never a connection unread for long. */
export const MAX_DEBT_MS = 100;

/**
 * The primary's turn budgets: TURN_BUDGET_MS, or SHARED_TURN_BUDGET_MS for every other connection
 * within LIGHT_WINDOW_MS of a light connection's turn begun within LIGHT_WINDOW_MS of its last light
 * one. A connection is light when it begins a turn owing nothing and its last turn handled at most
 * LIGHT_MESSAGES messages in less than SHARED_TURN_BUDGET_MS: one that comes back for a call or two
 * at a time, never one kept busy by a backlog, nor one taking more than the others' shared budget a
 * turn while it holds them to it.
 */
export class TurnBudgets {
  #lightAt = -Infinity;
  #lightId = 0;
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** When the last turn began (begin's clock read), for the connection to keep as its last light turn's. */
  at = -Infinity;

  /**
   * The budget of connection `id`'s turn beginning now: `light` or not, its last light turn having
   * begun at `lastLight` (-Infinity: none). One clock read either way.
   */
  begin(id: number, light: boolean, lastLight: number): number {
    const now = (this.at = this.#now());
    if (light && now - lastLight < LIGHT_WINDOW_MS) {
      this.#lightAt = now;
      this.#lightId = id;
      return TURN_BUDGET_MS;
    }
    return this.#lightId !== id && now - this.#lightAt < LIGHT_WINDOW_MS ? SHARED_TURN_BUDGET_MS : TURN_BUDGET_MS;
  }
}

export class TurnShare {
  /** The turn `used` counts in. */
  #turn = -1;
  #used = 0;
  /** Messages handled in turn `turn` (LIGHT_MESSAGES). */
  #messages = 0;
  /** Whether the last turn that handled messages handled more than LIGHT_MESSAGES, or took SHARED_TURN_BUDGET_MS. */
  #heavy = false;
  /** When its last light turn began (TurnBudgets' clock). */
  #lastLight = -Infinity;
  /** This turn's budget (TurnBudgets), set as it begins. */
  #budget = TURN_BUDGET_MS;
  readonly #budgets: TurnBudgets | undefined;
  readonly #id: number;
  /** Charged work past the budget of the turn it was done in. */
  #debt = 0;
  /** Everything spent and charged, for status (none of it forgotten). */
  #total = 0;

  /** Without `budgets`, every turn's budget is TURN_BUDGET_MS; with them, connection `id`'s budget follows them. */
  constructor(budgets?: TurnBudgets, id = 0) {
    this.#budgets = budgets;
    this.#id = id;
  }

  /**
   * Work done for the connection in turn `turn`, its messages' handling or work outside them: past the budget,
   * carried into later turns. Its messages' time was not carried once: a connection sending one costly request a
   * turn (a `value.set` of 19,000 empty maps, under the decoding bound; a `dict.entries()` just under the slicing
   * threshold, ~8 MB) was read again the next turn however long the last one took (hostile review: a
   * neighbour's awaited adds 147-1,020 in 8 s).
   */
  charge(turn: number, ms: number, messages = 0): void {
    this.#at(turn);
    this.#messages += messages;
    this.#used += ms;
    this.#total += ms;
    if (this.#used > this.#budget) {
      this.#debt = Math.min(MAX_DEBT_MS, this.#debt + this.#used - this.#budget);
      this.#used = this.#budget;
    }
  }

  /** True when turn `turn`'s budget is spent (by its messages, or by the debt it pays). */
  spent(turn: number): boolean {
    if (this.#turn !== turn && this.#debt === 0) return false;
    this.#at(turn);
    return this.#used >= this.#budget;
  }

  /** Milliseconds spent and charged since the connection opened. */
  get total(): number {
    return this.#total;
  }

  /** The debt still to pay, in ms. */
  get debt(): number {
    return this.#debt;
  }

  #at(turn: number): void {
    if (this.#turn === turn) return;
    const budgets = this.#budgets;
    if (budgets !== undefined) {
      // Its last turn (-1: none yet; a new connection is light too), and the last that handled messages: a turn
      // of work charged outside them alone (its replies written as the socket takes them) says nothing of them.
      if (this.#messages > 0) this.#heavy = this.#messages > LIGHT_MESSAGES || this.#used >= SHARED_TURN_BUDGET_MS;
      const light = this.#debt === 0 && !this.#heavy && this.#used < SHARED_TURN_BUDGET_MS;
      this.#budget = budgets.begin(this.#id, light, this.#lastLight);
      if (light) this.#lastLight = budgets.at;
    }
    this.#turn = turn;
    this.#messages = 0;
    const paid = Math.min(this.#debt, this.#budget);
    this.#debt -= paid;
    this.#used = paid;
  }
}
