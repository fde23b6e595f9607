/**
 * A daemon's apps leave the fair-share ledger (`share`) when the daemon goes.
 * Only a daemon forgets its own apps there (share-ledger.ts, after a minute
 * unseen), so a daemon killed with -9 left one entry per connection it had in
 * `share` for the life of the cluster. Now each daemon lists its apps in
 * `apps:<member id>` and the reaper removes a dead member's apps from `share`
 * (membership.ts); a graceful stop removes its own. A live daemon's apps stay.
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connect, type Client } from '@corepool/client';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { until } from '../support/wait.js';
import { scanKeys } from '../support/redis.js';

type Daemon = TestCluster['daemons'][number];

/** ~5 ms per item without spinning a core. */
const nap = (x: number): number => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  return x + 1;
};

/** The apps (realms) in `share`. */
async function shared(r: Redis, prefix: string): Promise<string[]> {
  return r.zrange(`${prefix}share`, '0', '-1');
}

/** `count` clients of `d` that each ran a map (so each has an entry in `share`), still connected. */
async function clientsWithWork(c: TestCluster, d: Daemon, count: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < count; i++) {
    const client = await connect(d.url, { token: c.token });
    clients.push(client);
    const out = await client.map(
      nap,
      Array.from({ length: 20 }, (_, j) => j),
    );
    expect(out).toHaveLength(20);
  }
  return clients;
}

/** The apps `d` added to `share`: those that appeared while only its clients ran work. */
async function appsOf(r: Redis, prefix: string, before: string[], expected: number): Promise<string[]> {
  let mine: string[] = [];
  await until(
    async () => {
      mine = (await shared(r, prefix)).filter((a) => !before.includes(a));
      return mine.length === expected;
    },
    10_000,
    `${expected} new apps in share`,
  );
  return mine;
}

/**
 * Two members up; one client of b with work, then `onA` clients of a with work (kept in `all`, to
 * be closed by the caller): a's member id and the apps each daemon put in `share`.
 */
async function appsOnBoth(c: TestCluster, r: Redis, prefix: string, all: Client[], onA: number) {
  const [a, b] = c.daemons as [Daemon, Daemon];
  await c.untilMembers(2);
  const idA = (await a.status()).cluster!.id;
  all.push(...(await clientsWithWork(c, b, 1)));
  const ofB = await appsOf(r, prefix, [], 1);
  all.push(...(await clientsWithWork(c, a, onA)));
  // Each listed in a's `apps:<id>` in the pipeline that first charged it, before it: no wait for the list.
  const ofA = await appsOf(r, prefix, ofB, onA);
  return { a, idA, ofB, ofA };
}

describe("a daemon's apps leave the fair-share ledger when it goes", () => {
  it('kill -9: the reaper removes the dead daemon’s apps from share (and its list of them); a live daemon’s apps stay', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const r = new Redis(c.redisUrl);
    const prefix = `cp:{${c.name}}:`;
    const all: Client[] = [];
    try {
      const { a, idA, ofB, ofA } = await appsOnBoth(c, r, prefix, all, 3);

      await a.kill();
      await until(
        async () => (await r.xrange(`${prefix}ctl`, '-', '+')).some(([, f]) => f.join(' ') === `event dead id ${idA}`),
        15_000,
        'a declared dead',
      );
      // The reaper removed them in the same script that declared a dead.
      const left = await shared(r, prefix);
      expect(left.filter((x) => ofA.includes(x))).toEqual([]);
      expect(left).toEqual(ofB);
      expect(await r.exists(`${prefix}apps:${idA}`)).toBe(0);
      const want = await r.hgetall(`${prefix}want`);
      expect(Object.values(want).filter((v) => v.startsWith(`${idA}:`))).toEqual([]);
      // b's client still works and is still charged.
      const out = await all[0]!.map(
        nap,
        Array.from({ length: 10 }, (_, j) => j),
      );
      expect(out).toHaveLength(10);
      expect(await shared(r, prefix)).toEqual(ofB);
    } finally {
      await Promise.all(all.map((x) => x.close().catch(() => {})));
      r.disconnect();
    }
  });

  it('kill -9 of a lender and of the owner it lends to: the reaper deletes the grant keys neither side will (slot:<lender>:<n>)', async () => {
    await using c = await startCluster(3, { workers: 1 });
    const r = new Redis(c.redisUrl);
    const prefix = `cp:{${c.name}}:`;
    const keys = (pattern: string): Promise<string[]> => scanKeys(r, `${prefix}${pattern}`);
    const all: Client[] = [];
    try {
      const [a, b, d] = c.daemons as [Daemon, Daemon, Daemon];
      await c.untilMembers(3);
      const [idA, idB] = [(await a.status()).cluster!.id, (await b.status()).cluster!.id];
      // A's client has far more work than A's one worker: B (and d) lend it theirs.
      const hostile = await connect(a.url, { token: c.token });
      all.push(hostile);
      const slow = (x: number): number => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
        return x;
      };
      void hostile
        .map(
          slow,
          Array.from({ length: 400 }, (_, j) => j),
          { chunkSize: 1 },
        )
        .catch(() => {});
      await until(
        async () => {
          for (const k of await keys(`slot:${idB}:*`)) if ((await r.hget(k, 'owner')) === idA) return true;
          return false;
        },
        20_000,
        'a grant of b to a',
      );
      // Both at once: neither deletes the grant's key when it sees the other's lease gone.
      await Promise.all([a.kill(), b.kill()]);
      const dead = async (id: string) => (await r.xrange(`${prefix}ctl`, '-', '+')).some(([, f]) => f.join(' ') === `event dead id ${id}`);
      await until(async () => (await dead(idA)) && (await dead(idB)), 15_000, 'a and b declared dead');
      // d's own grants to a end at its next poll (500 ms); a's and b's the reaper deleted when it declared them dead.
      await until(async () => (await keys('slot:*')).length === 0, 10_000, 'no grant key left');
      expect(await keys('slot:*')).toEqual([]);
      expect(await keys('lent:*')).toEqual([]);
      // The daemon left runs its own client's work.
      const neighbour = await connect(d.url, { token: c.token });
      all.push(neighbour);
      expect(
        await neighbour.map(
          nap,
          Array.from({ length: 20 }, (_, j) => j),
        ),
      ).toHaveLength(20);
    } finally {
      await Promise.all(all.map((x) => x.close().catch(() => {})));
      r.disconnect();
    }
  });

  it('a graceful stop removes the daemon’s own apps from share and its list of them', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const r = new Redis(c.redisUrl);
    const prefix = `cp:{${c.name}}:`;
    const all: Client[] = [];
    try {
      const { a, idA, ofB } = await appsOnBoth(c, r, prefix, all, 2);

      expect(await a.stop()).toBe(0);
      expect(await shared(r, prefix)).toEqual(ofB);
      expect(await r.exists(`${prefix}apps:${idA}`)).toBe(0);
    } finally {
      await Promise.all(all.map((x) => x.close().catch(() => {})));
      r.disconnect();
    }
  });
});
