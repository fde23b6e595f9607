/**
 * Per-item timeouts and cancel on lent workers: the owner's scheduler kills a
 * remote slot as it kills a local worker (the lender kills its worker and
 * replaces it), and a cancel's aborts reach the lent worker, which goes back
 * to its daemon once the owner has nothing more for it. An item that kills
 * its worker is retried and isolated as on one daemon.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../support/cluster.js';
import { rawMap } from '../support/raw-map.js';
import { until } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-lend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('timeouts and cancel on lent workers', () => {
  it('an item past its timeout on a lent worker fails with E_TIMEOUT and its worker is replaced; a cancel reaches lent workers', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const log = join(dir, 'timeout.log');
    // Every item long enough to time out: each worker, A's and the one B lends, gets one.
    const src = `(x) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, x % 2 === 0 ? 20000 : 50);
      process.getBuiltinModule('node:fs').appendFileSync(${JSON.stringify(log)}, x + ' ' + process.pid + '\\n');
      return [x, process.pid];
    }`;
    const sock = await a.raw({ hello: true });
    const items = Array.from({ length: 8 }, (_, i) => i);
    const outcomes = await rawMap(sock, src, items, { chunkSize: 1, timeoutMs: 1_000, retries: 0, settleMs: 500, deadlineMs: 40_000 });
    expect(outcomes.length).toBe(items.length);
    for (const [i, o] of outcomes) {
      if (i % 2 === 0) expect(!o.ok && o.error.code).toBe('E_TIMEOUT');
      else expect(o.ok && (o.value as number[])[0]).toBe(i);
    }
    // Some timed-out item held one of B's workers: B killed it for the owner and replaced it.
    await until(() => b.output.some((l) => /worker \d+ exited .*replacing it/.test(l)), 10_000, 'a lent worker replaced');
    // A batch cancelled while its chunks run on B's worker: they are aborted there (B's worker is free again).
    const client = await a.connect();
    const ac = new AbortController();
    const cancelled = client
      .map(
        (x: number) => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
          return x;
        },
        Array.from({ length: 40 }, (_, i) => i),
        { chunkSize: 1, signal: ac.signal },
      )
      .catch((e: unknown) => e);
    await until(async () => (await b.status()).workers.some((w) => w.busy), 10_000, 'B lending to the batch');
    ac.abort();
    await cancelled;
    await until(async () => (await b.status()).workers.every((w) => !w.busy), 10_000, 'B’s worker back');
    expect(await client.map((x: number) => x * 3, [1, 2, 3], { chunkSize: 1 })).toEqual([3, 6, 9]);
  });

  it('an item that kills its worker is retried, on any daemon, then fails alone with E_WORKER_CRASHED', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a] = c.daemons as [(typeof c.daemons)[0]];
    const src = `(x) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      if (x === 3) process.kill(process.pid, 'SIGKILL');
      return [x, process.pid];
    }`;
    const sock = await a.raw({ hello: true });
    const items = Array.from({ length: 12 }, (_, i) => i);
    const outcomes = await rawMap(sock, src, items, { chunkSize: 2, retries: 1, settleMs: 500, deadlineMs: 40_000 });
    expect(outcomes.length).toBe(items.length);
    for (const [i, o] of outcomes) {
      if (i === 3) expect(!o.ok && o.error.code).toBe('E_WORKER_CRASHED');
      else expect(o.ok && (o.value as number[])[0]).toBe(i);
    }
  });
});
