/**
 * Deletes in the LMDB store (SharedState): what is on disk after a reopen
 * when a delete shares a commit batch with changes before and after it, the
 * pushes subscribers get, and nothing left behind by a create/delete loop.
 */
import { describe, expect, it } from 'vitest';
import type { Push } from '@corepool/protocol';

import type { SharedState } from '../../src/state/shared-state.js';
import { codeOf, dec, enc, open, req, useFreshState } from './helpers.js';

describe('deletes in the LMDB store', () => {
  let dir: string;
  let state: SharedState;
  useFreshState(
    (x) => ({ dir, state } = x),
    () => state,
  );

  it('a change and a delete in one batch leave nothing on disk; a delete then a change leave the change', async () => {
    // One event-loop turn: one batch each.
    await Promise.all([
      state.handle('c:1', req('value.set', 'gone', { a: enc(1) })),
      state.handle('c:1', req('value.remove', 'gone')),
      state.handle('c:1', req('dict.set', 'gd', { key: 'k', a: enc(1) })),
      state.handle('c:1', req('dict.remove', 'gd')),
      state.handle('c:1', req('queue.put', 'gq', { a: enc(1) })),
      state.handle('c:1', req('queue.remove', 'gq')),
    ]);
    await state.handle('c:1', req('value.set', 'back', { a: enc(1) }));
    await Promise.all([state.handle('c:1', req('value.remove', 'back')), state.handle('c:1', req('value.set', 'back', { a: enc(2) }))]);
    await state.close();
    state = await open(dir);
    expect(await codeOf(state.handle('c:1', req('value.get', 'gone')))).toBe('E_NO_SUCH_VALUE');
    expect(await state.handle('c:1', req('dict.size', 'gd'))).toBe(0);
    expect(await state.handle('c:1', req('queue.size', 'gq'))).toBe(0);
    const back = (await state.handle('c:1', req('value.get', 'back'))) as { version: number; value: Uint8Array };
    expect([back.version, dec(back.value)]).toEqual([1, 2]);
    // The dict made again starts over at version 1.
    expect(await state.handle('c:1', req('dict.set', 'gd', { key: 'k', a: enc(1) }))).toEqual({ version: 1 });
    expect((await state.list(200)).entries.map((e) => e.name)).toEqual(['back', 'gd']);
  });

  it('subscribers get one keyless deleted push, after the changes before it', async () => {
    const pushes: Push[] = [];
    state.onPush = (_owner, p) => pushes.push(p);
    await state.handle('c:1', req('value.subscribe', 'sv'));
    await state.handle('c:1', req('dict.subscribe', 'sd'));
    await Promise.all([
      state.handle('c:2', req('value.set', 'sv', { a: enc(1) })),
      state.handle('c:2', req('dict.set', 'sd', { key: 'a', a: enc(1) })),
    ]);
    expect(await state.handle('c:2', req('value.remove', 'sv'))).toBe(true);
    expect(await state.handle('c:2', req('dict.remove', 'sd'))).toBe(true);
    expect(await state.handle('c:2', req('dict.remove', 'sd'))).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(pushes.map((p) => `${p.kind}:${p.version}:${p.key ?? ''}:${p.deleted === true ? 'del' : 'set'}`)).toEqual([
      'value:1::set',
      'dict:1:a:set',
      'value:2::del',
      'dict:2::del',
    ]);
  });

  it('a loop creating and deleting names leaves no records, in memory or on disk', async () => {
    for (let i = 0; i < 300; i++) {
      const n = `loop${i}`;
      await Promise.all([
        state.handle('c:1', req('value.set', n, { a: enc(i) })),
        state.handle('c:1', req('dict.set', n, { key: 'k', a: enc(i) })),
        state.handle('c:1', req('queue.put', n, { a: enc(i) })),
      ]);
      await Promise.all([
        state.handle('c:1', req('value.remove', n)),
        state.handle('c:1', req('dict.remove', n)),
        state.handle('c:1', req('queue.remove', n)),
      ]);
    }
    expect(state.counts()).toMatchObject({ values: 0, queues: 0, dicts: 0 });
    expect(state.footprint().queueRecords).toBe(0);
    await state.close();
    state = await open(dir);
    expect(state.counts()).toMatchObject({ values: 0, queues: 0, dicts: 0 });
    expect((await state.list(200)).entries).toEqual([]);
  });
});
