/**
 * A task puts 30,000 gets of a 512 KiB value in flight at once, then spins (no `timeoutMs`: an
 * endless item holds its worker for good). Its worker reads none of the replies, which cannot
 * be coalesced: before, the primary handled every request and wrote every reply to the
 * worker's socket, 1.8 GB in 12 s, and a neighbour's awaited adds stalled for seconds. Now a
 * worker's requests wait, unread, while its replies unsent pass `--send-high-water` (and past
 * a burst a turn): the primary's memory stays flat and the neighbour goes on. A task that
 * reads its replies gets every one of them.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { addsBeside } from './support/neighbour.js';
import { until } from './support/wait.js';

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

it.runIf(process.platform === 'linux')(
  "a stuck task's unread replies do not grow the primary; a reading task gets every reply",
  async () => {
    await using d = await startDaemon({ workers: 2, reserve: true });
    const writer = await d.connect();
    const hog = await d.connect();
    const neighbour = await d.connect();
    await writer.value('big').set('y'.repeat(512 * 1024));
    const before = rssMb(d.pid);
    void hog
      .submit(async (_: number, ctx) => {
        for (let i = 0; i < 30_000; i++)
          void ctx
            .value('big')
            .get()
            .catch(() => {});
        await new Promise((r) => setTimeout(r, 5)); // the requests leave
        console.log('spinning');
        for (;;) {
          /* stuck: reads nothing */
        }
      }, 0)
      .catch(() => {});
    await until(() => d.output.some((l) => l.includes('spinning')), 20_000, 'the task spinning');
    const adds = addsBeside(neighbour.value<number>('n', { initial: 0 }));
    let peak = before;
    // 4 s: before, the primary grew ~150 MB a second (1.8 GB in 12 s).
    for (let n = 0; n < 20; n++) {
      await new Promise((r) => setTimeout(r, 200));
      peak = Math.max(peak, rssMb(d.pid));
    }
    const { adds: made } = await adds.stop();
    // Before, 1.8 GB and growing; now the high-water mark's worth and a burst.
    expect(peak - before).toBeLessThan(150);
    expect(made).toBeGreaterThan(0);
    expect(await neighbour.value<number>('n').get()).toBe(made);
    // A task that reads, on the other worker: 1,000 gets in flight at once (512 MB of replies, hundreds of
    // times the high-water mark), every one answered.
    const got = await neighbour.submit(async (_: number, ctx) => {
      const all = await Promise.all(Array.from({ length: 1_000 }, () => ctx.value<string>('big').get()));
      return all.filter((v) => v.length === 512 * 1024).length;
    }, 0);
    expect(got).toBe(1_000);
  },
  120_000,
);
