/**
 * log-throttle.ts - a bound on log lines a client can cause by repeating
 * itself. Some lines are written per connection (a clamped weight,
 * `client-steering`): a token holder connecting in a loop would otherwise
 * write one each time and rotate the log's history away in seconds. A key
 * (the line's text) is written at most once per window; the next one written
 * says how many were suppressed meanwhile. The keys kept are bounded too.
 */

/** How long a key stays quiet after it was written. */
export const THROTTLE_WINDOW_MS = 60_000;
/** Keys remembered at once; past it the oldest is forgotten (its next line is written). */
const MAX_KEYS = 1024;

export class LogThrottle {
  /** key -> when it was last written and how many were suppressed since. */
  readonly #keys = new Map<string, { at: number; suppressed: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Whether a line of `key` may be written now: undefined if not, else how many were suppressed before it. */
  admit(key: string): number | undefined {
    const now = this.#now();
    const k = this.#keys.get(key);
    if (k !== undefined && now - k.at < THROTTLE_WINDOW_MS) {
      k.suppressed++;
      return undefined;
    }
    const suppressed = k?.suppressed ?? 0;
    this.#keys.delete(key);
    if (this.#keys.size >= MAX_KEYS) this.#keys.delete(this.#keys.keys().next().value!);
    this.#keys.set(key, { at: now, suppressed: 0 });
    return suppressed;
  }
}
