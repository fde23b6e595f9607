/**
 * Weights across the cluster (docs/cluster.md): the ledger lenders grant by
 * holds worker time divided by the app's weight, so of two apps on two
 * daemons, both with queued work, the one of weight 3 gets most of a third
 * daemon's lent workers, where equal weights split them about evenly
 * (cluster-fairness.test.ts). Counted from where each item ran.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION } from '@corepool/protocol';
import { startCluster } from '../support/cluster.js';
import { sleeperSource } from '../support/sleeper.js';
import { rawMap } from '../support/raw-map.js';
import { figure } from '../support/figures.js';
import type { TestDaemon } from '../support/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A raw client of `d` that asks for `weight` in its hello. */
async function weighted(d: TestDaemon, weight: number): Promise<Awaited<ReturnType<TestDaemon['raw']>>> {
  const sock = await d.raw();
  sock.send({ type: 'hello', v: PROTOCOL_VERSION, token: d.token, name: `w${weight}`, weight });
  expect(await sock.next((m) => m.type === 'welcome')).toMatchObject({ weight });
  return sock;
}

describe('weights across the cluster', () => {
  it("an app of weight 3 gets most of a third daemon's lent workers beside an app of weight 1", async () => {
    await using c = await startCluster(3, { workers: 2 });
    const [a, b, lender] = c.daemons as [TestDaemon, TestDaemon, TestDaemon];
    await c.untilMembers(3);
    const lenderPids = new Set(await lender.workerPids());
    const n = 60;
    const items = Array.from({ length: n }, (_, i) => i);
    const heavy = await weighted(a, 3);
    const light = await weighted(b, 1);
    const run = (sock: typeof heavy, log: string) => rawMap(sock, sleeperSource(log, 200), items, { chunkSize: 1, deadlineMs: 60_000 });
    const [oh, ol] = await Promise.all([run(heavy, join(dir, 'heavy.log')), run(light, join(dir, 'light.log'))]);
    expect(oh.length).toBe(n);
    expect(ol.length).toBe(n);
    const onLender = (o: typeof oh): number => o.filter(([, x]) => x.ok && lenderPids.has((x.value as number[])[1]!)).length;
    figure('cluster.weights.on-lender', { heavy: onLender(oh), light: onLender(ol) });
    // Equal weights split the lender about evenly; weight 3 against 1 leaves the light app little of it.
    expect(onLender(oh)).toBeGreaterThan(1.5 * onLender(ol));
  });
});
