/**
 * Exactly-once writes across daemons: a request resent with the same client
 * instance and request id, to the other daemon (the client failed over), is
 * answered from the reply kept in Redis with the write, and applies nothing
 * again; a queue item taken for a connection that closed unanswered goes back
 * to the front only if no other daemon answered a resend with it.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { ReplayKey } from '../../src/state/state-store.js';
import { until } from '../support/wait.js';
import { dec, enc, req, usePair, type Side } from './state-helpers.js';

let a: Side;
let b: Side;
let admin: Redis;
usePair('state-replay', (p) => ({ a, b, admin } = p));

const value = async (s: Side, n: string): Promise<{ version: number; value: unknown }> => {
  const r = (await s.state.handle('c:1', req('value.get', n))) as { version: number; value: Uint8Array };
  return { version: r.version, value: dec(r.value) };
};

describe('a resend to the other daemon', () => {
  it('is answered from the kept reply for every replayed write, applied once', async () => {
    const key: ReplayKey = ['inst-1', 1];
    const k = (rid: number): ReplayKey => [key[0], rid];
    const add1 = await a.state.handle('c:1', req('value.add', 'n', { a: enc(5) }), k(1));
    expect(await b.state.handle('c:7', req('value.add', 'n', { a: enc(5) }), k(1))).toEqual(add1);
    expect(await value(b, 'n')).toEqual({ version: 1, value: 5 });

    const set = await a.state.handle('c:1', req('value.set', 'n', { a: enc(9) }), k(2));
    await a.state.handle('c:1', req('value.set', 'n', { a: enc(10) }), k(3));
    expect(await b.state.handle('c:7', req('value.set', 'n', { a: enc(9) }), k(2))).toEqual(set);
    expect(await value(b, 'n')).toEqual({ version: 3, value: 10 });

    const cas = await a.state.handle('c:1', req('value.cas', 'n', { a: enc(10), b: enc(11) }), k(4));
    expect(cas).toEqual({ ok: true, version: 4 });
    expect(await b.state.handle('c:7', req('value.cas', 'n', { a: enc(10), b: enc(11) }), k(4))).toEqual(cas);
    // A structural compare that failed keeps its reply too.
    const casNo = await a.state.handle('c:1', req('value.cas', 'n', { a: enc({ x: 1 }), b: enc(0) }), k(5));
    expect(casNo).toEqual({ ok: false, version: 4 });
    await a.state.handle('c:1', req('value.set', 'n', { a: enc({ x: 1 }) }));
    expect(await b.state.handle('c:7', req('value.cas', 'n', { a: enc({ x: 1 }), b: enc(0) }), k(5))).toEqual(casNo);
    expect(await value(b, 'n')).toEqual({ version: 5, value: { x: 1 } });

    const put = await a.state.handle('c:1', req('queue.put', 'q', { a: enc('once') }), k(6));
    expect(await b.state.handle('c:7', req('queue.put', 'q', { a: enc('once') }), k(6))).toEqual(put);
    expect(await b.state.handle('c:7', req('queue.size', 'q'))).toBe(1);

    const dset = await a.state.handle('c:1', req('dict.set', 'd', { key: 'k', a: enc(1) }), k(7));
    expect(await b.state.handle('c:7', req('dict.set', 'd', { key: 'k', a: enc(1) }), k(7))).toEqual(dset);
    expect(await a.state.handle('c:1', req('dict.delete', 'd', { key: 'k' }), k(8))).toBe(true);
    expect(await b.state.handle('c:7', req('dict.delete', 'd', { key: 'k' }), k(8))).toBe(true);
    const entries = await b.state.handle('c:7', req('dict.entries', 'd'));
    expect(entries).toEqual([]);

    const { token } = (await a.state.handle('c:1', req('lock.acquire', 'L'))) as { token: number };
    expect(await a.state.handle('c:1', req('lock.release', 'L', { token }), k(9))).toBe(true);
    expect(await b.state.handle('c:7', req('lock.release', 'L', { token }), k(9))).toBe(true);

    // A dropped (acknowledged) reply is gone: the same id is a new request.
    a.state.dropReply(k(6));
    await until(async () => (await admin.hexists(`${a.node.prefix}rep:inst-1`, '6')) === 0, 10_000, 'the reply dropped');
    expect(await b.state.handle('c:7', req('queue.put', 'q', { a: enc('again') }), k(6))).toEqual({ size: 2 });
    expect(await b.state.handle('c:7', req('queue.size', 'q'))).toBe(2);
  });

  it('of a queue.get gets the item taken before; the first daemon then puts nothing back and keeps the other’s reply', async () => {
    await a.state.handle('c:1', req('queue.put', 'g', { a: enc('first') }));
    await a.state.handle('c:1', req('queue.put', 'g', { a: enc('second') }));
    const key: ReplayKey = ['inst-2', 1];
    const taken = await a.state.handle('c:1', req('queue.get', 'g'), key);
    expect(dec(taken)).toBe('first');
    // The reply was lost with a's connection; the client resends to b, which answers from the kept reply.
    expect(dec(await b.state.handle('c:7', req('queue.get', 'g'), key))).toBe('first');
    // a learns its connection closed: its hand-back and its forget must not undo b's answer.
    a.state.undelivered(req('queue.get', 'g'), taken, key);
    a.state.dropReply(key);
    expect(dec(await b.state.handle('c:7', req('queue.get', 'g'), key))).toBe('first');
    await until(async () => (await b.state.handle('c:7', req('queue.size', 'g'))) === 1, 10_000, 'one item left');
    expect(dec(await b.state.handle('c:7', req('queue.get', 'g')))).toBe('second');
  });

  it('of a queue.get whose item went back first takes the first item afresh', async () => {
    await a.state.handle('c:1', req('queue.put', 'h', { a: enc('only') }));
    const key: ReplayKey = ['inst-3', 4];
    const taken = await a.state.handle('c:1', req('queue.get', 'h'), key);
    a.state.undelivered(req('queue.get', 'h'), taken, key);
    a.state.dropReply(key);
    await until(async () => (await a.state.handle('c:1', req('queue.size', 'h'))) === 1, 10_000, 'the item back');
    expect(dec(await b.state.handle('c:7', req('queue.get', 'h'), key))).toBe('only');
    expect(await b.state.handle('c:7', req('queue.size', 'h'))).toBe(0);
  });

  it('of a blocked queue.get on the other daemon gets the item the first one took for it', async () => {
    const key: ReplayKey = ['inst-4', 2];
    const parked = a.state.handle('c:1', req('queue.get', 'p'), key);
    await until(() => a.state.counts().blockedGets === 1, 10_000, 'a parked get');
    await b.state.handle('c:7', req('queue.put', 'p', { a: enc('gift') }));
    expect(dec(await parked)).toBe('gift');
    expect(dec(await b.state.handle('c:7', req('queue.get', 'p', { timeoutMs: 0 }), key))).toBe('gift');
  });
});
