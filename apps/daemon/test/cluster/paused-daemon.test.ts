/**
 * A lender SIGSTOPped past its lease, then resumed (docs/cluster.md, failure
 * table): meanwhile the owner ends the slots it lent and reruns their chunks;
 * on resume the lender finds its lease gone, stops lending, ends what it lent
 * (what its workers report for it now is refused), rejoins as a new
 * incarnation and lends again. Nothing is delivered twice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startCluster } from '../support/cluster.js';
import { executions, expectOnceEach, sleeperSource } from '../support/sleeper.js';
import { figure } from '../support/figures.js';
import { rawMap } from '../support/raw-map.js';
import { MACHINE_REDIS } from '../support/redis.js';
import { until } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-lend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pauses past the 3 s lease (and the owner's 500 ms poll). */
const PAUSE_MS = 4_500;

describe('a paused lender', () => {
  it('loses its lent slots while paused; on resume nothing it ran is delivered twice, and it rejoins and lends again', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const bPids = new Set(await b.workerPids());
    const log = join(dir, 'paused.log');
    const n = 60;
    const items = Array.from({ length: n }, (_, i) => i);
    const sock = await a.raw({ hello: true });
    const run = rawMap(sock, sleeperSource(log, 300), items, { chunkSize: 1, settleMs: 1_000, deadlineMs: 50_000 });
    await until(() => [...executions(log).values()].some((pids) => pids.some((p) => bPids.has(p))), 20_000, 'a chunk run on B');
    b.proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    const lentBefore = b.events('cluster-lent').length;
    const joinedBefore = b.events('cluster-joined').length;
    b.proc.kill('SIGCONT');
    // It finds its lease gone and rejoins as a new incarnation...
    await until(() => b.events('cluster-lease-lost').length > 0, 15_000, 'B lost its lease');
    await until(() => b.events('cluster-joined').length > joinedBefore, 15_000, 'B rejoined');
    // ...and lends again, under its new id.
    await until(() => b.events('cluster-lent').length > lentBefore, 15_000, 'B lending again');
    expectOnceEach(await run, items, log, 'paused-daemon');
    const redis = new Redis(MACHINE_REDIS);
    try {
      // What B's lent workers finished while it was paused reached it after its lease was gone: the report
      // script refused it (fencing), and counted it.
      const stale = Number((await redis.get(`cp:{${c.name}}:stale`)) ?? 0);
      figure('paused-daemon.stale-reports', stale);
      expect(stale).toBeGreaterThan(0);
      expect(b.events('cluster-report-stale').length).toBe(stale);
    } finally {
      redis.disconnect();
    }
  });
});
