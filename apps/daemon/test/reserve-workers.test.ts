/**
 * Reserve workers on a real daemon: an app whose items never end (no timeoutMs) holds every
 * worker, and a second app's submits still run, on the reserve worker, one after another. With
 * `--reserve-workers 0` the same submit waits for ever: nothing can take a running item from
 * its worker. The reserve through a worker's death, a rolling reload and cluster lending. The
 * scheduler's side alone is in reserve-workers.unit.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TaskContext } from '@corepool/client';
import { CLI, startDaemon } from './support/daemon.js';
import { startCluster } from './support/cluster.js';
import { until } from './support/wait.js';

const exec = promisify(execFile);

/** An item that never returns: the worker is held until the daemon replaces it. */
const forever = (_: number): number => {
  for (;;);
};

describe('reserve workers', () => {
  it("a neighbour's submits run beside an app whose items never end on every worker", async () => {
    await using d = await startDaemon({ workers: 2, reserve: true });
    const hog = await d.connect({ name: 'hog' });
    const neighbour = await d.connect({ name: 'neighbour' });
    // Four endless items: two hold the workers, two wait behind them (the hog runs something: the reserve is not for it).
    const endless = Array.from({ length: 4 }, () => hog.submit(forever, 0).catch((e: unknown) => e));
    await until(async () => (await d.status()).workers.filter((w) => w.client === 'hog').length === 2, 10_000, 'the hog on both workers');
    for (let i = 0; i < 30; i++) expect(await neighbour.submit((x: number) => x * 2, i)).toBe(2 * i);
    // A map too: its chunks go to the reserve one at a time.
    expect(
      await neighbour.map(
        (x: number) => x + 1,
        Array.from({ length: 200 }, (_, i) => i),
      ),
    ).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const status = await d.status();
    // The hog still holds both workers; the reserve is listed apart (`workers` is the pool asked for), and ran the neighbour's work alone.
    expect(status.workers).toHaveLength(2);
    expect(status.workers.filter((w) => w.client === 'hog')).toHaveLength(2);
    const reserve = status.reserveWorkers ?? [];
    expect(reserve).toHaveLength(1);
    expect(reserve[0]!.reserve).toBe(true);
    expect(reserve[0]!.tasksDone).toBe(230);
    // Clients size their window by the workers alone.
    await hog.close();
    await Promise.all(endless);
    // The hog gone, its workers are replaced and the pool serves as before.
    expect(await neighbour.map((x: number) => x, [1, 2, 3, 4])).toEqual([1, 2, 3, 4]);
  }, 60_000);

  it('without one (--reserve-workers 0), the same submit waits behind the endless items', async () => {
    await using d = await startDaemon({ workers: 2, args: ['--reserve-workers', '0'] });
    const hog = await d.connect({ name: 'hog' });
    const neighbour = await d.connect({ name: 'neighbour' });
    for (let i = 0; i < 2; i++) hog.submit(forever, 0).catch(() => undefined);
    await until(async () => (await d.status()).workers.filter((w) => w.client === 'hog').length === 2, 10_000, 'the hog on both workers');
    expect((await d.status()).reserveWorkers).toBeUndefined();
    const waited = await Promise.race([
      neighbour.submit((x: number) => x, 1).then(() => 'ran'),
      new Promise((r) => setTimeout(() => r('still waiting'), 1_500)),
    ]);
    expect(waited).toBe('still waiting');
    await hog.close();
  }, 60_000);

  it("killed -9 while it runs a stuck app's item, the reserve is replaced and the item runs again, once", async () => {
    await using d = await startDaemon({ workers: 2, reserve: true });
    const hog = await d.connect({ name: 'hog' });
    const neighbour = await d.connect({ name: 'neighbour' });
    for (let i = 0; i < 2; i++) hog.submit(forever, 0).catch(() => undefined);
    await until(async () => (await d.status()).workers.filter((w) => w.client === 'hog').length === 2, 10_000, 'the hog on both workers');
    // The item counts its runs in a shared value, then sleeps long enough to be killed mid-run.
    const runs = neighbour.value<number>('runs', { initial: 0 });
    const item = async (x: number, ctx: TaskContext): Promise<number> => {
      await ctx.value<number>('runs').add(1);
      await new Promise((r) => setTimeout(r, 1_500));
      return x * 3;
    };
    const result = neighbour.submit(item, 7);
    await until(async () => (await runs.get()) === 1, 10_000, 'the item running');
    expect((await d.status()).reserveWorkers?.[0]?.client).toBe('neighbour');
    const reserve = (await d.status()).reserveWorkers![0]!;
    process.kill(reserve.pid, 'SIGKILL');
    expect(await result).toBe(21);
    expect(await runs.get()).toBe(2);
    const after = (await d.status()).reserveWorkers ?? [];
    expect(after).toHaveLength(1);
    expect(after[0]!.pid).not.toBe(reserve.pid);
    await hog.close();
  }, 60_000);

  it('a rolling reload replaces the reserve with the rest, and a stuck app runs on the new one', async () => {
    await using d = await startDaemon({ workers: 2, reserve: true });
    const env = { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' };
    await exec(process.execPath, [CLI, 'daemon', 'reload', '--data-dir', d.dataDir], { env });
    const status = await d.status();
    expect(status.workers).toHaveLength(2);
    expect(status.reserveWorkers).toHaveLength(1);
    expect([...status.workers, ...status.reserveWorkers!].every((w) => w.generation === 2)).toBe(true);
    const hog = await d.connect({ name: 'hog' });
    const neighbour = await d.connect({ name: 'neighbour' });
    for (let i = 0; i < 2; i++) hog.submit(forever, 0).catch(() => undefined);
    await until(async () => (await d.status()).workers.filter((w) => w.client === 'hog').length === 2, 10_000, 'the hog on both workers');
    expect(await neighbour.map((x: number) => -x, [1, 2, 3])).toEqual([-1, -2, -3]);
    await hog.close();
  }, 60_000);

  it('in a cluster, a reserve is never lent: an app holding every worker of both daemons leaves each a reserve for the others', async () => {
    await using c = await startCluster(2, { reserve: true });
    await c.untilMembers(2);
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const hog = await a.connect({ name: 'hog' });
    // Endless items, a chunk each: two on a's workers, two on workers b lends to a, the rest queued.
    hog
      .map(
        forever,
        Array.from({ length: 20 }, (_, i) => i),
        { chunkSize: 1 },
      )
      .catch(() => undefined);
    await until(async () => (await b.status()).workers.filter((w) => w.busy).length === 2, 20_000, "b's workers lent to the hog");
    for (const d of [a, b]) {
      const neighbour = await d.connect({ name: 'neighbour' });
      expect(await neighbour.map((x: number) => x + 100, [1, 2, 3])).toEqual([101, 102, 103]);
      const reserve = (await d.status()).reserveWorkers ?? [];
      expect(reserve).toHaveLength(1);
      expect(reserve[0]!.tasksDone).toBe(3);
      await neighbour.close();
    }
    await hog.close();
  }, 90_000);
});
