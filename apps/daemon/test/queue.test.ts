/**
 * Queue across real processes: producers and consumers in different
 * processes, each item consumed exactly once and in put order per producer;
 * blocking gets with timeouts; a blocked getter that dies takes nothing.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';
import { startApp, startTogether } from './apps/spawn-app.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

interface Item {
  p: number;
  i: number;
}

describe('Queue across processes', () => {
  it('two producers and three consumers in separate processes: every item consumed once, FIFO per producer', async () => {
    const name = 'jobs';
    const count = 600;
    await using p0 = startApp(d, 'queue-app.mjs', { name, role: 'produce', p: 0, count });
    await using p1 = startApp(d, 'queue-app.mjs', { name, role: 'produce', p: 1, count });
    const consumers = [0, 1, 2].map(() => startApp(d, 'queue-app.mjs', { name, role: 'consume' }));
    try {
      await startTogether([p0, p1, ...consumers]);
      await Promise.all([p0.done(), p1.done()]);
      // Producers are done: one stop marker per consumer (each stops at its first).
      for (let i = 0; i < consumers.length; i++) await client.queue(name).put(null);
      const outs = await Promise.all(consumers.map((c) => c.done()));
      const seen = new Set<string>();
      for (const o of outs) {
        const got = o.got as Item[];
        const last = [-1, -1];
        for (const it of got) {
          const key = `${it.p}:${it.i}`;
          if (seen.has(key)) expect.fail(`item ${key} consumed twice`);
          seen.add(key);
          // One consumer's sequential gets see one producer's items in put order.
          expect(it.i).toBeGreaterThan(last[it.p]!);
          last[it.p] = it.i;
        }
      }
      expect(seen.size).toBe(2 * count);
      expect(await client.queue(name).size()).toBe(0);
    } finally {
      await Promise.all(consumers.map((c) => c.kill()));
    }
  });

  it('tasks put and get through ctx.queue, sharing one queue with an app process', async () => {
    const name = 'task-queue';
    await using producer = startApp(d, 'queue-app.mjs', { name, role: 'produce', p: 7, count: 100 });
    await startTogether([producer]);
    // Tasks take 100 items (blocking until the app has put them) and put back their doubles.
    const taken = await client.map(
      async (n: string, ctx) => {
        const q = ctx.queue<{ p: number; i: number }>(n);
        const it = await q.get({ timeoutMs: 30_000 });
        await ctx.queue(`${n}-out`).put(it.i * 2);
        return it.i;
      },
      Array.from({ length: 100 }, () => name),
    );
    await producer.done();
    expect([...taken].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const doubles: number[] = [];
    for (let i = 0; i < 100; i++) doubles.push(await client.queue<number>(`${name}-out`).get({ timeoutMs: 0 }));
    expect(doubles.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    expect(await codeOf(client.queue(`${name}-out`).get({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
  });

  it('a blocking get waits for a put from another process; timeoutMs gives E_TIMEOUT', async () => {
    const q = client.queue<string>('blocking');
    expect(await codeOf(q.get({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
    expect(await codeOf(q.get({ timeoutMs: 50 }))).toBe('E_TIMEOUT');
    const waiting = q.get();
    const other = await d.connect();
    await other.queue('blocking').put('hello');
    expect(await waiting).toBe('hello');
    expect(await q.size()).toBe(0);
    // A getter that timed out takes nothing later.
    expect(await codeOf(q.get({ timeoutMs: 20 }))).toBe('E_TIMEOUT');
    await other.queue('blocking').put('kept');
    expect(await q.get({ timeoutMs: 0 })).toBe('kept');
    await other.close();
  });

  it('blocked getters are served in arrival order', async () => {
    const q = client.queue<number>('fair');
    const other = await d.connect();
    const first = q.get();
    await q.size(); // a round trip: the first get is registered before the second
    const second = other.queue<number>('fair').get();
    await other.queue('fair').size();
    await other.queue('fair').put(1);
    await other.queue('fair').put(2);
    expect(await first).toBe(1);
    expect(await second).toBe(2);
    await other.close();
  });

  it('a getter whose process is killed while blocked takes no item', async () => {
    const name = 'dead-getter';
    // Counted by blocked gets, not by clients: a client of an earlier test may still be leaving.
    const blocked = async (): Promise<number> => (await client.status()).blockedGets ?? 0;
    const before = await blocked();
    await using blocker = startApp(d, 'queue-app.mjs', { name, role: 'block' });
    await blocker.line((l) => l.blocking === true);
    await until(async () => (await blocked()) === before + 1, 10_000, 'the blocker blocked in get()');
    await blocker.kill();
    await until(async () => (await blocked()) === before, 10_000, "the daemon to drop the blocker's get");
    await client.queue(name).put('survivor');
    expect(await client.queue(name).get({ timeoutMs: 0 })).toBe('survivor');
  });

  it("a task blocked in get whose batch is cancelled takes no item: what is put during the abort's grace reaches the next getter", async () => {
    for (const waitMs of [0, 300]) {
      const name = `cancelled-getter-${waitMs}`;
      const ac = new AbortController();
      const before = (await client.status()).blockedGets ?? 0;
      const batch = client.map(async (q: string, ctx) => ctx.queue<string>(q).get(), [name], { signal: ac.signal });
      await until(async () => ((await client.status()).blockedGets ?? 0) === before + 1, 10_000, "the task's get to block");
      ac.abort();
      expect(await codeOf(batch)).toBe('E_CANCELLED');
      await new Promise((r) => setTimeout(r, waitMs));
      // The worker still runs the cancelled task (it never reads ctx.signal) for up to a grace: before, its get took this.
      await client.queue(name).put('mine');
      expect(await client.queue<string>(name).get({ timeoutMs: 3000 })).toBe('mine');
    }
    // The pool goes on: the worker ended that task, or was replaced.
    expect(await client.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
  });

  it('a client whose gets time out by thousands at once pays for them in turns, then is read again, the daemon otherwise idle', async () => {
    const other = await d.connect();
    const q = other.queue<number>('expiring-gets');
    const codes = await Promise.all(Array.from({ length: 3000 }, () => codeOf(q.get({ timeoutMs: 5 }))));
    expect(new Set(codes)).toEqual(new Set(['E_TIMEOUT']));
    // Its timeouts are charged to its share of the turns: it carries a debt, and with nothing else
    // happening, the turns that pay it must still come (its connection was never read again).
    expect(await other.value<number>('after-expiries', { initial: 0 }).add(1)).toBe(1);
    await q.put(7);
    expect(await q.get({ timeoutMs: 1000 })).toBe(7);
    await other.close();
  }, 20_000);

  it('E_BAD_NAME, E_NOT_CLONEABLE and E_TOO_LARGE are coded, and a bad timeout (queue.get, lock.acquire) is E_BAD_ARGUMENT', async () => {
    expect(await codeOf(client.queue('').put(1))).toBe('E_BAD_NAME');
    expect(await codeOf(client.queue('').get())).toBe('E_BAD_NAME');
    expect(await codeOf(client.queue('q'.repeat(100_000)).size())).toBe('E_BAD_NAME');
    expect(await codeOf(client.queue('nc').put(() => 1))).toBe('E_NOT_CLONEABLE');
    expect(await codeOf(client.queue('nc').put({ s: Symbol('x') }))).toBe('E_NOT_CLONEABLE');
    expect(await client.queue('nc').size()).toBe(0);
    expect(await codeOf(client.queue('nc').get({ timeoutMs: -1 }))).toBe('E_BAD_ARGUMENT');
    // The same range as map's timeoutMs (whole ms a timer can run), checked in the SDK, for queue.get and lock.acquire.
    for (const timeoutMs of [1e300, 2 ** 31, 1.5, 1e-9, NaN]) {
      expect(await codeOf(client.queue('nc').get({ timeoutMs }))).toBe('E_BAD_ARGUMENT');
      expect(await codeOf(client.lock('nc').acquire({ timeoutMs }))).toBe('E_BAD_ARGUMENT');
    }
    expect(await codeOf(client.queue('nc').get({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
    await client.queue('nc').put(1);
    expect(await client.queue('nc').get({ timeoutMs: 2 ** 31 - 1 })).toBe(1);
    const nc = client.lock('nc');
    await nc.acquire({ timeoutMs: 0 });
    await nc.release();
    // Too large for one frame: refused before sending, the connection stays up.
    expect(await codeOf(client.queue('nc').put(new Uint8Array(9 * 1024 * 1024)))).toBe('E_TOO_LARGE');
    expect(await client.queue('nc').size()).toBe(0);
  });

  it('items of every structured-clone type come out as they went in', async () => {
    const items = [
      null,
      1.5,
      'str',
      2n ** 70n,
      new Date(7),
      new Map([[1, 'a']]),
      new Set([1, 2]),
      new Uint8Array([1, 2, 3]),
      { deep: [new Set([new Date(1)])] },
    ];
    const q = client.queue('typed');
    for (const it of items) await q.put(it);
    const [fromTask] = await client.map(
      async (n: string, ctx) => {
        const out = [];
        for (let i = 0; i < 9; i++) out.push(await ctx.queue(n).get({ timeoutMs: 0 }));
        return out;
      },
      ['typed'],
    );
    expect(fromTask).toEqual(items);
  });
});
