/**
 * A task that breaks its worker's end of the data channel (found by a hostile
 * review of issue 9): the primary must neither crash on a frame that does not
 * decode nor wait forever for a frame whose length is garbage. The worker is
 * replaced, the daemon keeps serving, and another app's map completes. The
 * same for the guard socket (fd 5), where answers to withdrawals come back.
 */
import { describe, expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';

describe('a task that breaks the channel to the primary', { timeout: 120_000 }, () => {
  it('a replaced Uint8Array.prototype.set (frames that do not decode): the worker is replaced, the primary lives', async () => {
    await using d = await startDaemon({ workers: 2 });
    const a = await d.connect({ name: 'A' });
    const b = await d.connect({ name: 'B' });
    const code = await codeOf(
      a.map(
        () => {
          Uint8Array.prototype.set = function set(): void {};
          return 1;
        },
        [1, 2, 3, 4],
        { retries: 0 },
      ),
    );
    expect(code).toBeDefined();
    expect(d.proc.exitCode).toBeNull();
    expect(
      await b.map(
        (x: number) => x * 2,
        Array.from({ length: 50 }, (_, i) => i),
      ),
    ).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
    await until(() => d.events('worker-channel-corrupt').length > 0, 10_000, 'the corrupt-channel event');
  });

  it('garbage written to the channel fd (a huge announced length): the worker is replaced, no app hangs', async () => {
    await using d = await startDaemon({ workers: 1 });
    const a = await d.connect({ name: 'A' });
    const b = await d.connect({ name: 'B' });
    const before = await d.workerPids();
    const code = await codeOf(
      a.map(
        () => {
          // fd 4 is the worker's data channel: "hell" read as a little-endian length is ~1.8 GB.
          // eslint-disable-next-line @typescript-eslint/no-require-imports -- a task is sent as source: it cannot import
          (require('node:fs') as typeof import('node:fs')).writeSync(4, 'hello\n');
          return 1;
        },
        [1],
        { retries: 0 },
      ),
    );
    expect(code).toBeDefined();
    expect(await b.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
    expect(d.proc.exitCode).toBeNull();
    expect((await d.workerPids()).some((p) => before.includes(p))).toBe(false);
    expect(d.events('worker-channel-corrupt').length).toBeGreaterThan(0);
  });

  it("garbage and forged withdrawal answers on the guard fd (fd 5): the worker is replaced, another app's batch completes", async () => {
    await using d = await startDaemon({ workers: 2 });
    const a = await d.connect({ name: 'A' });
    const b = await d.connect({ name: 'B' });
    // B keeps both workers busy with items long enough to be stolen, while A's task writes on fd 5.
    const items = Array.from({ length: 40 }, (_, i) => i);
    const bRun = b.map(
      (x: number) => {
        const end = Date.now() + 30;
        while (Date.now() < end);
        return x * 5;
      },
      items,
      { chunkSize: 1 },
    );
    const write = (kind: string): number => {
      const frames = Buffer.alloc(12 * 16);
      for (let i = 0; i < 16; i++) {
        // 'withdrawn' answers (operation 3) for keys no withdrawal is under way for, or an operation no guard writes.
        frames.writeInt32LE(kind === 'forged' ? 3 : 77, i * 12);
        frames.writeDoubleLE(1e9 + i, i * 12 + 4);
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a task is sent as source: it cannot import
      (require('node:fs') as typeof import('node:fs')).writeSync(5, frames);
      return 1;
    };
    for (const [i, kind] of ['forged', 'junk'].entries()) {
      // Its result may be out before the primary reads fd 5, or its worker killed first.
      const outcome = await a.submit(write, kind, { retries: 0 }).catch((e: { code?: string }) => e.code);
      expect([1, 'E_WORKER_CRASHED']).toContain(outcome);
      await until(() => d.events('worker-guard-corrupt').length > i, 10_000, 'the corrupt-guard event');
    }
    expect(await bRun).toEqual(items.map((x) => x * 5));
    expect(d.proc.exitCode).toBeNull();
    expect(await b.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
  });
});
