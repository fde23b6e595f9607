/**
 * Time as the scheduler reads it: injected, so that stealing, deadlines and
 * grace periods can be tested with a clock the test moves by hand.
 */

/** A pending timer. */
export interface Timer {
  cancel(): void;
}

/** Milliseconds and timers. */
export interface Clock {
  /** A monotonic time in milliseconds (only differences mean anything; any value, 0 included, is a time). */
  now(): number;
  /** Calls `fn` once, `ms` from now; a pending timer never keeps the process alive. */
  after(ms: number, fn: () => void): Timer;
}

/** The process clock. */
export const realClock: Clock = {
  now: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
