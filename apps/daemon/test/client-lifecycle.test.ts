/**
 * A long-running app's client across daemon stops and restarts: `daemon stop`
 * during a map reaches the app as E_SHUTTING_DOWN (the `disconnected` event at
 * once, the batch's error once no daemon came back in the window); a client
 * whose window ran out is not broken for good: once the daemon is back, the
 * next call reconnects (`offline`, then `reconnected`) and subscribes again;
 * `close()` says `closed`.
 */
import { describe, expect, it } from 'vitest';
import type { ClientEvents, CorepoolError } from '@corepool/client';
import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

/** Every event the client emitted, in order, with the code of its error (or the URL). */
function record(client: { on<E extends keyof ClientEvents>(e: E, l: (...a: ClientEvents[E]) => void): unknown }): string[] {
  const seen: string[] = [];
  for (const e of ['disconnected', 'reconnected', 'offline', 'closed'] as const) {
    client.on(e, (arg: CorepoolError | string) => seen.push(`${e}:${typeof arg === 'string' ? 'url' : arg.code}`));
  }
  return seen;
}

describe('a client across daemon stops', () => {
  it('daemon stop during a map: disconnected with E_SHUTTING_DOWN at once, the map fails with it after the window; the next call reconnects to the restarted daemon', async () => {
    const first = await startDaemon({ keepDataDir: true });
    const { dataDir, port } = first;
    const client = await first.connect({ reconnectTimeoutMs: 1_500 });
    const seen = record(client);
    const slow = client.map(
      (x: number) => new Promise<number>((r) => setTimeout(() => r(x), 400)),
      Array.from({ length: 40 }, (_, i) => i),
      { chunkSize: 1 },
    );
    const failed = slow.then(
      () => undefined,
      (e: unknown) => e as CorepoolError,
    );
    await until(async () => (await client.status()).runningItems > 0);
    expect(await first.stop()).toBe(0);
    await until(() => seen.length > 0);
    expect(seen[0]).toBe('disconnected:E_SHUTTING_DOWN');
    const err = await failed;
    expect(err?.code).toBe('E_SHUTTING_DOWN');
    expect(err?.message).toMatch(/shut down \(daemon stop\) and no daemon answered within 1500 ms/);
    expect(seen).toEqual(['disconnected:E_SHUTTING_DOWN', 'offline:E_SHUTTING_DOWN']);

    // Offline: a call while the daemon is still away tries a new window, then fails saying why the daemon went.
    const away = await client.map((x: number) => x, [1]).catch((e: unknown) => e as CorepoolError);
    expect((away as CorepoolError).code).toBe('E_SHUTTING_DOWN');
    expect(seen.at(-1)).toBe('offline:E_SHUTTING_DOWN');

    await using second = await startDaemon({ port, dataDir });
    expect(await client.map((x: number) => x + 1, [1, 2])).toEqual([2, 3]);
    expect(seen.at(-1)).toBe('reconnected:url');
    const hits = client.value<number>('hits', { initial: 0 });
    expect(await hits.add(1)).toBe(1);
    // Subscriptions too: after the client was offline once, every later subscribe ended at once with the old error.
    const pushed: number[] = [];
    const ended: unknown[] = [];
    const off = hits.subscribe(
      (v) => pushed.push(v),
      (e) => ended.push(e),
    );
    await hits.add(1);
    await until(() => pushed.includes(2), 5_000, 'a push to a subscription made after the client was offline');
    expect(ended).toEqual([]);
    off();
    await client.close();
    expect(seen.at(-1)).toBe('closed:E_CLOSED');
    expect(second.pid).toBeGreaterThan(0);
  });

  it('a listener that throws does not stop the client, and unknown events are refused with a code', async () => {
    await using d = await startDaemon();
    const client = await d.connect();
    expect(() => client.on('nope' as keyof ClientEvents, () => {})).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as Error);
    const listener = (): void => {};
    client.on('closed', listener).off('closed', listener);
    expect(await client.map((x: number) => x * 2, [4])).toEqual([8]);
  });
});
