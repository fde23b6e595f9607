/**
 * Worker lending between the daemons of a cluster (docs/cluster.md): a batch
 * submitted to one daemon runs on the idle workers of the others, results in
 * order and exactly once; a lender's own clients come first (it asks its
 * workers back between chunks). Real daemons on the machine's Redis, under a
 * cluster name of their own. Tasks sleep (Atomics.wait), so throughput
 * depends on workers, not on the machine's cores.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskContext } from '@corepool/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../support/cluster.js';
import { executions, sleeperSource } from '../support/sleeper.js';
import { rawMap } from '../support/raw-map.js';
import { figure } from '../support/figures.js';
import { until } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-lend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('worker lending', () => {
  it('a map on daemon A with more sleeping items than A has workers runs on B’s workers too, in order, exactly once', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const bPids = new Set(await b.workerPids());
    const log = join(dir, 'map.log');
    const n = 24;
    const items = Array.from({ length: n }, (_, i) => i);
    const sock = await a.raw({ hello: true });
    const outcomes = await rawMap(sock, sleeperSource(log, 250), items, { chunkSize: 1, settleMs: 500 });
    // Delivered: each index once, with its own value.
    expect(outcomes.length).toBe(n);
    const byIndex = new Map(outcomes.map(([i, o]) => [i, o]));
    expect([...byIndex.keys()].sort((x, y) => x - y)).toEqual(items);
    for (const [i, o] of byIndex) expect(o.ok && (o.value as number[])[0] === i).toBe(true);
    const ranOnB = outcomes.filter(([, o]) => o.ok && bPids.has((o.value as number[])[1]!)).length;
    figure('lending.items-run-on-b', ranOnB);
    expect(ranOnB).toBeGreaterThan(0);
    // Executed once each (nothing failed under it here).
    const ran = executions(log);
    for (const i of items) expect(ran.get(i)?.length).toBe(1);
    // The SDK: results in input order.
    const client = await a.connect();
    const out = await client.map(
      (x: number) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        return x * 2;
      },
      items,
      { chunkSize: 1 },
    );
    expect(out).toEqual(items.map((x) => x * 2));
  });

  it('a lender’s own client takes its workers back between chunks; the owner’s batch still completes exactly once', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const bPids = new Set(await b.workerPids());
    const log = join(dir, 'local-first.log');
    const n = 100;
    const items = Array.from({ length: n }, (_, i) => i);
    const sock = await a.raw({ hello: true });
    const run = rawMap(sock, sleeperSource(log, 300), items, { chunkSize: 1, settleMs: 500, deadlineMs: 50_000 });
    await until(() => [...executions(log).values()].some((pids) => pids.some((p) => bPids.has(p))), 20_000, 'a chunk run on B');
    // B's own client: B asks its workers back, and they run its items while A still has work queued
    // (kept, they would serve A until its batch ends).
    const local = await b.connect();
    const mine = await local.map(
      (x: number) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        return x + 1;
      },
      [1, 2, 3, 4, 5, 6],
      { chunkSize: 1 },
    );
    const aRanBy = executions(log).size;
    figure('lending.local-first.owner-items-run-when-local-done', aRanBy);
    expect(mine).toEqual([2, 3, 4, 5, 6, 7]);
    expect(aRanBy).toBeLessThan(n);
    const outcomes = await run;
    expect(outcomes.length).toBe(n);
    expect(new Set(outcomes.map(([i]) => i)).size).toBe(n);
  });

  it('a lender stopped gracefully gives its workers back between chunks; the owner’s batch completes exactly once', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const bPids = new Set(await b.workerPids());
    const log = join(dir, 'stopped.log');
    const n = 40;
    const items = Array.from({ length: n }, (_, i) => i);
    const sock = await a.raw({ hello: true });
    const run = rawMap(sock, sleeperSource(log, 300), items, { chunkSize: 1, settleMs: 500, deadlineMs: 40_000 });
    await until(() => [...executions(log).values()].some((pids) => pids.some((p) => bPids.has(p))), 20_000, 'a chunk run on B');
    expect(await b.stop()).toBe(0);
    const outcomes = await run;
    expect(outcomes.length).toBe(n);
    expect(new Set(outcomes.map(([i]) => i)).size).toBe(n);
    for (const [i, o] of outcomes) expect(o.ok && (o.value as number[])[0]).toBe(i);
    // Given back between chunks: nothing B ran for A was cut short and run again.
    const twice = [...executions(log).values()].filter((p) => p.length > 1).length;
    figure('lending.stopped-lender.items-run-twice', twice);
    expect(twice).toBe(0);
  });

  it('a task on a lent worker uses shared state through its own daemon: one counter for the whole cluster', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const bPids = new Set(await b.workerPids());
    const client = await a.connect();
    const n = 24;
    const pids = await client.map(
      async (_x: number, ctx: TaskContext) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
        await ctx.value<number>('lent-hits').add(1);
        return ctx.pid;
      },
      Array.from({ length: n }, (_, i) => i),
      { chunkSize: 1 },
    );
    expect(pids.some((p) => bPids.has(p))).toBe(true);
    // Every add landed in the one counter, wherever its worker was lent from; read on either daemon.
    expect(await client.value<number>('lent-hits').get()).toBe(n);
    expect(await (await b.connect()).value<number>('lent-hits').get()).toBe(n);
  });
});
