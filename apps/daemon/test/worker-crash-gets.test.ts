/**
 * Queue items handed to a task's get that its worker never read. The daemon took
 * the item from its queue as it wrote the reply to the worker's channel; a worker
 * that then died by itself (a task that spins after a get it did not await, then
 * crashes or runs out of memory) lost it. A worker now acknowledges each item as
 * it reads it, and the items it never read go back to the front of their queues,
 * in their order, when it dies. One it read is its task's: never handed twice.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 1 });

/** Items `q` holds, taken without waiting. */
async function drain(c: Client, q: string): Promise<unknown[]> {
  const out: unknown[] = [];
  while ((await c.queue(q).size()) > 0) out.push(await c.queue(q).get({ timeoutMs: 1000 }));
  return out;
}

describe('queue items handed to a worker that dies before it reads them', () => {
  it('go back to the front of their queues, in order, when the worker kills itself while it spins', async () => {
    const putter = await d.connect({ name: 'putter' });
    const run = client.mapSettled(
      async (_: number, ctx) => {
        const q = ctx.queue('jobs');
        // Three gets not awaited, then the worker never reads again: the items handed to them stay unread.
        q.get().catch(() => {});
        q.get().catch(() => {});
        q.get().catch(() => {});
        await ctx.queue('blocked').put(1);
        const t = Date.now();
        while (Date.now() - t < 1500) {
          /* spins */
        }
        process.kill(process.pid, 'SIGKILL');
      },
      [0],
      { retries: 0 },
    );
    await putter.queue('blocked').get({ timeoutMs: 10_000 });
    for (const item of ['a', 'b', 'c']) await putter.queue('jobs').put(item); // to the three gets
    await putter.queue('jobs').put('d'); // no get left for it: it waits in the queue
    const [outcome] = await run;
    expect(outcome!.status).toBe('rejected');
    expect(await drain(putter, 'jobs')).toEqual(['a', 'b', 'c', 'd']);
  }, 60_000);

  it('its own get still blocked takes none of them: they come back in order', async () => {
    const putter = await d.connect({ name: 'putter' });
    const run = client.mapSettled(
      async (_: number, ctx) => {
        const q = ctx.queue('four-gets');
        // Four gets, three items to come: the fourth stays blocked at the primary as the worker dies.
        for (let i = 0; i < 4; i++) q.get().catch(() => {});
        await ctx.queue('four-blocked').put(1);
        const t = Date.now();
        while (Date.now() - t < 1500) {
          /* spins */
        }
        process.kill(process.pid, 'SIGKILL');
      },
      [0],
      { retries: 0 },
    );
    await putter.queue('four-blocked').get({ timeoutMs: 10_000 });
    for (const item of ['a', 'b', 'c']) await putter.queue('four-gets').put(item);
    const [outcome] = await run;
    expect(outcome!.status).toBe('rejected');
    expect(await drain(putter, 'four-gets')).toEqual(['a', 'b', 'c']);
  }, 60_000);

  it('an item a task read stays taken when its worker dies afterwards', async () => {
    await client.queue('once').put('a');
    const [got] = await client.map(async (_: number, ctx) => ctx.queue('once').get(), [0]);
    expect(got).toBe('a');
    const [crashed] = await client.mapSettled(
      () => {
        process.kill(process.pid, 'SIGKILL');
      },
      [0],
      { retries: 0 },
    );
    expect(crashed!.status).toBe('rejected');
    // The new worker is up: the queue has nothing back.
    expect(await client.map((x: number) => x + 1, [1])).toEqual([2]);
    expect(await client.queue('once').size()).toBe(0);
  }, 60_000);
});
