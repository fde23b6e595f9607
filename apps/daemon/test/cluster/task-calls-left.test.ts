/**
 * Cluster mode: lock acquires and queue gets a task left waiting, unawaited,
 * end with the task, as on one machine (task-scope.test.ts). Every task of a
 * worker is one owner with one quota of locks held or awaited and one of
 * blocked gets (10,000 each); in cluster mode a call's first try is a Redis
 * round trip, so a task's last unawaited calls are still in flight when it
 * ends and its cancel arrives: they must fail then, not park after it and fill
 * the quota the worker's next task (another app's) needs.
 */
import { describe, expect, it } from 'vitest';
import { startCluster } from '../support/cluster.js';
import { until } from '../support/wait.js';
import { freeLockOutcomes } from '../support/free-locks.js';

describe('cluster mode: calls left waiting by a task', () => {
  it("end with it, those in flight to Redis at its end too: other apps' tasks on that worker still get locks", async () => {
    await using c = await startCluster(1, { workers: 1 });
    const d = c.daemons[0]!;
    await c.untilMembers(1);
    const careless = await d.connect();
    const honest = await d.connect();
    // 300 locks held for good. An acquire of a lock with one parked on it parks at once; the first of
    // each tries Redis. So the task's last 250 acquires, each of a lock not asked for before, are the
    // ones still in flight to Redis when the task ends.
    const hoards = Array.from({ length: 300 }, (_, i) => careless.lock(`L-hoard-${i}`));
    const grants = await Promise.all(hoards.map((h) => h.acquire()));
    expect(
      await careless.map(
        (prefix: string, ctx) => {
          const left = (n: string): void => void (ctx.lock(n).acquire() as Promise<unknown>).catch(() => {});
          for (let i = 0; i < 9_750; i++) left(`${prefix}${i % 50}`);
          for (let i = 50; i < 300; i++) left(`${prefix}${i}`);
          return 'left';
        },
        ['L-hoard-'],
      ),
    ).toEqual(['left']);
    // Before any other task ends (whose end would cancel what is left): none parked after the cancel.
    await until(async () => (await d.status()).lockWaiters === 0, 10_000, "the ended task's acquires cancelled");
    // Parked after the cancel, they would fill the quota for good; so did the quota's own count, which
    // went down only where entries also counted in the state's memory (one machine), not in cluster mode.
    const outcomes = await freeLockOutcomes(honest, 8);
    expect(outcomes).toEqual(Array(8).fill('ok'));
    const next = honest.submit(async (n: string, ctx) => ctx.lock(n).withLock((t) => t), 'L-hoard-7');
    await hoards[7]!.release();
    expect(await next).toBeGreaterThan(grants[7]!.token);
    await careless.close();
    await honest.close();
  }, 60_000);

  it("queue gets end with it, those in flight to Redis at its end too: none parks after, other apps' tasks still block on gets", async () => {
    await using c = await startCluster(1, { workers: 1 });
    const d = c.daemons[0]!;
    await c.untilMembers(1);
    const careless = await d.connect();
    const honest = await d.connect();
    expect(
      await careless.map(
        (prefix: string, ctx) => {
          const left = (n: string): void => void (ctx.queue(n).get() as Promise<unknown>).catch(() => {});
          // A get behind one parked on its queue parks at once; the first of each queue tries Redis.
          for (let i = 0; i < 9_750; i++) left(`${prefix}${i % 50}`);
          for (let i = 50; i < 300; i++) left(`${prefix}${i}`);
          return 'left';
        },
        ['q-left-'],
      ),
    ).toEqual(['left']);
    // Before any other task ends (whose end would cancel what is left): none parked after the cancel.
    await until(async () => (await d.status()).blockedGets === 0, 10_000, "the ended task's gets cancelled");
    const outcomes = await honest.map(
      async (i: number, ctx) => {
        try {
          await ctx.queue(`q-honest-${i}`).get({ timeoutMs: 300 });
          return 'item';
        } catch (err) {
          return (err as { code?: string }).code;
        }
      },
      Array.from({ length: 4 }, (_, i) => i),
      { chunkSize: 1 },
    );
    expect(outcomes).toEqual(Array(4).fill('E_TIMEOUT'));
    // An item put where the careless task waited stays for whoever asks next.
    await honest.queue<string>('q-left-299').put('kept');
    expect(await honest.queue<string>('q-left-299').get({ timeoutMs: 5000 })).toBe('kept');
    await careless.close();
    await honest.close();
  }, 60_000);
});
