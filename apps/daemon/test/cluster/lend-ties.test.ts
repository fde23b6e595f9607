/**
 * Ties in the `lend` script (lending-scripts.ts, "Ties"; docs/cluster.md, "Fairness across
 * the cluster"), on the scripts themselves against the machine's Redis under a cluster name
 * of this test's own. Charges reach `share` only as chunks finish, and apps entering demand
 * together all start at the least score, so in a burst of grants the apps are level. Broken
 * by `want`'s order, every grant of the burst went to the app that entered first; now level
 * apps take turns, the least recently granted (or entered) first, and a stamp leaves with
 * its app's entry in `want` (which a grant that uses up its demand leaves at 0, so that the
 * owner's next publication does not make it enter anew at the least score).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { LendingScripts } from '../../src/cluster/lending-scripts.js';
import { clusterName, dropCluster, MACHINE_REDIS } from '../support/redis.js';

const name = clusterName('ties');
const prefix = `cp:{${name}}:`;
let redis: Redis;
let s: LendingScripts;
const ownerA = 'host:1:owner-a';
const ownerB = 'host:2:owner-b';
const lenders = ['host:3:lender', 'host:4:lender', 'host:5:lender'];
let nextN = 0;

beforeAll(async () => {
  redis = new Redis(MACHINE_REDIS);
  s = new LendingScripts(redis, prefix);
  for (const id of [ownerA, ownerB, ...lenders]) await redis.set(s.leaseKey(id), id, 'PX', 60_000);
});
afterAll(async () => {
  redis.disconnect();
  await dropCluster(MACHINE_REDIS, name);
});

/** Starts each case from no demand, no scores and no stamps. */
async function clean(): Promise<void> {
  await redis.del(s.wantKey, s.shareKey, s.stampKey);
}

/** `count` grants, one chunk each, by the lenders in turn (a burst: nothing is charged between them); the apps granted. */
async function burst(count: number): Promise<string[]> {
  const apps: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = await s.lend(lenders[i % lenders.length]!, ++nextN, 1);
    if (!r.granted) throw new Error(`grant ${i} refused: ${JSON.stringify(r)}`);
    apps.push(r.app);
  }
  return apps;
}

describe('the lend script among apps of equal score', () => {
  it('two apps entering demand together take turns at the lenders, not all to the one that entered first', async () => {
    await clean();
    await s.demand(ownerA, [
      ['app-a', 20],
      ['app-b', 20],
    ]);
    expect(await redis.zmscore(s.shareKey, 'app-a', 'app-b')).toEqual(['0', '0']);
    expect(await burst(8)).toEqual(['app-a', 'app-b', 'app-a', 'app-b', 'app-a', 'app-b', 'app-a', 'app-b']);

    // The same across two owners, each publishing its own app: the later one is level with the first.
    await clean();
    await redis.zadd(s.shareKey, 300, 'app-c');
    await s.demand(ownerB, [['app-c', 20]]);
    await s.demand(ownerA, [['app-d', 20]]);
    expect(await redis.zmscore(s.shareKey, 'app-c', 'app-d')).toEqual(['300', '300']);
    expect(await burst(6)).toEqual(['app-c', 'app-d', 'app-c', 'app-d', 'app-c', 'app-d']);
  });

  it('the lower score still wins whatever the turns; once level again, the turns resume', async () => {
    await clean();
    await s.demand(ownerA, [
      ['app-a', 20],
      ['app-b', 20],
    ]);
    await redis.zincrby(s.shareKey, 1, 'app-a');
    expect(await burst(3)).toEqual(['app-b', 'app-b', 'app-b']);
    await redis.zincrby(s.shareKey, 1, 'app-b');
    // Level: app-a, granted least recently, first.
    expect(await burst(4)).toEqual(['app-a', 'app-b', 'app-a', 'app-b']);
  });

  it('an app entering queues behind the apps already waiting: apps made and withdrawn in a loop never take a turn from them', async () => {
    await clean();
    await s.demand(ownerA, [
      ['app-a', 50],
      ['app-b', 50],
    ]);
    const granted: string[] = [];
    for (let i = 0; i < 6; i++) {
      // A new app each round (a client instance made and dropped), level with the others as it enters.
      await s.demand(ownerB, [[`churn-${i}`, 5]]);
      granted.push(...(await burst(1)));
      await s.demand(ownerB, [[`churn-${i}`, 0]]);
    }
    expect(granted).toEqual(['app-a', 'app-b', 'app-a', 'app-b', 'app-a', 'app-b']);
    // One that stays gets its turn after both.
    await s.demand(ownerB, [['stays', 5]]);
    expect(await burst(3)).toEqual(['app-a', 'app-b', 'stays']);
  });

  it('an app whose demand a grant used up keeps its lead when its owner publishes it again (not an entry at the least score)', async () => {
    await clean();
    await s.demand(ownerA, [['lead', 2]]);
    await s.demand(ownerB, [['behind', 50]]);
    // `lead` has had far less worker time than `behind`.
    await redis.zadd(s.shareKey, 10, 'lead', 5_000, 'behind');
    // One grant takes both of its chunks.
    expect(await s.lend(lenders[0]!, ++nextN, 2)).toEqual({ granted: true, owner: ownerA, app: 'lead' });
    expect(await burst(1)).toEqual(['behind']);
    // Its owner queued more (a new batch, or the chunks the grant was meant for went elsewhere).
    await s.demand(ownerA, [['lead', 6]]);
    // Deleted from `want` by the grant, it re-entered at `behind`'s 5,000 and lost every turn it was owed.
    expect(await redis.zscore(s.shareKey, 'lead')).toBe('10');
    expect(await burst(3)).toEqual(['lead', 'lead', 'lead']);
    // Withdrawn by its owner (nothing queued), it leaves `want` and its stamp: a later entry is an entry.
    await s.demand(ownerA, [['lead', 0]]);
    expect(await redis.hexists(s.wantKey, 'lead')).toBe(0);
    expect(await redis.hexists(s.stampKey, 'lead')).toBe(0);
    await s.demand(ownerA, [['lead', 3]]);
    expect(await redis.zscore(s.shareKey, 'lead')).toBe('5000');
  });

  it('apps without a stamp (published by an earlier version) are told apart by name, not by the hash order', async () => {
    await clean();
    await redis.hset(s.wantKey, 'app-z', `${ownerA}:5`);
    await redis.hset(s.wantKey, 'app-m', `${ownerA}:5`);
    expect(await burst(1)).toEqual(['app-m']);
    // Granted, app-m has a stamp now: app-z (none) goes next.
    expect(await burst(1)).toEqual(['app-z']);
  });

  it('a stamp lives as long as its app is in want: withdrawn or its owner gone, it goes with it; used up by grants, it stays', async () => {
    await clean();
    const stamped = async (): Promise<string[]> => (await redis.hkeys(s.stampKey)).sort();
    const wanted = async (): Promise<string[]> => (await redis.hkeys(s.wantKey)).sort();
    await s.demand(ownerA, [
      ['app-a', 9],
      ['app-b', 2],
    ]);
    await s.demand(ownerB, [['app-c', 9]]);
    expect(await stamped()).toEqual(['app-a', 'app-b', 'app-c']);
    // Withdrawn by its owner.
    await s.demand(ownerA, [['app-a', 0]]);
    expect(await stamped()).toEqual(['app-b', 'app-c']);
    // Its demand used up by a grant (app-b: 2 chunks, a grant takes 2; app-c is behind it): it stays
    // at 0 demand, stamped behind app-c, until its owner publishes it again or withdraws it.
    expect(await s.lend(lenders[0]!, ++nextN, 2)).toEqual({ granted: true, owner: ownerA, app: 'app-b' });
    expect(await redis.hget(s.wantKey, 'app-b')).toBe(`${ownerA}:0`);
    expect(await stamped()).toEqual(['app-b', 'app-c']);
    expect(await burst(1)).toEqual(['app-c']);
    // Published again by its owner: not an entry, its turn stays where the grant put it.
    await s.demand(ownerA, [['app-b', 4]]);
    expect(await stamped()).toEqual(['app-b', 'app-c']);
    expect(await burst(2)).toEqual(['app-b', 'app-c']);
    // Its owner's lease gone: the next lend drops its demand and its stamp.
    await redis.del(s.leaseKey(ownerB));
    try {
      expect(await burst(1)).toEqual(['app-b']);
      expect(await wanted()).toEqual(['app-b']);
      expect(await stamped()).toEqual(['app-b']);
    } finally {
      await redis.set(s.leaseKey(ownerB), ownerB, 'PX', 60_000);
    }
    // Both keys are the cluster's, under its hash tag (one Redis Cluster slot with `want` and `share`).
    expect(s.stampKey.startsWith(prefix)).toBe(true);
    expect(s.stampSeqKey.startsWith(prefix)).toBe(true);
    expect(Number(await redis.get(s.stampSeqKey))).toBeGreaterThan(0);
  });
});
