/**
 * /metrics and status in cluster mode: the cluster's gauges (daemons, workers
 * lent and borrowed) are exposed, and the counters move as standalone (a state
 * operation goes to Redis through the same door and is counted).
 */
import { describe, expect, it } from 'vitest';
import { startCluster } from '../support/cluster.js';
import { metricValue, scrapeMetrics } from '../support/metrics.js';
import { until } from '../support/wait.js';

describe('cluster metrics', () => {
  it('daemons of the cluster, workers lent and borrowed, items and state ops', async () => {
    await using c = await startCluster(2);
    await c.untilMembers(2);
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    await until(
      async () => metricValue(await scrapeMetrics(a.port, c.token), 'corepool_cluster_daemons') === 2,
      15_000,
      'two daemons in the metrics',
    );
    const client = await a.connect({ name: 'cluster-app' });
    expect(
      await client.map(
        (x: number) => x + 1,
        Array.from({ length: 100 }, (_, i) => i),
      ),
    ).toHaveLength(100);
    await client.value<number>('cluster-metrics').set(1);
    const text = await scrapeMetrics(a.port, c.token);
    expect(metricValue(text, 'corepool_items_done_total{client="cluster-app"}')).toBe(100);
    expect(metricValue(text, 'corepool_state_ops_total{op="value.set"}')).toBe(1);
    expect(metricValue(text, 'corepool_cluster_workers_lent')).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, 'corepool_cluster_workers_borrowed')).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, 'corepool_workers')).toBe(2);
    const s = await a.status();
    expect(s.latency).toBeDefined();
    expect(s.clients.find((x) => x.name === 'cluster-app')?.itemsDone).toBe(100);
    // The other daemon counts its own.
    expect(metricValue(await scrapeMetrics(b.port, c.token), 'corepool_cluster_daemons')).toBe(2);
  });
});
