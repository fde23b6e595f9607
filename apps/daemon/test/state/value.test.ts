import { describe, expect, it } from 'vitest';
import type { Push } from '@corepool/protocol';

import { MAX_ADD_BIGINT_BYTES } from '../../src/state/operands.js';
import type { SharedState } from '../../src/state/shared-state.js';
import { codeOf, dec, enc, open, req, useFreshState } from './helpers.js';

type VReply = { version: number; value: Uint8Array };

describe('Value', () => {
  let dir: string;
  let state: SharedState;
  useFreshState(
    (x) => ({ dir, state } = x),
    () => state,
  );

  it('round-trips structured-clone values', async () => {
    const values: unknown[] = [
      12345678901234567890123456789n,
      -5n,
      new Date(1700000000000),
      new Map<unknown, unknown>([
        ['a', 1],
        [2, { b: [3] }],
      ]),
      new Set([1, 'x', 3n]),
      new Uint8Array([1, 2, 255]),
      { nested: { list: [null, true, 1.5, 'é'] } },
      'text',
      null,
    ];
    for (const [i, v] of values.entries()) {
      const set = (await state.handle('c:1', req('value.set', `v${i}`, { a: enc(v) }))) as { version: number };
      expect(set.version).toBe(1);
      const got = (await state.handle('c:1', req('value.get', `v${i}`))) as VReply;
      expect(got.version).toBe(1);
      expect(dec(got.value)).toEqual(v);
    }
  });

  it('resolves 1000 concurrent add(1) to exactly 1..1000', async () => {
    const replies = (await Promise.all(
      Array.from({ length: 1000 }, (_, i) => state.handle(`c:${i % 7}`, req('value.add', 'hits', { a: enc(1) }))),
    )) as VReply[];
    const seen = replies.map((r) => dec(r.value) as number).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(new Set(replies.map((r) => r.version)).size).toBe(1000);
    const got = (await state.handle('c:1', req('value.get', 'hits'))) as VReply;
    expect(dec(got.value)).toBe(1000);
    expect(got.version).toBe(1000);
  });

  it('adds numbers and bigints, treating an absent value as 0', async () => {
    let r = (await state.handle('c:1', req('value.add', 'n', { a: enc(2.5) }))) as VReply;
    expect(dec(r.value)).toBe(2.5);
    r = (await state.handle('c:1', req('value.add', 'n', { a: enc(-1) }))) as VReply;
    expect(dec(r.value)).toBe(1.5);
    await state.handle('c:1', req('value.add', 'b', { a: enc(2n ** 70n) }));
    r = (await state.handle('c:1', req('value.add', 'b', { a: enc(1n) }))) as VReply;
    expect(dec(r.value)).toBe(2n ** 70n + 1n);
  });

  it('rejects add on the wrong types with E_TYPE', async () => {
    await state.handle('c:1', req('value.set', 's', { a: enc('text') }));
    await state.handle('c:1', req('value.set', 'n', { a: enc(1) }));
    await state.handle('c:1', req('value.set', 'b', { a: enc(1n) }));
    expect(await codeOf(state.handle('c:1', req('value.add', 's', { a: enc(1) })))).toBe('E_TYPE');
    expect(await codeOf(state.handle('c:1', req('value.add', 'n', { a: enc(1n) })))).toBe('E_TYPE');
    expect(await codeOf(state.handle('c:1', req('value.add', 'b', { a: enc(1) })))).toBe('E_TYPE');
    expect(await codeOf(state.handle('c:1', req('value.add', 'n', { a: enc('1') })))).toBe('E_TYPE');
    // Nothing changed.
    expect(((await state.handle('c:1', req('value.get', 'n'))) as VReply).version).toBe(1);
  });

  it('adds bigints up to MAX_ADD_BIGINT_BYTES; past it, a delta or a stored value is E_TOO_LARGE, nothing changed', async () => {
    const atBound = 2n ** BigInt(MAX_ADD_BIGINT_BYTES * 8 - 2);
    const past = 2n ** BigInt(MAX_ADD_BIGINT_BYTES * 8 + 64);
    expect(dec(((await state.handle('c:1', req('value.add', 'b', { a: enc(atBound) }))) as VReply).value)).toBe(atBound);
    expect(dec(((await state.handle('c:1', req('value.add', 'b', { a: enc(atBound) }))) as VReply).value)).toBe(2n * atBound);
    expect(await codeOf(state.handle('c:1', req('value.add', 'b', { a: enc(past) })))).toBe('E_TOO_LARGE');
    expect(await codeOf(state.handle('c:1', req('value.add', 'absent', { a: enc(-past) })))).toBe('E_TOO_LARGE');
    expect(await codeOf(state.handle('c:1', req('value.get', 'absent')))).toBe('E_NO_SUCH_VALUE');
    // Stored by set (passed through, any size), then added to.
    await state.handle('c:1', req('value.set', 'huge', { a: enc(past) }));
    expect(await codeOf(state.handle('c:1', req('value.add', 'huge', { a: enc(1n) })))).toBe('E_TOO_LARGE');
    const got = (await state.handle('c:1', req('value.get', 'huge'))) as VReply;
    expect([got.version, dec(got.value)]).toEqual([1, past]);
    expect(((await state.handle('c:1', req('value.get', 'b'))) as VReply).version).toBe(2);
  });

  it('init creates but never overwrites', async () => {
    let r = (await state.handle('c:1', req('value.init', 'x', { a: enc(10) }))) as VReply;
    expect([r.version, dec(r.value)]).toEqual([1, 10]);
    r = (await state.handle('c:2', req('value.init', 'x', { a: enc(99) }))) as VReply;
    expect([r.version, dec(r.value)]).toEqual([1, 10]);
    await state.handle('c:1', req('value.add', 'x', { a: enc(5) }));
    r = (await state.handle('c:2', req('value.init', 'x', { a: enc(0) }))) as VReply;
    expect([r.version, dec(r.value)]).toEqual([2, 15]);
  });

  it('compare-and-set compares structurally', async () => {
    await state.handle(
      'c:1',
      req('value.set', 'm', {
        a: enc(
          new Map([
            ['a', 1],
            ['b', 2],
          ]),
        ),
      }),
    );
    let r = (await state.handle('c:1', req('value.cas', 'm', { a: enc(new Map([['a', 1]])), b: enc(0) }))) as {
      ok: boolean;
      version: number;
    };
    expect(r).toEqual({ ok: false, version: 1 });
    // Same content, other insertion order: equal.
    r = (await state.handle(
      'c:1',
      req('value.cas', 'm', {
        a: enc(
          new Map([
            ['b', 2],
            ['a', 1],
          ]),
        ),
        b: enc({ d: new Date(5) }),
      }),
    )) as { ok: boolean; version: number };
    expect(r).toEqual({ ok: true, version: 2 });
    r = (await state.handle('c:1', req('value.cas', 'm', { a: enc({ d: new Date(5) }), b: enc(7) }))) as { ok: boolean; version: number };
    expect(r).toEqual({ ok: true, version: 3 });
    expect(dec(((await state.handle('c:1', req('value.get', 'm'))) as VReply).value)).toBe(7);
    r = (await state.handle('c:1', req('value.cas', 'absent', { a: enc(null), b: enc(1) }))) as { ok: boolean; version: number };
    expect(r).toEqual({ ok: false, version: 0 });
  });

  it('rejects with E_NO_SUCH_VALUE, E_BAD_NAME and E_BAD_MESSAGE codes', async () => {
    expect(await codeOf(state.handle('c:1', req('value.get', 'nope')))).toBe('E_NO_SUCH_VALUE');
    expect(await codeOf(state.handle('c:1', req('value.get', '')))).toBe('E_BAD_NAME');
    expect(await codeOf(state.handle('c:1', req('value.get', 'x'.repeat(257))))).toBe('E_BAD_NAME');
    expect(await codeOf(state.handle('c:1', req('value.set', 'x')))).toBe('E_BAD_MESSAGE');
    expect(await codeOf(state.handle('c:1', req('value.set', 'x', { a: new Uint8Array([0xd9, 0x10]) })))).toBe('E_BAD_MESSAGE');
    expect(await codeOf(state.handle('c:1', req('value.cas', 'x', { a: enc(1) })))).toBe('E_BAD_MESSAGE');
  });

  it('pushes every committed version to subscribers, in version order', async () => {
    const pushes: [string, Push][] = [];
    state.onPush = (owner, push) => pushes.push([owner, push]);
    const first = (await state.handle('c:1', req('value.subscribe', 'p'))) as { version: number; value?: Uint8Array };
    expect(first).toEqual({ version: 0 });
    await state.handle('c:2', req('value.subscribe', 'p'));
    await state.handle('c:2', req('value.subscribe', 'p')); // idempotent
    await Promise.all(Array.from({ length: 50 }, () => state.handle('c:3', req('value.add', 'p', { a: enc(1) }))));
    const forC1 = pushes.filter(([o]) => o === 'c:1').map(([, p]) => p);
    const forC2 = pushes.filter(([o]) => o === 'c:2').map(([, p]) => p);
    expect(forC1.map((p) => p.version)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(forC1.map((p) => dec(p.value))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(forC2.length).toBe(50);
    expect(forC1[0]).toMatchObject({ type: 'push', kind: 'value', name: 'p' });

    await state.handle('c:1', req('value.unsubscribe', 'p'));
    state.releaseOwner('c:2');
    pushes.length = 0;
    await state.handle('c:3', req('value.set', 'p', { a: enc(0) }));
    await state.handle('c:3', req('value.get', 'p'));
    expect(pushes).toEqual([]);
    const sub = (await state.handle('c:1', req('value.subscribe', 'p'))) as VReply;
    expect([sub.version, dec(sub.value)]).toEqual([51, 0]);
  });

  it('keeps every acknowledged change across close and reopen', async () => {
    await Promise.all(Array.from({ length: 100 }, () => state.handle('c:1', req('value.add', 'k', { a: enc(3n) }))));
    await state.handle('c:1', req('value.set', 'obj', { a: enc({ when: new Date(1), tags: new Set(['a']) }) }));
    await state.close();
    state = await open(dir);
    const k = (await state.handle('c:1', req('value.get', 'k'))) as VReply;
    expect([k.version, dec(k.value)]).toEqual([100, 300n]);
    expect(dec(((await state.handle('c:1', req('value.get', 'obj'))) as VReply).value)).toEqual({
      when: new Date(1),
      tags: new Set(['a']),
    });
    const r = (await state.handle('c:1', req('value.add', 'k', { a: enc(1n) }))) as VReply;
    expect(r.version).toBe(101);
    expect(state.counts().values).toBe(2);
  });
});
