/** The dashboard's in-memory bounds on their own: session lifetime and count, the failed-login bucket. */
import { describe, expect, it } from 'vitest';
import { DashboardSessions, MAX_SESSIONS, SESSION_MS } from '../src/primary/http/dashboard-sessions.js';
import { LOGIN_BURST, LOGIN_RATE, LoginLimiter } from '../src/primary/http/login-limiter.js';

describe('DashboardSessions', () => {
  it('a session lasts SESSION_MS, then is refused and forgotten', () => {
    let now = 1_000;
    const s = new DashboardSessions(() => now);
    const { id, expires } = s.open();
    expect(expires).toBe(1_000 + SESSION_MS);
    expect(s.valid(id)).toBe(true);
    expect(s.valid(`${id}x`)).toBe(false);
    expect(s.valid(undefined)).toBe(false);
    now += SESSION_MS;
    expect(s.valid(id)).toBe(false);
    expect(s.size).toBe(0);
  });

  it('holds at most MAX_SESSIONS, the oldest going first; close ends one', () => {
    const s = new DashboardSessions(() => 0);
    const ids = Array.from({ length: MAX_SESSIONS + 5 }, () => s.open().id);
    expect(s.size).toBe(MAX_SESSIONS);
    expect(ids.slice(0, 5).some((id) => s.valid(id))).toBe(false);
    expect(ids.slice(5).every((id) => s.valid(id))).toBe(true);
    s.close(ids.at(-1));
    expect(s.valid(ids.at(-1))).toBe(false);
  });
});

describe('LoginLimiter', () => {
  it('allows a burst of failures, then LOGIN_RATE a second', () => {
    let now = 0;
    const l = new LoginLimiter(() => now);
    for (let i = 0; i < LOGIN_BURST; i++) {
      expect(l.allowed()).toBe(true);
      l.failed();
    }
    expect(l.allowed()).toBe(false);
    expect(l.retryAfter()).toBeGreaterThan(0);
    now += 1000;
    let allowed = 0;
    while (l.allowed()) {
      l.failed();
      allowed++;
    }
    expect(allowed).toBe(LOGIN_RATE);
    now += 3_600_000;
    expect(l.allowed()).toBe(true);
    expect(l.retryAfter()).toBe(0);
  });
});
