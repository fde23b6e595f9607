/**
 * Hostile co-tenants across daemons. A client that disconnects while
 * its chunks run on another daemon's lent workers: the workers come back to
 * their daemon and nothing of that app or grant stays in Redis. An app whose
 * items crash workers and spin past timeouts beside an honest app on another
 * daemon: the honest map completes, correctly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { encodeData, sourceHash } from '@corepool/protocol';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { rawMap } from '../support/raw-map.js';
import { executions, sleeperSource } from '../support/sleeper.js';
import { until } from '../support/wait.js';
import { scanKeys } from '../support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every key of cluster `name` with its type, and the fields of `want`, `wstamp` and `att`. */
async function clusterKeys(url: string, name: string): Promise<{ keys: string[]; want: string[]; wstamp: string[]; att: string[] }> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const keys = await scanKeys(r, `cp:{${name}}:*`);
    const p = `cp:{${name}}:`;
    return {
      keys: keys.map((k) => k.slice(p.length)).sort(),
      want: await r.hkeys(`${p}want`),
      wstamp: await r.hkeys(`${p}wstamp`),
      att: await r.hkeys(`${p}att`),
    };
  } finally {
    r.disconnect();
  }
}

describe('review: hostile co-tenants across daemons', () => {
  it('a client that disconnects while its chunks run on lent workers: the workers come back idle, its grants and attempts leave Redis', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [lender, owner] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const sock = await owner.raw({ hello: true });
    const items = Array.from({ length: 40 }, (_, i) => i);
    const src = sleeperSource(join(dir, 'gone.log'), 1_500);
    // A map sent by hand (the raw socket is terminated mid-batch, so rawMap's promise is left behind).
    sock.send({ type: 'batch.open', id: 7, task: { kind: 'source', hash: sourceHash(src), source: src }, timeoutMs: 0, retries: 2 });
    for (const i of items) sock.send({ type: 'batch.chunk', id: 7, start: i, count: 1, payload: encodeData([i]) });
    await until(async () => (await lender.status()).workers.filter((w) => w.busy).length === 2, 15_000, 'both lender workers lent');
    sock.ws.terminate();
    // The lender's workers are its own again, idle, as its own status and the cluster's say.
    await until(async () => (await lender.status()).workers.every((w) => !w.busy), 15_000, 'the lender’s workers idle');
    await until(
      async () => {
        const me = (await owner.status()).cluster?.daemons.find((d) => d.url === lender.url);
        return me !== undefined && me.busy === 0 && me.idle === 2;
      },
      15_000,
      'the cluster status shows the lender idle',
    );
    // Its workers serve a new client of the lender.
    const client = await lender.connect();
    expect(await client.map((x: number) => x + 1, [1, 2, 3, 4], { chunkSize: 1 })).toEqual([2, 3, 4, 5]);
    // Nothing of the gone app's grants, demand or chunk attempts stays in Redis.
    await untilNoGrantsLeft(c);
  });

  it('an app whose items crash workers and spin past timeouts beside an honest app on another daemon: the honest map completes correctly', async () => {
    await using c = await startCluster(3, { workers: 2 });
    const [honestD, hostileD, lender] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0], (typeof c.daemons)[0]];
    const hostile = await hostileD.connect();
    // Every item either kills its worker or spins past its timeout; and many batches at once.
    const bad = (x: number): number => {
      if (x % 2 === 0) process.exit(1);
      for (;;) {
        /* spin */
      }
    };
    const flood = Array.from({ length: 6 }, () =>
      hostile
        .map(
          bad,
          Array.from({ length: 12 }, (_, i) => i),
          { chunkSize: 1, timeoutMs: 300, retries: 1 },
        )
        .then(
          () => 'resolved',
          (e: unknown) => e,
        ),
    );
    // Its own daemon's workers at it. Lenders lend it little: once an item of its has killed a worker it
    // holds one worker at most for 5 s, and its daemon offers lenders none of its chunks meanwhile.
    await until(async () => (await hostileD.status()).workers.some((w) => w.busy), 15_000, 'the hostile app at work');
    const log = join(dir, 'honest.log');
    const sock = await honestD.raw({ hello: true });
    const items = Array.from({ length: 40 }, (_, i) => i);
    const out = await rawMap(sock, sleeperSource(log, 100), items, { chunkSize: 1, deadlineMs: 50_000 });
    expect(out.length).toBe(items.length);
    for (const [i, o] of out) expect(o.ok && (o.value as number[])[0]).toBe(i);
    const ran = executions(log);
    expect(ran.size).toBe(items.length);
    await Promise.all(flood);
    await hostile.close();
    // The lender replaced what the hostile items killed, and has all its workers back, idle; nothing stays in Redis.
    await until(
      async () => {
        const w = (await lender.status()).workers;
        return w.length === 2 && w.every((x) => !x.busy);
      },
      15_000,
      'the lender’s two workers back, idle',
    );
    await untilNoGrantsLeft(c);
  });

  it('a client gone while its items spin forever (no timeout) on lent workers: the lender gets its workers back', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [lender, owner] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const sock = await owner.raw({ hello: true });
    const src = `(x) => { for (;;) {} }`;
    sock.send({ type: 'batch.open', id: 9, task: { kind: 'source', hash: sourceHash(src), source: src }, timeoutMs: 0, retries: 0 });
    for (let i = 0; i < 12; i++) sock.send({ type: 'batch.chunk', id: 9, start: i, count: 1, payload: encodeData([i]) });
    await until(async () => (await lender.status()).workers.filter((w) => w.busy).length === 2, 15_000, 'both lender workers lent');
    sock.ws.terminate();
    await until(
      async () => {
        const w = (await lender.status()).workers;
        return w.length === 2 && w.every((x) => !x.busy);
      },
      20_000,
      'the lender’s workers back, idle',
    );
    await until(async () => (await owner.status()).workers.every((w) => !w.busy), 20_000, 'the owner’s own workers idle');
    const client = await lender.connect();
    expect(await client.map((x: number) => x + 1, [1, 2, 3, 4], { chunkSize: 1 })).toEqual([2, 3, 4, 5]);
  });
});

/** Waits until nothing of a grant, a demand (its turn in `wstamp` too) or a chunk attempt is left in the cluster's Redis keys. */
async function untilNoGrantsLeft(c: TestCluster): Promise<void> {
  let last: Awaited<ReturnType<typeof clusterKeys>> | undefined;
  await until(
    async () => {
      last = await clusterKeys(c.redisUrl, c.name);
      return !last.keys.some((k) => k.startsWith('slot:')) && last.want.length === 0 && last.wstamp.length === 0 && last.att.length === 0;
    },
    15_000,
    'no slot keys, no demand (nor its turns), no attempts left',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}: ${JSON.stringify(last)}`);
  });
}
