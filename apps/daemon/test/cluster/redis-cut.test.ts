/**
 * A daemon cut off from Redis by a link that silently drops everything (a
 * TCP proxy that blackholes: no reset ever comes), beside a daemon that still
 * reaches it: the cut daemon refuses state operations with E_UNAVAILABLE
 * rather than acknowledging writes it cannot make (nothing it refused is
 * applied); the other daemon takes back the chunks it had lent the cut one
 * and completes its batch; the cut daemon's own client finishes its batch on
 * its local workers; once the link heals, the cut daemon rejoins and serves
 * state again.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { startCluster } from '../support/cluster.js';
import { startProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

const slow = (x: number): [number, number] => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 40);
  return [x, process.ppid];
};

describe('a daemon cut off from Redis', () => {
  it('refuses state with E_UNAVAILABLE, its lent chunks run elsewhere, its own batch completes; it rejoins when healed', async () => {
    const proxy = await startProxy(6379);
    try {
      await using c = await startCluster(1, { workers: 1 });
      const a = c.daemons[0]!;
      const b = await c.add({ workers: 2, args: ['--cluster', proxy.url] });
      await c.untilMembers(2);
      const onA = await connect(a.url, { token: c.token });
      const onB = await connect(b.url, { token: c.token });
      try {
        const counter = onA.value<number>('n', { initial: 0 });
        await counter.set(0);
        expect(await onB.value<number>('n').add(1)).toBe(1);

        const n = 120;
        const aBatch = onA.map(
          slow,
          Array.from({ length: n }, (_, i) => i),
          { chunkSize: 1 },
        );
        // A's items are running on B's workers too before the cut.
        await until(async () => (await a.status()).cluster!.daemons.some((d) => d.url === b.url && d.busy > 0), 20_000, 'B busy');
        proxy.set('blackhole');
        const bBatch = onB.map(
          slow,
          Array.from({ length: 40 }, (_, i) => i),
          { chunkSize: 1 },
        );

        // B refuses writes it cannot make durable: within its lease time, at once after that.
        let refused = '';
        let applied = 0;
        await until(
          async () => {
            refused = await onB
              .value<number>('n')
              .add(100)
              .then(
                () => (applied++, 'applied'),
                (e: { code?: string }) => e.code ?? 'unknown',
              );
            return refused === 'E_UNAVAILABLE';
          },
          20_000,
          'E_UNAVAILABLE from the cut daemon',
        );
        const aResults = await aBatch;
        expect(aResults.map(([x]) => x)).toEqual(Array.from({ length: n }, (_, i) => i));
        const bResults = await bBatch;
        expect(bResults.map(([x]) => x)).toEqual(Array.from({ length: 40 }, (_, i) => i));
        expect(bResults.every(([, ppid]) => ppid === b.pid)).toBe(true);

        // Only what B acknowledged was applied: nothing it refused.
        expect(await counter.get()).toBe(1 + 100 * applied);
        proxy.set('pass');
        await until(
          async () =>
            await onB
              .value<number>('n')
              .add(1)
              .then(() => true)
              .catch(() => false),
          30_000,
          'B serves state again',
        );
        await c.untilMembers(2, 30_000);
      } finally {
        await onA.close();
        await onB.close();
      }
    } finally {
      await proxy.close();
    }
  });
});
