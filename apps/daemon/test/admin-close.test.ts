/**
 * The CLI's connection (status, stop, state, top) closing while its daemon is
 * stalled (stopped with SIGSTOP, its host hung): ws waits up to 30 s for the
 * daemon to answer the close, so `top` took 30 s to quit on q, exactly when a
 * user presses it. The close now drops the socket after half a second.
 */
import { expect, it } from 'vitest';
import { AdminConnection, resolveTarget } from '../src/admin.js';
import { startDaemon } from './support/daemon.js';

it('closing the CLI connection to a stopped daemon ends in seconds, not after ws close timeout', { timeout: 60_000 }, async () => {
  await using d = await startDaemon({ workers: 1 });
  const conn = await AdminConnection.open(resolveTarget({ dataDir: d.dataDir }));
  expect(await conn.request('status')).toMatchObject({ workers: expect.any(Array) });
  process.kill(d.pid, 'SIGSTOP');
  try {
    conn.close();
    const ended = await Promise.race([
      conn.closed.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still open after 10 s'), 10_000)),
    ]);
    expect(ended).toBe('closed');
  } finally {
    process.kill(d.pid, 'SIGCONT');
  }
});
