/**
 * A lock holder whose link goes silent without closing (a pulled cable: the
 * proxy between it and the daemon drops everything both ways): its grant's
 * signal aborts before the daemon, which drops a client it has not heard from
 * for one to two ping intervals, could grant the lock to the app waiting for
 * it. Before, the holder gave its link up only after two intervals without
 * the daemon's pings, so it went on believing it held the lock for most of an
 * interval after another app was granted it (19-27 s at the default 30 s).
 * And a holder on a sound link keeps its grant however long it holds it.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { startDaemon } from './support/daemon.js';
import { startProxy } from './support/tcp-proxy.js';

const HEARTBEAT_MS = 3_000;

describe('a lock held over a link that goes silent', () => {
  it("aborts the holder's signal before another app is granted the lock; a sound link keeps it", async () => {
    await using d = await startDaemon({ workers: 1, args: ['--heartbeat-ms', String(HEARTBEAT_MS)] });
    const proxy = await startProxy(d.port, 'ws');
    try {
      const holder = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 60_000 });
      const other = await d.connect();
      const events: string[] = [];

      // A sound link: held for over two intervals, never lost.
      const keptLock = holder.lock('kept');
      const kept = await keptLock.acquire();
      await new Promise((r) => setTimeout(r, 2.5 * HEARTBEAT_MS));
      expect(kept.signal.aborted).toBe(false);
      await keptLock.release();

      const grant = await holder.lock('L').acquire();
      grant.signal.addEventListener('abort', () => events.push(`holder lost: ${(grant.signal.reason as { code?: string }).code}`));
      const otherLock = other.lock('L');
      const waiting = otherLock.acquire({ timeoutMs: 30_000 }).then((g) => {
        events.push('other granted');
        return g;
      });
      proxy.set('blackhole');
      const taken = await waiting;
      expect(events).toEqual(['holder lost: E_LOCK_NOT_HELD', 'other granted']);
      expect(taken.token).toBeGreaterThan(grant.token);
      await otherLock.release();
      proxy.set('pass');
      await holder.close();
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
