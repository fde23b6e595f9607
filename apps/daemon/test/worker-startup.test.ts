/**
 * What a worker loads before its first chunk is on every daemon start's
 * critical path: the primary listens once each worker says it is ready.
 * node:crypto (digests) and node:worker_threads (the orphan guard's thread)
 * load when first needed; the realm guard's baselines are taken right after
 * `ready`, in the same turn, so a chunk still never runs without them.
 */
import { describe, expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';

describe('a worker starting', { timeout: 60_000 }, () => {
  it('has not loaded node:crypto to run source tasks, and has its orphan guard once a chunk ran', async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect({ name: 'A' });
    const loaded = await c.submit(() => {
      const list = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
      return { crypto: list.includes('NativeModule crypto'), threads: list.includes('NativeModule worker_threads') };
    }, 0);
    expect(loaded).toEqual({ crypto: false, threads: true });
  });

  it('keeps the realm baseline taken after ready: a global one app adds is gone for the next app', async () => {
    await using d = await startDaemon({ workers: 1 });
    const a = await d.connect({ name: 'A' });
    const b = await d.connect({ name: 'B' });
    expect(
      await a.submit(() => {
        (globalThis as { leaked?: number }).leaked = 1;
        return (globalThis as { leaked?: number }).leaked;
      }, 0),
    ).toBe(1);
    expect(await b.submit(() => (globalThis as { leaked?: number }).leaked ?? 'none', 0)).toBe('none');
  });
});
