/**
 * A task blocked in queue.get whose worker is killed (its item's timeout): the
 * daemon told the client E_TIMEOUT, then sent SIGKILL, and let go of the
 * worker's blocked get only at its exit, a moment later. A put right after the
 * client heard the timeout went to that get, written to a channel nobody would
 * read: lost (8 of 10 trials in a review). The get now ends at the kill.
 */
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';

it('an item put right after a blocked task timed out stays in the queue', { timeout: 120_000 }, async () => {
  await using d = await startDaemon({ workers: 2 });
  const a = await d.connect({ name: 'timed' });
  const b = await d.connect({ name: 'putter' });
  for (let trial = 0; trial < 6; trial++) {
    const q = `jobs-${trial}`;
    await expect(a.map(async (name: string, ctx) => ctx.queue(name).get(), [q], { timeoutMs: 300, retries: 0 })).rejects.toMatchObject({
      code: 'E_TIMEOUT',
    });
    await b.queue(q).put('job');
    // Time for the killed worker to exit and for anything it held to come back.
    await new Promise((r) => setTimeout(r, 500));
    expect(await b.queue<string>(q).get({ timeoutMs: 5000 }), `trial ${trial}`).toBe('job');
  }
});
