/**
 * login-limiter.ts - a bound on failed dashboard logins (a wrong token at
 * POST /login, or a wrong Bearer token on an API request), for the whole
 * daemon: a token bucket of BURST failures refilled at RATE a second. Past
 * it, an attempt is refused with 429 before its token is even compared, so
 * a co-tenant guessing tokens in a loop costs the daemon a few microseconds
 * per request and learns nothing; clients of the WebSocket port are not
 * affected. It is not per address: on a shared machine every co-tenant is
 * 127.0.0.1. The token's 256 random bits are the real defence; this keeps a
 * flood cheap.
 */

/** Failed logins allowed in a burst. */
export const LOGIN_BURST = 10;
/** Failed logins allowed per second after a burst. */
export const LOGIN_RATE = 2;

export class LoginLimiter {
  #tokens = LOGIN_BURST;
  #at: number;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#at = now();
  }

  /** True when an attempt may be checked now (the bucket is not empty). */
  allowed(): boolean {
    this.#refill();
    return this.#tokens >= 1;
  }

  /** Counts a failed attempt. */
  failed(): void {
    this.#refill();
    this.#tokens = Math.max(0, this.#tokens - 1);
  }

  /** Seconds until the next attempt is allowed (for Retry-After). */
  retryAfter(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / LOGIN_RATE);
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(LOGIN_BURST, this.#tokens + ((now - this.#at) / 1000) * LOGIN_RATE);
    this.#at = now;
  }
}
