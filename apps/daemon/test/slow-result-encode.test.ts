/**
 * A result that takes its worker seconds to encode (a sparse array of 2^32-1 slots): the worker
 * marked its chunk ended before encoding its results, so its orphan guard took the busy main
 * thread for work a task had left behind, the primary replaced the worker and ran the chunk
 * again as if never sent, re-arming its deadline, for ever: no outcome after 4 minutes with
 * timeoutMs 10000, a worker burnt meanwhile (a hostile review). The chunk now runs until its
 * answer is out: the item's deadline ends it.
 */
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';

it('an item whose result takes longer to encode than its timeout fails with E_TIMEOUT, once', { timeout: 60_000 }, async () => {
  await using d = await startDaemon({ workers: 1 });
  const client = await d.connect();
  // Past the orphan guard's ~4.5 s (two 2 s ticks and a 0.5 s check): the deadline must be what ends it.
  const [outcome] = await client.mapSettled(() => new Array(2 ** 32 - 1), [0], { timeoutMs: 7_000, retries: 0 });
  expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'E_TIMEOUT' } });
  expect(d.events('worker-leftover-spin')).toEqual([]);
  expect(await client.map((x: number) => x + 1, [1])).toEqual([2]);
});
