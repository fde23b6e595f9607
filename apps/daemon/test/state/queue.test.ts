import { describe, expect, it } from 'vitest';

import type { SharedState } from '../../src/state/shared-state.js';
import { codeOf, dec, enc, open, req, useFreshState } from './helpers.js';

describe('Queue', () => {
  let dir: string;
  let state: SharedState;
  useFreshState(
    (x) => ({ dir, state } = x),
    () => state,
  );

  it('is FIFO and reports its size', async () => {
    for (let i = 0; i < 5; i++) {
      expect(await state.handle('c:1', req('queue.put', 'q', { a: enc({ i }) }))).toEqual({ size: i + 1 });
    }
    expect(await state.handle('c:1', req('queue.size', 'q'))).toBe(5);
    const got: unknown[] = [];
    for (let i = 0; i < 5; i++) got.push(dec(await state.handle('c:2', req('queue.get', 'q', { timeoutMs: 0 }))));
    expect(got).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
    expect(await state.handle('c:1', req('queue.size', 'q'))).toBe(0);
    expect(state.counts().queues).toBe(0);
  });

  it('puts an item whose getter went away back at the front, and keeps that order across a restart', async () => {
    for (const i of [1, 2, 3]) await state.handle('c:1', req('queue.put', 'q', { a: enc(i) }));
    const taken = (await state.handle('c:2', req('queue.get', 'q', { timeoutMs: 0 }))) as Uint8Array;
    const second = (await state.handle('c:2', req('queue.get', 'q', { timeoutMs: 0 }))) as Uint8Array;
    state.undelivered(req('queue.get', 'q'), second);
    state.undelivered(req('queue.get', 'q'), taken);
    await state.close();
    state = await open(dir);
    const got: unknown[] = [];
    for (let i = 0; i < 3; i++) got.push(dec(await state.handle('c:3', req('queue.get', 'q', { timeoutMs: 0 }))));
    expect(got).toEqual([1, 2, 3]);
    // Into an empty queue with a blocked getter: handed over directly.
    const waiting = state.handle('c:4', req('queue.get', 'q'));
    state.undelivered(req('queue.get', 'q'), enc(9));
    expect(dec(await waiting)).toBe(9);
  });

  it('puts several items back in the order they were taken: to blocked getters oldest first, or at the front', async () => {
    const items = (xs: unknown[]) => xs.map((x) => ({ value: enc(x) }));
    // An empty queue with one blocked getter: it takes the first, the rest stand in order.
    const blocked = state.handle('c:1', req('queue.get', 'q'));
    state.undeliveredItems('q', items(['a', 'b', 'c']));
    expect(dec(await blocked)).toBe('a');
    // A queue holding items: the list goes in front of them, in its order, and stays so across a restart.
    await state.handle('p:1', req('queue.put', 'q', { a: enc('z') }));
    state.undeliveredItems('q', items(['x', 'y']));
    await state.close();
    state = await open(dir);
    const got: unknown[] = [];
    for (let i = 0; i < 5; i++) got.push(dec(await state.handle('c:2', req('queue.get', 'q', { timeoutMs: 0 }))));
    expect(got).toEqual(['x', 'y', 'b', 'c', 'z']);
    // Two blocked getters: the first two items, oldest getter first.
    const g1 = state.handle('c:3', req('queue.get', 'q'));
    const g2 = state.handle('c:4', req('queue.get', 'q'));
    state.undeliveredItems('q', items([1, 2, 3]));
    expect([dec(await g1), dec(await g2)]).toEqual([1, 2]);
    expect(dec(await state.handle('c:5', req('queue.get', 'q', { timeoutMs: 0 })))).toBe(3);
  });

  it('hands each item to exactly one of many concurrent getters, oldest getter first', async () => {
    const getters = Array.from({ length: 20 }, (_, i) => state.handle(`c:${i}`, req('queue.get', 'q')));
    const order: number[] = [];
    getters.forEach((p, i) => void p.then(() => order.push(i)));
    for (let i = 0; i < 20; i++) await state.handle('p:1', req('queue.put', 'q', { a: enc(i) }));
    const items = (await Promise.all(getters)).map((b) => dec(b) as number);
    expect(items).toEqual(Array.from({ length: 20 }, (_, i) => i)); // getter i got item i
    expect(await state.handle('c:1', req('queue.size', 'q'))).toBe(0);

    // Mixed: items already there and getters racing for them.
    await Promise.all(Array.from({ length: 200 }, (_, i) => state.handle('p:1', req('queue.put', 'q', { a: enc(i) }))));
    const racing = await Promise.all(Array.from({ length: 200 }, (_, i) => state.handle(`g:${i % 5}`, req('queue.get', 'q'))));
    expect(racing.map((b) => dec(b) as number).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('times out a blocked get with E_TIMEOUT, and does not wait when timeoutMs is 0', async () => {
    expect(await codeOf(state.handle('c:1', req('queue.get', 'q', { timeoutMs: 0 })))).toBe('E_TIMEOUT');
    const t0 = Date.now();
    expect(await codeOf(state.handle('c:1', req('queue.get', 'q', { timeoutMs: 50 })))).toBe('E_TIMEOUT');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    // A timed-out getter takes nothing.
    await state.handle('c:1', req('queue.put', 'q', { a: enc('x') }));
    expect(await state.handle('c:1', req('queue.size', 'q'))).toBe(1);
  });

  it('fails the blocked gets of an owner that goes away with E_CANCELLED', async () => {
    const gone = state.handle('c:gone', req('queue.get', 'q'));
    const stays = state.handle('c:stays', req('queue.get', 'q'));
    expect(state.counts().blockedGets).toBe(2);
    state.releaseOwner('c:gone');
    expect(state.counts().blockedGets).toBe(1);
    expect(await codeOf(gone)).toBe('E_CANCELLED');
    await state.handle('c:1', req('queue.put', 'q', { a: enc(7) }));
    expect(dec(await stays)).toBe(7);
    expect(state.counts().blockedGets).toBe(0);
  });

  it('a getter behind more gone gets than a put takes out gets the first item once it is first; newer gets queue behind it', async () => {
    const gone = Array.from({ length: 1_000 }, () => state.handle('c:gone', req('queue.get', 'q')).catch(() => {}));
    const first = state.handle('c:first', req('queue.get', 'q'));
    state.releaseOwner('c:gone');
    // The puts do not step over a thousand gone gets: their items are kept for the getter behind them.
    const puts = [1, 2, 3].map((i) => state.handle('c:put', req('queue.put', 'q', { a: enc(i) })));
    const refused = codeOf(state.handle('c:new', req('queue.get', 'q', { timeoutMs: 0 })));
    const second = state.handle('c:new', req('queue.get', 'q'));
    expect(await Promise.all(puts)).toEqual([1, 2, 3].map((size) => ({ size })));
    expect(await refused).toBe('E_TIMEOUT');
    expect([dec(await first), dec(await second)]).toEqual([1, 2]);
    expect(dec(await state.handle('c:new', req('queue.get', 'q', { timeoutMs: 0 })))).toBe(3);
    await Promise.all(gone);
    expect(state.counts()).toMatchObject({ blockedGets: 0, queues: 0 });
  });

  it('keeps exactly the items not yet got across close and reopen', async () => {
    await Promise.all(Array.from({ length: 10 }, (_, i) => state.handle('c:1', req('queue.put', 'q', { a: enc(i) }))));
    await state.handle('c:1', req('queue.put', 'other', { a: enc(new Map([[1, 2]])) }));
    for (let i = 0; i < 4; i++) await state.handle('c:2', req('queue.get', 'q'));
    await state.close();
    state = await open(dir);
    expect(await state.handle('c:1', req('queue.size', 'q'))).toBe(6);
    expect(state.counts().queues).toBe(2);
    const rest: unknown[] = [];
    for (let i = 0; i < 6; i++) rest.push(dec(await state.handle('c:2', req('queue.get', 'q'))));
    expect(rest).toEqual([4, 5, 6, 7, 8, 9]);
    await state.handle('c:1', req('queue.put', 'q', { a: enc('after') }));
    expect(dec(await state.handle('c:2', req('queue.get', 'q')))).toBe('after');
    expect(dec(await state.handle('c:2', req('queue.get', 'other')))).toEqual(new Map([[1, 2]]));
  });

  it('rejects bad names and missing items', async () => {
    expect(await codeOf(state.handle('c:1', req('queue.put', '')))).toBe('E_BAD_NAME');
    expect(await codeOf(state.handle('c:1', req('queue.put', 'q')))).toBe('E_BAD_MESSAGE');
  });
});
