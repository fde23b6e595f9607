/**
 * Cluster membership against a real Redis: members join with a lease and a
 * heartbeat, see each other, leave at once on a graceful stop; a member whose
 * lease is gone becomes a new incarnation (lost, then joined with a new id),
 * and the reaper drops the old one from the members and says so on `ctl`. A
 * member cut off from Redis stops holding its lease within the lease time.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Membership } from '../../src/cluster/membership.js';
import { clusterName, dropCluster, MACHINE_REDIS, startRedis, stopAllRedis } from '../support/redis.js';
import { startProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

const names: string[] = [];
const members: Membership[] = [];

async function join(name: string, info: Record<string, string | number> = {}, redisUrl = MACHINE_REDIS): Promise<Membership> {
  const m = await Membership.join({ redisUrl, name, info: () => info, renewMs: 200 });
  members.push(m);
  return m;
}

afterAll(async () => {
  for (const m of members) await m.leave();
  for (const n of names) await dropCluster(MACHINE_REDIS, n);
  await stopAllRedis();
});

describe('Membership', () => {
  it('joins with a lease, publishes its figures, sees the other members, and leaves at once', async () => {
    const name = clusterName('members');
    names.push(name);
    const a = await join(name, { url: 'ws://a:1', workers: 2 });
    const b = await join(name, { url: 'ws://b:1', workers: 3 });
    expect(a.id).not.toBe(b.id);
    expect(a.prefix).toBe(`cp:{${name}}:`);
    expect(a.held() && b.held()).toBe(true);
    const seen = await a.members();
    expect(seen.map((m) => m.id).sort()).toEqual([a.id, b.id].sort());
    const rb = seen.find((m) => m.id === b.id)!;
    expect(rb.alive).toBe(true);
    expect(rb.info).toMatchObject({ url: 'ws://b:1', workers: '3' });
    expect(rb.lastHeartbeat).toBeGreaterThan(Date.now() - 60_000);
    await b.leave();
    expect(b.held()).toBe(false);
    expect((await a.members()).map((m) => m.id)).toEqual([a.id]);
  });

  it('refuses a cluster name that cannot be part of a key', async () => {
    await expect(Membership.join({ redisUrl: MACHINE_REDIS, name: 'a b}', info: () => ({}) })).rejects.toMatchObject({
      code: 'E_BAD_ARGUMENT',
    });
  });

  it('a member whose lease vanished is lost, rejoins as a new incarnation, and the reaper declares the old one dead', async () => {
    const name = clusterName('reap');
    names.push(name);
    const a = await join(name);
    const b = await join(name);
    const old = b.id;
    const events: string[] = [];
    b.on('lost', (id) => events.push(`lost ${id}`));
    b.on('joined', (id) => events.push(`joined ${id}`));
    await a.redis.del(b.leaseKey(old));
    await until(() => events.length === 2, 10_000, 'lost then joined');
    expect(events[0]).toBe(`lost ${old}`);
    expect(b.id).not.toBe(old);
    expect(events[1]).toBe(`joined ${b.id}`);
    expect(b.held()).toBe(true);
    await until(async () => !(await a.members()).some((m) => m.id === old), 10_000, 'the old incarnation reaped');
    const ctl = await a.redis.xrange(`${a.prefix}ctl`, '-', '+');
    expect(ctl.some(([, f]) => f.join(' ') === `event dead id ${old}`)).toBe(true);
  });

  it('stops holding its lease when Redis goes away, and joins anew when it is back', async () => {
    const own = await startRedis();
    const name = clusterName('cut');
    const m = await join(name, {}, own.url);
    const first = m.id;
    let lost = false;
    m.on('lost', () => (lost = true));
    await own.kill();
    await until(() => !m.held() && lost, 10_000, 'the lease no longer held');
    await own.restart();
    await until(() => m.held(), 20_000, 'a new lease');
    expect(m.id).not.toBe(first);
    const r = new Redis(own.url);
    expect(await r.get(m.leaseKey(m.id))).toBe(m.id);
    r.disconnect();
  });

  it('a link that silently drops everything (no reset) ends the lease within its time; healed, it joins anew', async () => {
    const name = clusterName('blackhole');
    names.push(name);
    const proxy = await startProxy(6379);
    try {
      const m = await join(name, {}, proxy.url);
      const first = m.id;
      let lost = false;
      m.on('lost', () => (lost = true));
      proxy.set('blackhole');
      await until(() => !m.held(), 10_000, 'the lease no longer held');
      // Healed before the lease lapsed, the same incarnation would go on: keep it cut until it is over.
      await until(() => lost, 10_000, 'the incarnation lost');
      proxy.set('pass');
      await until(() => m.held() && m.id !== first, 30_000, 'a new incarnation');
    } finally {
      await proxy.close();
    }
  });
});
