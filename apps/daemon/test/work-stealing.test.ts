/**
 * Work stealing: a chunk waiting in a busy worker's pipeline moves to a worker
 * that has gone idle, so a short batch never waits for another batch's long
 * item (nor for a long item of its own batch). Checked as orderings, not
 * timings: B's batch resolves while A's spin still runs; item 2 arrives before
 * item 0. A stolen chunk runs once: it moves only once its old worker's guard
 * thread says it will not run it (the scheduler's side, and the old way where
 * a worker cannot be asked, are in withdrawal.unit.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Client, TaskContext } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { untilRunning } from './support/wait.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

/** An item that never returns. */
const forever = (_: number): number => {
  for (;;);
};

/** Busy-waits `ms` (a CPU-bound task: its worker reads no message meanwhile). */
const spin = (ms: number, ctx: { pid: number }): number => {
  const end = Date.now() + ms;
  while (Date.now() < end);
  return ctx.pid;
};

describe('work stealing', () => {
  it('a short batch of client B finishes while client A’s long item still runs, on the other worker', async () => {
    const a = await d.connect({ name: 'a' });
    const b = await d.connect({ name: 'b' });
    let aFinished = false;
    const aRun = a.submit(spin, 1500).then((pid) => {
      aFinished = true;
      return pid;
    });
    await untilRunning(() => client.status(), 'a');
    const t0 = performance.now();
    const pids = await b.map((_x: number, ctx) => ctx.pid, [1, 2, 3, 4], { chunkSize: 1 });
    const bMs = performance.now() - t0;
    const finishedFirst = !aFinished;
    const aPid = await aRun;
    figure('work-stealing.b-ms', Math.round(bMs));
    expect(finishedFirst).toBe(true);
    // Every one of B's items ran (and was delivered from) the worker A does not occupy.
    expect(pids.every((p) => p !== aPid)).toBe(true);
  });

  it('a chunk queued behind a long item that had only just started moves to the worker that goes idle', async () => {
    const a = await d.connect({ name: 'a2' });
    const b = await d.connect({ name: 'b2' });
    const count = async (name: string, ctx: TaskContext): Promise<number> => {
      await ctx.value<number>(name).add(1);
      return ctx.pid;
    };
    // Compiled on both workers first: a cached task starts without an await, so only reading
    // the abort before the next chunk starts keeps the busy worker from running its copy.
    await b.map(count, ['warm', 'warm', 'warm', 'warm'], { chunkSize: 1 });
    let aFinished = false;
    // B's map follows as soon as A's item runs: one of B's chunks lands in the pipeline behind that item while it is
    // still young. Sent together, which of the two the primary handled first was not fixed: B first, a B chunk ran on
    // A's worker ahead of A's item (3 of 16 runs with turn-share.ts's shared budgets, 0 of 18 before them).
    const aRun = a.submit(spin, 1500).then((pid) => {
      aFinished = true;
      return pid;
    });
    await untilRunning(() => client.status(), 'a2');
    const pids = await b.map(count, ['runs', 'runs', 'runs', 'runs'], { chunkSize: 1 });
    const finishedFirst = !aFinished;
    const aPid = await aRun;
    expect(finishedFirst).toBe(true);
    expect(pids.every((p) => p !== aPid)).toBe(true);
    // The busy worker read its abort before it got to its copy of the stolen chunk: no item ran twice.
    await a.map((x: number) => x, [1, 2, 3, 4], { chunkSize: 1 });
    expect(await b.value<number>('runs').get()).toBe(4);
  });

  it('the stolen chunk carried the task’s source: later chunks of that task on the old worker still run', async () => {
    const a = await d.connect({ name: 'a3' });
    const b = await d.connect({ name: 'b3' });
    const triple = (x: number): number => x * 3;
    const aRun = a.submit(spin, 600);
    await untilRunning(() => client.status(), 'a3'); // A's item runs, still young, when B's chunks arrive
    // The busy worker is sent this task's source with the chunk that is then stolen from it...
    expect(await b.map(triple, [1, 2, 3, 4], { chunkSize: 1 })).toEqual([3, 6, 9, 12]);
    await aRun;
    // ...and afterwards only the task's hash, as it was sent the source once.
    const items = Array.from({ length: 8 }, (_, i) => i);
    expect(await b.map(triple, items, { chunkSize: 1 })).toEqual(items.map((x) => x * 3));
  });

  it('imap({ ordered: false }): a short item queued behind a long one of the same batch comes first', async () => {
    const arrival: number[] = [];
    for await (const r of client.imap(
      (x: { i: number; ms: number }) => {
        const end = Date.now() + x.ms;
        while (Date.now() < end);
        return x.i;
      },
      [{ i: 0, ms: 1200 }, ...Array.from({ length: 5 }, (_, k) => ({ i: k + 1, ms: 5 }))],
      { ordered: false, chunkSize: 1 },
    ))
      arrival.push(r);
    expect(arrival.slice().sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(arrival[arrival.length - 1]).toBe(0);
  });

  it('a stolen chunk runs on one worker only: items that count their runs, stolen as the chunk ahead ends', async () => {
    const c = await d.connect({ name: 'counted' });
    const item = async (ms: number, ctx: TaskContext): Promise<number> => {
      const end = Date.now() + ms;
      while (Date.now() < end);
      await ctx.value<number>('counted-runs').add(1);
      return ms;
    };
    // Three items of about STEAL_AFTER_MS on two workers: the third waits behind the first, and the idle worker
    // asks for it just about when the first ends. Sent at once, a copy ran twice ~0.7 times a second here.
    let items = 0;
    const end = Date.now() + 8_000;
    while (Date.now() < end) {
      await c.map(item, [50 + Math.random() * 2, 50 + Math.random() * 2, 50 + Math.random() * 2], { chunkSize: 1 });
      items += 3;
    }
    expect(await c.value<number>('counted-runs').get()).toBe(items);
  }, 30_000);

  it("another app's endless item, run ahead of a batch's waiting chunk, does not strand that chunk: it moves", async () => {
    const b = await d.connect({ name: 'batch' });
    const a = await d.connect({ name: 'endless' });
    const items = Array.from({ length: 20 }, (_, i) => i);
    const run = b.map(
      (x: number) => {
        const end = Date.now() + 30;
        while (Date.now() < end);
        return x;
      },
      items,
      { chunkSize: 1 },
    );
    await new Promise((r) => setTimeout(r, 100));
    // A newcomer: its item is sent ahead of B's waiting chunk, and starts first. Minted later, its chunk's key is
    // the higher one: a worker's guard that went by the highest key started answered "kept" for B's, and B hung.
    const endless = new AbortController();
    const aRun = a.submit(forever, 0, { signal: endless.signal }).catch((e: unknown) => e);
    expect(await run).toEqual(items);
    endless.abort();
    await aRun;
  }, 30_000);
});
