/**
 * Cluster mode: lock and queue calls in flight to Redis when their owner goes,
 * and a release Redis did not take. A call's first try is a round trip to
 * Redis; Redis stalled here (its own redis-server, SIGSTOPped for a moment)
 * holds it in flight while the connection that made it closes. Found by
 * reading: an acquire or a get whose first try came back empty after its owner
 * went parked for nobody (the owner's going was not seen), so a lock released
 * later was granted to no one and stayed held in Redis while the daemon lived;
 * a release that failed (Redis unreachable a moment) left the lock held, the
 * caller having forgotten its grant; and an acquire Redis ran whose answer was
 * lost (a proxy drops Redis's replies, then the link is remade) left the lock
 * held for an asker that had an error; a value subscribe whose read of the
 * value failed kept its subscription, pushed to a caller told it had none.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { Redis } from 'ioredis';
import { startCluster, type TestCluster } from '../support/cluster.js';
import type { TestDaemon } from '../support/daemon.js';
import { startRedis, stopAllRedis, type OwnRedis } from '../support/redis.js';
import { startProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

afterAll(stopAllRedis);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `during` with Redis stopped, then lets it go on after `ms` in all. */
async function stalled(redis: OwnRedis, ms: number, during: () => Promise<void>): Promise<void> {
  redis.child.kill('SIGSTOP');
  const start = Date.now();
  try {
    await during();
    await sleep(Math.max(0, ms - (Date.now() - start)));
  } finally {
    redis.child.kill('SIGCONT');
  }
}

/** What an acquire of `name` with `timeoutMs` got: 'ok' (released again) or its code. */
async function acquireOutcome(c: Client, name: string, timeoutMs: number): Promise<string> {
  try {
    const l = c.lock(name);
    await l.acquire({ timeoutMs });
    await l.release();
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** A one-daemon, one-worker cluster on `redisUrl`, its member seen. */
async function oneDaemon(redisUrl: string): Promise<TestCluster> {
  const c = await startCluster(1, { workers: 1, redisUrl });
  await c.untilMembers(1);
  return c;
}

/** Resolves once `client`'s calls are answered again (the daemon's Redis connections made again). */
function answering(client: Client): Promise<void> {
  return until(
    () =>
      client
        .queue('probe')
        .size()
        .then(
          () => true,
          () => false,
        ),
    10_000,
    'Redis answering the daemon again',
  );
}

/** Starts `call` for a connection of `d` while Redis is stopped, then closes that connection before Redis goes on. */
async function closedDuring(d: TestDaemon, redis: OwnRedis, call: (c: Client) => Promise<unknown>): Promise<void> {
  const leaving = await d.connect();
  await stalled(redis, 400, async () => {
    // Its first try is sent, then held in Redis; the connection closes meanwhile.
    void call(leaving).catch(() => {});
    await sleep(150);
    await leaving.close();
  });
}

describe('cluster mode: calls across a stall of Redis', () => {
  it('an acquire in flight when its connection closes does not park for it: the lock, released, goes to the next asker', async () => {
    const redis = await startRedis();
    await using c = await oneDaemon(redis.url);
    const d = c.daemons[0]!;
    const holder = await d.connect();
    const next = await d.connect();
    const held = holder.lock('L-gone');
    await held.acquire();
    await closedDuring(d, redis, (leaving) => leaving.lock('L-gone').acquire());
    await until(async () => (await d.status()).lockWaiters === 0, 5_000, 'no acquire parked for the closed connection');
    await held.release();
    expect(await acquireOutcome(next, 'L-gone', 5_000)).toBe('ok');
    await holder.close();
    await next.close();
  }, 60_000);

  it('a get in flight when its connection closes does not park for it', async () => {
    const redis = await startRedis();
    await using c = await oneDaemon(redis.url);
    const d = c.daemons[0]!;
    await closedDuring(d, redis, (leaving) => leaving.queue('q-gone').get());
    await until(async () => (await d.status()).blockedGets === 0, 5_000, 'no get parked for the closed connection');
    const other = await d.connect();
    await other.queue<string>('q-gone').put('item');
    expect(await other.queue<string>('q-gone').get({ timeoutMs: 5_000 })).toBe('item');
    await other.close();
  }, 60_000);

  it('a release Redis did not take is retried by the daemon: the lock is free once Redis answers', async () => {
    const redis = await startRedis();
    await using c = await oneDaemon(redis.url);
    const d = c.daemons[0]!;
    const holder = await d.connect();
    const next = await d.connect();
    const held = holder.lock('L-release');
    await held.acquire();
    const admin = new Redis(redis.url);
    try {
      // The release held in Redis (writes paused), then the daemon's connections cut under it: it fails,
      // and the daemon connects again at once, well within its lease.
      await admin.call('CLIENT', 'PAUSE', '2000', 'WRITE');
      const released = held.release().then(
        () => 'ok',
        (err: { code?: string }) => err.code,
      );
      await sleep(200);
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal');
      await admin.call('CLIENT', 'UNPAUSE');
      expect(await released).toBe('E_UNAVAILABLE');
    } finally {
      await admin.call('CLIENT', 'UNPAUSE').catch(() => {});
      admin.disconnect();
    }
    await answering(next);
    // Not held by the holder any more, nor by anyone: the next asker gets it.
    expect(await acquireOutcome(next, 'L-release', 5_000)).toBe('ok');
    await holder.close();
    await next.close();
  }, 60_000);
  it('an acquire whose answer was lost does not leave the lock held by nobody: the next asker gets it', async () => {
    const redis = await startRedis();
    const proxy = await startProxy(redis.port);
    try {
      await using c = await oneDaemon(proxy.url);
      const d = c.daemons[0]!;
      const asker = await d.connect();
      const next = await d.connect();
      // The scripts loaded in Redis (a first call's EVALSHA answered NOSCRIPT, lost too, would not run).
      expect(await acquireOutcome(asker, 'L-warm', 5_000)).toBe('ok');
      // The acquire runs in Redis (the lock was free: it is now held for the asker), its answer is lost, and
      // the daemon's connections are remade under it: the asker has an error, never a grant.
      proxy.set('lose-replies');
      const asked = asker
        .lock('L-lost')
        .acquire({ timeoutMs: 5_000 })
        .then(
          () => 'granted',
          (err: { code?: string }) => err.code,
        );
      await sleep(300);
      proxy.set('reset');
      proxy.set('pass');
      expect(await asked).toBe('E_UNAVAILABLE');
      await answering(next);
      expect(await acquireOutcome(next, 'L-lost', 5_000)).toBe('ok');
      expect(await acquireOutcome(asker, 'L-lost', 5_000)).toBe('ok');
      await asker.close();
      await next.close();
    } finally {
      await proxy.close();
    }
  }, 60_000);
  it('a value subscribe whose read was lost keeps no subscription: the caller, told it failed, gets no pushes', async () => {
    const redis = await startRedis();
    const proxy = await startProxy(redis.port);
    try {
      await using c = await oneDaemon(proxy.url);
      const d = c.daemons[0]!;
      const writer = await d.connect();
      const v = writer.value<number>('v-sub', { initial: 0 });
      await v.get();
      const raw = await d.raw({ hello: true });
      // The subscribe's read of the value runs in Redis, its answer is lost, and the daemon's connections are remade.
      proxy.set('lose-replies');
      raw.send({ type: 'state', rid: 1, op: 'value.subscribe', name: 'v-sub' });
      await sleep(300);
      proxy.set('reset');
      proxy.set('pass');
      const answer = await raw.next((m) => m.rid === 1);
      expect(answer).toMatchObject({ ok: false, error: { code: 'E_UNAVAILABLE' } });
      await answering(writer);
      // A subscriber that did subscribe hears the next change; the failed one hears nothing of it.
      const heard: number[] = [];
      const stop = writer.value<number>('v-sub').subscribe((n) => heard.push(n));
      await until(() => heard.length > 0, 5_000, 'the subscriber started');
      await v.set(7);
      await until(() => heard.includes(7), 5_000, 'the change pushed');
      await sleep(100);
      expect(raw.messages.filter((m) => m.type === 'push')).toEqual([]);
      stop();
      raw.ws.close();
      await writer.close();
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
