/**
 * State lifecycle in cluster mode, on the machine's Redis: a Value, Queue or
 * Dict deleted through one daemon is gone for the other, whose subscribers
 * hear it (a value's onDelete, a delete per key of a dict) and then the thing
 * made again from version 1; a get parked on the other daemon keeps waiting;
 * `client.list()` lists the cluster's names; a delete whose reply was lost is
 * answered once from the kept reply.
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connect } from '@corepool/client';

import { startCluster } from '../support/cluster.js';
import { codeOf } from '../support/checks.js';
import { startCutProxy } from '../support/cut-proxy.js';
import { until } from '../support/wait.js';
import { scanKeys } from '../support/redis.js';

describe('state lifecycle across daemons', () => {
  it('deletes reach the other daemon and its subscribers; made again from version 1', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [d0, d1] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const a = await d0.connect();
    const b = await d1.connect();

    const events: string[] = [];
    await b.value<number>('cv').set(1);
    const stopV = a.value<number>('cv').subscribe(
      (v, ver) => events.push(`${v}@${ver}`),
      undefined,
      () => events.push('deleted'),
    );
    await until(() => events.includes('1@1'), 10_000, 'the current value');
    await b.value<number>('cv').set(2);
    await until(() => events.includes('2@2'), 10_000, 'the set pushed');
    expect(await b.value('cv').delete()).toBe(true);
    await until(() => events.includes('deleted'), 10_000, 'the delete pushed to the other daemon');
    expect(await codeOf(a.value('cv').get())).toBe('E_NO_SUCH_VALUE');
    expect(await a.value('cv').delete()).toBe(false);
    await b.value<number>('cv').set(7);
    await until(() => events.includes('7@1'), 10_000, 'the value made again, version 1');
    expect(events).toEqual(['1@1', '2@2', 'deleted', '7@1']);
    stopV();

    const dictEvents: string[] = [];
    await b.dict<number>('cd').set('x', 1);
    const stopD = a.dict<number>('cd').subscribe((k, v, del) => dictEvents.push(del ? `-${k}` : `${k}=${v}`));
    // A request behind the subscribe on its link: once answered, the subscription is in place.
    await a.dict('cd').size();
    await b.dict<number>('cd').set('y', 2);
    await until(() => dictEvents.includes('y=2'), 10_000, 'the set pushed');
    expect(await b.dict('cd').clear()).toBe(true);
    await until(() => dictEvents.filter((e) => e.startsWith('-')).length === 2, 10_000, 'a delete per key');
    expect(await a.dict('cd').size()).toBe(0);
    expect(await a.dict('cd').clear()).toBe(false);
    await b.dict<number>('cd').set('z', 3);
    await until(() => dictEvents.includes('z=3'), 10_000, 'the set after the clear');
    // The set of x, made on the other daemon just before the subscription, may still reach it
    // through the change feed (in order, before y's): what follows y's push is the clear, then z.
    const afterY = dictEvents.slice(dictEvents.indexOf('y=2') + 1);
    expect(dictEvents.slice(0, dictEvents.indexOf('y=2'))).toEqual(dictEvents.includes('x=1') ? ['x=1'] : []);
    expect(new Set(afterY.slice(0, 2))).toEqual(new Set(['-x', '-y']));
    expect(afterY.slice(2)).toEqual(['z=3']);
    stopD();

    // A get parked on daemon 0 waits on through a delete on daemon 1, and takes the next put.
    await b.queue<string>('cq').put('old');
    expect(await b.queue('cq').delete()).toBe(true);
    const got = a.queue<string>('cq').get({ timeoutMs: 30_000 });
    await until(async () => (await d0.status()).blockedGets === 1, 10_000, 'the get parked');
    expect(await b.queue('cq').delete()).toBe(false);
    await b.queue<string>('cq').put('new');
    expect(await got).toBe('new');

    // Both daemons list the cluster's names.
    await b.queue<number>('cq2').put(1);
    const names = async (cl: typeof a): Promise<string[]> => {
      const out: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 50; i++) {
        const page = await cl.list({ limit: 5, ...(cursor === undefined ? {} : { cursor }) });
        out.push(...page.entries.map((e) => `${e.kind}:${e.name}`));
        cursor = page.next;
        if (cursor === undefined) break;
      }
      return out.sort();
    };
    expect(await names(a)).toEqual(['dict:cd', 'queue:cq2', 'value:cv']);
    expect(await names(b)).toEqual(['dict:cd', 'queue:cq2', 'value:cv']);
  });

  it('a dict emptied key by key leaves nothing in Redis (dicts of ever-new names, set and deleted); a subscriber on the other daemon sees its versions start over', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [d0, d1] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const hostile = await d0.connect();
    const writer = await d0.connect();
    const watcher = await d1.connect();
    const admin = new Redis(c.redisUrl);
    const prefix = `cp:{${c.name}}:`;
    try {
      const events: string[] = [];
      const stop = watcher.dict<number>('n').subscribe((k, v, del) => events.push(del ? `-${k}` : `${k}=${v}`));
      await watcher.dict('n').size();
      const pad = 'p'.repeat(200);
      const DICTS = 2_000;
      for (let i = 0; i < DICTS; i += 200) {
        const ops: Promise<unknown>[] = [];
        for (let j = i; j < i + 200; j++) {
          const d = hostile.dict<number>(`h${j}-${pad}`);
          ops.push(d.set('k', j).then(() => d.delete('k')));
        }
        await Promise.all(ops);
      }
      // The neighbour's dict emptied and made again: each change reaches the other daemon's subscriber.
      const n = writer.dict<number>('n');
      await n.set('a', 1);
      await n.delete('a');
      await n.set('b', 2);
      await n.set('c', 3);
      await n.delete('b');
      await until(() => events.length === 5, 10_000, 'five changes pushed');
      expect(events).toEqual(['a=1', '-a', 'b=2', 'c=3', '-b']);
      expect(await watcher.dict<number>('n').entries()).toEqual([['c', 3]]);
      // Kept, each emptied dict's version record (`dver:`) stayed for good: 2,000 of them, uncounted and unlisted.
      const versions = await scanKeys(admin, `${prefix}dver:*`);
      expect(versions).toEqual([`${prefix}dver:n`]);
      expect(await admin.hget(`${prefix}stat`, 'd')).toBe('1');
      expect((await hostile.list()).entries.map((e) => `${e.kind}:${e.name}`)).toEqual(['dict:n']);
      // A hostile dict made again starts over, as after clear().
      await hostile.dict<number>(`h7-${pad}`).set('k', 1);
      expect(await hostile.dict<number>(`h7-${pad}`).entries()).toEqual([['k', 1]]);
      stop();
    } finally {
      admin.disconnect();
      await Promise.all([hostile.close(), writer.close(), watcher.close()]);
    }
  });

  it('a delete whose reply was lost is answered from its kept reply, not applied again', async () => {
    await using c = await startCluster(1, { workers: 1 });
    const d = c.daemons[0]!;
    await using proxy = await startCutProxy(d.url);
    const client = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    const observer = await d.connect();
    try {
      await client.value<number>('rv').set(1);
      await client.dict<number>('rd').set('k', 1);
      await client.queue<number>('rq').put(1);
      proxy.hold();
      const deletes = [client.value('rv').delete(), client.queue('rq').delete(), client.dict('rd').clear()];
      await until(async () => (await observer.list()).entries.length === 0, 10_000, 'the deletes applied');
      await observer.value<number>('rv').set(2);
      await observer.queue<number>('rq').put(2);
      await observer.dict<number>('rd').set('k', 2);
      proxy.cut();
      expect(await Promise.all(deletes)).toEqual([true, true, true]);
      expect(await observer.value('rv').get()).toBe(2);
      expect(await observer.queue('rq').size()).toBe(1);
      expect(await observer.dict('rd').get('k')).toBe(2);
    } finally {
      await client.close();
      await observer.close();
    }
  });
});
