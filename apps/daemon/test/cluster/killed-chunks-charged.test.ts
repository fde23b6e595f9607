/**
 * The cluster's fair-share ledger charges a chunk whose worker died under it
 * (its item ran to its timeout) the time it held the worker, as the local fair
 * share does. Before, only a chunk's `done` carried its time: an app whose
 * items all ran to their timeout was never charged, stayed the least-served
 * app of the cluster, and every lender granted it first for as long as it had
 * work. An honest app on another daemon then got none of a third daemon's
 * worker (its 40 items all ran on its own daemon's one worker; 17 on the
 * lender beside an app whose items return instead).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../support/cluster.js';
import { figure } from '../support/figures.js';
import { rawMap } from '../support/raw-map.js';
import { startRedis, stopAllRedis } from '../support/redis.js';
import { sleeperSource } from '../support/sleeper.js';
import { until } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-test-'));
afterAll(async () => {
  await stopAllRedis();
  rmSync(dir, { recursive: true, force: true });
});

describe('fair share of lent workers beside an app whose items time out', () => {
  it('an app whose every item runs to its timeout is charged for it: an honest app on another daemon gets a share of the lender', async () => {
    const redis = await startRedis();
    await using c = await startCluster(3, { workers: 1, redisUrl: redis.url });
    const [hostileD, honestD, lender] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0], (typeof c.daemons)[0]];
    await c.untilMembers(3);
    const hostile = await hostileD.connect();
    const stop = new AbortController();
    const flood = hostile
      .mapSettled(
        () => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1e9);
          return 0;
        },
        Array.from({ length: 200 }, (_, i) => i),
        { chunkSize: 1, timeoutMs: 1_000, retries: 0, signal: stop.signal },
      )
      .catch(() => undefined);
    await until(async () => (await lender.status()).workers.some((w) => w.busy), 15_000, 'the lender lending to the hostile app');
    await new Promise((r) => setTimeout(r, 2_000));

    const sock = await honestD.raw({ hello: true });
    const items = Array.from({ length: 30 }, (_, i) => i);
    const out = await rawMap(sock, sleeperSource(join(dir, 'honest.log'), 200), items, { chunkSize: 1, deadlineMs: 60_000 });
    expect(out.length).toBe(items.length);
    for (const [i, o] of out) expect(o.ok && (o.value as number[])[0]).toBe(i);
    // The honest daemon's worker while its own client had work (it was not lent then, nor killed).
    const own = new Set(await honestD.workerPids());
    const elsewhere = out.filter(([, o]) => o.ok && !own.has((o.value as number[])[1]!)).length;
    figure('killed-chunks-charged.honest-items-elsewhere', elsewhere);
    // Uncharged, the hostile app had every lent worker: 0 of 30 here. Charged, about a quarter (half the lender's time
    // less its restarts after each timeout).
    expect(elsewhere).toBeGreaterThanOrEqual(4);
    stop.abort();
    await flood;
    await hostile.close();
  }, 120_000);
});
