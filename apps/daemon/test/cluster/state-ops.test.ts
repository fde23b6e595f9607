/**
 * The Redis state store shared by two daemons (two memberships of one cluster
 * in this process, each with its RedisState) on the machine's Redis: one
 * counter, compare-and-set, queues, dicts and locks seen the same from both,
 * with the LMDB store's replies; and hostile requests refused with their
 * codes before they reach Redis.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { until } from '../support/wait.js';
import { code, dec, enc, req, usePair, type Side } from './state-helpers.js';

let a: Side;
let b: Side;
let admin: Redis;
usePair('state-ops', (p) => ({ a, b, admin } = p));

describe('values', () => {
  it('sums concurrent adds from both daemons exactly, each version once', async () => {
    const adds = [];
    for (let i = 0; i < 200; i++) {
      const s = i % 2 === 0 ? a : b;
      adds.push(
        s.state.handle(`c:${i % 7}`, req('value.add', 'counter', { a: enc(1) })) as Promise<{ version: number; value: Uint8Array }>,
      );
    }
    const replies = await Promise.all(adds);
    expect(new Set(replies.map((r) => r.version)).size).toBe(200);
    expect(new Set(replies.map((r) => dec(r.value))).size).toBe(200);
    const got = (await b.state.handle('c:1', req('value.get', 'counter'))) as { version: number; value: Uint8Array };
    expect(got.version).toBe(200);
    expect(dec(got.value)).toBe(200);
  });

  it('gets, inits without overwriting, sets, and says E_NO_SUCH_VALUE for an absent value', async () => {
    expect(await code(a.state.handle('c:1', req('value.get', 'absent')))).toBe('E_NO_SUCH_VALUE');
    const init = (await a.state.handle('c:1', req('value.init', 'cfg', { a: enc({ x: 1 }) }))) as { version: number; value: Uint8Array };
    expect(init.version).toBe(1);
    const again = (await b.state.handle('c:1', req('value.init', 'cfg', { a: enc('other') }))) as { version: number; value: Uint8Array };
    expect(again.version).toBe(1);
    expect(dec(again.value)).toEqual({ x: 1 });
    expect(await b.state.handle('c:1', req('value.set', 'cfg', { a: enc('two') }))).toEqual({ version: 2 });
    expect(dec(((await a.state.handle('c:1', req('value.get', 'cfg'))) as { value: Uint8Array }).value)).toBe('two');
  });

  it('compares and sets by bytes and by value (keys in another order, a Map in another order), linearizably', async () => {
    expect(await a.state.handle('c:1', req('value.cas', 'c', { a: enc(1), b: enc(2) }))).toEqual({ ok: false, version: 0 });
    await a.state.handle('c:1', req('value.set', 'c', { a: enc({ a: 1, b: [1, 2] }) }));
    expect(await b.state.handle('c:1', req('value.cas', 'c', { a: enc({ a: 2 }), b: enc(0) }))).toEqual({ ok: false, version: 1 });
    expect(
      await b.state.handle(
        'c:1',
        req('value.cas', 'c', {
          a: enc({ b: [1, 2], a: 1 }),
          b: enc(
            new Map([
              [1, 'x'],
              [2, 'y'],
            ]),
          ),
        }),
      ),
    ).toEqual({
      ok: true,
      version: 2,
    });
    expect(
      await a.state.handle(
        'c:1',
        req('value.cas', 'c', {
          a: enc(
            new Map([
              [2, 'y'],
              [1, 'x'],
            ]),
          ),
          b: enc(7),
        }),
      ),
    ).toEqual({ ok: true, version: 3 });
    // Concurrent compare-and-set increments from both daemons: each read-modify-write lands once.
    await a.state.handle('c:1', req('value.set', 'c', { a: enc({ n: 0 }) }));
    const bump = async (s: Side, owner: string): Promise<void> => {
      for (let done = 0; done < 10;) {
        const cur = (await s.state.handle(owner, req('value.get', 'c'))) as { value: Uint8Array };
        const n = (dec(cur.value) as { n: number }).n;
        // The expected value is re-encoded by the client, as the SDK does.
        const r = (await s.state.handle(owner, req('value.cas', 'c', { a: enc({ n }), b: enc({ n: n + 1 }) }))) as { ok: boolean };
        if (r.ok) done++;
      }
    };
    await Promise.all([bump(a, 'c:1'), bump(b, 'c:2'), bump(a, 'c:3'), bump(b, 'c:4')]);
    expect(dec(((await a.state.handle('c:1', req('value.get', 'c'))) as { value: Uint8Array }).value)).toEqual({ n: 40 });
  });
});

describe('queues', () => {
  it('hands items out in put order, each once, across daemons', async () => {
    for (let i = 0; i < 20; i++) {
      expect(await (i % 2 === 0 ? a : b).state.handle('c:1', req('queue.put', 'fifo', { a: enc(i) }))).toEqual({ size: i + 1 });
    }
    expect(await a.state.handle('c:1', req('queue.size', 'fifo'))).toBe(20);
    const got: unknown[] = [];
    for (let i = 0; i < 20; i++) got.push(dec(await (i % 3 === 0 ? a : b).state.handle('c:1', req('queue.get', 'fifo'))));
    expect(got).toEqual([...Array(20).keys()]);
    expect(await code(b.state.handle('c:1', req('queue.get', 'fifo', { timeoutMs: 0 })))).toBe('E_TIMEOUT');
  });

  it('wakes a get blocked on one daemon with a put on the other, and serves a daemon’s blocked gets in arrival order', async () => {
    const first = a.state.handle('c:1', req('queue.get', 'wake'));
    const second = a.state.handle('c:2', req('queue.get', 'wake'));
    await until(() => a.state.counts().blockedGets === 2, 10_000, 'two parked gets');
    await b.state.handle('c:9', req('queue.put', 'wake', { a: enc('one') }));
    expect(dec(await first)).toBe('one');
    await b.state.handle('c:9', req('queue.put', 'wake', { a: enc('two') }));
    expect(dec(await second)).toBe('two');
    expect(a.state.counts().blockedGets).toBe(0);
  });

  it('times a blocked get out, cancels the gets of an owner that goes, and puts an undelivered item back in front', async () => {
    expect(await code(a.state.handle('c:1', req('queue.get', 'idle', { timeoutMs: 100 })))).toBe('E_TIMEOUT');
    const cancelled = code(a.state.handle('c:5', req('queue.get', 'idle')));
    await until(() => a.state.counts().blockedGets === 1, 10_000, 'a parked get');
    a.state.releaseOwner('c:5');
    expect(await cancelled).toBe('E_CANCELLED');
    await b.state.handle('c:1', req('queue.put', 'idle', { a: enc('x') }));
    await b.state.handle('c:1', req('queue.put', 'idle', { a: enc('y') }));
    const x = await a.state.handle('c:1', req('queue.get', 'idle'));
    a.state.undelivered(req('queue.get', 'idle'), x);
    await until(async () => (await a.state.handle('c:1', req('queue.size', 'idle'))) === 2, 10_000, 'the item back');
    expect(dec(await b.state.handle('c:1', req('queue.get', 'idle')))).toBe('x');
    expect(dec(await b.state.handle('c:1', req('queue.get', 'idle')))).toBe('y');
  });
});

describe('queues under load', () => {
  it('hands every item to exactly one of many gets parked on both daemons', async () => {
    const gets: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) gets.push((i % 2 === 0 ? a : b).state.handle(`c:g${i}`, req('queue.get', 'load')));
    await until(() => a.state.counts().blockedGets + b.state.counts().blockedGets === 40, 10_000, 'forty parked gets');
    await Promise.all([...Array(40).keys()].map((i) => (i % 3 === 0 ? a : b).state.handle('c:p', req('queue.put', 'load', { a: enc(i) }))));
    const got = (await Promise.all(gets)).map((x) => dec(x) as number);
    expect(got.sort((x, y) => x - y)).toEqual([...Array(40).keys()]);
    expect(await a.state.handle('c:1', req('queue.size', 'load'))).toBe(0);
  });
});

describe('dicts', () => {
  it('sets, gets, deletes, keeps insertion order and one version, across daemons', async () => {
    expect(await a.state.handle('c:1', req('dict.set', 'd', { key: 'z', a: enc(1) }))).toEqual({ version: 1 });
    expect(await b.state.handle('c:1', req('dict.set', 'd', { key: '__proto__', a: enc(2) }))).toEqual({ version: 2 });
    expect(await a.state.handle('c:1', req('dict.set', 'd', { key: 'a', a: enc(3) }))).toEqual({ version: 3 });
    expect(await b.state.handle('c:1', req('dict.set', 'd', { key: 'z', a: enc(4) }))).toEqual({ version: 4 });
    expect(await a.state.handle('c:1', req('dict.keys', 'd'))).toEqual(['z', '__proto__', 'a']);
    const entries = (await b.state.handle('c:1', req('dict.entries', 'd'))) as [string, Uint8Array][];
    expect(entries.map(([k, v]) => [k, dec(v)])).toEqual([
      ['z', 4],
      ['__proto__', 2],
      ['a', 3],
    ]);
    expect(dec(await a.state.handle('c:1', req('dict.get', 'd', { key: '__proto__' })))).toBe(2);
    expect(await a.state.handle('c:1', req('dict.get', 'd', { key: 'nope' }))).toBe(null);
    expect(await a.state.handle('c:1', req('dict.has', 'd', { key: 'a' }))).toBe(true);
    expect(await b.state.handle('c:1', req('dict.delete', 'd', { key: 'z' }))).toBe(true);
    expect(await b.state.handle('c:1', req('dict.delete', 'd', { key: 'z' }))).toBe(false);
    expect(await a.state.handle('c:1', req('dict.size', 'd'))).toBe(2);
    expect(await a.state.handle('c:1', req('dict.set', 'd', { key: 'z', a: enc(5) }))).toEqual({ version: 6 });
    expect(await a.state.handle('c:1', req('dict.keys', 'd'))).toEqual(['__proto__', 'a', 'z']);
  });
});

describe('locks', () => {
  it('grants one holder at a time with strictly increasing fencing tokens, passing on through release and an owner going', async () => {
    const t1 = ((await a.state.handle('c:1', req('lock.acquire', 'L'))) as { token: number }).token;
    expect(await code(b.state.handle('c:2', req('lock.acquire', 'L', { timeoutMs: 0 })))).toBe('E_TIMEOUT');
    const waiting = b.state.handle('c:2', req('lock.acquire', 'L')) as Promise<{ token: number }>;
    await until(() => b.state.counts().lockWaiters === 1, 10_000, 'a parked acquire');
    expect(await code(b.state.handle('c:2', req('lock.release', 'L', { token: t1 })))).toBe('E_LOCK_NOT_HELD');
    expect(await a.state.handle('c:1', req('lock.release', 'L', { token: t1 }))).toBe(true);
    const t2 = (await waiting).token;
    expect(t2).toBeGreaterThan(t1);
    const third = a.state.handle('c:3', req('lock.acquire', 'L')) as Promise<{ token: number }>;
    await until(() => a.state.counts().lockWaiters === 1, 10_000, 'a parked acquire');
    b.state.releaseOwner('c:2');
    const t3 = (await third).token;
    expect(t3).toBeGreaterThan(t2);
    expect(await a.state.handle('c:3', req('lock.release', 'L', { token: t3 }))).toBe(true);
    expect(await code(a.state.handle('c:3', req('lock.release', 'L', { token: t3 })))).toBe('E_LOCK_NOT_HELD');
  });

  it("lets an acquire take over a lock whose daemon's lease key is gone", async () => {
    const t1 = ((await a.state.handle('c:1', req('lock.acquire', 'T'))) as { token: number }).token;
    const waiting = b.state.handle('c:2', req('lock.acquire', 'T')) as Promise<{ token: number }>;
    await until(() => b.state.counts().lockWaiters === 1, 10_000, 'a parked acquire');
    // As if daemon a died: its lease key is gone (the poll retries the parked acquire).
    const old = a.node.id;
    await admin.del(a.node.leaseKey(old));
    expect((await waiting).token).toBeGreaterThan(t1);
    // a's owner no longer holds it.
    expect(await code(a.state.handle('c:1', req('lock.release', 'T', { token: t1 })))).toMatch(/E_LOCK_NOT_HELD|E_UNAVAILABLE/);
    // a finds its lease gone and joins again as a new incarnation.
    await until(() => a.node.id !== old && a.node.held(), 15_000, 'a back in the cluster');
  });
});

describe('hostile requests', () => {
  it('refuses bad names, undecodable operands and oversized ones with their codes, never a Redis error', async () => {
    const s = a.state;
    expect(await code(s.handle('c:1', req('value.set', '', { a: enc(1) })))).toBe('E_BAD_NAME');
    expect(await code(s.handle('c:1', req('value.set', 'x'.repeat(300), { a: enc(1) })))).toBe('E_BAD_NAME');
    expect(await code(s.handle('c:1', req('value.set', 'bad\uD800', { a: enc(1) })))).toBe('E_BAD_NAME');
    expect(await code(s.handle('c:1', req('dict.set', 'd2', { key: 'k\uDC00', a: enc(1) })))).toBe('E_BAD_NAME');
    expect(await code(s.handle('c:1', req('value.set', 'x', { a: new Uint8Array([0xc1]) })))).toBe('E_BAD_MESSAGE');
    expect(await code(s.handle('c:1', req('value.set', 'x')))).toBe('E_BAD_MESSAGE');
    expect(await code(s.handle('c:1', req('queue.put', 'q', { a: new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff]) })))).toBe('E_BAD_MESSAGE');
    expect(await code(s.handle('c:1', req('value.add', 'x', { a: enc('1') })))).toBe('E_TYPE');
    expect(await code(s.handle('c:1', req('value.cas', 'x', { a: new Uint8Array([0xc1]), b: enc(1) })))).toBe('ok');
    expect(await code(s.handle('c:1', req('lock.release', 'x')))).toBe('E_BAD_MESSAGE');
    expect(await code(s.handle('c:1', req('bogus' as never, 'x')))).toBe('E_BAD_MESSAGE');
    const big = enc('x'.repeat(2 * 1024 * 1024));
    expect(await code(s.handle('c:1', req('value.set', 'x', { a: big })))).toBe('E_TOO_LARGE');
    expect(await code(s.handle('c:1', req('queue.put', 'q', { a: big })))).toBe('E_TOO_LARGE');
    expect(await code(s.handle('c:1', req('dict.set', 'd', { key: 'k', a: big })))).toBe('E_TOO_LARGE');
    // Names that look like other keys of the cluster stay names.
    await s.handle('c:1', req('value.set', 'fence', { a: enc(1) }));
    await s.handle('c:1', req('value.set', 'v:x', { a: enc(2) }));
    expect(dec(((await b.state.handle('c:1', req('value.get', 'fence'))) as { value: Uint8Array }).value)).toBe(1);
    expect(dec(((await b.state.handle('c:1', req('value.get', 'v:x'))) as { value: Uint8Array }).value)).toBe(2);
  });
});
