/**
 * One app filling a cluster's Redis (queue items from eight loops in a 32 MB Redis; locks of new
 * names in an 8 MB one) must be refused with E_LIMIT before Redis is out of memory, as a single
 * daemon refuses growth past `--max-state-mb` (docs/sharing.md): a neighbour's adds and same-size
 * sets on the other daemon go on, Redis never answers OOM, and taking items out makes room again
 * (docs/cluster.md, "Shared state on Redis"). Serial: it starts its own redis-server and fills it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connect, type Client } from '@corepool/client';
import { startCluster } from '../support/cluster.js';
import { startRedis, stopAllRedis } from '../support/redis.js';
import { figure } from '../support/figures.js';
import { until } from '../support/wait.js';

afterAll(async () => {
  await stopAllRedis();
});

const code = (e: unknown): string => (e as { code?: string }).code ?? String(e);

/**
 * Runs `flood` from one app on the first daemon beside a neighbour's adds on the second, in a Redis of
 * `maxmemory`; checks the flood was let in (`least` writes) then refused with E_LIMIT only, and the
 * neighbour untouched. `flood(c, loop, i)` makes write i of one of eight loops, each on a connection
 * of its own (a connection may hold 10,000 locks: the flood must not stop at that bound instead).
 */
async function fillBeside(
  label: string,
  maxmemory: string,
  least: number,
  flood: (c: Client, loop: number, i: number) => Promise<unknown>,
  after?: (c: Client) => Promise<void>,
): Promise<void> {
  const redis = await startRedis(['--save', '', '--appendonly', 'no', '--maxmemory', maxmemory, '--maxmemory-policy', 'noeviction']);
  await using c = await startCluster(2, { redisUrl: redis.url, workers: 1 });
  await c.untilMembers(2);
  const admin = new Redis(redis.url);
  const hostiles = await Promise.all(Array.from({ length: 8 }, () => connect(c.daemons[0]!.url, { token: c.token })));
  const neighbour = await connect(c.daemons[1]!.url, { token: c.token });
  try {
    const counter = neighbour.value<number>('neighbour', { initial: 0 });
    const name = neighbour.value<string>('label');
    await name.set('a'.repeat(1_000));
    await counter.get();
    const neighbourErrors: string[] = [];
    let adds = 0;
    let stop = false;
    const beside = (async () => {
      while (!stop) {
        await counter.add(1).then(
          () => adds++,
          (e: unknown) => neighbourErrors.push(code(e)),
        );
      }
    })();
    const refusals: string[] = [];
    let made = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, loop) => {
        // Past the first refusal each loop tries 20 more: refused each time, not let through now and then.
        for (let i = 0, tries = 0; tries < 20 && made < 100_000; i++) {
          await flood(hostiles[loop]!, loop, i).then(
            () => made++,
            (e: unknown) => {
              refusals.push(code(e));
              tries++;
            },
          );
        }
      }),
    );
    // The neighbour's value rewritten at its size: a write that does not grow passes a full state.
    await name.set('b'.repeat(1_000)).catch((e: unknown) => neighbourErrors.push(code(e)));
    stop = true;
    await beside;
    const errors = await admin.info('errorstats');
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    figure(label, {
      made,
      refusals: [...new Set(refusals)],
      usedMb: used / 2 ** 20,
      neighbourAdds: adds,
      neighbourErrors: neighbourErrors.length,
    });
    expect(made).toBeGreaterThan(least); // let in until near the bound
    expect(new Set(refusals)).toEqual(new Set(['E_LIMIT']));
    expect(neighbourErrors).toEqual([]);
    expect(await counter.get()).toBe(adds);
    expect(errors).not.toContain('errorstat_OOM');
    for (const d of c.daemons) expect(d.events('cluster-lease-lost')).toEqual([]);
    await after?.(hostiles[0]!);
  } finally {
    admin.disconnect();
    await Promise.all(hostiles.map((h) => h.close()));
    await neighbour.close();
  }
}

describe('a Redis filled by one app', () => {
  it('a flood of puts is refused with E_LIMIT before Redis is full; the neighbour’s adds and sets on the other daemon go on', async () => {
    const item = 'x'.repeat(32 * 1024);
    await fillBeside(
      'stateRoomPuts',
      '32mb',
      100,
      (c) => c.queue<string>('flood').put(item),
      async (c) => {
        // Taking items out makes room again (once their gets are acknowledged and Redis read again).
        const q = c.queue<string>('flood');
        for (let i = 0; i < 200; i++) await q.get();
        await until(
          async () =>
            await q.put(item).then(
              () => true,
              () => false,
            ),
          5_000,
          'room for a put again',
        );
      },
    );
  });

  it('a flood of new locks (each a key in Redis) is refused the same way', async () => {
    await fillBeside('stateRoomLocks', '8mb', 10_000, (c, loop, i) => c.lock(`${loop}-${i}-`.padEnd(256, 'l')).acquire({ timeoutMs: 0 }));
  });
});
