/**
 * Lock across real processes: a non-atomic get-then-set made exact by the
 * lock, fencing tokens that only grow, locks freed when their holder's
 * connection drops or its worker dies, timeouts and coded errors.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';
import { alive } from './support/processes.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';
import { startApp, startTogether } from './apps/spawn-app.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

describe('Lock across processes', () => {
  it('four processes doing get-then-set under one lock give the exact total, with strictly increasing fencing tokens', async () => {
    const name = 'rmw';
    const n = 300;
    await client.value(name).set(0);
    const apps = [0, 1, 2, 3].map(() => startApp(d, 'adder.mjs', { name, n, mode: 'locked', lock: 'rmw-lock' }));
    try {
      await startTogether(apps);
      const outs = await Promise.all(apps.map((a) => a.done()));
      expect(await client.value(name).get()).toBe(4 * n);
      const all: number[] = [];
      for (const o of outs) {
        const tokens = o.tokens as number[];
        expect(tokens.length).toBe(n);
        for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
        all.push(...tokens);
      }
      expect(new Set(all).size).toBe(4 * n);
    } finally {
      await Promise.all(apps.map((a) => a.kill()));
    }
  });

  it('the same get-then-set without the lock loses updates (the lock is what makes it exact)', async () => {
    // Not an assertion on timing: two interleaved read-modify-writes from one client, deterministically.
    const v = client.value<number>('racy', { initial: 0 });
    const [a, b] = await Promise.all([v.get(), v.get()]);
    await Promise.all([v.set(a + 1), v.set(b + 1)]);
    expect(await v.get()).toBe(1);
  });

  it('tasks and an app process share one lock: exact total, unique tokens', async () => {
    const name = 'rmw-mixed';
    await client.value(name).set(0);
    await using app = startApp(d, 'adder.mjs', { name, n: 200, mode: 'locked', lock: 'mixed-lock' });
    await startTogether([app]);
    const fromTasks = await client.map(
      async (n: string, ctx) => {
        const lock = ctx.lock('mixed-lock');
        return lock.withLock(async (token) => {
          const v = ctx.value<number>(n);
          const x = await v.get();
          await v.set(x + 1);
          return token;
        });
      },
      Array.from({ length: 200 }, () => name),
    );
    const fromApp = (await app.done()).tokens as number[];
    expect(await client.value(name).get()).toBe(400);
    expect(new Set([...fromTasks, ...fromApp]).size).toBe(400);
  });

  it('a lock is freed when its holder process is killed; the waiter gets a larger token', async () => {
    await using holder = startApp(d, 'lock-holder.mjs', { name: 'held' });
    const { token: held } = await holder.line((l) => l.held === true);
    const lock = client.lock('held');
    expect(await codeOf(lock.acquire({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
    expect(await codeOf(lock.acquire({ timeoutMs: 30 }))).toBe('E_TIMEOUT');
    const waiting = lock.acquire();
    await holder.kill();
    const { token } = await waiting;
    expect(token).toBeGreaterThan(held as number);
    expect(lock.token).toBe(token);
    await lock.release();
    expect(lock.token).toBeUndefined();
  });

  it('a lock held by a task is freed when its worker dies', async () => {
    // The task keeps running while it holds the lock (one that ends gives its locks back: task-scope.test.ts).
    const run = client
      .map(
        async (n: string, ctx) => {
          const { token } = await ctx.lock(n).acquire();
          await ctx.value(`${n}-grant`).set({ token, pid: ctx.pid });
          await new Promise(() => {});
        },
        ['task-held'],
        { retries: 0 },
      )
      .then(
        () => 'resolved',
        (err: { code?: string }) => err.code,
      );
    await until(async () => (await codeOf(client.value(`task-held-grant`).get())) === undefined, 10_000, 'the task to hold the lock');
    const { token: held, pid } = await client.value<{ token: number; pid: number }>('task-held-grant').get();
    const lock = client.lock('task-held');
    expect(await codeOf(lock.acquire({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
    const waiting = lock.acquire();
    process.kill(pid, 'SIGKILL');
    const { token } = await waiting;
    expect(token).toBeGreaterThan(held);
    expect(await run).toBe('E_WORKER_CRASHED');
    await lock.release();
    await until(() => !alive(pid), 10_000, 'the worker to die');
    await until(async () => (await d.workerPids()).length === 2, 10_000, 'a replacement worker');
  });

  it('a task blocked on a lock gets it when the holding app releases', async () => {
    const lock = client.lock('handoff');
    const { token: first } = await lock.acquire();
    const run = client.submit(async (n: string, ctx) => ctx.lock(n).withLock((t) => t), 'handoff');
    // Whether or not the task's acquire has reached the daemon yet, it can only be granted after this release.
    await lock.release();
    expect(await run).toBeGreaterThan(first);
  });

  it("waiters are granted in arrival order, each token larger than the last; a waiter's grant passes on when it disconnects", async () => {
    const other = await d.connect();
    const third = await d.connect();
    const a = client.lock('order');
    const b = other.lock('order');
    const c = third.lock('order');
    const { token: t0 } = await a.acquire();
    const order: string[] = [];
    const pb = b.acquire().then((g) => (order.push('b'), g.token));
    expect(await codeOf(other.lock('order').acquire({ timeoutMs: 0 }))).toBe('E_TIMEOUT'); // a round trip: b is queued
    const pc = c.acquire().then((g) => (order.push('c'), g.token));
    expect(await codeOf(third.lock('order').acquire({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
    await a.release();
    const tb = await pb;
    expect(order).toEqual(['b']);
    expect(tb).toBeGreaterThan(t0);
    await other.close(); // b's holder goes away: the lock passes to c
    const tc = await pc;
    expect(order).toEqual(['b', 'c']);
    expect(tc).toBeGreaterThan(tb);
    await c.release();
    await third.close();
  });
});

describe('Lock errors carry codes', () => {
  it('E_LOCK_NOT_HELD for a release without a grant, a double release, or a release by a lock that passed on', async () => {
    const lock = client.lock('nh');
    expect(await codeOf(lock.release())).toBe('E_LOCK_NOT_HELD');
    await lock.acquire();
    await lock.release();
    expect(await codeOf(lock.release())).toBe('E_LOCK_NOT_HELD');
    // Released inside withLock: withLock's own release reaches the daemon, which says it is not held.
    expect(await codeOf(lock.withLock(() => lock.release()))).toBe('E_LOCK_NOT_HELD');
    // The lock is free again.
    expect((await lock.acquire({ timeoutMs: 0 })).token).toBeGreaterThan(0);
    await lock.release();
  });

  it('a grant is async-disposable: `await using` releases it at the end of the block, also when the block throws, in an app and a task', async () => {
    const lock = client.lock('using');
    const other = client.lock('using');
    {
      await using grant = await lock.acquire();
      expect(grant.token).toBeGreaterThan(0);
      expect(await codeOf(other.acquire({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
    }
    expect(lock.token).toBeUndefined();
    await other.acquire({ timeoutMs: 0 });
    await other.release();
    const thrown = new Error('inside');
    const run = async (): Promise<void> => {
      await using _grant = await lock.acquire();
      throw thrown;
    };
    await expect(run()).rejects.toBe(thrown);
    await other.acquire({ timeoutMs: 0 });
    await other.release();
    // Released by hand first: disposing then does nothing (no E_LOCK_NOT_HELD).
    {
      await using _grant = await lock.acquire();
      await lock.release();
    }
    const [fromTask] = await client.map(
      // No `await using` in a task's source: the test's transform would turn it into calls of
      // module-level helpers, which a self-contained task does not have. What it calls, by hand:
      async (n: string, ctx) => {
        const grant = await ctx.lock(n).acquire();
        await grant[Symbol.asyncDispose]();
        return (await ctx.lock(n).acquire({ timeoutMs: 0 })).token;
      },
      ['using'],
    );
    expect(fromTask).toBeGreaterThan(0);
  });

  it("delete(), as on every handle, releases the grant this handle holds, never another holder's (app and task)", async () => {
    const lock = client.lock('del');
    const other = client.lock('del');
    expect(await lock.delete()).toBe(false);
    await lock.acquire();
    // Another handle's delete does not take the lock from its holder.
    expect(await other.delete()).toBe(false);
    expect(await codeOf(other.acquire({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
    expect(await lock.delete()).toBe(true);
    expect(await lock.delete()).toBe(false);
    expect((await other.acquire({ timeoutMs: 0 })).token).toBeGreaterThan(0);
    expect(await other.delete()).toBe(true);
    const [fromTask] = await client.map(
      async (n: string, ctx) => {
        const l = ctx.lock(n);
        await l.acquire();
        const deleted = await l.delete();
        // Free again: the task takes it once more at once.
        const again = (await ctx.lock(n).acquire({ timeoutMs: 0 })).token > 0;
        return [deleted, again];
      },
      ['del'],
    );
    expect(fromTask).toEqual([true, true]);
  });

  it('E_LOCK_NOT_HELD from a task releasing what it does not hold', async () => {
    const [code] = await client.map(
      async (n: string, ctx) => {
        try {
          await ctx.lock(n).release();
          return 'no error';
        } catch (err) {
          return (err as { code: string }).code;
        }
      },
      ['nh-task'],
    );
    expect(code).toBe('E_LOCK_NOT_HELD');
  });

  it('withLock releases when fn throws, and rethrows the error', async () => {
    const lock = client.lock('throws');
    await expect(
      lock.withLock(() => {
        throw new RangeError('boom');
      }),
    ).rejects.toThrow(RangeError);
    expect((await lock.acquire({ timeoutMs: 0 })).token).toBeGreaterThan(0);
    await lock.release();
  });

  it('E_BAD_NAME for a bad lock name, E_BAD_ARGUMENT for a bad timeout', async () => {
    expect(await codeOf(client.lock('').acquire())).toBe('E_BAD_NAME');
    expect(await codeOf(client.lock('l'.repeat(100_000)).withLock(() => 1))).toBe('E_BAD_NAME');
    expect(await codeOf(client.lock('ok').acquire({ timeoutMs: Number.NaN }))).toBe('E_BAD_ARGUMENT');
  });
});
