/**
 * Shared state through the SDK across daemons at its edges. A lock
 * held through a daemon killed -9 goes to a client of another daemon once the
 * dead daemon's lease lapses, with a larger fencing token; a blocked queue.get
 * on one daemon is woken by a put on another; a dict subscriber on one daemon
 * sees another's sets and deletes in order; compareAndSet races from two
 * daemons have exactly one winner per value. A queue item taken by a consumer
 * that died with its daemon (a host gone), never acknowledged, goes back to its
 * queue once the reconnect window ends; one whose consumer moved to another
 * daemon and resent its get stays that consumer's, and is not handed out again,
 * as does one held through a daemon paused past its lease that rejoins; that
 * daemon dying after it rejoined puts the item back after the window.
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { decodeData } from '@corepool/protocol/internal';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { helloAs } from '../support/daemon.js';
import { until } from '../support/wait.js';

describe('review: state edges across daemons', () => {
  it('a lock held through a daemon killed -9 is granted to another daemon’s client, with a larger token', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const ca = await a.connect();
    const cb = await b.connect();
    const g1 = await ca.lock('L').acquire();
    const lb = cb.lock('L');
    const waiting = lb.acquire({ timeoutMs: 20_000 });
    // Held: b's client waits.
    expect(await Promise.race([waiting.then(() => 'granted'), new Promise((r) => setTimeout(() => r('waiting'), 500))])).toBe('waiting');
    await a.kill();
    const g2 = await waiting;
    expect(g2.token).toBeGreaterThan(g1.token);
    // And the next grant's token grows again.
    await lb.release();
    const g3 = await lb.acquire({ timeoutMs: 5_000 });
    expect(g3.token).toBeGreaterThan(g2.token);
  });

  it('a blocked get on one daemon is woken by a put on another; a dict subscriber sees another daemon’s sets and deletes in order', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const ca = await a.connect();
    const cb = await b.connect();
    const gets = [cb.queue<number>('q').get({ timeoutMs: 20_000 }), cb.queue<number>('q').get({ timeoutMs: 20_000 })];
    await until(async () => ((await b.status()).blockedGets ?? 0) === 2, 10_000, 'two gets blocked on b');
    await ca.queue<number>('q').put(1);
    await ca.queue<number>('q').put(2);
    expect((await Promise.all(gets)).sort()).toEqual([1, 2]);
    expect(await ca.queue<number>('q').size()).toBe(0);

    const seen: string[] = [];
    const stop = cb.dict<number>('d').subscribe((k, v, deleted) => seen.push(deleted ? `-${k}` : `${k}=${v}`));
    const expected: string[] = [];
    // Let the subscription be in place (its first read of the empty dict) before the writes.
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 30; i++) {
      const k = `k${i % 4}`;
      if (i % 3 === 2) {
        await ca.dict<number>('d').delete(k);
        expected.push(`-${k}`);
      } else {
        await ca.dict<number>('d').set(k, i);
        expected.push(`${k}=${i}`);
      }
    }
    // Deletes of a key absent at the time push nothing: compare with what the writes really did.
    const real: string[] = [];
    const present = new Set<string>();
    for (const e of expected) {
      if (e.startsWith('-')) {
        if (present.delete(e.slice(1))) real.push(e);
      } else {
        present.add(e.split('=')[0]!);
        real.push(e);
      }
    }
    await until(() => seen.length >= real.length, 10_000, 'every dict change pushed').catch(() => {});
    stop();
    expect(seen).toEqual(real);
  });

  it('a queue item taken through a daemon killed -9 with its consumer goes back after the window; one resent elsewhere does not', async () => {
    await using c = await startCluster(3, { workers: 1, args: ['--replay-window-ms', '1500'] });
    await c.untilMembers(3);
    const [a, b, n] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0], (typeof c.daemons)[0]];
    const neighbour = await n.connect();
    const jobs = neighbour.queue<string>('jobs');
    const take = async (d: typeof a, instance: string): Promise<unknown> => {
      const h = await helloAs(d, instance);
      h.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs', timeoutMs: 0 });
      const got = decodeData((await h.next((m) => m.rid === 1)).value as Uint8Array);
      h.ws.terminate();
      return got;
    };
    // A host gone with its daemon and its consumer: the item it took comes back to the queue.
    await jobs.put('one');
    expect(await take(a, 'gone')).toBe('one');
    await a.kill();
    expect(await jobs.get({ timeoutMs: 20_000 })).toBe('one');
    // A consumer whose daemon died but which resent its get through another daemon keeps its item...
    await jobs.put('two');
    expect(await take(b, 'moved')).toBe('two');
    await b.kill();
    const h = await helloAs(n, 'moved');
    h.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs', timeoutMs: 0 });
    expect(decodeData((await h.next((m) => m.rid === 1)).value as Uint8Array)).toBe('two');
    // ...and it is not handed out again, once b is reaped and the window is over (the sweep has run).
    const admin = new Redis(c.redisUrl);
    try {
      await until(async () => (await admin.exists(`cp:{${c.name}}:orphans`)) === 0, 20_000, 'the dead daemons swept');
      await expect(jobs.get({ timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      expect(await admin.keys(`cp:{${c.name}}:orphan:*`)).toEqual([]);
    } finally {
      admin.disconnect();
      h.ws.close();
    }
  });

  it('a queue item held through a daemon paused past its lease stays its consumer’s when the daemon rejoins', async () => {
    await using c = await startCluster(2, { workers: 1, args: ['--replay-window-ms', '6000'] });
    await c.untilMembers(2);
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const neighbour = await a.connect();
    const consumer = await b.connect();
    const jobs = neighbour.queue<string>('jobs');
    await jobs.put('held');
    expect(await consumer.queue<string>('jobs').get({ timeoutMs: 5_000 })).toBe('held');
    // Paused past its lease: reaped as dead, then back as a new incarnation, its consumer still connected.
    const joined = b.events('cluster-joined').length;
    b.proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 4_500));
    b.proc.kill('SIGCONT');
    await until(() => b.events('cluster-joined').length > joined, 15_000, 'b rejoined');
    // The consumer's next request acknowledges the item; past the window, it is still not handed out again.
    await until(
      async () =>
        (await consumer
          .queue('jobs')
          .size()
          .catch(() => -1)) === 0,
      15_000,
      'the consumer served again',
    );
    await expect(jobs.get({ timeoutMs: 8_000 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
  });

  it('a queue item held through a daemon that rejoined after a pause goes back to its queue when that daemon then dies unacknowledged', async () => {
    await using c = await startCluster(2, { workers: 1, args: ['--replay-window-ms', '6000'] });
    await c.untilMembers(2);
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const neighbour = await a.connect();
    const jobs = neighbour.queue<string>('jobs');
    await jobs.put('held');
    // A consumer on b that never acknowledges: its item is held under b's incarnation.
    const h = await helloAs(b, 'keeps');
    h.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs', timeoutMs: 0 });
    expect(decodeData((await h.next((m) => m.rid === 1)).value as Uint8Array)).toBe('held');
    // b paused past its lease (reaped, its list orphaned), back as a new incarnation within the window...
    const joined = b.events('cluster-joined').length;
    b.proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 4_500));
    b.proc.kill('SIGCONT');
    await until(() => b.events('cluster-joined').length > joined, 15_000, 'b rejoined');
    // ...then its host gone, consumer and all: the item comes back once the new incarnation's window is over.
    await b.kill();
    h.ws.terminate();
    // Before, the rejoin dropped the old incarnation's list: the get waited its 25 s in vain.
    expect(await jobs.get({ timeoutMs: 25_000 })).toBe('held');
    await expect(jobs.get({ timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
  });

  it('compareAndSet races from two daemons: exactly one winner per value', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const clients = [await a.connect(), await b.connect(), await a.connect(), await b.connect()];
    await clients[0]!.value<{ n: number }>('cas').set({ n: 0 });
    const wins = new Map<number, number>();
    // Each client tries to move the value from n to n+1 until 40; a win at n is counted.
    await Promise.all(
      clients.map(async (cl) => {
        const v = cl.value<{ n: number }>('cas');
        for (;;) {
          const cur = await v.get();
          if (cur.n >= 40) return;
          if (await v.compareAndSet({ n: cur.n }, { n: cur.n + 1 })) wins.set(cur.n, (wins.get(cur.n) ?? 0) + 1);
        }
      }),
    );
    expect((await clients[1]!.value<{ n: number }>('cas').get()).n).toBe(40);
    expect([...wins.keys()].sort((x, y) => x - y)).toEqual([...Array(40).keys()]);
    for (const [, count] of wins) expect(count).toBe(1);
  });

  it('a lock held through a daemon paused past its lease: another daemon’s client takes it; the paused holder’s release does not free the new grant', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const { a, la, lb } = await takenOverThroughPause(c);
    await la.release().catch(() => {});
    // Once a serves state again (a new incarnation), its client cannot take the lock b's client holds.
    const ca2 = await a.connect();
    let third: string | undefined;
    await until(
      async () =>
        (third = await ca2
          .lock('P')
          .acquire({ timeoutMs: 0 })
          .then(
            () => 'granted',
            (e: unknown) => (e as { code?: string }).code,
          )) !== 'E_UNAVAILABLE',
      15_000,
      'a serving state again',
    );
    expect(third).toBe('E_TIMEOUT');
    await lb.release();
  });

  // A daemon that lost its lease closes the connections holding locks through it (another daemon may take
  // them over): the SDK aborts each grant's signal, as LockGrant.signal promises.
  it('a lock held through a daemon paused past its lease: the paused holder’s signal aborts once another holds it', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const { g1 } = await takenOverThroughPause(c);
    await until(() => g1.signal.aborted, 8_000, 'the old holder’s signal aborted');
  });

  it('a get blocked on one daemon whose client goes away loses no item put on another daemon', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const ca = await a.connect();
    for (let round = 0; round < 3; round++) {
      const sock = await b.raw({ hello: true });
      sock.send({ type: 'state', rid: 1, op: 'queue.get', name: 'lost', timeoutMs: 20_000 });
      await until(async () => ((await b.status()).blockedGets ?? 0) === 1, 10_000, 'a get blocked on b');
      // The put races the close: the item is either delivered to nobody and back in the queue, or still there.
      const put = ca.queue<number>('lost').put(round);
      sock.ws.terminate();
      await put;
      expect(await ca.queue<number>('lost').get({ timeoutMs: 10_000 })).toBe(round);
    }
    expect(await ca.queue<number>('lost').size()).toBe(0);
  });
});

/**
 * Lock P held by a client of daemon a; a client of b waits for it; a is paused (SIGSTOP) until
 * b's client is granted P (a's lease lapsed), then resumed. The new grant's token is larger.
 */
async function takenOverThroughPause(c: TestCluster) {
  const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
  const la = (await a.connect()).lock('P');
  const g1 = await la.acquire();
  const lb = (await b.connect()).lock('P');
  const waiting = lb.acquire({ timeoutMs: 30_000 });
  a.proc.kill('SIGSTOP');
  let g2: Awaited<typeof waiting>;
  try {
    g2 = await waiting;
  } finally {
    a.proc.kill('SIGCONT');
  }
  expect(g2.token).toBeGreaterThan(g1.token);
  return { a, la, lb, g1 };
}
