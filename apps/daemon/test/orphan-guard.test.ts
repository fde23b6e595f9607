/**
 * A worker busy in a task when its primary is killed -9 ends with it: its
 * orphan guard thread reads end-of-file on the guard socket (fd 5) as the
 * kernel closes the primary's end, and checks the parent pid every 2 s in
 * case a task closed that socket. Beside the busy worker, another client's
 * work keeps running until the kill.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

/** Submits a task that marks a file, optionally closes the worker's fd 5, then spins forever; resolves once it spins. */
async function spinWorker(d: TestDaemon, closeGuard: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'corepool-orphan-'));
  const mark = join(dir, 'spinning');
  const client = await d.connect({ reconnectTimeoutMs: 1000 });
  void client
    .submit(
      ({ mark, closeGuard }: { mark: string; closeGuard: boolean }) => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- a task is sent as source: it cannot import
        const fs = require('node:fs') as typeof import('node:fs');
        if (closeGuard) fs.closeSync(5);
        fs.writeFileSync(mark, 'x');
        for (;;) {
          /* spin */
        }
      },
      { mark, closeGuard },
    )
    .catch(() => {});
  try {
    await until(() => existsSync(mark), 10_000, 'the task spinning');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('orphan guard', () => {
  it('a worker spinning in a task ends as its primary is killed -9, well before the 2 s parent-pid check', async () => {
    await using d = await startDaemon();
    const other = await d.connect({ reconnectTimeoutMs: 1000 });
    await spinWorker(d, false);
    // The co-tenant is served by the other worker while the first spins.
    expect(await other.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    const workers = d.workerProcesses();
    expect(workers.length).toBe(2);
    const t0 = Date.now();
    await d.kill();
    // The idle worker leaves on its IPC 'disconnect', the busy one on its guard's end-of-file.
    await until(() => d.workerProcesses().length === 0, 1_500, 'both workers to end within 1.5 s of the kill');
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it('a task that floods the guard socket: the primary reads no more of it than a message, replaces the worker, a co-tenant is served', async () => {
    await using d = await startDaemon();
    const flooder = await d.connect();
    const other = await d.connect();
    const rssBefore = d.rss();
    const flood = flooder
      .submit(
        () => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports -- a task is sent as source: it cannot import
          const fs = require('node:fs') as typeof import('node:fs');
          const block = Buffer.alloc(1 << 20, 7);
          let sent = 0;
          try {
            for (let i = 0; i < 64; i++) sent += fs.writeSync(5, block);
          } catch {
            // EAGAIN once the buffers are full: nobody reads them
          }
          return sent;
        },
        0,
        { timeoutMs: 3_000 },
      )
      .then(
        (sent) => ({ sent }),
        (err: { code?: string }) => ({ code: err.code }),
      );
    expect(
      await other.map(
        (x: number) => x * 3,
        Array.from({ length: 100 }, (_, i) => i),
      ),
    ).toEqual(Array.from({ length: 100 }, (_, i) => i * 3));
    const outcome = await flood;
    // What it wrote is no guard's message: the worker is replaced at once (its item fails after its retries), or
    // the writes stopped short (EAGAIN) first.
    if ('sent' in outcome) expect(outcome.sent).toBeLessThan(64 << 20);
    else expect(outcome).toEqual({ code: 'E_WORKER_CRASHED' });
    await until(() => d.events('worker-guard-corrupt').length > 0, 10_000, 'the corrupt-guard event');
    expect(d.rss() - rssBefore).toBeLessThan(32 << 20);
    expect(await flooder.map((x: number) => x + 1, [1, 2])).toEqual([2, 3]);
  });

  it('a task that closed the guard socket still cannot outlive its primary: the parent-pid check ends it', async () => {
    await using d = await startDaemon({ workers: 1 });
    await spinWorker(d, true);
    expect(d.workerProcesses().length).toBe(1);
    await d.kill();
    await until(() => d.workerProcesses().length === 0, 10_000, 'the worker to end by the parent-pid check');
  });
});
