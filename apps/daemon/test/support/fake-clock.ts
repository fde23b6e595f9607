/**
 * A clock the test moves by hand (the scheduler's Clock): timers fire, in
 * time order, only inside advance().
 */
import type { Clock, Timer } from '../../src/primary/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #pending: Pending[] = [];

  /** Starts at `start` ms (any time is a time: 0 included). */
  constructor(start = 1_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Timer {
    const p: Pending = { at: this.#now + ms, seq: this.#seq++, fn, live: true };
    this.#pending.push(p);
    return { cancel: () => (p.live = false) };
  }

  /** Timers not yet fired nor cancelled. */
  get pending(): number {
    return this.#pending.filter((p) => p.live).length;
  }

  /** Moves time on by `ms`, firing each timer due by then at its own time (those they set included). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#pending = this.#pending.filter((p) => p.live);
      const due = this.#pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      due.live = false;
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = end;
  }
}
