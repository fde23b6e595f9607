/**
 * Fairness across the cluster (docs/cluster.md): two apps on two daemons,
 * both with queued work, get about equal worker time from a third daemon's
 * workers: a lender grants to the app with demand and the lowest score in the
 * cluster-wide ledger, and asks back a grant whose app has run far ahead.
 * Checked as how far the second app got when the first finished.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../support/cluster.js';
import { executions, sleeperSource } from '../support/sleeper.js';
import { rawMap } from '../support/raw-map.js';
import { figure } from '../support/figures.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-lend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fairness across the cluster', () => {
  it('two apps on two daemons, both with queued work, get about equal worker time from a third daemon', async () => {
    await using c = await startCluster(3, { workers: 2 });
    const [a, b, lender] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0], (typeof c.daemons)[0]];
    const lenderPids = new Set(await lender.workerPids());
    const n = 60;
    const items = Array.from({ length: n }, (_, i) => i);
    const sa = await a.raw({ hello: true });
    const sb = await b.raw({ hello: true });
    const logs = [join(dir, 'fair-a.log'), join(dir, 'fair-b.log')] as const;
    // When the first app finishes, how far the other got: with equal shares, about as far.
    let otherDone = -1;
    const run = (sock: typeof sa, log: string, other: string) =>
      rawMap(sock, sleeperSource(log, 200), items, { chunkSize: 1, deadlineMs: 50_000 }).then((o) => {
        if (otherDone < 0) otherDone = executions(other).size;
        return o;
      });
    const [oa, ob] = await Promise.all([run(sa, logs[0], logs[1]), run(sb, logs[1], logs[0])]);
    expect(oa.length).toBe(n);
    expect(ob.length).toBe(n);
    // The lender's workers served both apps.
    const onLender = (o: typeof oa): number => o.filter(([, x]) => x.ok && lenderPids.has((x.value as number[])[1]!)).length;
    figure('lending.fair.on-lender', [onLender(oa), onLender(ob)]);
    figure('lending.fair.other-done-when-first-finished', otherDone);
    expect(onLender(oa)).toBeGreaterThan(0);
    expect(onLender(ob)).toBeGreaterThan(0);
    // Loose bound: one app holding both lent workers throughout would leave the other at ~half.
    expect(otherDone).toBeGreaterThanOrEqual(0.7 * n);
  });
});
