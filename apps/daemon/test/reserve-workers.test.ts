/**
 * Reserve workers on a real daemon: an app whose items never end (no timeoutMs) holds every
 * worker, and a second app's submits still run, on the reserve worker, one after another. With
 * `--reserve-workers 0` the same submit waits for ever: nothing can take a running item from
 * its worker. The scheduler's side alone is in reserve-workers.unit.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

/** An item that never returns: the worker is held until the daemon replaces it. */
const forever = (_: number): number => {
  for (;;);
};

describe('reserve workers', () => {
  it("a neighbour's submits run beside an app whose items never end on every worker", async () => {
    await using d = await startDaemon({ workers: 2 });
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
    // The hog still holds both workers; the reserve is listed as one, and ran the neighbour's work alone.
    expect(status.workers.filter((w) => w.client === 'hog')).toHaveLength(2);
    const reserve = status.workers.filter((w) => w.reserve === true);
    expect(reserve).toHaveLength(1);
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
    expect((await d.status()).workers.some((w) => w.reserve === true)).toBe(false);
    const waited = await Promise.race([
      neighbour.submit((x: number) => x, 1).then(() => 'ran'),
      new Promise((r) => setTimeout(() => r('still waiting'), 1_500)),
    ]);
    expect(waited).toBe('still waiting');
    await hog.close();
  }, 60_000);
});
