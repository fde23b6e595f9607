/**
 * A lender's own light client beside an app on another daemon whose many small batches keep the
 * lender's idle workers lent (docs/sharing.md). A lent worker comes back between the owner's
 * chunks once the lender's own client has work; the lender asked for it only at its next 100 ms
 * tick, so a submit of its own client waited for the tick far more often than for the remote
 * app's chunks of 5 ms, which beside the same app on its own daemon it never did. Without a
 * reserve worker, which would otherwise take such a submit and hide the wait.
 */
import { expect, it } from 'vitest';
import { connect, type Client } from '@corepool/client';
import { startCluster } from '../support/cluster.js';
import { figure, percentile } from '../support/figures.js';
import { metricValue, scrapeMetrics } from '../support/metrics.js';

/** Awaited submits 50 ms apart for `ms`: how long each took. */
async function submits(c: Client, ms: number): Promise<number[]> {
  const took: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t0 = performance.now();
    expect(await c.submit((x: number) => x + 1, 1)).toBe(2);
    took.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 50));
  }
  return took;
}

it("a lender's own client is not kept waiting for lent workers by a remote app's small batches", async () => {
  await using c = await startCluster(2, { workers: 2 });
  await c.untilMembers(2);
  const [owner, lender] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
  const neighbour = await connect(lender.url, { token: c.token });
  const hostiles = await Promise.all(Array.from({ length: 4 }, () => connect(owner.url, { token: c.token })));
  try {
    await neighbour.submit((x: number) => x, 1);
    const alone = await submits(neighbour, 3_000);
    let stop = false;
    let batches = 0;
    const items = Array.from({ length: 8 }, (_, i) => i);
    const loops = hostiles.map(async (h) => {
      while (!stop) {
        const out = await h.map(
          (x: number) => {
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
            return x * 2;
          },
          items,
          { chunkSize: 1 },
        );
        expect(out).toEqual(items.map((x) => x * 2));
        batches++;
      }
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const lentBefore = batches;
    // How many of the lender's workers were lent at most while its client submitted: some, or nothing was tried.
    let mostLent = 0;
    let sampled = false;
    const sampling = (async () => {
      while (!stop) {
        const text = await scrapeMetrics(lender.port, c.token);
        mostLent = Math.max(mostLent, metricValue(text, 'corepool_cluster_workers_lent') ?? 0);
        sampled = true;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const beside = await submits(neighbour, 5_000);
    stop = true;
    await Promise.all([...loops, sampling]);
    const slow = beside.filter((t) => t > 60).length;
    figure('lenderReclaim', {
      alone: { submits: alone.length, p50: percentile(alone, 50), p90: percentile(alone, 90) },
      beside: { submits: beside.length, p50: percentile(beside, 50), p90: percentile(beside, 90), over60ms: slow },
      remoteBatches: batches,
      mostLent,
    });
    // The remote app kept its batches going all along, on the lender's workers too...
    expect(batches - lentBefore).toBeGreaterThan(20);
    expect(sampled).toBe(true);
    expect(mostLent).toBeGreaterThan(0);
    // ...and the lender's client got its workers back without waiting out ticks: 22-24 of its 46-51
    // submits waited over 60 ms before (p90 100-128 ms), 0-4 of 67-80 now (p90 26-49 ms).
    expect(slow).toBeLessThan(beside.length / 8);
  } finally {
    for (const h of hostiles) await h.close();
    await neighbour.close();
  }
});
