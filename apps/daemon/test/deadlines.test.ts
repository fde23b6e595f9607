/**
 * An item's timeoutMs holds whatever its worker does: the deadline runs from
 * when its chunk becomes the worker's running one, so a worker that never
 * reports the item started (spinning in a timer another app's task left, or
 * stopped) still has the item fail with E_TIMEOUT and is replaced. And a
 * timeoutMs a timer cannot hold (2^31 ms or more) is refused, not run as 0.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';
import { alive } from './support/processes.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 1 });

describe('the deadline of an item its worker never starts', () => {
  it("a spin left behind by another app's task: the timed item fails with E_TIMEOUT or completes, never hangs; the pool goes on", async () => {
    // The task returns at once; the loop starts on the worker's next turn and never ends.
    expect(
      await client.map(() => {
        setTimeout(() => {
          for (;;) {
            /* left behind */
          }
        }, 0);
        return 1;
      }, [0]),
    ).toEqual([1]);
    const other = await d.connect({ name: 'second' });
    const [outcome] = await other.mapSettled((x: number) => x + 1, [1], { timeoutMs: 500 });
    if (outcome!.status === 'rejected') expect(outcome!.reason).toMatchObject({ code: 'E_TIMEOUT', index: 0 });
    else expect(outcome!.value).toBe(2);
    expect(await other.map((x: number) => x * 3, [1, 2])).toEqual([3, 6]);
  }, 60_000);

  it('a stopped worker (SIGSTOP): the timed item fails with E_TIMEOUT, the worker is replaced', async () => {
    const [pid] = await d.workerPids();
    process.kill(pid!, 'SIGSTOP');
    try {
      expect(await codeOf(client.submit((x: number) => x, 1, { timeoutMs: 500 }))).toBe('E_TIMEOUT');
      await until(() => !alive(pid!), 10_000, 'the stopped worker to be killed');
      expect(await client.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
    } finally {
      if (alive(pid!)) process.kill(pid!, 'SIGKILL');
    }
  }, 60_000);
});

describe('a timeoutMs no timer can hold', () => {
  it('2^31 ms or more: E_BAD_ARGUMENT from the SDK, E_BAD_MESSAGE from the daemon; 2^31-1 runs the item', async () => {
    expect(await codeOf(client.map((x: number) => x, [1], { timeoutMs: 2 ** 31 }))).toBe('E_BAD_ARGUMENT');
    expect(await codeOf(client.submit((x: number) => x, 1, { timeoutMs: 2 ** 40 }))).toBe('E_BAD_ARGUMENT');
    const sock = await d.raw({ hello: true });
    sock.send({
      type: 'batch.open',
      id: 5,
      task: { kind: 'module', url: 'file:///nowhere.mjs', name: 'f' },
      timeoutMs: 2 ** 31,
      retries: 0,
    });
    expect(await sock.next((m) => m.type === 'batch.error' && m.id === 5)).toMatchObject({ error: { code: 'E_BAD_MESSAGE' } });
    sock.ws.close();
    expect(await client.map((x: number) => x * 2, [1, 2], { timeoutMs: 2 ** 31 - 1 })).toEqual([2, 4]);
  }, 60_000);
});
