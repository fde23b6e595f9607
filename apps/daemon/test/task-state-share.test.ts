/**
 * A task's shared-state requests are the work of the client whose chunk runs
 * (worker-state-link.ts), through a real daemon: a task writing 512 KiB values
 * to a value a neighbour subscribes to, its client's connection silent
 * meanwhile, has them charged to that client (status `primaryMs`: at least
 * their bytes' charge, 1.8 ms a write, past a turn's budget every time, so its
 * worker is paused and read again at every write); every write lands and is
 * pushed, and the neighbour adding beside it is answered every time, its own
 * figure holding only its own work. Before, a task's requests were charged to
 * nobody: its client's figure stayed at what its submit cost.
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
});
