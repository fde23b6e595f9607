/**
 * Per-owner limits of the shared state: blocked queue gets, locks held or
 * awaited, and subscriptions are bounded per owner (E_LIMIT past the limit,
 * nothing changed), other owners are not affected, and everything an owner
 * held is released when it goes away, leaving no empty record behind.
 */
import { describe, expect, it } from 'vitest';

import { OWNER_LIMIT } from '../../src/state/owner-index.js';
import type { SharedState } from '../../src/state/shared-state.js';
import { codeOf, dec, enc, req, useFreshState } from './helpers.js';

describe('per-owner limits', () => {
  let state: SharedState;
  useFreshState(
    (x) => ({ state } = x),
    () => state,
  );

  it('bounds blocked queue gets per owner; a timed-out or served get frees its place; release leaves no record', async () => {
    const blocked = Array.from({ length: OWNER_LIMIT }, (_, i) => state.handle('c:hostile', req('queue.get', `q${i}`)));
    for (const p of blocked) p.catch(() => {});
    expect(await codeOf(state.handle('c:hostile', req('queue.get', 'one-more')))).toBe('E_LIMIT');
    // A non-blocking get is not a waiter: it still answers.
    expect(await codeOf(state.handle('c:hostile', req('queue.get', 'one-more', { timeoutMs: 0 })))).toBe('E_TIMEOUT');
    // Another owner is not affected.
    const other = state.handle('c:other', req('queue.get', 'shared'));
    await state.handle('c:p', req('queue.put', 'shared', { a: enc('x') }));
    expect(dec(await other)).toBe('x');
    // A served get frees its place.
    await state.handle('c:p', req('queue.put', 'q0', { a: enc(0) }));
    expect(dec(await blocked[0])).toBe(0);
    const again = state.handle('c:hostile', req('queue.get', 'again', { timeoutMs: 20 }));
    expect(await codeOf(again)).toBe('E_TIMEOUT');
    expect(await codeOf(state.handle('c:hostile', req('queue.get', 'again2', { timeoutMs: 20 })))).toBe('E_TIMEOUT');
    expect(state.footprint().queueRecords).toBe(OWNER_LIMIT - 1);
    state.releaseOwner('c:hostile');
    expect(await codeOf(blocked[1]!)).toBe('E_CANCELLED');
    // Its 9,999 gets leave their lines at once and are answered a slice a turn (waiters.ts): the records go with the last.
    await Promise.allSettled(blocked);
    expect(state.footprint()).toEqual({ queueRecords: 0, blockedOwners: 0, lockRecords: 0 });
  });

  it('bounds locks held or awaited per owner; releasing frees places; release leaves no record', async () => {
    const tokens: number[] = [];
    for (let i = 0; i < OWNER_LIMIT / 2; i++)
      tokens.push(((await state.handle('c:hostile', req('lock.acquire', `L${i}`))) as { token: number }).token);
    // The other half waits on locks someone else holds.
    for (let i = 0; i < 10; i++) await state.handle('c:holder', req('lock.acquire', `H${i}`));
    const waits = Array.from({ length: OWNER_LIMIT / 2 }, (_, i) => state.handle('c:hostile', req('lock.acquire', `H${i % 10}`)));
    for (const p of waits) p.catch(() => {});
    expect(await codeOf(state.handle('c:hostile', req('lock.acquire', 'free')))).toBe('E_LIMIT');
    expect(await codeOf(state.handle('c:hostile', req('lock.acquire', 'H0')))).toBe('E_LIMIT');
    expect(await codeOf(state.handle('c:hostile', req('lock.acquire', 'H0', { timeoutMs: 0 })))).toBe('E_LIMIT');
    // Another owner is not affected.
    const g = (await state.handle('c:other', req('lock.acquire', 'free'))) as { token: number };
    await state.handle('c:other', req('lock.release', 'free', { token: g.token }));
    // A release frees a place.
    await state.handle('c:hostile', req('lock.release', 'L0', { token: tokens[0]! }));
    const t = (await state.handle('c:hostile', req('lock.acquire', 'free'))) as { token: number };
    expect(t.token).toBeGreaterThan(g.token);
    state.releaseOwner('c:hostile');
    expect(await codeOf(waits[0]!)).toBe('E_CANCELLED');
    state.releaseOwner('c:holder');
    expect(state.footprint()).toEqual({ queueRecords: 0, blockedOwners: 0, lockRecords: 0 });
    expect(state.counts().locks).toBe(0);
    // The hostile owner's places are free again (a new connection would be a new owner; the same key works too).
    expect(await state.handle('c:hostile', req('lock.acquire', 'L1'))).toEqual({ token: expect.any(Number) });
  });

  it('bounds subscriptions per owner and type; subscribing twice counts once; unsubscribing frees a place', async () => {
    for (let i = 0; i < OWNER_LIMIT; i++) await state.handle('c:hostile', req('value.subscribe', `v${i}`));
    await state.handle('c:hostile', req('value.subscribe', 'v0'));
    expect(await codeOf(state.handle('c:hostile', req('value.subscribe', 'more')))).toBe('E_LIMIT');
    expect(await state.handle('c:hostile', req('dict.subscribe', 'd'))).toBe(true);
    expect(await state.handle('c:other', req('value.subscribe', 'more'))).toEqual({ version: 0 });
    await state.handle('c:hostile', req('value.unsubscribe', 'v0'));
    expect(await state.handle('c:hostile', req('value.subscribe', 'more'))).toEqual({ version: 0 });
    state.releaseOwner('c:hostile');
    expect(await state.handle('c:hostile', req('value.subscribe', 'after'))).toEqual({ version: 0 });
  });
});
