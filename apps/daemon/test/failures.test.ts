/**
 * Worker crashes, timeouts and cancellation, judged by checkers: every item
 * gets exactly one outcome, every value is right, and the pool stays usable.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';
import { alive } from './support/processes.js';
import { until, untilRunning } from './support/wait.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

/** Jepsen-style set checker over mapSettled outcomes. */
function check<T>(outcomes: { status: string; value?: T }[], n: number, expected: (i: number) => T, failing: Set<number>): void {
  expect(outcomes.length).toBe(n);
  for (let i = 0; i < n; i++) {
    const o = outcomes[i];
    expect(o, `item ${i} lost`).toBeDefined();
    if (failing.has(i)) expect(o!.status).toBe('rejected');
    else expect(o).toEqual({ status: 'fulfilled', value: expected(i) });
  }
}

describe('worker crashes', () => {
  it('a poison item fails alone with WorkerCrashedError after its retries; everything else succeeds', async () => {
    const n = 200;
    const out = await client.mapSettled(
      (x: number) => {
        if (x === 123) process.kill(process.pid, 'SIGKILL');
        return x * 2;
      },
      Array.from({ length: n }, (_, i) => i),
      { retries: 1 },
    );
    check(out, n, (i) => i * 2, new Set([123]));
    expect(out[123]).toMatchObject({
      status: 'rejected',
      reason: { name: 'WorkerCrashedError', code: 'E_WORKER_CRASHED', index: 123, attempts: 2 },
    });
    expect(await client.map((x: number) => x, [1, 2, 3])).toEqual([1, 2, 3]);
  });

  it('process.exit(0) in the middle of a task is a crash too', async () => {
    const err = await client.map((x: number) => (x === 3 ? process.exit(0) : x), [0, 1, 2, 3, 4], { retries: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_WORKER_CRASHED', index: 3, attempts: 1 });
  });

  it('killing a worker mid-batch loses and duplicates nothing', async () => {
    const n = 400;
    const run = client.mapSettled(
      (x: number) => {
        const end = performance.now() + 5;
        while (performance.now() < end) {
          /* busy */
        }
        return x + 1;
      },
      Array.from({ length: n }, (_, i) => i),
    );
    await untilRunning(() => client.status());
    const [victim] = await d.workerPids();
    process.kill(victim!, 'SIGKILL');
    const out = await run;
    check(out, n, (i) => i + 1, new Set());
    await until(async () => (await d.workerPids()).length === 2 && !(await d.workerPids()).includes(victim!), 10_000, 'replacement worker');
  });

  it('daemon status counts the restarts of each worker slot', async () => {
    const before = (await d.status()).workerRestarts;
    const err = await client.map((x: number) => (x === 1 ? process.exit(0) : x), [0, 1], { retries: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_WORKER_CRASHED' });
    await until(async () => (await d.status()).workers.length === 2, 10_000, 'both slots filled');
    const s = await d.status();
    expect(s.workerRestarts).toBeGreaterThan(before);
    expect(s.workers.reduce((n, w) => n + w.restarts, 0)).toBe(s.workerRestarts);
  });
});

describe('timeouts', () => {
  it('an item past timeoutMs fails with TimeoutError, its worker is replaced, the others complete', async () => {
    const before = await d.workerPids();
    const out = await client.mapSettled(
      (x: number) => {
        if (x === 2)
          for (;;) {
            /* runaway */
          }
        return x;
      },
      [0, 1, 2, 3, 4, 5],
      { timeoutMs: 300 },
    );
    check(out, 6, (i) => i, new Set([2]));
    expect(out[2]).toMatchObject({ status: 'rejected', reason: { name: 'TimeoutError', code: 'E_TIMEOUT', index: 2, timeoutMs: 300 } });
    let after: number[] = [];
    await until(
      async () => {
        after = await d.workerPids();
        return after.length === 2 && after.filter((p) => !before.includes(p)).length === 1;
      },
      10_000,
      'one replaced worker',
    );
    for (const pid of before.filter((p) => !after.includes(p))) expect(alive(pid)).toBe(false);
  });

  it('a task awaiting forever times out too', async () => {
    await expect(client.submit(() => new Promise(() => {}), 0, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'E_TIMEOUT', index: 0 });
  });
});

describe('cancellation', () => {
  it('abort rejects with CancelledError at once; running tasks see ctx.signal; the pool stays usable', async () => {
    const ac = new AbortController();
    const run = client.map(
      async (x: number, ctx: { signal: AbortSignal }) => {
        await new Promise((r) => setTimeout(r, 20));
        if (ctx.signal.aborted) return -1;
        return x;
      },
      Array.from({ length: 10_000 }, (_, i) => i),
      { signal: ac.signal },
    );
    await untilRunning(() => client.status());
    ac.abort();
    await expect(run).rejects.toMatchObject({ name: 'CancelledError', code: 'E_CANCELLED' });
    expect(await client.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
  });

  it('a running chunk that ignores the signal is abandoned and its worker replaced', async () => {
    const before = await d.workerPids();
    const ac = new AbortController();
    const run = client.map(
      () => {
        for (;;) {
          /* ignores the signal */
        }
      },
      [1],
      { signal: ac.signal },
    );
    await untilRunning(() => client.status());
    ac.abort();
    await expect(run).rejects.toMatchObject({ code: 'E_CANCELLED' });
    await until(async () => (await d.workerPids()).some((p) => !before.includes(p)), 10_000, 'worker replacement');
    expect(await client.map((x: number) => x, [1, 2])).toEqual([1, 2]);
  });

  it('an already-aborted signal rejects without running anything', async () => {
    await expect(client.map((x: number) => x, [1], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'E_CANCELLED' });
  });

  it('a signal that times out (AbortSignal.timeout) reads as a timeout, E_TIMEOUT, its reason as cause; the pool stays usable', async () => {
    const run = client.map(
      (x: number) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        return x;
      },
      Array.from({ length: 1_000 }, (_, i) => i),
      { signal: AbortSignal.timeout(300) },
    );
    const err = await run.then(
      () => undefined,
      (e: unknown) => e as { name: string; code: string; message: string; cause: unknown },
    );
    expect(err).toMatchObject({ name: 'TimeoutError', code: 'E_TIMEOUT' });
    expect(err?.message).toContain('AbortSignal.timeout');
    expect((err?.cause as { name?: string } | undefined)?.name).toBe('TimeoutError');
    // Timed out before it started: the same.
    const late = AbortSignal.timeout(1);
    await until(() => late.aborted, 5_000, 'the signal to time out');
    await expect(client.map((x: number) => x, [1], { signal: late })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    expect(await client.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
  });
});
