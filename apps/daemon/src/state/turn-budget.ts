/**
 * turn-budget.ts - a budget of work a turn of the event loop, shared by every
 * task that draws on it: once this turn's is spent, each waits for the next
 * turn, where it starts again. Work that grows with what one client built up
 * (walking a long listing to a cursor, encoding a large dict's reply) goes in
 * such slices, so other clients' requests are served between them however
 * many of those tasks run at once.
 */
export class TurnBudget {
  readonly #limit: number;
  #used = 0;
  #next: Promise<void> | undefined;

  /** `limit`: what one turn may take, in the unit the tasks `spend` (entries, ms). */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Counts `n` against this turn. */
  spend(n: number): void {
    this.#used += n;
  }

  /** True once this turn's budget is spent: wait for `nextTurn()` before more. */
  get spent(): boolean {
    return this.#used >= this.#limit;
  }

  /** Resolves in the next turn, where the budget starts again (one promise for every task waiting). */
  nextTurn(): Promise<void> {
    return (this.#next ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.#next = undefined;
        this.#used = 0;
        resolve();
      }),
    ));
  }
}
