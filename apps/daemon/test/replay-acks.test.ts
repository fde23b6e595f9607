/**
 * The `ack` message from hostile clients, through a real daemon: acks before hello, huge,
 * backwards, malformed and by the thousand neither end the daemon nor touch another client's
 * writes; one ack drops a burst of 20,000 kept replies whose ids came in no order; a burst whose
 * ids run downwards within each segment keeps every reply once, beside a client still answered;
 * an ack of a queue.get still waiting for its item (a lie) leaves no kept reply behind
 * that no later ack can drop; an instance that never acks keeps at most 100,000 replies, on
 * disk too, and the dropped ones' resends are refused after a restart as before it; an instance whose client closes it for good keeps none, one whose connection was cut
 * keeps them for its resend. A queue.get resent again and again on the connection it waits on is refused each time
 * (each resend chained two promises onto the first: a million held a gigabyte), while another
 * client is answered, and its item still reaches it once.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';

import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { decodeData, decodeMessage, encodeMessage } from '@corepool/protocol/internal';

import { SEGMENT_RIDS } from '../src/state/replay-log.js';
import { TOO_OLD_MARK } from '../src/state/state-store.js';
import { helloAs, startDaemon, type TestDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

/** An honest client with a counter `n` read once, and a raw connection as instance `instance` beside it; `one` is an add's delta of 1. */
async function besideHonest(d: TestDaemon, instance: string) {
  const { encodeData } = await import('@corepool/protocol');
  const honest = await d.connect();
  const n = honest.value<number>('n', { initial: 0 });
  await n.get();
  return { honest, n, h: await helloAs(d, instance), one: encodeData(1) };
}

/** Request ids kept on disk for each instance (segments and records of their own), read with LMDB itself. */
function allKeptOnDisk(dataDir: string): Map<string, number[]> {
  const root = openLmdb({ path: path.join(dataDir, 'state'), readOnly: true, maxDbs: 8 });
  const kept = new Map<string, number[]>();
  const add = (instance: string, rid: number): void => {
    const rids = kept.get(instance) ?? [];
    rids.push(rid);
    kept.set(instance, rids);
  };
  try {
    for (const { key, value } of root.openDB({ name: 'replay-log', encoding: 'binary' }).getRange()) {
      const flat = decodeMessage(value as Uint8Array) as unknown[];
      for (let i = 0; i < flat.length; i += 2) add((key as string[])[0]!, flat[i] as number);
    }
    for (const { key } of root.openDB({ name: 'replays', encoding: 'binary' }).getRange()) {
      add((key as [string, number])[0], (key as [string, number])[1]);
    }
  } finally {
    void root.close();
  }
  for (const rids of kept.values()) rids.sort((a, b) => a - b);
  return kept;
}

/** Request ids kept on disk for `instance`. */
function keptOnDisk(dataDir: string, instance: string): number[] {
  return allKeptOnDisk(dataDir).get(instance) ?? [];
}

describe('ack messages', () => {
  it('from hostile clients neither end the daemon nor touch another client', async () => {
    const d = await startDaemon();
    try {
      const honest = await d.connect();
      const n = honest.value<number>('n', { initial: 0 });
      await n.get();
      const early = await d.raw({ hello: false });
      early.send({ type: 'ack', ack: 5 });
      await early.closed;
      const h = await helloAs(d, 'hostile');
      h.send({ type: 'state', rid: 1, op: 'value.add', name: 'n', a: (await import('@corepool/protocol')).encodeData(1) });
      await h.next((m) => m.type === 'reply' && m.rid === 1);
      const adds = Array.from({ length: 200 }, () => n.add(1));
      for (const ack of [Number.MAX_SAFE_INTEGER, 0, 3, 1, Number.MAX_SAFE_INTEGER]) h.send({ type: 'ack', ack });
      for (let i = 0; i < 5000; i++) h.send({ type: 'ack', ack: i % 7 });
      expect(new Set(await Promise.all(adds)).size).toBe(200);
      h.send({ type: 'ack', ack: -1 });
      expect(await h.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'E_BAD_MESSAGE' } });
      expect(await n.add(1)).toBe(202);
      await honest.close();
      expect(await d.stop()).toBe(0);
    } finally {
      await d.kill().catch(() => {});
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  });

  it('of a queue.get still waiting (a lie) leave no kept reply that a later ack cannot drop', async () => {
    const d = await startDaemon({ keepDataDir: true });
    try {
      const { encodeData } = await import('@corepool/protocol');
      const h = await helloAs(d, 'liar');
      h.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs', timeoutMs: 60_000 });
      // Acknowledges the reply it has not had yet (and every one after it).
      h.send({ type: 'ack', ack: 1000 });
      const producer = await d.connect();
      await producer.queue('jobs').put('item');
      await h.next((m) => m.type === 'reply' && m.rid === 1);
      // Now a real acknowledgement of everything before rid 3: nothing of rid 1 may stay kept.
      h.send({ type: 'state', rid: 2, ack: 3, op: 'value.set', name: 'v', a: encodeData(1) });
      await h.next((m) => m.type === 'reply' && m.rid === 2);
      h.send({ type: 'state', rid: 3, ack: 3, op: 'value.set', name: 'v', a: encodeData(2) });
      await h.next((m) => m.type === 'reply' && m.rid === 3);
      await producer.close();
      expect(await d.stop()).toBe(0);
      expect(keptOnDisk(d.dataDir, 'liar')).toEqual([3]);
    } finally {
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  });
});

describe('acknowledgements of many replies at once', () => {
  it('drop every kept reply of a hostile burst (ids spaced a segment apart, sent in descending order) while another client is answered', async () => {
    const d = await startDaemon({ keepDataDir: true });
    try {
      const { honest, n, h, one } = await besideHonest(d, 'spacer');
      const count = 20_000;
      // Each id in a segment of its own, the newest first: the kept replies' table sees them in neither id nor segment order.
      const rids = Array.from({ length: count }, (_, i) => (count - i) * 1000);
      for (let i = 0; i < count; i += 500)
        h.send(rids.slice(i, i + 500).map((rid) => ({ type: 'state', rid, op: 'value.add', name: 'n', a: one })));
      const adds = Array.from({ length: 300 }, () => n.add(1));
      await h.next((m) => m.type === 'reply' && m.rid === 1000, 60_000);
      // One acknowledgement of them all, then a write whose reply alone is kept.
      h.send({ type: 'state', rid: count * 1000 + 1, ack: count * 1000 + 1, op: 'value.add', name: 'n', a: one });
      await h.next((m) => m.type === 'reply' && m.rid === count * 1000 + 1);
      expect(new Set(await Promise.all(adds)).size).toBe(300);
      expect(await n.get()).toBe(count + 301);
      await honest.close();
      expect(await d.stop()).toBe(0);
      expect(keptOnDisk(d.dataDir, 'spacer')).toEqual([count * 1000 + 1]);
    } finally {
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('keep every reply of a burst whose ids run downwards within each segment, while another client is answered', async () => {
    const d = await startDaemon({ keepDataDir: true });
    try {
      const { honest, n, h, one } = await besideHonest(d, 'downward');
      // 40 segments' worth, each segment's ids sent from its last to its first: every kept reply lands below the lowest its segment holds.
      const rids = Array.from({ length: 40 * SEGMENT_RIDS }, (_, i) => {
        const segment = Math.floor(i / SEGMENT_RIDS);
        return segment * SEGMENT_RIDS + (SEGMENT_RIDS - 1 - (i % SEGMENT_RIDS)) + 1;
      });
      for (let i = 0; i < rids.length; i += 512)
        h.send(rids.slice(i, i + 512).map((rid) => ({ type: 'state', rid, op: 'value.add', name: 'n', a: one })));
      const adds = Array.from({ length: 300 }, () => n.add(1));
      const last = rids[rids.length - 1]!;
      await h.next((m) => m.type === 'reply' && m.rid === last, 60_000);
      expect(new Set(await Promise.all(adds)).size).toBe(300);
      expect(await n.get()).toBe(rids.length + 300);
      await honest.close();
      expect(await d.stop()).toBe(0);
      // Never acknowledged: every reply is kept, once.
      expect(keptOnDisk(d.dataDir, 'downward')).toEqual([...rids].sort((a, b) => a - b));
    } finally {
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('a client instance that never acknowledges', () => {
  it('of an instance whose client closed it for good go at once; a dropped connection keeps them for its resend', async () => {
    const d = await startDaemon({ keepDataDir: true });
    try {
      const { encodeData } = await import('@corepool/protocol');
      const producer = await d.connect();
      const jobs = producer.queue<string>('jobs');
      for (const item of ['a', 'b', 'c']) await jobs.put(item);
      const leaver = await helloAs(d, 'leaver');
      const dropped = await helloAs(d, 'dropped');
      for (const [h, rid] of [
        [leaver, 1],
        [dropped, 1],
        [leaver, 2],
      ] as const) {
        h.send({ type: 'state', rid, op: rid === 1 ? 'queue.get' : 'value.set', name: rid === 1 ? 'jobs' : 'v', a: encodeData(rid) });
        await h.next((m) => m.type === 'reply' && m.rid === rid);
      }
      // The SDK's close() sends NORMAL; a connection cut (a crash, a network) sends no close frame.
      leaver.ws.close(1000);
      dropped.ws.terminate();
      await Promise.all([leaver.closed, dropped.closed]);
      // A raw client that comes back as the closed instance anyway: its resent get is refused, no second item taken.
      const undead = await helloAs(d, 'leaver');
      undead.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs' });
      expect(await undead.next((m) => m.rid === 1)).toMatchObject({ ok: false, error: { code: 'E_REPLY_DROPPED' } });
      undead.ws.terminate();
      // The cut connection's client resends its get on a new one: the same item, not a second.
      const back = await helloAs(d, 'dropped');
      back.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs' });
      const again = await back.next((m) => m.type === 'reply' && m.rid === 1);
      expect(decodeData(again.value as Uint8Array)).toBe('b');
      // An SDK client that closes leaves nothing kept either.
      const sdk = await d.connect();
      expect(await sdk.queue<string>('jobs').get()).toBe('c');
      await sdk.close();
      expect(await jobs.size()).toBe(0);
      await producer.close();
      back.ws.terminate();
      expect(await d.stop()).toBe(0);
      expect(keptOnDisk(d.dataDir, 'leaver')).toEqual([]);
      expect(keptOnDisk(d.dataDir, 'dropped')).toEqual([1]);
      expect([...allKeptOnDisk(d.dataDir).keys()]).toEqual(['dropped']);
    } finally {
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  });

  it('has at most 100,000 replies kept (the oldest go), on disk too, and a restarted daemon still refuses the dropped ones', async () => {
    const d = await startDaemon({ keepDataDir: true });
    try {
      const { encodeData } = await import('@corepool/protocol');
      const h = await helloAs(d, 'silent');
      const one = encodeData(1);
      const n = 101_000;
      for (let rid = 1; rid <= n; rid += 100) {
        h.send(Array.from({ length: 100 }, (_, i) => ({ type: 'state', rid: rid + i, op: 'value.add', name: 'n', a: one })));
        if (rid % 10_000 === 1) await h.next((m) => m.type === 'reply' && m.rid === rid, 60_000);
      }
      await h.next((m) => m.type === 'reply' && m.rid === n, 60_000);
      expect(await d.stop()).toBe(0);
      const kept = keptOnDisk(d.dataDir, 'silent');
      // The newest 100,000, and the watermark of the dropped ones (under a request id no request has).
      expect(kept.length).toBe(100_001);
      expect(kept.slice(0, 2)).toEqual([TOO_OLD_MARK, n - 100_000 + 1]);
      // A daemon restarted before their resends refuses them as too old: never applied a second time.
      const again = await startDaemon({ dataDir: d.dataDir, keepDataDir: true });
      try {
        const back = await helloAs(again, 'silent');
        back.send({ type: 'state', rid: 1, op: 'value.add', name: 'n', a: one });
        back.send({ type: 'state', rid: n, op: 'value.add', name: 'n', a: one });
        expect(await back.next((m) => m.rid === 1)).toMatchObject({ ok: false, error: { code: 'E_REPLY_DROPPED' } });
        expect(await back.next((m) => m.rid === n)).toMatchObject({ ok: true });
        const reader = await again.connect();
        expect(await reader.value<number>('n').get()).toBe(n);
        await reader.close();
      } finally {
        await again.stop();
      }
    } finally {
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('replayed requests', () => {
  it('a value.init resent after its reply was lost is answered from the kept reply: it does not bring back a value another app deleted', async () => {
    await using d = await startDaemon();
    const { encodeData } = await import('@corepool/protocol');
    const other = await d.connect();
    const first = await helloAs(d, 'initer');
    first.send({ type: 'state', rid: 1, op: 'value.init', name: 'iv', a: encodeData(100) });
    const reply = await first.next((m) => m.type === 'reply' && m.rid === 1);
    const made = reply.value as { version: number; value: Uint8Array };
    expect(decodeData(made.value)).toBe(100);
    // Another app deletes the value, then the initer's link drops before it reads the reply, and it resends.
    expect(await other.value<number>('iv').delete()).toBe(true);
    first.ws.terminate();
    const again = await helloAs(d, 'initer');
    again.send({ type: 'state', rid: 1, op: 'value.init', name: 'iv', a: encodeData(100) });
    const resent = await again.next((m) => m.type === 'reply' && m.rid === 1);
    expect(resent).toMatchObject({ ok: true, value: { version: made.version } });
    expect(
      await other
        .value<number>('iv')
        .get()
        .catch((e: { code?: string }) => e.code),
    ).toBe('E_NO_SUCH_VALUE');
  });

  it('a queue.get resent on the connection it waits on is refused each time; another client is answered; its item comes once', async () => {
    await using d = await startDaemon();
    const other = await d.connect();
    const h = await helloAs(d, 'resender');
    h.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs' });
    const RESENDS = 20_000;
    const frame = encodeMessage(Array.from({ length: 1000 }, () => ({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs' })));
    for (let i = 0; i < RESENDS / 1000; i++) h.ws.send(frame);
    const n = other.value<number>('n', { initial: 0 });
    expect(new Set(await Promise.all(Array.from({ length: 200 }, () => n.add(1)))).size).toBe(200);
    const refused = (): Record<string, unknown>[] => h.messages.filter((m) => m.rid === 1 && m.ok === false);
    await until(() => refused().length === RESENDS, 60_000, 'every resend answered');
    expect(new Set(refused().map((m) => (m.error as { code: string }).code))).toEqual(new Set(['E_BAD_MESSAGE']));
    await other.queue<string>('jobs').put('job-1');
    const got = await h.next((m) => m.rid === 1 && m.ok === true);
    expect(decodeData(got.value as Uint8Array)).toBe('job-1');
    await other.queue<string>('jobs').put('job-2');
    expect(await other.queue<string>('jobs').size()).toBe(1);
    expect(h.messages.filter((m) => m.rid === 1 && m.ok === true)).toHaveLength(1);
    expect(await n.add(1)).toBe(201);
  }, 120_000);
});
