/**
 * What a worker does before it says it is ready is on every daemon start's
 * critical path: the primary listens once each worker is ready. Without an
 * initializer, `ready` goes out before the realm guard takes its baselines,
 * in the same synchronous turn, so a chunk still never runs without them
 * (an initializer's case is in init.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';

describe('a worker starting', { timeout: 60_000 }, () => {
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
