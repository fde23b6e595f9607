/**
 * A timed batch (a per-item timeout) of trivial items on lent workers: the worker says `started`
 * before every item, and each was a `report` script on Redis and an entry in the owner's inbox.
 * ~100,000 a second from two lent workers took the lender's lease (its own clients' state
 * refused, its lent chunks killed and rerun) and filled the owner's inbox to the 10,000 entries
 * past which unread ones are trimmed (a `done` among them would hang its batch). Now a lent
 * worker's `started` messages are coalesced while its reports are in flight (report-queue.ts).
 * Serial: it loads both cores on purpose, and what it checks is that nothing falls seconds behind.
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster } from '../support/cluster.js';
import { figure } from '../support/figures.js';

describe('a flood of `started` from lent workers', () => {
  it('a timed batch of trivial items on lent workers (a `started` per item) neither takes the lender’s lease nor floods the owner’s inbox; neighbours on both daemons go on', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const a = c.daemons[0]!;
    const b = await c.add({ workers: 2 });
    await c.untilMembers(3);
    const r = new Redis(c.redisUrl);
    const inbox = `cp:{${c.name}}:inbox:${(await a.status()).cluster!.id}`;
    try {
      // B's own app: adds on a counter all along (refused with E_UNAVAILABLE while B has no lease).
      const local = await b.connect();
      const counter = local.value<number>('beside', { initial: 0 });
      let refused = 0;
      let stop = false;
      const adds = (async () => {
        let n = 0;
        while (!stop) {
          await counter.add(1).then(
            () => n++,
            () => refused++,
          );
        }
        return n;
      })();
      let inboxMost = 0;
      const watch = setInterval(() => void r.xlen(inbox).then((n) => (inboxMost = Math.max(inboxMost, n))), 20);
      // The hostile app on A: 1,200,000 trivial items in chunks of 16,000 with a timeout, so every item says `started`.
      const hostile = await a.connect();
      const neighbour = await a.connect();
      const flood = (async () => {
        let sum = 0;
        for (let round = 0; round < 6; round++) {
          const out = await hostile.map(
            (x: number) => x,
            Array.from({ length: 200_000 }, (_, i) => i),
            { timeoutMs: 60_000, chunkSize: 16_000 },
          );
          for (const v of out) sum += v;
        }
        return sum;
      })();
      // A's other app: sleeping items without a timeout, some on B's workers (a lost `done` would hang it).
      const nap = (x: number): number => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        return x;
      };
      const napped = neighbour.map(
        nap,
        Array.from({ length: 200 }, (_, i) => i),
        { chunkSize: 1 },
      );
      expect(await flood).toBe(6 * ((200_000 * 199_999) / 2));
      expect(await napped).toEqual(Array.from({ length: 200 }, (_, i) => i));
      clearInterval(watch);
      stop = true;
      const made = await adds;
      // Before: a lender lost its lease once or twice a run (its lent chunks killed and rerun), 7,000-20,000
      // reports refused as stale, and A's inbox at 1,700-10,041 entries (past 10,000, unread ones are trimmed).
      for (const d of c.daemons) expect(d.events('cluster-lease-lost')).toEqual([]);
      // Nothing trimmed unread, so nothing to repair (inbox.ts counts what was added against what was read).
      for (const d of c.daemons) expect(d.events('cluster-inbox-gap')).toEqual([]);
      expect(refused).toBe(0);
      expect(made).toBeGreaterThan(0);
      expect(inboxMost).toBeLessThan(2_000);
      figure('lentStartedFlood', { inboxMost, stale: Number((await r.get(`cp:{${c.name}}:stale`)) ?? 0), neighbourAdds: made });
    } finally {
      r.disconnect();
    }
  });
});
