/**
 * Pushes in cluster mode: subscribers on either daemon get every change of a
 * value or dict written from either, in version order, from the change feed;
 * values past the inline size too; unsubscribed and released owners get none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { Push } from '@corepool/protocol/internal';
import { clusterName, dropCluster, MACHINE_REDIS } from '../support/redis.js';
import { until } from '../support/wait.js';
import { closeSide, dec, enc, req, side, type Side } from './state-helpers.js';

const name = clusterName('state-push');
let a: Side;
let b: Side;

beforeAll(async () => {
  a = await side(MACHINE_REDIS, name, { inlineBytes: 64 });
  b = await side(MACHINE_REDIS, name, { inlineBytes: 64 });
});
afterAll(async () => {
  await closeSide(a);
  await closeSide(b);
  await dropCluster(MACHINE_REDIS, name);
});

const of = (s: Side, owner: string, n: string): Push[] => s.pushes.filter((p) => p.owner === owner && p.push.name === n).map((p) => p.push);

describe('pushes', () => {
  it('reach subscribers on both daemons in version order, every version, whoever wrote it', async () => {
    expect(await a.state.handle('c:1', req('value.subscribe', 'w'))).toEqual({ version: 0 });
    await b.state.handle('c:2', req('value.subscribe', 'w'));
    await b.state.handle('w:3', req('value.subscribe', 'w'));
    const writes = [];
    for (let i = 0; i < 60; i++) writes.push((i % 2 === 0 ? a : b).state.handle('c:9', req('value.add', 'w', { a: enc(1) })));
    await Promise.all(writes);
    for (const [s, owner] of [
      [a, 'c:1'],
      [b, 'c:2'],
      [b, 'w:3'],
    ] as const) {
      await until(() => of(s, owner, 'w').length === 60, 10_000, `60 pushes for ${owner}`);
      const got = of(s, owner, 'w');
      expect(got.map((p) => p.version)).toEqual([...Array(60).keys()].map((i) => i + 1));
      expect(got.map((p) => dec(p.value))).toEqual([...Array(60).keys()].map((i) => i + 1));
    }
    // A subscribe after the changes reads the current value.
    const now = (await a.state.handle('c:5', req('value.subscribe', 'w'))) as { version: number; value: Uint8Array };
    expect(now.version).toBe(60);
  });

  it('push a value past the inline size, read from Redis', async () => {
    await b.state.handle('c:2', req('value.subscribe', 'big'));
    const big = 'x'.repeat(1000);
    await a.state.handle('c:1', req('value.set', 'big', { a: enc(big) }));
    await until(() => of(b, 'c:2', 'big').length === 1, 10_000, 'the big push');
    expect(dec(of(b, 'c:2', 'big')[0]!.value)).toBe(big);
  });

  it('reach dict subscribers with sets and deletes in version order', async () => {
    expect(await a.state.handle('c:1', req('dict.subscribe', 'd'))).toBe(true);
    await b.state.handle('c:9', req('dict.set', 'd', { key: 'a', a: enc(1) }));
    await a.state.handle('c:9', req('dict.set', 'd', { key: 'b', a: enc('y'.repeat(500)) }));
    await b.state.handle('c:9', req('dict.delete', 'd', { key: 'a' }));
    await b.state.handle('c:9', req('dict.delete', 'd', { key: 'a' }));
    await a.state.handle('c:9', req('dict.set', 'd', { key: 'a', a: enc(3) }));
    await until(() => of(a, 'c:1', 'd').length === 4, 10_000, 'four dict pushes');
    expect(of(a, 'c:1', 'd').map((p) => [p.version, p.key, p.deleted === true ? 'deleted' : dec(p.value)])).toEqual([
      [1, 'a', 1],
      [2, 'b', 'y'.repeat(500)],
      [3, 'a', 'deleted'],
      [4, 'a', 3],
    ]);
  });

  it('stop for an owner that unsubscribed or went', async () => {
    await a.state.handle('c:1', req('value.subscribe', 'quiet'));
    await b.state.handle('c:2', req('value.subscribe', 'quiet'));
    await b.state.handle('c:3', req('value.subscribe', 'quiet'));
    await a.state.handle('c:1', req('value.set', 'quiet', { a: enc(1) }));
    await until(() => of(b, 'c:3', 'quiet').length === 1, 10_000, 'the first push');
    await a.state.handle('c:1', req('value.unsubscribe', 'quiet'));
    b.state.releaseOwner('c:2');
    await a.state.handle('c:1', req('value.set', 'quiet', { a: enc(2) }));
    await until(() => of(b, 'c:3', 'quiet').length === 2, 10_000, 'the second push');
    expect(of(a, 'c:1', 'quiet').length).toBe(1);
    expect(of(b, 'c:2', 'quiet').length).toBe(1);
  });

  it('turn into a resync push for every subscriber when the stream was trimmed past a daemon or went backwards', async () => {
    const admin = new Redis(MACHINE_REDIS);
    try {
      await a.state.handle('c:1', req('value.subscribe', 'r1'));
      await a.state.handle('c:1', req('dict.subscribe', 'r2'));
      await b.state.handle('c:2', req('value.subscribe', 'r1'));
      const resyncs = (s: Side): Push[] => s.pushes.filter((p) => p.push.resync === true).map((p) => p.push);
      const before = [resyncs(a).length, resyncs(b).length];
      // Entries after what the daemons read were trimmed (as MAXLEN does to a daemon far behind).
      const chg = `${a.node.prefix}chg`;
      const last = (await admin.xinfo('STREAM', chg)) as unknown[];
      const lastId = String(last[last.indexOf('last-generated-id') + 1]);
      const ahead = `${BigInt(lastId.split('-')[0]!) + 1000n}-0`;
      await admin.call('XSETID', chg, ahead, 'MAXDELETEDID', ahead);
      await until(() => resyncs(a).length > before[0]! && resyncs(b).length > before[1]!, 10_000, 'resync pushes');
      expect(resyncs(a).slice(before[0])).toEqual(
        expect.arrayContaining([
          { type: 'push', kind: 'value', name: 'r1', version: 0, resync: true },
          { type: 'push', kind: 'dict', name: 'r2', version: 0, resync: true },
        ]),
      );
      // Pushes go on after it.
      await b.state.handle('c:9', req('value.set', 'r1', { a: enc('after') }));
      await until(
        () => of(a, 'c:1', 'r1').some((p) => p.value !== undefined && dec(p.value) === 'after'),
        10_000,
        'a push after the resync',
      );

      // The stream went backwards (deleted: entries-added starts over).
      const again = [resyncs(a).length, resyncs(b).length];
      await admin.del(chg);
      await b.state.handle('c:9', req('value.set', 'r1', { a: enc('reborn') }));
      await until(() => resyncs(a).length > again[0]! && resyncs(b).length > again[1]!, 10_000, 'resync pushes');
    } finally {
      admin.disconnect();
    }
  });

  it('reach a store that just opened without waiting for its poll (its feed waits for its blocking connection)', async () => {
    // A poll of a minute: on a feed whose first blocking read failed (its connection not up yet), the push would wait that long.
    const fresh = await side(MACHINE_REDIS, name, { inlineBytes: 64, pollMs: 60_000 });
    try {
      await fresh.state.handle('c:1', req('value.subscribe', 'at-open'));
      await a.state.handle('c:9', req('value.set', 'at-open', { a: enc('now') }));
      await until(() => of(fresh, 'c:1', 'at-open').length === 1, 20_000, 'the push to a store that just opened');
    } finally {
      await closeSide(fresh);
    }
  });
});
