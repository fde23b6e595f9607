/**
 * Cluster mode: a worker's quotas of locks held or awaited and of blocked
 * queue gets (10,000 each, shared by every app whose tasks run there) bound
 * what it holds at once, not what it ever held. Their counts went down only
 * where each entry also counted in the state's memory (one machine): in
 * cluster mode every lock a worker's tasks ever took and every get that ever
 * waited counted for good, and past 10,000 of them in the worker's life each
 * app's tasks there got E_LIMIT; so with a connection's subscriptions.
 */
import { describe, expect, it } from 'vitest';
import { startCluster } from '../support/cluster.js';
import { freeLockOutcomes } from '../support/free-locks.js';

/** Rounds of 1,000 calls at once: 11,000 in all, past the quota, never more than a tenth of it at a time. */
const ROUNDS = 11;

describe('cluster mode: a worker or a connection lives past its quotas', () => {
  it("11,000 locks taken and released, and 11,000 gets that waited, by one app's tasks: another app's tasks on that worker still get locks and block on gets", async () => {
    await using c = await startCluster(1, { workers: 1 });
    const d = c.daemons[0]!;
    await c.untilMembers(1);
    const busy = await d.connect();
    const other = await d.connect();
    const refused = await busy.map(
      async (rounds: number, ctx) => {
        const codes: Record<string, number> = {};
        const fail = (err: unknown): void => {
          const code = (err as { code?: string }).code ?? String(err);
          codes[code] = (codes[code] ?? 0) + 1;
        };
        for (let r = 0; r < rounds; r++) {
          await Promise.all(
            Array.from({ length: 1000 }, (_, i) =>
              ctx
                .lock(`turn-lock-${r}-${i}`)
                .withLock(() => undefined)
                .catch(fail),
            ),
          );
        }
        for (let r = 0; r < rounds; r++) {
          await Promise.all(
            Array.from({ length: 1000 }, (_, i) =>
              ctx
                .queue(`turn-queue-${i}`)
                .get({ timeoutMs: 5 })
                .then(
                  () => fail(new Error('an item in an empty queue')),
                  (err: { code?: string }) => {
                    if (err.code !== 'E_TIMEOUT') fail(err);
                  },
                ),
            ),
          );
        }
        return codes;
      },
      [ROUNDS],
    );
    expect(refused).toEqual([{}]);
    const status = await d.status();
    expect([status.lockWaiters, status.blockedGets]).toEqual([0, 0]);
    // Another app, the same worker (one): locks as before, and a get that blocks until its item comes.
    expect(await freeLockOutcomes(other, 8)).toEqual(Array(8).fill('ok'));
    const got = other.submit(async (q: string, ctx) => ctx.queue<string>(q).get({ timeoutMs: 10_000 }), 'turn-other');
    await new Promise((r) => setTimeout(r, 200));
    await other.queue<string>('turn-other').put('item');
    expect(await got).toBe('item');
    await busy.close();
    await other.close();
  }, 90_000);

  it('11,000 subscriptions made and ended by one connection: it still subscribes', async () => {
    await using c = await startCluster(1, { workers: 1 });
    const d = c.daemons[0]!;
    await c.untilMembers(1);
    const client = await d.connect();
    const ended: Error[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const offs = Array.from({ length: 1000 }, (_, i) =>
        client.value<number>(`turn-sub-${i}`).subscribe(
          () => {},
          (err) => ended.push(err),
        ),
      );
      // Its subscribes are taken (a later request of the connection answered), then all ended.
      await client.queue('turn-barrier').size();
      for (const off of offs) off();
    }
    await client.queue('turn-barrier').size();
    const seen = new Promise<number>((resolve, reject) => client.value<number>('turn-sub-last').subscribe((v) => resolve(v), reject));
    await client.value<number>('turn-sub-last').set(7);
    expect(await seen).toBe(7);
    expect(ended).toEqual([]);
    await client.close();
  }, 60_000);
});
