/**
 * pump.ts - retrying the calls parked on one name (a queue's gets, a lock's
 * acquires) one attempt at a time: a wake-up that comes while an attempt is
 * in flight is remembered, so a change is never missed between "the queue is
 * empty" and "stop trying". Redis errors end a run; the slow poll starts the
 * next one.
 */

/** What one attempt found: serve the next waiter, stop (nothing to do), or nothing available now. */
export type PumpStep = 'again' | 'done' | 'empty';

export class Pumps {
  /** Tags being pumped, and whether a wake-up came meanwhile. */
  readonly #running = new Map<string, boolean>();
  readonly #open: () => boolean;

  /** `open`: false once attempts must stop (the store closed, the lease is not held). */
  constructor(open: () => boolean) {
    this.#open = open;
  }

  /** Runs `step` for `tag` until it is done or finds nothing; one run per tag at a time. */
  async pump(tag: string, step: () => Promise<PumpStep>): Promise<void> {
    if (this.#running.has(tag)) {
      this.#running.set(tag, true);
      return;
    }
    this.#running.set(tag, false);
    try {
      for (;;) {
        if (!this.#open()) return;
        const r = await step();
        if (r === 'done') return;
        if (r === 'empty') {
          if (this.#running.get(tag) !== true) return;
          this.#running.set(tag, false);
        }
      }
    } catch {
      // Redis unreachable or the lease lost: the poll tries again.
    } finally {
      this.#running.delete(tag);
    }
  }
}
