/**
 * Replies are bounded and flow at the pace the client reads (issue 9, items
 * 4 and 12): a reply over what one frame may carry is answered with
 * E_TOO_LARGE (never a cut-off and a resend loop); replies the daemon
 * produces faster than a prompt client takes them wait in the daemon, so a
 * lock holder reading normally keeps its lock; a holder whose connection is
 * lost hears it at once through its grant's signal. (A client that stops
 * reading is still cut off: hostile-clients.test.ts, row 5.)
 */
import { describe, expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { encodeData } from '@corepool/protocol';
import { startDaemon } from './support/daemon.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';
import { figure } from './support/figures.js';
import { startCutProxy } from './support/cut-proxy.js';

const MiB = 1024 * 1024;

/** Resolves to the promise's error code, 'resolved', or 'hang' if it settles neither way within `ms`. */
async function outcome(p: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('hang'), ms)));
  const settled = codeOf(p).then((code) => code ?? 'resolved');
  try {
    return await Promise.race([settled, hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe('item 4: replies over one frame', { timeout: 180_000 }, () => {
  it('dict.entries() of 42 MB: E_TOO_LARGE at once, no cut-off, no resend loop; keys() then get() reads it all', async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect();
    const dict = c.dict<Uint8Array>('big');
    for (let k = 0; k < 6; k++) await dict.set(`k${k}`, new Uint8Array(7 * MiB).fill(k));
    const t0 = performance.now();
    expect(await outcome(dict.entries(), 60_000)).toBe('E_TOO_LARGE');
    figure('replies.entries42MB', { rejectMs: Math.round(performance.now() - t0), cutOffs: d.events('slow-consumer').length });
    expect(d.events('slow-consumer')).toEqual([]);
    const keys = await dict.keys();
    expect(keys).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
    for (const [k, key] of keys.entries()) {
      const v = (await dict.get(key))!;
      expect([v.length, v[0], v[v.length - 1]]).toEqual([7 * MiB, k, k]);
    }
    // The connection was never cut: a second client beside it, and this one, still work.
    const other = await d.connect();
    expect(await other.map((x: number) => x + 1, [1, 2])).toEqual([2, 3]);
    expect(await c.map((x: number) => x * 2, [1, 2])).toEqual([2, 4]);
    expect(d.events('slow-consumer')).toEqual([]);
  });

  it('--max-payload 256 KiB: dict.keys of many keys and value.get of a large value go through the same bound; the SDK keeps to the smaller frames', async () => {
    await using d = await startDaemon({ workers: 1, args: ['--max-payload', String(256 * 1024)] });
    const c = await d.connect();
    const dict = c.dict<number>('many');
    await Promise.all(Array.from({ length: 300 }, (_, i) => dict.set(`${i}:${'k'.repeat(1000)}`, i)));
    expect(await outcome(dict.keys(), 60_000)).toBe('E_TOO_LARGE');
    expect(await dict.size()).toBe(300);
    // A value the frame limit lets in but no reply could carry back (only a raw client can send one: the SDK keeps
    // operands within the reply bound) is refused, never stored: it could not be read, and a queue item taken for
    // a reply too large to send would be lost.
    const raw = await d.raw({ hello: true });
    raw.send({ type: 'state', rid: 1, op: 'value.set', name: 'large', a: encodeData(new Uint8Array(220 * 1024)) });
    expect(await raw.next((m) => m.type === 'reply' && m.rid === 1)).toMatchObject({ ok: false, error: { code: 'E_TOO_LARGE' } });
    raw.send({ type: 'state', rid: 2, op: 'queue.put', name: 'large-q', a: encodeData(new Uint8Array(220 * 1024)) });
    expect(await raw.next((m) => m.type === 'reply' && m.rid === 2)).toMatchObject({ ok: false, error: { code: 'E_TOO_LARGE' } });
    expect(await c.queue('large-q').size()).toBe(0);
    const v = c.value<Uint8Array>('large');
    expect(await outcome(v.get(), 60_000)).toBe('E_NO_SUCH_VALUE');
    await v.set(new Uint8Array(100 * 1024).fill(7));
    expect((await v.get())[0]).toBe(7);
    // The SDK sends no operand this daemon's frame limit would refuse (a refused frame costs the connection, and the write was resent forever).
    expect(await outcome(v.set(new Uint8Array(300 * 1024)), 60_000)).toBe('E_TOO_LARGE');
    expect((await v.get())[0]).toBe(7);
    expect(d.events('slow-consumer')).toEqual([]);
  });
});

describe('item 4: a Dict subscriber after a reconnect', { timeout: 120_000 }, () => {
  it('a dict too large for one entries() reply is resynced key by key: deletes and sets made while the link was down arrive', async () => {
    await using d = await startDaemon({ workers: 1, args: ['--max-payload', String(256 * 1024)] });
    await using proxy = await startCutProxy(d.url);
    const writer = await d.connect();
    const big = writer.dict<string>('wide');
    await Promise.all(Array.from({ length: 300 }, (_, i) => big.set(`k${i}`, 'v'.repeat(1000))));
    expect(await codeOf(big.entries())).toBe('E_TOO_LARGE');
    const sub = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    try {
      const seen: string[] = [];
      sub.dict<string>('wide').subscribe((key, value, deleted) => {
        if (key === 'k5' || key === 'late') seen.push(deleted ? `${key} deleted` : `${key}=${value}`);
      });
      await sub.dict('wide').size(); // subscribed
      await big.set('k5', 'x');
      await until(() => seen.includes('k5=x'), 30_000, 'a live push');
      proxy.hold();
      proxy.cut();
      await big.delete('k5');
      await big.set('late', 'y');
      await until(() => seen.includes('k5 deleted') && seen.includes('late=y'), 30_000, 'the resync');
      expect(seen).toEqual(['k5=x', 'late=y', 'k5 deleted']);
    } finally {
      await sub.close();
    }
  });
});

describe('item 12: a lock holder reading normally keeps its lock', { timeout: 180_000 }, () => {
  it('ten concurrent gets of a 7 MiB value inside withLock all resolve; a second client acquires only after A releases; no slow-consumer', async () => {
    await using d = await startDaemon({ workers: 1 });
    const a = await d.connect();
    const b = await d.connect();
    const neighbour = await d.connect();
    const big = new Uint8Array(7 * MiB).fill(9);
    await a.value<Uint8Array>('big7').set(big);
    const order: string[] = [];
    let bGrant: Promise<unknown> | undefined;
    const run = a.lock('L').withLock(async (_token, signal) => {
      order.push('A acquired');
      bGrant = b
        .lock('L')
        .acquire()
        .then(() => order.push('B acquired'));
      // B's acquire reaches the daemon and waits there (it cannot be granted while A holds the lock).
      await b.status();
      const t0 = performance.now();
      const got = await Promise.all(Array.from({ length: 10 }, () => a.value<Uint8Array>('big7').get()));
      // A neighbour is served meanwhile.
      expect(await neighbour.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
      order.push('A read');
      const me = (await a.status()).clients.find((x) => x.maxSendBuffered !== undefined && x.maxSendBuffered >= 7 * MiB);
      figure('replies.tenGets7MiB', {
        ms: Math.round(performance.now() - t0),
        maxSendBufferedMiB: +((me?.maxSendBuffered ?? 0) / MiB).toFixed(1),
      });
      expect(got.map((g) => g.length)).toEqual(Array(10).fill(7 * MiB));
      expect(got.every((g) => g[0] === 9 && g[g.length - 1] === 9)).toBe(true);
      expect(signal.aborted).toBe(false);
      return 'done';
    });
    expect(await outcome(run, 120_000)).toBe('resolved');
    await bGrant;
    expect(order).toEqual(['A acquired', 'A read', 'B acquired']);
    expect(d.events('slow-consumer')).toEqual([]);
  });
});

describe('item 12: a prompt reader is not mistaken for a dead one', { timeout: 180_000 }, () => {
  it('while its replies wait and its socket is not read (its pongs unseen), taking replies keeps it alive: no heartbeat termination, no reconnect', async () => {
    // 1 s pings against ~2 s of replies per round (40 x 7 MiB): the socket stays paused past two intervals, so
    // without the rule the client is terminated, yet a client starved of CPU by a loaded machine for a moment is not.
    await using d = await startDaemon({ workers: 1, args: ['--heartbeat-ms', '1000'] });
    const a = await d.connect({ name: 'hb-reader' });
    await a.value<Uint8Array>('big7').set(new Uint8Array(7 * MiB).fill(3));
    const idOf = async (): Promise<number | undefined> => (await a.status()).clients.find((c) => c.name === 'hb-reader')?.id;
    const before = await idOf();
    for (let round = 0; round < 3; round++) {
      const got = await Promise.all(Array.from({ length: 40 }, () => a.value<Uint8Array>('big7').get()));
      expect(got.every((g) => g.length === 7 * MiB && g[0] === 3)).toBe(true);
    }
    expect(d.events('heartbeat-timeout')).toEqual([]);
    expect(await idOf()).toBe(before);
    expect(d.events('slow-consumer')).toEqual([]);
  });
});

describe('item 12: a holder learns at once that its lock is gone', { timeout: 120_000 }, () => {
  it('the connection holding the lock is cut: the grant signal aborts with E_LOCK_NOT_HELD, release() then fails with E_LOCK_NOT_HELD, another client gets the lock', async () => {
    await using d = await startDaemon({ workers: 1 });
    await using proxy = await startCutProxy(d.url);
    const a = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    const b = await d.connect();
    try {
      const lock = a.lock('cut');
      const grant = await lock.acquire();
      expect(grant.signal.aborted).toBe(false);
      expect(lock.signal).toBe(grant.signal);
      const aborted = new Promise<unknown>((resolve) => grant.signal.addEventListener('abort', () => resolve(grant.signal.reason)));
      proxy.cut();
      expect(
        await outcome(
          aborted.then((r) => Promise.reject(r)),
          30_000,
        ),
      ).toBe('E_LOCK_NOT_HELD');
      expect(await codeOf(lock.release())).toBe('E_LOCK_NOT_HELD');
      const bg = await b.lock('cut').acquire({ timeoutMs: 30_000 });
      expect(bg.token).toBeGreaterThan(grant.token);
      await b
        .lock('cut')
        .release()
        .catch(() => {});
    } finally {
      await a.close();
    }
  });

  it('withLock: the callback gets the signal, it aborts when the connection is cut, and withLock rejects with E_LOCK_NOT_HELD', async () => {
    await using d = await startDaemon({ workers: 1 });
    await using proxy = await startCutProxy(d.url);
    const a = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    try {
      const events: string[] = [];
      const run = a.lock('cut2').withLock(async (_token, signal) => {
        events.push('inside');
        const gone = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
        proxy.cut();
        await gone;
        events.push(`aborted ${(signal.reason as { code?: string }).code}`);
        return 'finished anyway';
      });
      expect(await outcome(run, 30_000)).toBe('E_LOCK_NOT_HELD');
      expect(events).toEqual(['inside', 'aborted E_LOCK_NOT_HELD']);
      // The client reconnected and works; the lock is free again.
      const g = await a.lock('cut2').acquire({ timeoutMs: 30_000 });
      expect(g.signal.aborted).toBe(false);
    } finally {
      await a.close();
    }
  });
});
