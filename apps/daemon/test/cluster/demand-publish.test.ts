/**
 * The `demand` script (lending-scripts.ts) with many apps entering at once: an
 * app entering demand starts in `share` at the least score of the apps with
 * demand (no credit banked while idle), and the script reads that least score
 * once per publication, not once per entering app. Read per app, a publication
 * of N apps entering beside N others cost N x N ZSCOREs in one script: one
 * client's 1,200 connections submitting and cancelling in a loop held Redis
 * ~1 s a publication, and the other daemons of the cluster lost their leases.
 * Against a redis-server of the test's own, whose command times are this test's.
 * And Demand (demand.ts), which remembers what it published: a withdrawal that
 * never reached Redis is sent again with the next publication.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Demand } from '../../src/cluster/demand.js';
import { LendingScripts } from '../../src/cluster/lending-scripts.js';
import { figure } from '../support/figures.js';
import { startRedis, stopAllRedis } from '../support/redis.js';

afterAll(() => stopAllRedis());

const PREFIX = 'cp:{demand}:';

/** Microseconds Redis spent in EVAL since the stats were reset. */
async function evalMicros(r: Redis): Promise<number> {
  const info = await r.info('commandstats');
  return Number(/cmdstat_eval:calls=\d+,usec=(\d+)/.exec(info)?.[1] ?? 0);
}

describe('the demand script', () => {
  it('lets 2,000 apps enter at once beside 2,000 others in one cheap step, each at the least score of the apps with demand', async () => {
    const redis = await startRedis();
    const r = new Redis(redis.url);
    try {
      const scripts = new LendingScripts(r, PREFIX);
      const n = 2_000;
      // Apps with demand already, on another daemon; the least of them has 1,000.
      for (let i = 0; i < n; i++) await r.zadd(scripts.shareKey, 1_000 + i, `old${i}`);
      await scripts.demand(
        'daemon-a',
        Array.from({ length: n }, (_, i): [string, number] => [`old${i}`, 3]),
      );
      // Entering: one with less than the least (raised to it), one with more (kept), the rest new.
      await r.zadd(scripts.shareKey, 5, 'new0');
      await r.zadd(scripts.shareKey, 9_000, 'new1');
      await r.config('RESETSTAT');
      await scripts.demand(
        'daemon-b',
        Array.from({ length: n }, (_, i): [string, number] => [`new${i}`, 2]),
      );
      const micros = await evalMicros(r);
      figure('demand-publish.enter-2000-beside-2000-ms', Math.round(micros / 1000));
      // Per entering app, 2,000 x 4,000 ZSCOREs: about 1.4 s of Redis on this machine's VM.
      expect(micros).toBeLessThan(300_000);
      expect(Number(await r.zscore(scripts.shareKey, 'new0'))).toBe(1_000);
      expect(Number(await r.zscore(scripts.shareKey, 'new1'))).toBe(9_000);
      expect(Number(await r.zscore(scripts.shareKey, 'new2'))).toBe(1_000);
      expect(Number(await r.zscore(scripts.shareKey, `new${n - 1}`))).toBe(1_000);
      expect(await r.hget(scripts.wantKey, 'new7')).toBe('daemon-b:2');
      expect(await r.hlen(scripts.wantKey)).toBe(2 * n);

      // Nobody with demand: the first app entering keeps its score, and the next ones start level with it.
      await r.del(scripts.wantKey, scripts.shareKey);
      await r.zadd(scripts.shareKey, 700, 'back');
      await scripts.demand('daemon-a', [
        ['back', 1],
        ['fresh', 1],
      ]);
      expect(Number(await r.zscore(scripts.shareKey, 'back'))).toBe(700);
      expect(Number(await r.zscore(scripts.shareKey, 'fresh'))).toBe(700);
      // And withdrawn apps leave `want`.
      await scripts.demand('daemon-a', [
        ['back', 0],
        ['fresh', 0],
      ]);
      expect(await r.hlen(scripts.wantKey)).toBe(0);
    } finally {
      r.disconnect();
    }
  }, 60_000);

  it('an app whose withdrawal failed (Redis unreachable) is withdrawn by the next publication', async () => {
    const redis = await startRedis();
    const r = new Redis(redis.url, { enableOfflineQueue: false, lazyConnect: true });
    r.on('error', () => {});
    try {
      await r.connect();
      const scripts = new LendingScripts(r, PREFIX);
      const demand = new Demand(scripts);
      await demand.publish('daemon-a', new Map([['app', 3]]));
      expect(await r.hget(scripts.wantKey, 'app')).toBe('daemon-a:3');
      // The withdrawal never reaches Redis.
      const ended = new Promise((resolve) => r.once('end', resolve));
      r.disconnect();
      await ended;
      await expect(demand.publish('daemon-a', new Map())).rejects.toBeDefined();
      await r.connect();
      expect(await r.hget(scripts.wantKey, 'app')).toBe('daemon-a:3');
      await demand.publish('daemon-a', new Map());
      expect(await r.hget(scripts.wantKey, 'app')).toBeNull();
    } finally {
      r.disconnect();
    }
  }, 60_000);
});
