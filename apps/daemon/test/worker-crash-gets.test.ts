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
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type TestDaemon, useDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 1 });

/** Items `q` holds, taken without waiting. */
async function drain(c: Client, q: string): Promise<unknown[]> {
  const out: unknown[] = [];
  while ((await c.queue(q).size()) > 0) out.push(await c.queue(q).get({ timeoutMs: 1000 }));
  return out;
}

/**
 * A task that sends `gets` gets on queue `q` without awaiting them, and once the daemon has them (a put
 * answered behind them) writes a flag file and spins, reading nothing, then kills its own worker; the
 * putter puts `items` once the flag is there, so that none reaches the worker before it stops reading
 * (waiting for a message instead, a loaded machine let the worker read the first item with the put's
 * reply). Resolves to what `q` holds once the task's batch has failed; with `blockedGet`, first what a
 * consumer's get, blocked on the emptied queue before the worker died, was handed.
 */
async function getsThenDeath(q: string, gets: number, items: string[], { blockedGet = false } = {}): Promise<unknown[]> {
  const putter = await d.connect({ name: 'putter' });
  const consumer = blockedGet ? await d.connect({ name: 'consumer' }) : undefined;
  const flag = join(d.dataDir, `${q}.spinning`);
  const run = client.mapSettled(
    async ([name, n, file]: [string, number, string], ctx) => {
      const queue = ctx.queue(name);
      for (let i = 0; i < n; i++) queue.get().catch(() => {});
      await ctx.queue(`${name}-behind`).put(1);
      process.getBuiltinModule('node:fs').writeFileSync(file, '');
      const t = Date.now();
      while (Date.now() - t < 1500) {
        /* spins: the items handed to its gets stay unread */
      }
      process.kill(process.pid, 'SIGKILL');
    },
    [[q, gets, flag]],
    { retries: 0 },
  );
  await until(() => existsSync(flag), 10_000, 'the task to spin');
  for (const item of items) await putter.queue(q).put(item);
  const blocked = consumer?.queue(q).get({ timeoutMs: 30_000 });
  // The task's gets each had an item: the one blocked get is the consumer's.
  if (consumer !== undefined) await until(async () => (await putter.status()).blockedGets === 1, 10_000, 'the blocked get');
  const [outcome] = await run;
  expect(outcome!.status).toBe('rejected');
  return [...(blocked === undefined ? [] : [await blocked]), ...(await drain(putter, q))];
}

describe('queue items handed to a worker that dies before it reads them', () => {
  it('go back to the front of their queues, in order, when the worker kills itself while it spins', async () => {
    // Three to the three gets; 'd', with no get left for it, waits in the queue.
    expect(await getsThenDeath('jobs', 3, ['a', 'b', 'c', 'd'])).toEqual(['a', 'b', 'c', 'd']);
  }, 60_000);

  it('its own get still blocked takes none of them: they come back in order', async () => {
    // Four gets, three items: the fourth get stays blocked at the primary as the worker dies.
    expect(await getsThenDeath('four-gets', 4, ['a', 'b', 'c'])).toEqual(['a', 'b', 'c']);
  }, 60_000);

  it('a get blocked on the emptied queue as the worker dies takes the first of them, the rest stay in order', async () => {
    // Put back one at a time, newest first (to stand in order), the blocked get was handed 'c'.
    expect(await getsThenDeath('waited', 3, ['a', 'b', 'c'], { blockedGet: true })).toEqual(['a', 'b', 'c']);
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
