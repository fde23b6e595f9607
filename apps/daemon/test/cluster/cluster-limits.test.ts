/**
 * What crosses Redis in cluster mode stays within the per-chunk budget (the
 * cluster's frame limit, 1 MiB unless --max-payload says otherwise): an item,
 * result or value over it fails alone with E_TOO_LARGE, the rest of its batch
 * completes, and a Redis with little memory never refuses a dispatch or a
 * report (no OOM) while large-but-allowed chunks cross it. A module task that
 * cannot load on a lent worker's host fails with an error naming that host
 * and the rule (the module must exist at the same path on every host).
 * An app that never acknowledges its adds to a 60 KB bigint, as instance after
 * instance, keeps only their versions in Redis, not their sums: a neighbour's
 * writes on the other daemon never meet E_NO_SPACE, a resend of the last add
 * is answered from the value and an older one is E_REPLY_DROPPED, neither
 * applied twice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { connect, task } from '@corepool/client';
import { encodeData } from '@corepool/protocol';
import { decodeData } from '@corepool/protocol/internal';
import { startCluster } from '../support/cluster.js';
import { helloAs } from '../support/daemon.js';
import { startRedis, stopAllRedis } from '../support/redis.js';
import { figure } from '../support/figures.js';

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

  it("an app's unacknowledged adds to a big bigint keep their versions in Redis, not their sums: a neighbour's writes go on", async () => {
    const redis = await startRedis(['--save', '', '--appendonly', 'no', '--maxmemory', '24mb', '--maxmemory-policy', 'noeviction']);
    await using c = await startCluster(2, { redisUrl: redis.url, workers: 1 });
    await c.untilMembers(2);
    const admin = new Redis(redis.url);
    const neighbour = await connect(c.daemons[1]!.url, { token: c.token });
    const counter = neighbour.value<number>('neighbour', { initial: 0 });
    const start = 2n ** (8n * 60_000n);
    const one = encodeData(1n);
    const sum = (m: Record<string, unknown>): unknown => decodeData((m.value as { value: Uint8Array }).value);
    try {
      let h = await helloAs(c.daemons[0]!, 'hog-set');
      h.send({ type: 'state', rid: 1, op: 'value.set', name: 'big', a: encodeData(start) });
      await h.next((m) => m.type === 'reply' && m.rid === 1);
      // 10 instances x 50 adds, each reply ~60 KB, none acknowledged: 30 MB kept before, past the 24 MB Redis.
      const hogErrors: string[] = [];
      const neighbourErrors: string[] = [];
      for (let inst = 0; inst < 10; inst++) {
        h.ws.close();
        h = await helloAs(c.daemons[0]!, `hog-${inst}`);
        for (let rid = 1; rid <= 50; rid++) h.send({ type: 'state', rid, op: 'value.add', name: 'big', a: one });
        await h.next((m) => m.type === 'reply' && m.rid === 50, 60_000);
        for (const m of h.messages) if (m.type === 'reply' && m.error !== undefined) hogErrors.push((m.error as { code: string }).code);
        await counter.add(1).catch((e: unknown) => neighbourErrors.push((e as { code: string }).code));
      }
      // And a neighbour's write of 200 KB after them all (Redis had ~1.5 MB of its own data).
      await neighbour
        .value<string>('neighbour-big')
        .set('n'.repeat(200_000))
        .catch((e: unknown) => neighbourErrors.push((e as { code: string }).code));
      let kept = 0;
      for (const k of await admin.keys(`cp:{${c.name}}:rep:*`)) kept += Number(await admin.memory('USAGE', k));
      figure('clusterKeptAddReplies', { keptBytes: kept, neighbourErrors: neighbourErrors.length, appErrors: hogErrors.length });
      expect(neighbourErrors).toEqual([]);
      expect(hogErrors).toEqual([]);
      expect(await counter.get()).toBe(10);
      expect(kept).toBeLessThan(1024 * 1024); // 11 instances' versions (measured ~6 KB); their sums were ~30 MB

      // The last instance, failed over to the other daemon (which answers resends from Redis alone):
      // its last add, resent, is answered from the value (still that version), not applied again.
      h.ws.close();
      h = await helloAs(c.daemons[1]!, 'hog-9');
      const resent = (rid: number): Promise<Record<string, unknown>> => {
        const seen = h.messages.length;
        h.send({ type: 'state', rid, op: 'value.add', name: 'big', a: one });
        return h.next((m) => m.type === 'reply' && m.rid === rid && h.messages.indexOf(m) >= seen);
      };
      expect(sum(await resent(50))).toBe(start + 500n);
      // An older add, resent once the value moved on: its sum is gone, and it is not applied again.
      expect(await resent(49)).toMatchObject({ ok: false, error: { code: 'E_REPLY_DROPPED' } });
      h.send({ type: 'state', rid: 51, op: 'value.get', name: 'big' });
      expect(sum(await h.next((m) => m.type === 'reply' && m.rid === 51))).toBe(start + 500n);
      h.ws.close();
      const errors = await admin.info('errorstats');
      expect(errors).not.toContain('errorstat_OOM');
    } finally {
      admin.disconnect();
      await neighbour.close();
    }
  });
});
