/**
 * One client's burst against a cluster daemon: 50,000 `add(1)` in flight at
 * once (one Promise.all) beside a second client doing small operations. The
 * daemon must keep its lease throughout (one incarnation, no lost or silent
 * link in its log), every add must be applied once (replies exactly 1..N),
 * and the second client's operations must go on being answered while the
 * burst is in flight, not only after it. Before the renewals had a connection
 * of their own and a client's unanswered requests were bounded
 * (state-flow.ts), the renewal waited behind the burst's scripts and the
 * primary's turns took seconds: the lease lapsed and every client of the
 * daemon was refused with E_UNAVAILABLE. The burst's kept replies go once
 * acknowledged (the client acknowledges them all with its next request:
 * deleted a thousand to a script, where a script each took the primary's
 * turn for seconds and lost the lease just after the burst).
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster } from '../support/cluster.js';
import { until } from '../support/wait.js';

/** Half the bench's 100,000: still seconds of scripts, several lease renewals' worth, at half the CI's time. */
const BURST = 50_000;

describe('a burst of state requests on a cluster daemon', () => {
  it('keeps the lease, applies every add once, and answers another client meanwhile', async () => {
    await using c = await startCluster(1, { workers: 2 });
    const d = c.daemons[0]!;
    const id = (await d.status()).cluster?.id;
    expect(id).toBeTruthy();
    const burster = await d.connect();
    const other = await d.connect();
    const hits = burster.value<number>('burst', { initial: 0 });
    await hits.set(0);

    let burstDone = false;
    const burst = Promise.all(Array.from({ length: BURST }, () => hits.add(1))).finally(() => (burstDone = true));
    // The other client's small operations, for as long as the burst is in flight.
    const side = other.value<number>('side', { initial: 0 });
    const notes = other.dict<number>('notes');
    let answeredDuring = 0;
    let sideOps = 0;
    while (!burstDone) {
      await side.add(1);
      await notes.set(`k${sideOps % 10}`, sideOps);
      await side.get();
      sideOps += 1;
      if (!burstDone) answeredDuring += 1;
    }
    const replies = await burst;

    const seen = new Uint8Array(BURST + 1);
    for (const v of replies) if (Number.isInteger(v) && v >= 1 && v <= BURST) seen[v] = 1;
    expect(seen.reduce((a, b) => a + b, 0)).toBe(BURST);
    expect(await hits.get()).toBe(BURST);
    const admin = new Redis(c.redisUrl);
    try {
      // Kept replies, all instances: a hash whose every field went is gone too.
      const kept = async (): Promise<number> => {
        const keys = await admin.keys(`cp:{${c.name}}:rep:*`);
        return (await Promise.all(keys.map((k) => admin.hlen(k)))).reduce((x, y) => x + y, 0);
      };
      await until(async () => (await kept()) < 100, 30_000, 'the acknowledged replies deleted');
    } finally {
      admin.disconnect();
    }
    expect(await side.get()).toBe(sideOps);
    expect(answeredDuring).toBeGreaterThan(0);

    expect(d.events('cluster-lease-lost')).toEqual([]);
    expect(d.events('cluster-redis-silent')).toEqual([]);
    expect((await d.status()).cluster?.id).toBe(id);
    await burster.close();
    await other.close();
  }, 180_000);
});
