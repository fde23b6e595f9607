/**
 * Data nested deeper than the encoder can follow (issue 9, item 20): an item,
 * a state operand or a result thousands of levels deep gets a coded error
 * (E_NOT_CLONEABLE, with the item's index where there is one), never an
 * uncoded RangeError, and the client and the pool stay usable. Exactly
 * MAX_DATA_DEPTH levels go everywhere: as an item, a result and a state value.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { MAX_DATA_DEPTH } from '@corepool/protocol';
import { useDaemon } from './support/daemon.js';

let client: Client;
useDaemon((x) => ({ client } = x), { workers: 1 });

/** An array nested `n` levels deep around 1. */
function nested(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<{ code?: string; index?: number; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; index?: number; message: string };
  }
  throw new Error('expected a rejection');
}

describe('items', () => {
  it('a 5,000-deep item rejects map with E_NOT_CLONEABLE carrying its index; the pool stays usable', async () => {
    const err = await rejection(client.map((x: unknown) => x, [1, 2, nested(5000), 4]));
    expect(err.code).toBe('E_NOT_CLONEABLE');
    expect(err.index).toBe(2);
    expect(await client.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
  });

  it('mapSettled: only the deep items fail (each with its index), the others run', async () => {
    const items = [nested(3), nested(100_000), 'x', nested(MAX_DATA_DEPTH + 1)];
    const out = await client.mapSettled((x: unknown) => (typeof x === 'string' ? x : 'ok'), items);
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect(out.map((o) => (o.status === 'rejected' ? [o.reason.code, o.reason.index] : o.value))).toEqual([
      'ok',
      ['E_NOT_CLONEABLE', 1],
      'x',
      ['E_NOT_CLONEABLE', 3],
    ]);
  });

  it('an item whose getter throws (any failure of the encoder) rejects with a coded error and its index', async () => {
    const bad = {
      get boom(): number {
        throw new Error('getter failed');
      },
    };
    const err = await rejection(client.map((x: unknown) => x, [1, bad]));
    expect(err.code).toBe('E_NOT_CLONEABLE');
    expect(err.index).toBe(1);
    expect(await client.submit((x: number) => x * 2, 21)).toBe(42);
  });

  it('data nested exactly MAX_DATA_DEPTH levels (arrays, objects, Maps) round-trips as an item and a result; one level more is refused', async () => {
    const kinds: ((v: unknown) => unknown)[] = [(v) => [v], (v) => ({ a: v }), (v) => new Map([[1, v]])];
    for (const wrap of kinds) {
      const deep = (n: number): unknown => {
        let v: unknown = 1;
        for (let i = 0; i < n; i++) v = wrap(v);
        return v;
      };
      const [back] = await client.map((x: unknown) => x, [deep(MAX_DATA_DEPTH)]);
      expect(back).toEqual(deep(MAX_DATA_DEPTH));
      expect((await rejection(client.map((x: unknown) => x, [deep(MAX_DATA_DEPTH + 1)]))).code).toBe('E_NOT_CLONEABLE');
      expect((await rejection(client.value('over').set(deep(MAX_DATA_DEPTH + 1)))).code).toBe('E_NOT_CLONEABLE');
    }
  });

  it('a value the daemon stored at the deepest nesting can be mapped over as it was read back', async () => {
    await client.value('deepest').set(nested(MAX_DATA_DEPTH));
    const got = await client.value('deepest').get();
    expect(await client.map((x: unknown) => x, [got])).toEqual([nested(MAX_DATA_DEPTH)]);
  });
});

describe('state operands', () => {
  it('value.set / dict.set / queue.put of a 5,000-deep array: E_NOT_CLONEABLE; the handle stays usable', async () => {
    const v = client.value<unknown>('deep-v');
    expect((await rejection(v.set(nested(5000)))).code).toBe('E_NOT_CLONEABLE');
    expect((await rejection(client.dict('deep-d').set('k', nested(5000)))).code).toBe('E_NOT_CLONEABLE');
    expect((await rejection(client.queue('deep-q').put(nested(5000)))).code).toBe('E_NOT_CLONEABLE');
    await v.set(nested(10));
    expect(await v.get()).toEqual(nested(10));
  });
});

describe('results', () => {
  it('a task returning 5,000-deep data fails that item with a coded error (its index); the client decodes what comes back', async () => {
    const out = await client.mapSettled(
      (n: number) => {
        let v: unknown = 1;
        for (let i = 0; i < n; i++) v = [v];
        return v;
      },
      [2, 5000, 2],
      { timeoutMs: 30_000 },
    );
    expect(out[0]).toEqual({ status: 'fulfilled', value: [[1]] });
    expect(out[2]).toEqual({ status: 'fulfilled', value: [[1]] });
    expect(out[1]!.status).toBe('rejected');
    const reason = (out[1] as { reason: { code: string; index: number } }).reason;
    expect(reason.code).toBe('E_NOT_CLONEABLE');
    expect(reason.index).toBe(1);
    expect(await client.submit((x: number) => x + 1, 1)).toBe(2);
  });
});
