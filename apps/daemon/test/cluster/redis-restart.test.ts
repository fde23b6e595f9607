/**
 * Redis itself fails under a running cluster (docs/cluster.md, failure
 * table), with a batch crossing it (lent chunks) and shared state in use:
 *  - restarted with AOF (`appendfsync always`): acknowledged state is kept
 *    (the counter is what was acknowledged), the batch completes with every
 *    result once and in order, and the daemons go on (new writes work);
 *  - restarted empty (FLUSHALL: persistence off, or an operator's mistake):
 *    every lease is gone, so the daemons rejoin as new incarnations and take
 *    back their chunks; the batch completes, a subscriber is told to resync
 *    and gets the current value; nothing hangs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connect } from '@corepool/client';
import { startCluster } from '../support/cluster.js';
import { startRedis, stopAllRedis } from '../support/redis.js';
import { until } from '../support/wait.js';

afterAll(stopAllRedis);

/** ~40 ms per item without spinning a core, returning [item, the daemon primary that ran it]. */
const slow = (x: number): [number, number] => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 40);
  return [x, process.ppid];
};

describe('Redis fails under a running cluster', () => {
  it('restarted with AOF: acknowledged state kept, the batch completes once and in order, the cluster goes on', async () => {
    const redis = await startRedis(['--save', '', '--appendonly', 'yes', '--appendfsync', 'always']);
    await using c = await startCluster(2, { redisUrl: redis.url, workers: 1 });
    const [a] = c.daemons as [(typeof c.daemons)[0]];
    await c.untilMembers(2);
    const client = await connect(a.url, { token: c.token });
    try {
      const counter = client.value<number>('acked', { initial: 0 });
      let acked = 0;
      for (let i = 0; i < 50; i++) acked = await counter.add(1);
      const n = 120;
      const ran: number[] = [];
      const batch = client.map(
        slow,
        Array.from({ length: n }, (_, i) => i),
        { chunkSize: 1, onProgress: () => {} },
      );
      // Kill Redis once the batch is under way, and bring it back from its append-only file.
      await new Promise((r) => setTimeout(r, 1_500));
      await redis.kill();
      await redis.restart();
      const results = await batch;
      for (const [i, [x, ppid]] of results.entries()) {
        expect(x).toBe(i);
        ran.push(ppid);
      }
      expect(results.length).toBe(n);
      // The counter holds every acknowledged add, and takes new ones.
      await until(async () => (await counter.get().catch(() => -1)) === acked, 20_000, 'the counter readable again');
      expect(await counter.add(1)).toBe(acked + 1);
      await c.untilMembers(2, 20_000);
    } finally {
      await client.close();
    }
  });

  it('restarted empty (FLUSHALL): the daemons rejoin, the batch completes, a subscriber resyncs; nothing hangs', async () => {
    const redis = await startRedis();
    await using c = await startCluster(2, { redisUrl: redis.url, workers: 1 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    await c.untilMembers(2);
    const client = await connect(a.url, { token: c.token });
    const watcher = await connect(b.url, { token: c.token });
    try {
      const v = client.value<number>('v', { initial: 0 });
      await v.set(7);
      const seen: number[] = [];
      watcher.value<number>('v').subscribe((x) => seen.push(x));
      await until(() => seen.includes(7), 10_000, 'the watcher sees 7');
      const n = 120;
      const batch = client.map(
        slow,
        Array.from({ length: n }, (_, i) => i),
        { chunkSize: 1 },
      );
      await new Promise((r) => setTimeout(r, 1_500));
      const r = new Redis(redis.url);
      await r.flushall();
      r.disconnect();
      const results = await batch;
      expect(results.map(([x]) => x)).toEqual(Array.from({ length: n }, (_, i) => i));
      // The value is gone with Redis's data: the watcher was told to resync and sees the new truth once written.
      await until(
        async () =>
          await v
            .set(11)
            .then(() => true)
            .catch(() => false),
        20_000,
        'writes accepted again',
      );
      await until(() => seen.at(-1) === 11, 20_000, 'the watcher sees the value written after the reset');
      await c.untilMembers(2, 20_000);
      const statuses = await Promise.all(c.daemons.map((d) => d.status()));
      for (const s of statuses) expect(s.cluster?.daemons.every((d) => d.alive)).toBe(true);
    } finally {
      await client.close();
      await watcher.close();
    }
  });
});
