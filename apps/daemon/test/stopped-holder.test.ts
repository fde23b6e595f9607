/**
 * A lock holder whose process stops dead (SIGSTOP) without closing its socket,
 * while it also waits for another lock, blocks on a queue get and is
 * subscribed to a value another app writes every 20 ms. The daemon must give
 * it up within its heartbeat's one to two intervals: the lock goes to the next
 * waiter with a larger fencing token, its waits and entries go, a neighbour's
 * adds go on meanwhile. Before, the pushes of small values passed for its
 * reading: the kernel took them into its socket's buffers (megabytes on
 * loopback, for a process that reads nothing), so every heartbeat saw bytes
 * taken and kept the stopped client, and its lock, for minutes (over 120 s at
 * 2 s pings). Resumed, it learns that its lock is gone, its lock wait fails
 * with the link, and its get's resend takes the item put meanwhile, once.
 */
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { startApp } from './apps/spawn-app.js';
import { addsBeside } from './support/neighbour.js';
import { until } from './support/wait.js';

const HEARTBEAT_MS = 3_000;

it('a stopped holder subscribed to a busy value loses its lock within the heartbeat; resumed, it holds nothing it lost', async () => {
  await using d = await startDaemon({ workers: 1, args: ['--heartbeat-ms', String(HEARTBEAT_MS)] });
  const writer = await d.connect();
  const other = await d.connect();
  const neighbour = await d.connect();
  const feed = writer.value<number>('feed', { initial: 0 });
  await feed.get();
  const otherW = other.lock('W');
  await otherW.acquire();
  await using holder = startApp(d, 'silent-holder.mjs', { lock: 'L', waitLock: 'W', queue: 'q', feed: 'feed' });
  const held = await holder.line((l) => l.held === true);
  await until(async () => (await d.status()).lockWaiters === 1 && (await d.status()).blockedGets === 1, 10_000, 'the holder waiting');

  let feeding = true;
  const feeder = (async () => {
    for (let n = 1; feeding; n++) {
      await feed.set(n);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const adds = addsBeside(neighbour.value<number>('n', { initial: 0 }));
  await holder.line((l) => typeof l.pushes === 'number' && l.pushes > 10);

  process.kill(holder.pid, 'SIGSTOP');
  try {
    // The heartbeat's bound is two intervals; fifteen leave room for a loaded machine, and the
    // pushes kept the stopped holder far longer than that before.
    const otherL = other.lock('L');
    const grant = await otherL.acquire({ timeoutMs: 15 * HEARTBEAT_MS });
    expect(grant.token).toBeGreaterThan(held.token as number);
    // The log line comes on the daemon's stdout, which may trail the grant on the socket.
    await until(() => d.events('heartbeat-timeout').length > 0, 10_000, 'the heartbeat timeout logged');
    expect(d.events('heartbeat-timeout')).toHaveLength(1);
    // Its lock wait and its blocked get went with it (cleared a slice a turn after the lock passed on).
    await until(
      async () => {
        const s = await d.status();
        return s.lockWaiters === 0 && s.blockedGets === 0;
      },
      10_000,
      "the stopped holder's wait and get gone",
    );
    await other.queue<number>('q').put(42);
    const { adds: made } = await adds.stop();
    expect(made).toBeGreaterThan(0);

    process.kill(holder.pid, 'SIGCONT');
    await holder.line((l) => l.reconnected === true);
    await holder.line((l) => l.got === 42);
    expect(holder.lines.find((l) => 'lost' in l)).toEqual({ lost: 'E_LOCK_NOT_HELD' });
    expect(holder.lines.find((l) => 'waitFailed' in l)).toEqual({ waitFailed: 'E_CONNECTION' });
    expect(await other.queue<number>('q').size()).toBe(0);
    // Still the other app's: the resumed holder took nothing back.
    await expect(neighbour.lock('L').acquire({ timeoutMs: 0 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    await otherL.release();
    const next = await neighbour.lock('L').acquire();
    expect(next.token).toBeGreaterThan(grant.token);
  } finally {
    process.kill(holder.pid, 'SIGCONT');
    feeding = false;
    await feeder;
  }
}, 120_000);
