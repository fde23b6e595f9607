import { describe, expect, it } from 'vitest';

import type { SharedState } from '../../src/state/shared-state.js';
import { codeOf, open, req, useFreshState } from './helpers.js';

type Grant = { token: number };

describe('Lock', () => {
  let dir: string;
  let state: SharedState;
  useFreshState(
    (x) => ({ dir, state } = x),
    () => state,
  );

  it('grants in FIFO order with strictly increasing fencing tokens', async () => {
    const first = (await state.handle('c:1', req('lock.acquire', 'L'))) as Grant;
    const order: string[] = [];
    const waiters = ['c:2', 'c:3', 'c:4'].map((o) =>
      state.handle(o, req('lock.acquire', 'L')).then((g) => {
        order.push(o);
        return g as Grant;
      }),
    );
    expect(state.counts()).toMatchObject({ locks: 1, lockWaiters: 3 });
    await state.handle('c:1', req('lock.release', 'L', { token: first.token }));
    const g2 = await waiters[0]!;
    await state.handle('c:2', req('lock.release', 'L', { token: g2.token }));
    const g3 = await waiters[1]!;
    await state.handle('c:3', req('lock.release', 'L', { token: g3.token }));
    const g4 = await waiters[2]!;
    expect(order).toEqual(['c:2', 'c:3', 'c:4']);
    expect(first.token < g2.token && g2.token < g3.token && g3.token < g4.token).toBe(true);
    await state.handle('c:4', req('lock.release', 'L', { token: g4.token }));
    expect(state.counts()).toMatchObject({ locks: 0, lockWaiters: 0 });
  });

  it('rejects releasing a lock not held, by someone else, or with a stale token: E_LOCK_NOT_HELD', async () => {
    expect(await codeOf(state.handle('c:1', req('lock.release', 'L', { token: 1 })))).toBe('E_LOCK_NOT_HELD');
    const g = (await state.handle('c:1', req('lock.acquire', 'L'))) as Grant;
    expect(await codeOf(state.handle('c:2', req('lock.release', 'L', { token: g.token })))).toBe('E_LOCK_NOT_HELD');
    expect(await codeOf(state.handle('c:1', req('lock.release', 'L', { token: g.token - 1 })))).toBe('E_LOCK_NOT_HELD');
    expect(await state.handle('c:1', req('lock.release', 'L', { token: g.token }))).toBe(true);
    expect(await codeOf(state.handle('c:1', req('lock.release', 'L', { token: g.token })))).toBe('E_LOCK_NOT_HELD');
    expect(await codeOf(state.handle('c:1', req('lock.release', 'L')))).toBe('E_BAD_MESSAGE');
  });

  it('times out a blocked acquire with E_TIMEOUT; timeoutMs 0 tries once', async () => {
    const g = (await state.handle('c:1', req('lock.acquire', 'L'))) as Grant;
    expect(await codeOf(state.handle('c:2', req('lock.acquire', 'L', { timeoutMs: 0 })))).toBe('E_TIMEOUT');
    expect(await codeOf(state.handle('c:2', req('lock.acquire', 'L', { timeoutMs: 30 })))).toBe('E_TIMEOUT');
    await state.handle('c:1', req('lock.release', 'L', { token: g.token }));
    // The timed-out waiter was not granted the lock.
    expect(state.counts().locks).toBe(0);
    const g2 = (await state.handle('c:2', req('lock.acquire', 'L', { timeoutMs: 0 }))) as Grant;
    expect(g2.token).toBeGreaterThan(g.token);
  });

  it('releaseOwner releases its locks and fails its blocked acquires with E_CANCELLED', async () => {
    await state.handle('c:gone', req('lock.acquire', 'A'));
    await state.handle('c:other', req('lock.acquire', 'B'));
    const goneWaits = state.handle('c:gone', req('lock.acquire', 'B'));
    const next = state.handle('c:next', req('lock.acquire', 'A'));
    state.releaseOwner('c:gone');
    expect(await codeOf(goneWaits)).toBe('E_CANCELLED');
    const g = (await next) as Grant;
    expect(g.token).toBeGreaterThan(0);
    expect(await state.handle('c:next', req('lock.release', 'A', { token: g.token }))).toBe(true);
  });

  it('a lock released while its next acquirer waits behind more gone acquires than a release takes out goes to it, not to a newer one', async () => {
    const held = (await state.handle('c:holder', req('lock.acquire', 'L'))) as Grant;
    const gone = Array.from({ length: 1_000 }, () => state.handle('c:gone', req('lock.acquire', 'L')).catch(() => {}));
    const next = state.handle('c:next', req('lock.acquire', 'L'));
    state.releaseOwner('c:gone');
    // Free, but not to be had by a newer acquire: its next acquirer is behind a thousand gone ones.
    const released = state.handle('c:holder', req('lock.release', 'L', { token: held.token }));
    const refused = codeOf(state.handle('c:new', req('lock.acquire', 'L', { timeoutMs: 0 })));
    const newer = state.handle('c:new', req('lock.acquire', 'L'));
    expect(await released).toBe(true);
    expect(await refused).toBe('E_TIMEOUT');
    const g = (await next) as Grant;
    expect(g.token).toBeGreaterThan(held.token);
    await state.handle('c:next', req('lock.release', 'L', { token: g.token }));
    const g2 = (await newer) as Grant;
    await state.handle('c:new', req('lock.release', 'L', { token: g2.token }));
    await Promise.all(gone);
    expect(state.counts()).toMatchObject({ locks: 0, lockWaiters: 0 });
  });

  it('keeps fencing tokens increasing across close and reopen, and locks are not durable', async () => {
    const g = (await state.handle('c:1', req('lock.acquire', 'L'))) as Grant;
    await state.close();
    state = await open(dir);
    expect(state.counts().locks).toBe(0);
    const g2 = (await state.handle('c:2', req('lock.acquire', 'L', { timeoutMs: 0 }))) as Grant;
    expect(g2.token).toBeGreaterThan(g.token);
  });
});
