/**
 * Gets parked on many distinct empty queues (within a connection's 10,000
 * blocked gets): the slow poll asks Redis which of those queues hold an item,
 * a page of names per script (poll-sweep.ts), instead of trying a get on each
 * one every second. Before, two connections with 10,000 such gets each cost
 * Redis and the daemon's thread 20,000 scripts a second: the daemon lost its
 * lease and every app on it got E_UNAVAILABLE. An item the change feed did not
 * announce (pushed into Redis behind the daemons' backs) is still found by the
 * poll, and a neighbour's adds are answered throughout. A Redis of the test's
 * own, so its command counts are this test's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { encodeData } from '@corepool/protocol';
import { startCluster } from '../support/cluster.js';
import { addsBeside } from '../support/neighbour.js';
import { figure } from '../support/figures.js';
import { startRedis, stopAllRedis } from '../support/redis.js';
import { until } from '../support/wait.js';

afterAll(() => stopAllRedis());

const PER_CONNECTION = 10_000;

/** EVALSHA calls Redis has run since its stats were last reset (a state script, or a poll's page, each). */
async function scriptCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

describe('gets parked on many distinct queues', () => {
  it('cost the poll a script per page of names, not per name: the daemon keeps its lease, a neighbour is answered, a silent item is found', async () => {
    const redis = await startRedis();
    await using c = await startCluster(2, { workers: 1, redisUrl: redis.url });
    const [d, other] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const id = (await d.status()).cluster?.id;
    const hostile = [await d.connect(), await d.connect()];
    const gets = hostile.flatMap((h, k) =>
      Array.from({ length: PER_CONNECTION }, (_, i) =>
        h
          .queue<string>(`parked-${k}-${i}`)
          .get({ timeoutMs: 60_000 })
          .then(
            (v) => v,
            (e: unknown) => (e as { code?: string }).code,
          ),
      ),
    );
    await until(async () => (await d.status()).blockedGets === gets.length, 60_000, 'every get parked');

    const admin = new Redis(redis.url);
    try {
      // Nothing else runs scripts now: what Redis runs is the polls'.
      await admin.config('RESETSTAT');
      await new Promise((r) => setTimeout(r, 3_000));
      const calls = await scriptCalls(admin);
      figure('parked-sweep.poll-scripts-in-3s', calls);
      // A script per name was 20,000 a poll; a page of 1,000 names per script is 20 a poll.
      expect(calls).toBeLessThan(500);

      const neighbour = await d.connect();
      const adds = addsBeside(neighbour.value<number>('neighbour', { initial: 0 }));
      await new Promise((r) => setTimeout(r, 3_000));
      const { adds: made, slowestAddMs } = await adds.stop();
      figure('parked-sweep.neighbour', { adds: made, slowestAddMs: Math.round(slowestAddMs) });
      expect(made).toBeGreaterThan(0);

      // An item no change announced (the feed wakes nobody for it): the poll finds it, and the get parked first takes it.
      await admin.rpush(`cp:{${c.name}}:q:parked-1-777`, Buffer.from(encodeData('silent')));
      expect(await gets[PER_CONNECTION + 777]).toBe('silent');
      // And one put as usual, from the other daemon, wakes its get through the feed.
      const putter = await other.connect();
      await putter.queue<string>('parked-0-5').put('announced');
      expect(await gets[5]).toBe('announced');
    } finally {
      admin.disconnect();
    }
    expect(d.events('cluster-lease-lost')).toEqual([]);
    expect((await d.status()).cluster?.id).toBe(id);
    for (const h of hostile) await h.close();
    expect((await Promise.all(gets)).filter((x) => x === 'E_CLOSED' || x === 'E_CANCELLED').length).toBe(gets.length - 2);
  }, 180_000);
});
