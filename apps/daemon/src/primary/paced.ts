/**
 * paced.ts - something costly that any number of requests may ask for at once
 * (the daemon's status, a /metrics render), made at most once per
 * REUSE_FACTOR times what the last one cost, and shared by every request that
 * waited for it. Both read every client (cold memory a client apart) in turns
 * no other client's request can interrupt, and neither is charged to a
 * connection's turn share: unpaced, one app asking from 50 requests in flight
 * beside 2,000 idle clients cut a neighbour's awaited adds from 32,000 to
 * 3,188 in 5 s, and four scrapes in flight beside 1,000 clients cut them from
 * ~15,000 to 886 in 3 s. Paced, they take at most 1/REUSE_FACTOR of the
 * primary however many ask.
 *
 * Each reply is made after its request came (one served again from before
 * the request, tried first, showed a client connected since as absent). A
 * request that comes sooner than the pace allows, or while one is being
 * made, waits for the next, never over MAX_WAIT_MS past the end of the work
 * done on the one made last (its making, and an encoding done later), however
 * long that took (a pause of the whole process counts in it); with few
 * clients a status costs ~0.05 ms and a request waits a millisecond at most.
 */
import type { Clock, Timer } from './clock.js';

/** The next one is made once this many times what the last one cost has passed since it ended. */
export const REUSE_FACTOR = 20;
/** Longest the pace keeps a request waiting after the last one ended. */
export const MAX_WAIT_MS = 1000;

/**
 * Makes a T. Synchronous or not; what it costs is measured until it settles.
 * `spent` adds work done on it later, lazily, to its cost (a status encoded
 * for a client, where the dashboard wants it as an object).
 */
export type Make<T> = (spent: (ms: number) => void) => T | Promise<T>;

interface Waiter<T> {
  resolve: (made: T) => void;
  reject: (err: unknown) => void;
}

export class Paced<T> {
  readonly #make: Make<T>;
  readonly #clock: Clock;
  /** When the next may be made. */
  #nextAt = -Infinity;
  #timer: Timer | undefined;
  #making = false;
  #waiting: Waiter<T>[] = [];

  constructor(make: Make<T>, clock: Clock) {
    this.#make = make;
    this.#clock = clock;
  }

  /** One made after this call: now (synchronously, for a synchronous make), or the next, shared by every request waiting. */
  next(): Promise<T> {
    const out = new Promise<T>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#schedule();
    return out;
  }

  #schedule(): void {
    if (this.#making || this.#timer !== undefined || this.#waiting.length === 0) return;
    const wait = this.#nextAt - this.#clock.now();
    if (wait <= 0) this.#run();
    else
      this.#timer = this.#clock.after(wait, () => {
        this.#timer = undefined;
        // Work spent on the last one since this was armed (a status encoded for a client) may have moved the pace.
        this.#schedule();
      });
  }

  #run(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#making = true;
    const t0 = this.#clock.now();
    let cost = 0;
    const spent = (ms: number): void => {
      cost += ms;
      this.#nextAt = Math.max(this.#nextAt, this.#clock.now() + Math.min(MAX_WAIT_MS, cost * REUSE_FACTOR));
    };
    const settle = (each: (w: Waiter<T>) => void): void => {
      spent(this.#clock.now() - t0);
      this.#making = false;
      for (const w of waiting) each(w);
      this.#schedule();
    };
    let made: T | Promise<T>;
    try {
      made = this.#make(spent);
    } catch (err) {
      settle((w) => w.reject(err));
      return;
    }
    if (made instanceof Promise)
      made.then(
        (value: T) => settle((w) => w.resolve(value)),
        (err: unknown) => settle((w) => w.reject(err)),
      );
    else {
      const value = made;
      settle((w) => w.resolve(value));
    }
  }
}
