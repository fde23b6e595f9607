/**
 * A hostile co-tenant against the shared state's per-connection limits: one
 * raw connection floods blocked queue gets and lock acquires on distinct
 * names. Past 10,000 of each it gets E_LIMIT, the primary's memory stays
 * bounded, a second app's state operations keep working, and once the hostile
 * connection is gone its locks are free and its waiters forgotten. An SDK
 * subscriber past the subscription limit hears E_LIMIT instead of waiting forever.
 */
import { describe, expect, it } from 'vitest';

import { encodeData } from '@corepool/protocol';
import { PROTOCOL_VERSION } from '@corepool/protocol/internal';

import { startDaemon } from './support/daemon.js';
import type { RawSocket } from './support/raw-socket.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';
import { figure } from './support/figures.js';

const LIMIT = 10_000;
const MiB = 1024 * 1024;

/** Sends `n` state requests built by `make(i)` with rids from `first`, and waits until `settled` of them answered. */
async function flood(
  sock: RawSocket,
  first: number,
  n: number,
  make: (i: number) => Record<string, unknown>,
  settled: number,
): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < n; i++) sock.send({ type: 'state', rid: first + i, ...make(i) });
  const mine = (): Record<string, unknown>[] =>
    sock.messages.filter((m) => m.type === 'reply' && (m.rid as number) >= first && (m.rid as number) < first + n);
  await until(() => mine().length >= settled, 60_000, `${settled} replies`);
  return mine();
}

const codes = (replies: Record<string, unknown>[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const r of replies) {
    const k = r.ok === true ? 'ok' : String((r.error as { code: string }).code);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
};

describe('per-connection limits on the shared state', () => {
  it('a flood of blocked gets and lock acquires gets E_LIMIT; memory stays bounded; a neighbour works; all is released at disconnect', async () => {
    await using d = await startDaemon({ workers: 1 });
    const neighbour = await d.connect();
    const counter = neighbour.value<number>('neighbour-counter', { initial: 0 });
    await counter.get();
    const rssBefore = d.rss();
    const hostile = await d.raw({ hello: true });

    // 25,000 blocked gets on distinct names: 10,000 wait, the rest are refused at once.
    const gets = await flood(hostile, 1, 25_000, (i) => ({ op: 'queue.get', name: `hq-${i}` }), 25_000 - LIMIT);
    expect(codes(gets)).toEqual({ E_LIMIT: 25_000 - LIMIT });

    // 25,000 acquires of distinct free locks: 10,000 granted, the rest refused.
    const locks = await flood(hostile, 100_000, 25_000, (i) => ({ op: 'lock.acquire', name: `hl-${i}` }), 25_000);
    expect(codes(locks)).toEqual({ ok: LIMIT, E_LIMIT: 25_000 - LIMIT });
    expect((await d.status()).locks).toBe(LIMIT);
    const rssFlooded = d.rss();

    // The neighbour's state operations keep working meanwhile, its own waits and locks included.
    const adds = await Promise.all(Array.from({ length: 200 }, () => counter.add(1)));
    expect(Math.max(...adds)).toBe(200);
    const q = neighbour.queue<number>('neighbour-q');
    const waiting = q.get({ timeoutMs: 30_000 });
    await q.put(7);
    expect(await waiting).toBe(7);
    expect(await codeOf(neighbour.lock('hl-0').acquire({ timeoutMs: 0 }))).toBe('E_TIMEOUT');

    hostile.ws.close();
    await hostile.closed;
    // Its locks are released: the neighbour takes one of them, and none stays held.
    await until(async () => (await d.status()).locks === 0, 30_000, 'the hostile locks released');
    await neighbour.lock('hl-5').withLock(async () => {});
    // Its blocked gets are gone: an item put on one of their queues stays there for the next getter.
    await neighbour.queue<number>('hq-3').put(3);
    expect(await neighbour.queue<number>('hq-3').size()).toBe(1);
    figure('stateLimits.rssMb', {
      before: Math.round(rssBefore / MiB),
      flooded: Math.round(rssFlooded / MiB),
      after: Math.round(d.rss() / MiB),
    });
    // 10,000 gets and 10,000 locks are a few MB; unbounded, 25,000 of each grew well past this.
    expect(rssFlooded - rssBefore).toBeLessThan(300 * MiB);
  }, 180_000);

  it('an app creating names without end is refused at --max-state-mb (E_LIMIT); the daemon stays up, a neighbour counter and reads go on, and deleting makes room', async () => {
    await using d = await startDaemon({ workers: 1, args: ['--max-state-mb', '8'] });
    const neighbour = await d.connect();
    const counter = neighbour.value<number>('neighbour-counter', { initial: 0 });
    await counter.get();
    const hostile = await d.raw({ hello: true });
    // 40,000 new names at once: about 23,000 fit in 8 MiB, the rest are refused.
    const sets = await flood(hostile, 1, 40_000, (i) => ({ op: 'value.set', name: `hn-${i}`, a: encodeData(i) }), 40_000);
    const c = codes(sets);
    expect(c.ok).toBeGreaterThan(10_000);
    expect(c.E_LIMIT).toBeGreaterThan(5_000);
    const status = await d.status();
    expect(status.maxStateBytes).toBe(8 * MiB);
    expect(status.stateBytes).toBeLessThanOrEqual(8 * MiB);
    expect(status.stateBytes).toBeGreaterThan(7 * MiB);

    // The neighbour's counter keeps counting, and every name that was stored reads back.
    const adds = await Promise.all(Array.from({ length: 200 }, () => counter.add(1)));
    expect(Math.max(...adds)).toBe(200);
    expect(await neighbour.value<number>('hn-5').get()).toBe(5);
    // A new name waits for room, with the reason and the flag in the error.
    const refused = await neighbour
      .value('fresh')
      .set(1)
      .catch((e: { code: string; message: string }) => e);
    expect(refused).toMatchObject({ code: 'E_LIMIT', message: expect.stringMatching(/shared state is full.*--max-state-mb/) });
    for (let i = 0; i < 100; i++) await neighbour.value(`hn-${i}`).delete();
    await neighbour.value('fresh').set(1);
    expect(await neighbour.value<number>('fresh').get()).toBe(1);
  }, 180_000);

  it('items taken and not acknowledged still count until their replies go: moved out of a queue by new client instances, they make no room', async () => {
    await using d = await startDaemon({ workers: 1, args: ['--max-state-mb', '4'] });
    const producer = await d.connect();
    const jobs = producer.queue<Uint8Array>('jobs');
    const item = new Uint8Array(MiB).fill(7);
    for (let i = 0; i < 3; i++) await jobs.put(item);
    // A raw client takes them as a new instance each time, acknowledging nothing, its connection cut.
    for (let i = 0; i < 3; i++) {
      const h = await d.raw({ hello: false });
      h.send({ type: 'hello', v: PROTOCOL_VERSION, token: d.token, instance: `taker-${i}` });
      await h.next((m) => m.type === 'welcome');
      h.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs' });
      await h.next((m) => m.type === 'reply' && m.rid === 1);
      h.ws.terminate();
    }
    expect(await jobs.size()).toBe(0);
    // Kept for their resends, the items are still the state's memory: no room for a fourth.
    expect((await d.status()).stateBytes).toBeGreaterThan(3 * MiB);
    expect(await codeOf(jobs.put(item))).toBe('E_LIMIT');
    // One instance comes back and acknowledges its reply: its item's room is free again.
    const back = await d.raw({ hello: false });
    back.send({ type: 'hello', v: PROTOCOL_VERSION, token: d.token, instance: 'taker-0' });
    await back.next((m) => m.type === 'welcome');
    back.send({ type: 'ack', ack: 2 });
    await until(async () => (await d.status()).stateBytes! < 2.5 * MiB, 10_000, 'the acknowledged item let go');
    await jobs.put(item);
    expect(await jobs.size()).toBe(1);
  });

  it("what else kept replies hold is counted apart, never refusing a counter's add, and goes with their acknowledgement", async () => {
    await using d = await startDaemon({ workers: 1, args: ['--max-state-mb', '8'] });
    const neighbour = await d.connect();
    const counter = neighbour.value<number>('count', { initial: 0 });
    await counter.get();
    const one = encodeData(1);
    // A raw client instance making 5,000 adds, none acknowledged: ~290 bytes a reply kept.
    const h = await d.raw({ hello: false });
    h.send({ type: 'hello', v: PROTOCOL_VERSION, token: d.token, instance: 'silent' });
    await h.next((m) => m.type === 'welcome');
    await flood(h, 1, 5_000, (i) => ({ op: 'value.add', name: `n${i % 16}`, a: one }), 5_000);
    const held = await d.status();
    expect(held.stateReplyBytes).toBeGreaterThan(1.3 * MiB);
    expect(held.stateBytes).toBeLessThan(MiB);
    expect(await counter.add(1)).toBe(1);
    h.send({ type: 'ack', ack: 5_001 });
    await until(async () => (await d.status()).stateReplyBytes! < 64 * 1024, 10_000, 'the acknowledged replies let go');
  });

  it('many blocked gets stopping together (timeouts due at once, a connection leaving a long line) are all answered, and the line stays whole for a neighbour', async () => {
    await using d = await startDaemon({ workers: 1 });
    const neighbour = await d.connect();
    const counter = neighbour.value<number>('neighbour-counter', { initial: 0 });
    await counter.get();
    const line = neighbour.queue<string>('line');
    // Two connections with 10,000 gets each on one queue, due together; a third with 10,000 that never time out.
    const timed = [await d.raw({ hello: true }), await d.raw({ hello: true })];
    const leaver = await d.raw({ hello: true });
    for (const [k, sock] of timed.entries()) {
      for (let i = 0; i < LIMIT; i++) sock.send({ type: 'state', rid: 1 + i, op: 'queue.get', name: 'line', timeoutMs: 1500 + k });
    }
    for (let i = 0; i < LIMIT; i++) leaver.send({ type: 'state', rid: 1 + i, op: 'queue.get', name: 'line' });
    const answered = (sock: RawSocket): Record<string, unknown>[] => sock.messages.filter((m) => m.type === 'reply');
    // Every get read: waiting, or already answered (a loaded machine may take the timeouts' 1.5 s to read them).
    const read = async (): Promise<number> =>
      ((await d.status()).blockedGets ?? 0) + answered(timed[0]!).length + answered(timed[1]!).length;
    await until(async () => (await read()) === 3 * LIMIT, 60_000, 'every get read');
    const mine = line.get({ timeoutMs: 60_000 });
    leaver.ws.close();
    await leaver.closed;
    // The neighbour's adds go on while the timeouts fall due and are answered.
    const adds: number[] = [];
    while (timed.some((sock) => answered(sock).length < LIMIT)) adds.push(await counter.add(1));
    expect(adds.every((v, i) => i === 0 || v === adds[i - 1]! + 1)).toBe(true);
    for (const sock of timed) expect(codes(answered(sock))).toEqual({ E_TIMEOUT: LIMIT });
    // The line is whole: the neighbour's get, behind 30,000 that left, is served by the next put.
    await line.put('x');
    expect(await mine).toBe('x');
    expect((await d.status()).blockedGets).toBe(0);
  }, 180_000);

  it('a subscription the daemon refuses past its limit ends with E_LIMIT (onEnd, watch); the others keep their pushes', async () => {
    await using d = await startDaemon({ workers: 1 });
    const a = await d.connect();
    const b = await d.connect();
    const ends: string[] = [];
    const got = new Map<number, number>();
    for (let i = 0; i < LIMIT; i++)
      a.value<number>(`s-${i}`).subscribe(
        (v) => got.set(i, v),
        (err) => ends.push(`s-${i} ${(err as { code?: string }).code}`),
      );
    // Once a value read after them answers, the daemon has handled every subscribe before it.
    await a.value('after').set(0);
    let refused: { code?: string } | undefined;
    a.value(`s-${LIMIT}`).subscribe(
      () => {},
      (err) => (refused = err as { code?: string }),
    );
    await until(() => refused !== undefined, 30_000, 'the refused subscriber to end');
    expect(refused?.code).toBe('E_LIMIT');
    let watched: string | undefined;
    a.value(`s-${LIMIT + 1}`)
      .watch()
      .next()
      .then(
        () => (watched = 'a value'),
        (err: { code?: string }) => (watched = err.code),
      );
    await until(() => watched !== undefined, 30_000, 'the refused watch() to settle');
    expect(watched).toBe('E_LIMIT');
    // The subscriptions within the limit still get pushes, and none of them ended.
    await b.value('s-5').set(5);
    await b.value(`s-${LIMIT - 1}`).set(9);
    await until(() => got.get(5) === 5 && got.get(LIMIT - 1) === 9, 30_000, 'the pushes');
    expect(ends).toEqual([]);
  }, 180_000);
});
