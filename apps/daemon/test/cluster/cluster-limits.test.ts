/**
 * What crosses Redis in cluster mode stays within the per-chunk budget (the
 * cluster's frame limit, 1 MiB unless --max-payload says otherwise): an item,
 * result or value over it fails alone with E_TOO_LARGE, the rest of its batch
 * completes, and a Redis with little memory never refuses a dispatch or a
 * report (no OOM) while large-but-allowed chunks cross it. A module task that
 * cannot load on a lent worker's host fails with an error naming that host
 * and the rule (the module must exist at the same path on every host).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { connect, task } from '@corepool/client';
import { startCluster } from '../support/cluster.js';
import { startRedis, stopAllRedis } from '../support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-limits-'));
afterAll(async () => {
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

describe('cluster limits', () => {
  it('an item, result or value over the budget fails alone with E_TOO_LARGE; a small Redis never goes out of memory', async () => {
    const redis = await startRedis(['--save', '', '--appendonly', 'no', '--maxmemory', '48mb', '--maxmemory-policy', 'noeviction']);
    await using c = await startCluster(2, { redisUrl: redis.url, workers: 1 });
    await c.untilMembers(2);
    const client = await connect(c.daemons[0]!.url, { token: c.token });
    try {
      // Items of 700 KB, each its own chunk, sleeping so that the second daemon's worker is lent: they cross Redis.
      const big = 'x'.repeat(700 * 1024);
      const items = [...Array.from({ length: 24 }, (_, i) => `${i}:${big}`), 'y'.repeat(1200 * 1024), 'small'];
      const settled = await client.mapSettled(
        (s: string) => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
          return [s.length, process.ppid];
        },
        items,
        { chunkSize: 1 },
      );
      for (let i = 0; i < 24; i++) expect(settled[i]).toMatchObject({ status: 'fulfilled', value: [items[i]!.length, expect.any(Number)] });
      expect(settled[24]).toMatchObject({ status: 'rejected', reason: { code: 'E_TOO_LARGE' } });
      expect(settled[25]).toMatchObject({ status: 'fulfilled', value: [5, expect.any(Number)] });
      // Some of them ran on the other daemon's worker: they crossed Redis.
      const ranOnB = settled.filter((s) => s.status === 'fulfilled' && (s.value as number[])[1] === c.daemons[1]!.pid).length;
      expect(ranOnB).toBeGreaterThan(0);

      // A result over the budget fails its own item only.
      const results = await client.mapSettled((n: number) => (n === 1 ? 'r'.repeat(1200 * 1024) : n), [0, 1, 2]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(results[1]).toMatchObject({ reason: { code: 'E_TOO_LARGE' } });

      // A value over the budget is refused before it reaches Redis.
      await expect(client.value('big').set('v'.repeat(1200 * 1024))).rejects.toMatchObject({ code: 'E_TOO_LARGE' });

      const r = new Redis(redis.url);
      const errors = await r.info('errorstats');
      r.disconnect();
      expect(errors).not.toContain('errorstat_OOM');
    } finally {
      await client.close();
    }
  });

  it("a module task that does not load on a lent worker's host names that host and the rule", async () => {
    await using c = await startCluster(1, { workers: 1 });
    const b = await c.add({ workers: 2 });
    await c.untilMembers(2);
    // The module loads everywhere but in b's workers (standing in for a host where the file is missing).
    const mod = join(dir, 'only-on-a.mjs');
    writeFileSync(
      mod,
      `if (process.ppid === ${b.pid}) throw new Error('not installed on this host');
export function slow(x) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 40);
  return x;
}
`,
    );
    const client = await connect(c.daemons[0]!.url, { token: c.token });
    try {
      const err = await client
        .map(
          task(mod, 'slow'),
          Array.from({ length: 60 }, (_, i) => i),
          { chunkSize: 1 },
        )
        .then(
          () => undefined,
          (e: unknown) => e as { code: string; message: string },
        );
      expect(err?.code).toBe('E_BAD_TASK');
      expect(err?.message).toContain('not installed on this host');
      expect(err?.message).toContain('a module task must exist at the same path on every host of the cluster');
    } finally {
      await client.close();
    }
  });
});
