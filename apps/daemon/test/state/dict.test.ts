import { describe, expect, it } from 'vitest';
import type { Push } from '@corepool/protocol';

import type { SharedState } from '../../src/state/shared-state.js';
import { codeOf, dec, enc, open, req, useFreshState } from './helpers.js';

describe('Dict', () => {
  let dir: string;
  let state: SharedState;
  useFreshState(
    (x) => ({ dir, state } = x),
    () => state,
  );

  it('a large listing whose owner goes while it waits for its commit fails then, not encoded for nobody', async () => {
    for (let i = 0; i < 5_000; i++) void state.handle('c:1', req('dict.set', 'big', { key: `k${i}`, a: enc(i) }));
    await state.handle('c:1', req('dict.size', 'big'));
    // A write in the same turn: the listing waits for its commit before it is encoded.
    void state.handle('c:1', req('dict.set', 'big', { key: 'k0', a: enc(-1) }));
    const listing = state.handle('c:2', req('dict.entries', 'big'));
    state.releaseOwner('c:2');
    expect(await codeOf(listing)).toBe('E_CANCELLED');
    // Another owner's listing goes as usual.
    expect(((await state.handle('c:3', req('dict.keys', 'big'))) as unknown as { bytes?: Uint8Array }).bytes?.length).toBeGreaterThan(0);
  });

  it('sets, gets, deletes and lists keys', async () => {
    expect(await state.handle('c:1', req('dict.set', 'd', { key: 'a', a: enc(1) }))).toEqual({ version: 1 });
    expect(await state.handle('c:1', req('dict.set', 'd', { key: 'b', a: enc(new Set([2])) }))).toEqual({ version: 2 });
    expect(dec(await state.handle('c:1', req('dict.get', 'd', { key: 'a' })))).toBe(1);
    expect(await state.handle('c:1', req('dict.get', 'd', { key: 'zz' }))).toBeNull();
    expect(await state.handle('c:1', req('dict.has', 'd', { key: 'b' }))).toBe(true);
    expect(await state.handle('c:1', req('dict.has', 'd', { key: 'zz' }))).toBe(false);
    expect(await state.handle('c:1', req('dict.keys', 'd'))).toEqual(['a', 'b']);
    const entries = (await state.handle('c:1', req('dict.entries', 'd'))) as [string, Uint8Array][];
    expect(entries.map(([k, v]) => [k, dec(v)])).toEqual([
      ['a', 1],
      ['b', new Set([2])],
    ]);
    expect(await state.handle('c:1', req('dict.size', 'd'))).toBe(2);
    expect(await state.handle('c:1', req('dict.delete', 'd', { key: 'a' }))).toBe(true);
    expect(await state.handle('c:1', req('dict.delete', 'd', { key: 'a' }))).toBe(false);
    expect(await state.handle('c:1', req('dict.size', 'd'))).toBe(1);
    // A stored null is distinguishable from absence through has.
    await state.handle('c:1', req('dict.set', 'd', { key: 'n', a: enc(null) }));
    expect(dec(await state.handle('c:1', req('dict.get', 'd', { key: 'n' })))).toBeNull();
    expect(await state.handle('c:1', req('dict.has', 'd', { key: 'n' }))).toBe(true);
  });

  it('treats __proto__ and constructor as ordinary keys', async () => {
    await state.handle('c:1', req('dict.set', 'd', { key: '__proto__', a: enc({ polluted: true }) }));
    await state.handle('c:1', req('dict.set', 'd', { key: 'constructor', a: enc(1) }));
    expect(dec(await state.handle('c:1', req('dict.get', 'd', { key: '__proto__' })))).toEqual({ polluted: true });
    expect(await state.handle('c:1', req('dict.keys', 'd'))).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await state.handle('c:1', req('dict.has', 'd', { key: 'toString' }))).toBe(false);
  });

  it('pushes changes to subscribers in version order', async () => {
    const pushes: Push[] = [];
    state.onPush = (owner, push) => {
      if (owner === 'c:sub') pushes.push(push);
    };
    expect(await state.handle('c:sub', req('dict.subscribe', 'd'))).toBe(true);
    await Promise.all([
      state.handle('c:1', req('dict.set', 'd', { key: 'a', a: enc(1) })),
      state.handle('c:1', req('dict.set', 'd', { key: 'b', a: enc(2) })),
      state.handle('c:1', req('dict.delete', 'd', { key: 'a' })),
      state.handle('c:1', req('dict.delete', 'd', { key: 'missing' })),
    ]);
    expect(pushes.map((p) => [p.version, p.key, p.deleted ?? false, p.value === undefined ? undefined : dec(p.value)])).toEqual([
      [1, 'a', false, 1],
      [2, 'b', false, 2],
      [3, 'a', true, undefined],
    ]);
    expect(pushes[0]).toMatchObject({ type: 'push', kind: 'dict', name: 'd' });
    expect(await state.handle('c:sub', req('dict.unsubscribe', 'd'))).toBe(true);
    await state.handle('c:1', req('dict.set', 'd', { key: 'c', a: enc(3) }));
    expect(pushes.length).toBe(3);
  });

  it('keeps entries and its version across close and reopen', async () => {
    await state.handle('c:1', req('dict.set', 'd', { key: 'a', a: enc(1n) }));
    await state.handle('c:1', req('dict.set', 'd', { key: 'b', a: enc(new Date(3)) }));
    await state.handle('c:1', req('dict.delete', 'd', { key: 'a' }));
    await state.close();
    state = await open(dir);
    expect(await state.handle('c:1', req('dict.keys', 'd'))).toEqual(['b']);
    expect(dec(await state.handle('c:1', req('dict.get', 'd', { key: 'b' })))).toEqual(new Date(3));
    expect(await state.handle('c:1', req('dict.set', 'd', { key: 'c', a: enc(0) }))).toEqual({ version: 4 });
    expect(state.counts().dicts).toBe(1);
  });

  it('keeps keys in insertion order across close and reopen', async () => {
    for (const key of ['z', 'a', 'm']) await state.handle('c:1', req('dict.set', 'd', { key, a: enc(key) }));
    await state.handle('c:1', req('dict.set', 'd', { key: 'z', a: enc('updated') })); // keeps its place
    await state.handle('c:1', req('dict.delete', 'd', { key: 'a' }));
    await state.handle('c:1', req('dict.set', 'd', { key: 'a', a: enc('again') })); // goes last
    expect(await state.handle('c:1', req('dict.keys', 'd'))).toEqual(['z', 'm', 'a']);
    await state.close();
    state = await open(dir);
    expect(await state.handle('c:1', req('dict.keys', 'd'))).toEqual(['z', 'm', 'a']);
    await state.handle('c:1', req('dict.set', 'd', { key: 'b', a: enc(0) }));
    await state.close();
    state = await open(dir);
    const entries = (await state.handle('c:1', req('dict.entries', 'd'))) as [string, Uint8Array][];
    expect(entries.map(([k, v]) => [k, dec(v)])).toEqual([
      ['z', 'updated'],
      ['m', 'm'],
      ['a', 'again'],
      ['b', 0],
    ]);
  });

  it('rejects bad names, bad keys and missing values', async () => {
    expect(await codeOf(state.handle('c:1', req('dict.get', '', { key: 'a' })))).toBe('E_BAD_NAME');
    expect(await codeOf(state.handle('c:1', req('dict.get', 'd')))).toBe('E_BAD_NAME');
    expect(await codeOf(state.handle('c:1', req('dict.set', 'd', { key: 'é'.repeat(600), a: enc(1) })))).toBe('E_BAD_NAME');
    expect(await codeOf(state.handle('c:1', req('dict.set', 'd', { key: 'a' })))).toBe('E_BAD_MESSAGE');
    // The longest name with the longest key fits in an LMDB key.
    const name = '名'.repeat(256);
    const key = 'x'.repeat(1024);
    await state.handle('c:1', req('dict.set', name, { key, a: enc(1) }));
    expect(dec(await state.handle('c:1', req('dict.get', name, { key })))).toBe(1);
  });
});
