/**
 * LiteHistogram exposes exactly what prom-client's own Histogram does for the
 * same observations (bucket edges included), so the cheaper one changes no
 * byte of /metrics.
 */
import { describe, expect, it } from 'vitest';
import { Histogram, Registry } from 'prom-client';
import { LiteHistogram } from '../src/primary/lite-histogram.js';

describe('LiteHistogram', () => {
  it("renders the same text as prom-client's Histogram", async () => {
    const buckets = [0.001, 0.01, 0.1, 1, 10];
    const a = new Registry();
    const b = new Registry();
    const reference = new Histogram({ name: 'h_seconds', help: 'help text', buckets, registers: [a] });
    const lite = new LiteHistogram({ name: 'h_seconds', help: 'help text', buckets, registry: b });
    expect(await b.metrics()).toBe(await a.metrics());
    for (const v of [0, 0.0005, 0.001, 0.0011, 0.05, 0.1, 3, 10, 11, 1e9]) {
      reference.observe(v);
      lite.observe(v);
    }
    expect(await b.metrics()).toBe(await a.metrics());
  });
});
