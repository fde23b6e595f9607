/**
 * Fencing by attempt number (docs/cluster.md, "How a chunk flows between
 * daemons", step 6), on the lending scripts themselves against the machine's
 * Redis under a cluster name of this test's own: a lent worker's report
 * reaches the owner only while the lender's lease exists, the grant is still
 * that owner's and the chunk's attempt number is the latest dispatched; any
 * other report is dropped and counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { LendingScripts } from '../../src/cluster/lending-scripts.js';
import { clusterName, dropCluster, MACHINE_REDIS } from '../support/redis.js';

const name = clusterName('fence');
const prefix = `cp:{${name}}:`;
let redis: Redis;
let s: LendingScripts;
const owner = 'host:1:owner';
const lender = 'host:2:lender';
const msg = new Uint8Array([0x80]);

beforeAll(async () => {
  redis = new Redis(MACHINE_REDIS);
  s = new LendingScripts(redis, prefix);
});
afterAll(async () => {
  redis.disconnect();
  await dropCluster(MACHINE_REDIS, name);
});

async function inbox(id: string): Promise<string[]> {
  const entries = await redis.xrange(s.inboxKey(id), '-', '+');
  return entries.map(([, f]) => f[f.indexOf('t') + 1]!);
}

describe('the report script', () => {
  it('delivers the latest attempt, refuses a stale one and counts it', async () => {
    await redis.set(s.leaseKey(lender), lender, 'PX', 10_000);
    await redis.set(s.leaseKey(owner), owner, 'PX', 10_000);
    await s.demand(owner, [['app-1', 3]]);
    const grant = await s.lend(lender, 1, 2);
    expect(grant).toEqual({ granted: true, owner, app: 'app-1' });
    expect(await inbox(owner)).toEqual(['grant']);

    const field = `${owner}:7`;
    expect(await s.dispatch(owner, lender, 1, 'run', field, msg)).toEqual({ ok: true, attempt: 1 });
    // The chunk is rerun (its first run's worker was thought lost): attempt 2.
    expect(await s.dispatch(owner, lender, 1, 'run', field, msg)).toEqual({ ok: true, attempt: 2 });
    expect(await inbox(lender)).toEqual(['run', 'run']);

    // The first run's late result: refused, counted.
    expect(await s.report(lender, owner, 1, field, 1, true, msg)).toBe(false);
    expect(await redis.get(s.staleKey)).toBe('1');
    // The rerun's: delivered; the chunk is over, so its attempt number goes.
    expect(await s.report(lender, owner, 1, field, 2, true, msg)).toBe(true);
    expect(await inbox(owner)).toEqual(['grant', 'rep']);
    expect(await redis.hexists(`${prefix}att`, field)).toBe(0);
    // A duplicate of it after that: refused too.
    expect(await s.report(lender, owner, 1, field, 2, true, msg)).toBe(false);
    expect(await redis.get(s.staleKey)).toBe('2');
  });

  it('refuses reports of a lender whose lease is gone, and of a grant the owner ended', async () => {
    const field = `${owner}:8`;
    expect((await s.dispatch(owner, lender, 1, 'run', field, msg)).ok).toBe(true);
    // The owner ended the grant (its slot key goes): a report for it is refused.
    await redis.del(s.slotKey(lender, 1));
    expect(await s.report(lender, owner, 1, field, 1, false, msg)).toBe(false);
    // A grant whose lender lost its lease: nothing dispatched, nothing reported.
    await s.demand(owner, [['app-1', 3]]);
    expect((await s.lend(lender, 2, 2)).granted).toBe(true);
    const f2 = `${owner}:9`;
    expect(await s.dispatch(owner, lender, 2, 'run', f2, msg)).toEqual({ ok: true, attempt: 1 });
    await redis.del(s.leaseKey(lender));
    expect(await s.report(lender, owner, 2, f2, 1, false, msg)).toBe(false);
    expect(await s.dispatch(owner, lender, 2, 'run', f2, msg)).toEqual({ ok: false, why: 'lender-gone' });
    // A zombie lends nothing.
    expect(await s.lend(lender, 3, 2)).toEqual({ granted: false, zombie: true });
    expect(Number(await redis.get(s.staleKey))).toBe(4);
  });

  it('lends to the app with demand and the lowest score; an app entering demand starts at the least score of those with demand', async () => {
    const l2 = 'host:3:lender';
    await redis.set(s.leaseKey(l2), l2, 'PX', 10_000);
    await redis.del(s.wantKey);
    await redis.zadd(s.shareKey, 5_000, 'app-busy', 100, 'app-old');
    await s.demand(owner, [
      ['app-busy', 4],
      ['app-new', 4],
    ]);
    // app-new entered at the least score of the apps with demand (app-busy's), not below it: no banked credit.
    expect(Number(await redis.zscore(s.shareKey, 'app-new'))).toBe(5_000);
    await redis.zincrby(s.shareKey, 1, 'app-busy');
    expect(await s.lend(l2, 1, 2)).toEqual({ granted: true, owner, app: 'app-new' });
    // The grant took its pipeline's worth off app-new's demand.
    expect(await redis.hget(s.wantKey, 'app-new')).toBe(`${owner}:2`);
    // Withdrawn demand is not lent to.
    await s.demand(owner, [
      ['app-busy', 0],
      ['app-new', 0],
    ]);
    expect(await s.lend(l2, 2, 2)).toEqual({ granted: false, zombie: false });
  });
});
