/**
 * GET /metrics, rendered at most once per REUSE_FACTOR times what the last
 * render cost, as the status is (status-snapshot.ts). A render reads every
 * client label's counts and prom-client's default metrics and writes the
 * text: ~5 ms of the primary beside a thousand clients, in turns no client's
 * request can interrupt, and charged to no connection (an HTTP request has no
 * turn share). A scraper holding the token with four requests in flight cut
 * a neighbour's awaited adds from 15,400-21,400 to 886 in 3 s, where a
 * status flood of the same shape left it 13,700.
 *
 * A request that comes sooner waits for the next render, and every request
 * waiting then gets that one: each reply is rendered after its request came,
 * so a counter never reads lower than it did at the request. No request
 * waits over MAX_WAIT_MS past the end of the render in flight when it came,
 * however long the last render took, and then for its own render.
 */
import type { Clock, Timer } from '../clock.js';
import { MAX_WAIT_MS, REUSE_FACTOR } from '../status-snapshot.js';

/** What a render gives. */
export interface Rendered {
  body: string;
  contentType: string;
}

export class ScrapePacing {
  readonly #render: () => Promise<Rendered>;
  readonly #clock: Clock;
  /** When the next render may start. */
  #nextAt = -Infinity;
  #timer: Timer | undefined;
  #rendering = false;
  #waiting: { resolve: (r: Rendered) => void; reject: (e: unknown) => void }[] = [];

  constructor(render: () => Promise<Rendered>, clock: Clock) {
    this.#render = render;
    this.#clock = clock;
  }

  /** A render started after this call: now, or once the last one is old enough (then shared by every request waiting). */
  next(): Promise<Rendered> {
    const out = new Promise<Rendered>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#schedule();
    return out;
  }

  #schedule(): void {
    if (this.#rendering || this.#timer !== undefined || this.#waiting.length === 0) return;
    const wait = this.#nextAt - this.#clock.now();
    if (wait <= 0) void this.#run();
    else
      this.#timer = this.#clock.after(wait, () => {
        this.#timer = undefined;
        void this.#run();
      });
  }

  async #run(): Promise<void> {
    const waiting = this.#waiting;
    this.#waiting = [];
    this.#rendering = true;
    const t0 = this.#clock.now();
    try {
      const r = await this.#render();
      for (const w of waiting) w.resolve(r);
    } catch (e) {
      for (const w of waiting) w.reject(e);
    } finally {
      const cost = this.#clock.now() - t0;
      this.#nextAt = this.#clock.now() + Math.min(MAX_WAIT_MS, cost * REUSE_FACTOR);
      this.#rendering = false;
      this.#schedule();
    }
  }
}
