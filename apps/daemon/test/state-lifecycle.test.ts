/**
 * State lifecycle on a real daemon (LMDB): deleting a Value, a Queue or a Dict
 * through the SDK (what its subscribers and blocked getters see, making it
 * again), `client.list()` paging, a delete whose reply was lost answered once
 * from its kept reply, deletes surviving kill -9, and a co-tenant looping
 * create/delete beside an app's map.
 */
import { describe, expect, it } from 'vitest';
import { connect, type Client } from '@corepool/client';

import { codeOf } from './support/checks.js';
import { startCutProxy } from './support/cut-proxy.js';
import { startDaemon, useDaemon, type TestDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

describe('state lifecycle', () => {
  let d: TestDaemon;
  let client: Client;
  useDaemon((x) => ({ d, client } = x));

  it('deletes each kind: true when it existed, false when not; a deleted value reads as absent', async () => {
    const v = client.value<number>('lc-v');
    await v.set(3);
    expect(await v.delete()).toBe(true);
    expect(await codeOf(v.get())).toBe('E_NO_SUCH_VALUE');
    expect(await v.delete()).toBe(false);
    expect(await client.value('lc-never').delete()).toBe(false);
    // A handle's `initial` is not sent just to be deleted, nor after.
    const withInitial = client.value<number>('lc-init', { initial: 1 });
    expect(await withInitial.delete()).toBe(false);
    expect(await codeOf(withInitial.get())).toBe('E_NO_SUCH_VALUE');

    const q = client.queue<number>('lc-q');
    for (let i = 0; i < 5; i++) await q.put(i);
    expect(await q.delete()).toBe(true);
    expect(await q.size()).toBe(0);
    expect(await q.clear()).toBe(false);

    const dict = client.dict<number>('lc-d');
    await dict.set('a', 1);
    await dict.set('b', 2);
    expect(await dict.clear()).toBe(true);
    expect(await dict.size()).toBe(0);
    expect(await dict.keys()).toEqual([]);
    expect(await dict.clear()).toBe(false);

    // Bad names are refused with a code, before anything is sent.
    expect(await codeOf(client.value('').delete())).toBe('E_BAD_NAME');
    expect(await codeOf(client.queue('x'.repeat(300)).delete())).toBe('E_BAD_NAME');
    expect(await codeOf(client.dict('').clear())).toBe('E_BAD_NAME');
  });

  it('a value made again after a delete starts over at version 1; `initial` on a new handle makes it again', async () => {
    const v = client.value<number>('lc-again');
    for (let i = 0; i < 5; i++) await v.set(i);
    await v.delete();
    expect(await client.value<number>('lc-again', { initial: 42 }).get()).toBe(42);
    const seen: [number, number][] = [];
    const stop = v.subscribe((value, version) => seen.push([value, version]));
    await until(() => seen.length === 1, 10_000, 'the current value');
    expect(seen[0]).toEqual([42, 1]);
    stop();
  });

  it('subscribers hear a delete: a value subscriber onDelete, then the value made again from version 1; watch() ends with E_NO_SUCH_VALUE', async () => {
    const writer = await d.connect();
    const v = client.value<number>('lc-sub');
    await writer.value<number>('lc-sub').set(1);
    await writer.value<number>('lc-sub').set(2);
    const events: string[] = [];
    const stop = v.subscribe(
      (value, version) => events.push(`${value}@${version}`),
      undefined,
      () => events.push('deleted'),
    );
    await until(() => events.includes('2@2'), 10_000, 'the current value');
    const watched: number[] = [];
    const watching = (async () => {
      for await (const x of v.watch()) watched.push(x);
    })().then(
      () => 'ended',
      (err: unknown) => (err as { code?: string }).code,
    );
    await until(() => watched.includes(2), 10_000, 'watch() saw the value');
    expect(await writer.value('lc-sub').delete()).toBe(true);
    await until(() => events.includes('deleted'), 10_000, 'the delete pushed');
    expect(await watching).toBe('E_NO_SUCH_VALUE');
    await writer.value<number>('lc-sub').set(7);
    await until(() => events.includes('7@1'), 10_000, 'the new value, version 1');
    expect(events).toEqual(['2@2', 'deleted', '7@1']);
    stop();
    await writer.close();
  });

  it('a dict subscriber gets a delete for each key it had when the dict is cleared, then later sets', async () => {
    const writer = await d.connect();
    const w = writer.dict<number>('lc-dsub');
    await w.set('a', 1);
    const events: string[] = [];
    const stop = client.dict<number>('lc-dsub').subscribe((key, value, deleted) => events.push(deleted ? `-${key}` : `${key}=${value}`));
    // A request behind the subscribe on its link: once answered, the subscription is in place.
    await client.dict('lc-dsub').size();
    await w.set('b', 2);
    await until(() => events.includes('b=2'), 10_000, 'the set pushed');
    expect(await w.clear()).toBe(true);
    await until(() => events.filter((e) => e.startsWith('-')).length === 2, 10_000, 'two deletes');
    await w.set('c', 3);
    await until(() => events.includes('c=3'), 10_000, 'the set after the clear (its version 1)');
    expect(events.slice(0, 1)).toEqual(['b=2']);
    expect(new Set(events.slice(1, 3))).toEqual(new Set(['-a', '-b']));
    expect(events[3]).toBe('c=3');
    stop();
    await writer.close();
  });

  it('tasks delete through ctx too, and an app subscriber hears it', async () => {
    await client.value<number>('lc-task').set(1);
    await client.dict<number>('lc-task').set('k', 1);
    const heard: string[] = [];
    const stop = client.value<number>('lc-task').subscribe(
      () => {},
      undefined,
      () => heard.push('deleted'),
    );
    const [r] = await client.map(
      async (n: string, ctx) => [await ctx.value(n).delete(), await ctx.dict(n).clear(), await ctx.queue(n).delete()],
      ['lc-task'],
    );
    expect(r).toEqual([true, true, false]);
    await until(() => heard.length === 1, 10_000, 'the delete pushed');
    expect(await codeOf(client.value('lc-task').get())).toBe('E_NO_SUCH_VALUE');
    stop();
  });

  it('a get blocked on a deleted queue keeps waiting and takes the next item put', async () => {
    const q = client.queue<string>('lc-blocked');
    const got = q.get({ timeoutMs: 30_000 });
    await until(async () => (await d.status()).blockedGets === 1, 10_000, 'the get blocked');
    const other = await d.connect();
    expect(await other.queue('lc-blocked').delete()).toBe(false);
    await other.queue('lc-blocked').put('after');
    expect(await got).toBe('after');
    await other.close();
  });

  it('list() pages through every name with its kind, bounded; `kind` filters; bad options are E_BAD_ARGUMENT', async () => {
    const fresh = await startDaemon({ workers: 1 });
    try {
      const c = await fresh.connect();
      for (let i = 0; i < 25; i++) await c.value(`pv${i}`).set(i);
      await c.queue('pq').put(1);
      await c.dict('pd').set('k', 1);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await c.list({ limit: 10, ...(cursor === undefined ? {} : { cursor }) });
        expect(page.entries.length).toBeLessThanOrEqual(10);
        for (const e of page.entries) seen.push(`${e.kind}:${e.name}`);
        cursor = page.next;
        pages++;
      } while (cursor !== undefined && pages < 10);
      expect(pages).toBe(3);
      expect(seen.length).toBe(27);
      expect(seen).toContain('queue:pq');
      expect(seen).toContain('dict:pd');
      const first = (await c.list({ limit: 1 })).entries[0]!;
      expect(first).toMatchObject({ kind: 'value', name: 'pv0', version: 1 });
      const dicts = await c.list({ kind: 'dict' });
      expect(dicts.entries.map((e) => e.name)).toEqual(['pd']);
      // Deleted names leave the listing.
      await c.value('pv3').delete();
      const all = await c.list({ limit: 200 });
      expect(all.entries.some((e) => e.name === 'pv3')).toBe(false);
      // The daemon caps a page whatever is asked.
      expect((await c.list({ limit: 10_000 })).entries.length).toBe(26);
      for (const bad of [{ limit: 0 }, { limit: 1.5 }, { limit: -1 }, { kind: 'file' }, { cursor: 7 }] as never[]) {
        expect(await codeOf(c.list(bad))).toBe('E_BAD_ARGUMENT');
      }
      expect(await codeOf(c.list(5 as never))).toBe('E_BAD_ARGUMENT');
      // A cursor that is no page's next is refused; one far past the end ends the listing (it used to start over).
      expect(await codeOf(c.list({ cursor: 'abc' }))).toBe('E_BAD_ARGUMENT');
      expect(await c.list({ cursor: '9007199254740993', limit: 5 })).toEqual({ entries: [] });
    } finally {
      await fresh[Symbol.asyncDispose]();
    }
  });
});

describe('state lifecycle: hostile input on the wire', () => {
  it('no token or a wrong one gets nothing; an oversized limit is capped; malformed fields and bad names are coded errors', async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect();
    for (let i = 0; i < 250; i++) await c.value(`h${i}`).set(i);
    await expect(c.list({ cursor: 'garbage!!' })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    // Without a hello, or with a wrong token, the connection closes unanswered.
    const anon = await d.raw();
    anon.send({ type: 'state', rid: 1, op: 'state.list', name: '' });
    expect((await anon.closed).code).not.toBe(1000);
    expect(anon.messages.filter((m) => m.type === 'reply')).toEqual([]);
    const wrong = await d.raw({ hello: 'not-the-token' }).catch((err: unknown) => err);
    expect(wrong).toBeInstanceOf(Error);
    const sock = await d.raw({ hello: true });
    const reply = async (rid: number, m: Record<string, unknown>): Promise<Record<string, unknown>> => {
      sock.send({ type: 'state', rid, ...m });
      return sock.next((x) => x.type === 'reply' && x.rid === rid);
    };
    const huge = await reply(1, { op: 'state.list', name: '', limit: 4_000_000_000 });
    expect((huge.value as { entries: unknown[] }).entries.length).toBe(200);
    for (const [rid, m, code] of [
      // A made-up cursor listed from the start, as if none were given.
      [2, { op: 'state.list', name: '', cursor: '-5x' }, 'E_BAD_MESSAGE'],
      [3, { op: 'state.list', name: '', cursor: 12 }, 'E_BAD_MESSAGE'],
      [4, { op: 'state.list', name: '', limit: 'all' }, 'E_BAD_MESSAGE'],
      [5, { op: 'value.remove', name: '' }, 'E_BAD_NAME'],
      [6, { op: 'dict.remove', name: 'x'.repeat(1000) }, 'E_BAD_NAME'],
      [7, { op: 'queue.remove', name: 5 }, 'E_BAD_MESSAGE'],
    ] as const) {
      sock.send({ type: 'state', rid, ...m });
      const got = await sock.next((x) => (x.type === 'reply' && x.rid === rid) || x.type === 'error');
      expect((got.error as { code: string }).code).toBe(code);
    }
    // The daemon carries on, for this connection and the others.
    expect(await c.value('h1').get()).toBe(1);
    expect((await reply(8, { op: 'value.remove', name: 'h1' })).value).toBe(true);
  });
});

describe('state lifecycle: replay and durability', () => {
  it('a delete whose reply was lost is answered from its kept reply, not applied again', async () => {
    await using d = await startDaemon({ workers: 1 });
    await using proxy = await startCutProxy(d.url);
    const client = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    const observer = await d.connect();
    try {
      await client.value<number>('rv').set(1);
      await client.queue<number>('rq').put(1);
      await client.dict<number>('rd').set('k', 1);
      proxy.hold();
      const deletes = [client.value('rv').delete(), client.queue('rq').delete(), client.dict('rd').clear()];
      await until(async () => (await observer.list()).entries.length === 0, 10_000, 'the deletes applied');
      // Made again before the resends arrive: a delete applied twice would take them.
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

  it('subscribers that were disconnected while a name was deleted and made again start over with it', async () => {
    await using d = await startDaemon({ workers: 1 });
    await using proxy = await startCutProxy(d.url);
    const sub = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    const writer = await d.connect();
    try {
      const v = writer.value<number>('away');
      for (let i = 1; i <= 5; i++) await v.set(i * 10);
      const values: string[] = [];
      const stop = sub.value<number>('away').subscribe(
        (x, ver) => values.push(`${x}@${ver}`),
        undefined,
        () => values.push('deleted'),
      );
      await until(() => values.includes('50@5'), 10_000, 'the current value');
      const keys: string[] = [];
      await writer.dict<number>('away-d').set('old', 1);
      await writer.dict<number>('away-d').set('old', 2);
      const stopD = sub.dict<number>('away-d').subscribe((k, x, del) => keys.push(del ? `-${k}` : `${k}=${x}`));
      // The subscription's baseline (its first read of the entries) is in place once a later push is heard: the
      // push left the daemon after the read's reply. A read behind it answered was no proof: the daemon writes
      // the entries' reply in a frame of its own after the smaller reply's, and a cut between them lost it.
      // (A read answered first: the daemon has the subscription when the write comes.)
      await sub.dict('away-d').size();
      await writer.dict<number>('away-d').set('old', 3);
      await until(() => keys.includes('old=3'), 10_000, 'the dict subscription in place');
      proxy.cut();
      // While the subscriber is away: deleted, and made again at a lower version.
      await v.delete();
      await v.set(7);
      await writer.dict('away-d').clear();
      await writer.dict<number>('away-d').set('new', 1);
      await until(() => values.includes('7@1'), 20_000, 'the value made again, after the reconnect');
      await until(() => keys.includes('new=1') && keys.includes('-old'), 20_000, 'the dict made again, after the reconnect');
      // Later changes are heard, from the new versions on.
      await v.set(8);
      await writer.dict<number>('away-d').set('later', 3);
      await until(() => values.includes('8@2') && keys.includes('later=3'), 10_000, 'later changes');
      stop();
      stopD();
    } finally {
      await sub.close();
      await writer.close();
    }
  });

  it('acknowledged deletes survive kill -9 of the primary', async () => {
    const first = await startDaemon({ workers: 1, keepDataDir: true });
    const c = await first.connect();
    for (let i = 0; i < 10; i++) await c.value(`dv${i}`).set(i);
    await c.queue('dq').put(1);
    await c.dict('dd').set('k', 1);
    for (let i = 0; i < 10; i += 2) expect(await c.value(`dv${i}`).delete()).toBe(true);
    expect(await c.queue('dq').delete()).toBe(true);
    expect(await c.dict('dd').clear()).toBe(true);
    await first.kill();
    await using second = await startDaemon({ workers: 1, dataDir: first.dataDir });
    const c2 = await second.connect();
    for (let i = 0; i < 10; i++) {
      if (i % 2 === 0) expect(await codeOf(c2.value(`dv${i}`).get())).toBe('E_NO_SUCH_VALUE');
      else expect(await c2.value(`dv${i}`).get()).toBe(i);
    }
    expect(await c2.queue('dq').size()).toBe(0);
    expect(await c2.dict('dd').size()).toBe(0);
    // A dict made again after the restart starts over: its subscriber hears version 1 on.
    const events: string[] = [];
    const stop = c2.dict<number>('dd').subscribe((k, v) => events.push(`${k}=${v}`));
    await c2.dict<number>('dd').set('n', 9);
    await until(() => events.includes('n=9'), 10_000, 'the set pushed');
    stop();
  });
});

describe('state lifecycle: a co-tenant looping create/delete', () => {
  it("does not slow another app's map beyond its share, nor leave anything behind", async () => {
    await using d = await startDaemon({ workers: 2 });
    const app = await d.connect({ name: 'app' });
    const spammer = await d.connect({ name: 'spammer' });
    const task = (n: number): number => {
      let x = 0;
      for (let i = 0; i < 200_000; i++) x = (x + i * n) % 1_000_003;
      return x;
    };
    const items = Array.from({ length: 200 }, (_, i) => i);
    const expected = await app.map(task, items);
    let t = Date.now();
    await app.map(task, items);
    const alone = Date.now() - t;
    // The spammer: create and delete values, queues and dicts as fast as its link allows.
    let stop = false;
    let cycles = 0;
    const spam = (async () => {
      while (!stop) {
        const n = `spam${cycles % 50}`;
        await Promise.all([spammer.value(n).set(cycles), spammer.queue(n).put(cycles), spammer.dict(n).set('k', cycles)]);
        await Promise.all([spammer.value(n).delete(), spammer.queue(n).delete(), spammer.dict(n).clear()]);
        cycles++;
      }
    })();
    t = Date.now();
    const got = await app.map(task, items);
    const beside = Date.now() - t;
    // The app's own state works through it.
    const counter = app.value<number>('app-counter', { initial: 0 });
    for (let i = 0; i < 50; i++) await counter.add(1);
    stop = true;
    await spam;
    expect(got).toEqual(expected);
    expect(await counter.get()).toBe(50);
    expect(cycles).toBeGreaterThan(20);
    // State ops share the primary with scheduling; a generous margin for two noisy cores.
    expect(beside).toBeLessThan(alone * 4 + 3_000);
    // Nothing of the spammer's is left: no tombstones, no empty records.
    const left = await app.list({ limit: 200 });
    expect(left.entries.filter((e) => e.name.startsWith('spam'))).toEqual([]);
    expect(await d.status()).toMatchObject({ queues: 0, dicts: 0 });
  });
});
