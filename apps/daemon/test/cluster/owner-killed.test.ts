/**
 * kill -9 of the daemon a client is connected to, in a cluster: the client
 * moves to another daemon of its list and goes on there. Its map completes
 * (every result once, in input order), and its shared state is the
 * cluster's: writes in flight at the kill are applied exactly once (resent
 * with the same request ids, answered from the reply Redis kept with the
 * write), a queue hands every item out once, and a subscriber on a third
 * app keeps seeing the counter's versions in order.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { startCluster } from '../support/cluster.js';
import { until } from '../support/wait.js';

/** ~15 ms per item without spinning a core: the batch lasts seconds on a shared 2-core machine. */
const slow = (x: number): number => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 15);
  return x * 2;
};

describe('kill -9 of the daemon a client uses, in a cluster', () => {
  it('the map completes on another daemon, every result once and in order', async () => {
    await using c = await startCluster(2);
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    await c.untilMembers(2);
    const client = await connect([a.url, b.url], { token: c.token });
    try {
      const n = 300;
      const counts = new Map<number, number>();
      const order: number[] = [];
      let killed: Promise<void> | undefined;
      for await (const v of client.imap(
        slow,
        Array.from({ length: n }, (_, i) => i),
      )) {
        order.push(v / 2);
        counts.set(v / 2, (counts.get(v / 2) ?? 0) + 1);
        if (killed === undefined && order.length >= n / 4) killed = a.kill();
      }
      await killed;
      expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
      expect([...counts.values()].every((k) => k === 1)).toBe(true);
      expect(client.url).toBe(b.url);
    } finally {
      await client.close();
    }
  });

  it('writes in flight at the kill are applied exactly once; queue items handed out once; a subscriber elsewhere sees versions in order', async () => {
    await using c = await startCluster(3, { workers: 1 });
    const [a, b, w] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0], (typeof c.daemons)[0]];
    await c.untilMembers(3);
    // The watcher is on the third daemon, which nobody kills.
    const watcher = await connect(w.url, { token: c.token });
    const client = await connect([a.url, b.url], { token: c.token });
    try {
      const counter = client.value<number>('hits', { initial: 0 });
      await counter.get();
      const seen: number[] = [];
      watcher.value<number>('hits').subscribe((v) => seen.push(v));
      const q = client.queue<number>('jobs');
      const items = 200;
      for (let i = 0; i < items; i++) await q.put(i);

      // Adds in flight without a pause (up to 50 at once) from before the kill until well after it; gets too.
      let sent = 0;
      let acked = 0;
      let stop = false;
      const inflight = new Set<Promise<void>>();
      const adding = (async () => {
        while (!stop) {
          const p: Promise<void> = counter.add(1).then(() => void acked++);
          sent++;
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
          if (inflight.size >= 50) await Promise.race(inflight);
        }
        await Promise.all(inflight);
      })();
      const got: number[] = [];
      const getsDone = Promise.all(Array.from({ length: items }, () => q.get({ timeoutMs: 30_000 }).then((x) => got.push(x))));
      await until(() => acked > 200, 20_000, 'adds acknowledged before the kill');
      await a.kill();
      await until(() => client.url === b.url, 20_000, 'the client on b');
      const atMove = acked;
      await until(() => acked > atMove + 200, 20_000, 'adds acknowledged by b');
      stop = true;
      await adding;
      await getsDone;

      expect(acked).toBe(sent);
      expect(await counter.get()).toBe(sent);
      expect(got.sort((x, y) => x - y)).toEqual(Array.from({ length: items }, (_, i) => i));
      expect(await q.size()).toBe(0);
      await until(() => seen.at(-1) === sent, 20_000, 'the watcher on the third daemon sees the last version');
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    } finally {
      await client.close();
      await watcher.close();
    }
  });
});
