/**
 * A task subscribed to a value, then stuck (a busy loop, no `timeoutMs`: an endless item holds
 * its worker for good), while another app writes 64 KiB to that value in a loop. The worker
 * reads nothing, so every push for it waited on its channel's socket in the primary: 100 ->
 * 700 MB in 30 s, for as long as the item ran. Now the pushes past `--send-high-water` wait
 * coalesced (the latest per value), as a slow client's do: the primary's memory stays flat, a
 * neighbour goes on, and once the task reads again it hears the latest value, after a bounded
 * number of pushes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { addsBeside } from './support/neighbour.js';
import { until } from './support/wait.js';

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const WRITES = 4_000; // 64 KiB each: 256 MB of pushes for the stuck task
const BIG = 'v'.repeat(64 * 1024);

it.runIf(process.platform === 'linux')(
  "a stuck task's subscription does not grow the primary; resumed, the task hears the latest value",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corepool-stalled-task-'));
    const go = join(dir, 'go');
    await using d = await startDaemon({ workers: 2, reserve: true });
    const writer = await d.connect();
    const hog = await d.connect();
    const neighbour = await d.connect();
    const feed = writer.value<string>('feed', { initial: '' });
    await feed.get();
    const task = hog.submit(async (file: string, ctx) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a task is sent as source: it cannot import
      const exists = (require('node:fs') as typeof import('node:fs')).existsSync;
      let pushes = 0;
      let latest = '';
      let seen: () => void = () => {};
      const done = new Promise<void>((r) => (seen = r));
      const stop = ctx.value<string>('feed').subscribe((v) => {
        pushes++;
        latest = v;
        if (v === 'done') seen();
      });
      await new Promise((r) => setTimeout(r, 300)); // subscribed: the current value came
      console.log('subscribed');
      while (!exists(file)) {
        /* stuck: reads nothing */
      }
      await done;
      stop();
      return { pushes, latest };
    }, go);
    await until(() => d.output.some((l) => l.includes('subscribed')), 20_000, 'the task subscribed');
    const before = rssMb(d.pid);
    const adds = addsBeside(neighbour.value<number>('n', { initial: 0 }));
    let peak = before;
    for (let n = 0; n < WRITES; n++) {
      await feed.set(BIG + n);
      if (n % 200 === 0) peak = Math.max(peak, rssMb(d.pid));
    }
    peak = Math.max(peak, rssMb(d.pid));
    const { adds: made } = await adds.stop();
    await feed.set('done');
    writeFileSync(go, '');
    const result = await task;
    rmSync(dir, { recursive: true, force: true });
    // Before, the primary held every push (256 MB here); now a high-water mark's worth and the latest.
    expect(peak - before).toBeLessThan(120);
    expect(made).toBeGreaterThan(0);
    expect(result.latest).toBe('done');
    // The pushes that went before it stopped reading, what its socket took, then the latest few.
    expect(result.pushes).toBeLessThan(WRITES / 2);
  },
  120_000,
);
