/**
 * dashboard-sessions.ts - the dashboard's logged-in browsers: a random
 * session id per login, kept in memory (a restart logs everyone out), each
 * for a fixed lifetime, at most MAX_SESSIONS at once (a new login pushes out
 * the oldest, so logins in a loop cannot grow the daemon). Only a hash of
 * each id is kept, so looking one up reveals nothing of the others by its
 * timing.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Sessions kept at once. */
export const MAX_SESSIONS = 64;
/** How long a login lasts. */
export const SESSION_MS = 8 * 60 * 60 * 1000;

const hash = (id: string): string => createHash('sha256').update(id).digest('base64url');

export class DashboardSessions {
  /** hash of id -> when it expires (ms since the epoch), oldest login first. */
  readonly #sessions = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A new session: its id (for the cookie) and when it expires. */
  open(): { id: string; expires: number } {
    const now = this.#now();
    for (const [h, expires] of this.#sessions) if (expires <= now) this.#sessions.delete(h);
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const expires = now + SESSION_MS;
    this.#sessions.set(hash(id), expires);
    return { id, expires };
  }

  /** True for the id of a live session. */
  valid(id: string | undefined): boolean {
    if (id === undefined || id.length > 100) return false;
    const h = hash(id);
    const expires = this.#sessions.get(h);
    if (expires === undefined) return false;
    if (expires > this.#now()) return true;
    this.#sessions.delete(h);
    return false;
  }

  /** Ends a session (logout). */
  close(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(hash(id));
  }

  get size(): number {
    return this.#sessions.size;
  }
}
