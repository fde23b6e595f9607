/**
 * A task's shared-state requests are the work of the client whose chunk runs
 * (worker-state-link.ts), through a real daemon: a task writing 512 KiB values
 * to a value a neighbour subscribes to, its client's connection silent
 * meanwhile, has them charged to that client (status `primaryMs`: at least
 * their bytes' charge, 1.8 ms a write, past a turn's budget every time, so its
 * worker is paused and read again at every write); every write lands and is
 * pushed, and the neighbour adding beside it is answered every time, its own
 * figure holding only its own work. Before, a task's requests were charged to
 * nobody: its client's figure stayed at what its submit cost. A worker that dies
 * while its channel is held hands on its last messages first: its crash is
 * blamed on the item that caused it, not on one that had succeeded before it, in
 * its own app or another's (9 runs in 10 blamed the wrong item when the exit was
 * handled before the held messages).
 */
import { describe, expect, it } from 'vitest';

import { RECEIVED_BYTE_MS, TURN_BUDGET_MS } from '../src/primary/turn-share.js';
import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

const WRITES = 100;
const BYTES = 512 * 1024;

describe("a task's shared-state requests", () => {
  it('are charged to its client, its worker held while that share is spent; a neighbour is answered throughout', async () => {
    await using d = await startDaemon({ workers: 2 });
    const writer = await d.connect({ name: 'task-writer' });
    const neighbour = await d.connect({ name: 'neighbour' });
    const counter = neighbour.value<number>('count', { initial: 0 });
    const seen: number[] = [];
    const stop = neighbour.value<Uint8Array>('big').subscribe((v) => {
      if (v instanceof Uint8Array) seen.push(v[0]!);
    });
    expect(BYTES * RECEIVED_BYTE_MS).toBeGreaterThan(TURN_BUDGET_MS); // each write alone spends a turn's share

    const written = writer.map(
      async (n: { writes: number; bytes: number }, ctx) => {
        for (let i = 0; i < n.writes; i++) await ctx.value<Uint8Array>('big').set(new Uint8Array(n.bytes).fill(i));
        return n.writes;
      },
      [{ writes: WRITES, bytes: BYTES }],
    );
    let adds = 0;
    let done = false;
    void written.finally(() => (done = true));
    while (!done || adds < 50) {
      expect(await counter.add(1)).toBe(++adds);
    }
    expect(await written).toEqual([WRITES]);
    await until(() => seen.at(-1) === WRITES - 1, 10_000, 'the last write pushed');
    expect(seen).toEqual([...seen].sort((a, b) => a - b)); // in order, coalesced at most

    const s = await d.status();
    const of = (name: string) => s.clients.find((c) => c.name === name)!;
    expect(of('task-writer').primaryMs).toBeGreaterThanOrEqual(Math.floor(WRITES * BYTES * RECEIVED_BYTE_MS));
    expect(of('neighbour').primaryMs).toBeLessThan(of('task-writer').primaryMs!);
    stop();
    await writer.close();
    await neighbour.close();
  });

  it('a worker that dies while its channel is held hands on its last messages first: the item that killed it is blamed, not one that succeeded', async () => {
    await using d = await startDaemon({ workers: 1 });
    const load = await Promise.all([0, 1].map((i) => d.connect({ name: `load-${i}` })));
    let loading = true;
    // Neighbours keep the primary's turns long, so a held channel stays held while the worker's exit arrives.
    const loops = load.map(async (c) => {
      const n = c.value<number>('n', { initial: 0 });
      while (loading) await Promise.all(Array.from({ length: 2000 }, () => n.add(1)));
    });
    const a = await d.connect({ name: 'a' });
    const b = await d.connect({ name: 'b' });
    try {
      for (let trial = 0; trial < 4; trial++) {
        // In one chunk: item 0 writes 6 MiB (its client's share spent: the channel held) and succeeds; item 1 kills the worker.
        const own = await a.mapSettled(
          async ([i, mb]: [number, number], ctx) => {
            if (i === 0) {
              await ctx.value<Uint8Array>('big').set(new Uint8Array(mb * 1024 * 1024).fill(7));
              return 'ok';
            }
            process.kill(process.pid, 'SIGKILL');
            return 'never';
          },
          [
            [0, 6],
            [1, 6],
          ],
          { timeoutMs: 60_000, retries: 0, chunkSize: 2 },
        );
        expect(own[0]).toEqual({ status: 'fulfilled', value: 'ok' });
        expect(own[1]).toMatchObject({ status: 'rejected', reason: { code: 'E_WORKER_CRASHED', index: 1 } });
        // Another app's item that succeeded before the next app's item killed the same worker.
        const [mine, theirs] = await Promise.allSettled([
          a.map(
            async (mb: number, ctx) => {
              await ctx.value<Uint8Array>('big').set(new Uint8Array(mb * 1024 * 1024).fill(8));
              return 'a-ok';
            },
            [6],
            { retries: 0 },
          ),
          b.map(() => process.kill(process.pid, 'SIGKILL'), [0], { retries: 0 }),
        ]);
        expect(mine).toEqual({ status: 'fulfilled', value: ['a-ok'] });
        expect(theirs).toMatchObject({ status: 'rejected', reason: { code: 'E_WORKER_CRASHED' } });
      }
    } finally {
      loading = false;
      await Promise.all(loops);
    }
  }, 120_000);
});
