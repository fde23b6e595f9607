/**
 * One app filling a cluster's Redis with queue items (a 32 MB Redis, 32 KB puts from eight loops)
 * must be refused with E_LIMIT before Redis is out of memory, as a single daemon refuses growth past
 * `--max-state-mb` (docs/sharing.md): a neighbour's adds and same-size sets on the other daemon go
 * on, Redis never answers OOM, and taking items out makes room again (docs/cluster.md, "Shared
 * state on Redis"). Serial: it starts its own redis-server and fills it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connect } from '@corepool/client';
import { startCluster } from '../support/cluster.js';
import { startRedis, stopAllRedis } from '../support/redis.js';
import { figure } from '../support/figures.js';
import { until } from '../support/wait.js';

afterAll(async () => {
  await stopAllRedis();
});

const code = (e: unknown): string => (e as { code?: string }).code ?? String(e);

describe('a Redis filled by one app', () => {
  it('the flood is refused with E_LIMIT before Redis is full; the neighbour’s adds and sets on the other daemon go on', async () => {
    const redis = await startRedis(['--save', '', '--appendonly', 'no', '--maxmemory', '32mb', '--maxmemory-policy', 'noeviction']);
    await using c = await startCluster(2, { redisUrl: redis.url, workers: 1 });
    await c.untilMembers(2);
    const admin = new Redis(redis.url);
    const hostile = await connect(c.daemons[0]!.url, { token: c.token });
    const neighbour = await connect(c.daemons[1]!.url, { token: c.token });
    try {
      const counter = neighbour.value<number>('neighbour', { initial: 0 });
      const label = neighbour.value<string>('label');
      await label.set('a'.repeat(1_000));
      await counter.get();
      const neighbourErrors: string[] = [];
      let adds = 0;
      let stop = false;
      const beside = (async () => {
        while (!stop) {
          await counter.add(1).then(
            () => adds++,
            (e: unknown) => neighbourErrors.push(code(e)),
          );
        }
      })();
      const q = hostile.queue<string>('flood');
      const item = 'x'.repeat(32 * 1024);
      const refusals: string[] = [];
      let put = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          // Past the first refusal each loop tries 20 more: refused each time, not let through now and then.
          for (let tries = 0; tries < 20 && put < 5_000;) {
            await q.put(item).then(
              () => put++,
              (e: unknown) => {
                refusals.push(code(e));
                tries++;
              },
            );
          }
        }),
      );
      // The neighbour's value rewritten at its size: a write that does not grow passes a full state.
      await label.set('b'.repeat(1_000)).catch((e: unknown) => neighbourErrors.push(code(e)));
      stop = true;
      await beside;
      const errors = await admin.info('errorstats');
      const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
      figure('stateRoom', {
        put,
        refusals: [...new Set(refusals)],
        usedMb: used / 2 ** 20,
        neighbourAdds: adds,
        neighbourErrors: neighbourErrors.length,
      });
      expect(put).toBeGreaterThan(100); // it was let in until near the bound
      expect(new Set(refusals)).toEqual(new Set(['E_LIMIT']));
      expect(neighbourErrors).toEqual([]);
      expect(await counter.get()).toBe(adds);
      expect(errors).not.toContain('errorstat_OOM');
      for (const d of c.daemons) expect(d.events('cluster-lease-lost')).toEqual([]);
      // Taking items out makes room again (once their gets are acknowledged and Redis read again).
      for (let i = 0; i < 200; i++) await q.get();
      await until(
        async () =>
          await q.put(item).then(
            () => true,
            () => false,
          ),
        5_000,
        'room for a put again',
      );
    } finally {
      admin.disconnect();
      await hostile.close();
      await neighbour.close();
    }
  });
});
