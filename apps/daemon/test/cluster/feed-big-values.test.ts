/**
 * Big values on the change feed: an app writing values past the inline size
 * (read by each daemon from their keys) must not hold up its co-tenants'
 * pushes and wake-ups behind a Redis round trip per value. A round's reads go
 * out together, in groups within a byte budget, and pushes still come in
 * stream order, a value's only while it is still that version; records of an
 * older daemon (`big=1`, no size) still push. A read fetches no more than the
 * size its record gave (nothing when the value or dict key has grown since: a
 * later record has its bytes), and a dict key written again in the round is
 * not read at all, so a group never holds more than its recorded sizes.
 *
 * Nothing here measures time: the reads a daemon sends are watched on its
 * command connection, and the first held until the writes are done, so the
 * rest are in the stream together; one read at a time (the fault) shows as
 * never more than one in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { Push } from '@corepool/protocol/internal';
import { clusterName, dropCluster, MACHINE_REDIS } from '../support/redis.js';
import { until } from '../support/wait.js';
import { groupReads, READ_BUDGET, readPlan } from '../../src/cluster/state/big-reads.js';
import type { ChangeEntry } from '../../src/cluster/state/change-feed.js';
import { closeSide, dec, enc, req, side, type Side } from './state-helpers.js';

const MiB = 1024 * 1024;
const name = clusterName('feed-big');
let a: Side;
let b: Side;
let admin: Redis;
let reads: ReadWatch;

beforeAll(async () => {
  a = await side(MACHINE_REDIS, name, { inlineBytes: 64, maxValueBytes: 4 * MiB });
  b = await side(MACHINE_REDIS, name, { inlineBytes: 64, maxValueBytes: 4 * MiB });
  admin = new Redis(MACHINE_REDIS);
  reads = watchReads(b);
});
afterAll(async () => {
  admin.disconnect();
  await closeSide(a);
  await closeSide(b);
  await dropCluster(MACHINE_REDIS, name);
});

/**
 * The big-value reads one side sends (HMGET of a value, HGET of a dict key, or
 * a script whose first key is one), and how many were in flight at once.
 */
interface ReadWatch {
  inFlight: number;
  max: number;
  total: number;
  /** Keys read so far. */
  keys: string[];
  /** Each read's key and the bytes of its reply (0 for nil), as they come back. */
  replies: [string, number][];
  /** Holds the reads of `key` until the returned function is called. */
  hold(key: string): () => void;
  reset(): void;
}

function watchReads(s: Side): ReadWatch {
  const redis = s.node.redis;
  const send = redis.callBuffer.bind(redis) as (cmd: string, ...args: unknown[]) => Promise<unknown>;
  const held = new Map<string, Promise<void>>();
  const w: ReadWatch = {
    inFlight: 0,
    max: 0,
    total: 0,
    keys: [],
    replies: [],
    hold(key) {
      let release!: () => void;
      held.set(key, new Promise<void>((r) => (release = r)));
      return () => {
        held.delete(key);
        release();
      };
    },
    reset() {
      w.max = w.inFlight;
      w.total = 0;
      w.keys = [];
      w.replies = [];
    },
  };
  const value = (key: string): boolean => key.startsWith(`${s.node.prefix}v:`);
  const dict = (key: string): boolean => key.startsWith(`${s.node.prefix}dict:`);
  // A script's first key (the state's scripts start with the lease key, the feed's with `chg`).
  const scripted = (cmd: string, args: unknown[]): string | undefined =>
    (cmd === 'EVALSHA' || cmd === 'EVAL') && Number(args[1]) > 0 ? String(args[2]) : undefined;
  const bigKey = (cmd: string, args: unknown[]): string | undefined => {
    const key = String(args[0]);
    if ((cmd === 'HMGET' && value(key)) || (cmd === 'HGET' && dict(key))) return key;
    const first = scripted(cmd, args);
    return first !== undefined && (value(first) || dict(first)) ? first : undefined;
  };
  (redis as unknown as { callBuffer: unknown }).callBuffer = async (cmd: string, ...args: unknown[]) => {
    const key = bigKey(cmd.toUpperCase(), args);
    if (key === undefined) return send(cmd, ...args);
    w.inFlight++;
    w.total++;
    w.keys.push(key);
    w.max = Math.max(w.max, w.inFlight);
    try {
      await held.get(key);
      const reply = await send(cmd, ...args);
      w.replies.push([key, replyBytes(reply)]);
      return reply;
    } catch (err) {
      // A script Redis did not know yet is sent again with its source: one read, not two.
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        w.total--;
        w.keys.splice(w.keys.lastIndexOf(key), 1);
      }
      throw err;
    } finally {
      w.inFlight--;
    }
  };
  return w;
}

/** The bytes a reply carries. */
function replyBytes(reply: unknown): number {
  if (Buffer.isBuffer(reply)) return reply.byteLength;
  return Array.isArray(reply) ? reply.reduce((n: number, r) => n + replyBytes(r), 0) : 0;
}

const of = (s: Side, owner: string, n: string): Push[] => s.pushes.filter((p) => p.owner === owner && p.push.name === n).map((p) => p.push);
/** A value of `bytes` characters that says which write it was. */
const big = (tag: string, bytes: number): string => `${tag}:`.padEnd(bytes, 'x');
const valueKey = (n: string): string => `${b.node.prefix}v:${n}`;
const dictKey = (n: string): string => `${b.node.prefix}dict:${n}`;
const set = (s: Side, n: string, v: unknown): Promise<unknown> => s.state.handle('h:1', req('value.set', n, { a: enc(v) }));
const dset = (s: Side, n: string, key: string, v: unknown): Promise<unknown> =>
  s.state.handle('h:1', req('dict.set', n, { key, a: enc(v) }));

describe('big values on the change feed', () => {
  it("one app writing big values: a round's reads go out together, pushes arrive in order, and a neighbour's get is woken", async () => {
    const names = [...Array(300).keys()].map((i) => `co${i}`);
    for (const n of names) await b.state.handle('s:1', req('value.subscribe', n));
    const got = b.state.handle('n:2', req('queue.get', 'jobs', { timeoutMs: 30_000 }));
    await until(() => b.state.counts().blockedGets === 1, 10_000, 'the neighbour parked');
    reads.reset();
    // The first read waits for the last write: the others are in the stream together by then.
    const release = reads.hold(valueKey('co0'));
    for (const [i, n] of names.entries()) {
      await set(a, n, big(n, 64 * 1024));
      if (i === 150) await a.state.handle('p:3', req('queue.put', 'jobs', { a: enc('wake') }));
    }
    release();
    expect(dec(await got)).toBe('wake');
    await until(() => names.every((n) => of(b, 's:1', n).length === 1), 20_000, 'a push per write');
    const pushed = b.pushes.filter((p) => p.owner === 's:1' && p.push.name.startsWith('co'));
    expect(pushed.map((p) => p.push.name)).toEqual(names);
    for (const { push } of pushed) {
      expect(push.version).toBe(1);
      expect(dec(push.value)).toBe(big(push.name, 64 * 1024));
    }
    expect(reads.total).toBe(300);
    // Not one read per round trip (the fault: never more than one in flight) ...
    expect(reads.max).toBeGreaterThan(1);
    // ... but no more at once than the budget holds.
    expect(reads.max).toBeLessThanOrEqual(Math.floor(READ_BUDGET / enc(big('co0', 64 * 1024)).byteLength));
  });

  it('reads the big values of a round in more than one group when they are over the budget', async () => {
    const size = 600 * 1024;
    const names = [...Array(40).keys()].map((i) => `bud${i}`);
    for (const n of names) await b.state.handle('s:1', req('value.subscribe', n));
    reads.reset();
    const release = reads.hold(valueKey('bud0'));
    for (const n of names) await set(a, n, big(n, size));
    release();
    await until(() => names.every((n) => of(b, 's:1', n).length === 1), 20_000, 'a push per write');
    for (const n of names) expect(dec(of(b, 's:1', n)[0]!.value)).toBe(big(n, size));
    const perGroup = Math.floor(READ_BUDGET / enc(big('bud0', size)).byteLength);
    expect(perGroup).toBeLessThan(39);
    expect(reads.max).toBeGreaterThan(1);
    expect(reads.max).toBeLessThanOrEqual(perGroup);
  });

  it('records the size of a big value in its change, for the budget', async () => {
    const v = big('sized', 5000);
    await set(a, 'sized', v);
    await b.state.handle('c:9', req('dict.set', 'sized-d', { key: 'k', a: enc(v) }));
    const entries = (await admin.xrevrange(`${a.node.prefix}chg`, '+', '-', 'COUNT', 10)).map(([, f]) => f);
    const size = String(enc(v).byteLength);
    expect(entries).toContainEqual(['k', 'v', 'n', 'sized', 'ver', '1', 'big', size]);
    expect(entries).toContainEqual(['k', 'd', 'n', 'sized-d', 'ver', '1', 'key', 'k', 'big', size]);
  });

  it("pushes an older daemon's big records ('big=1', no size) read one at a time", async () => {
    await b.state.handle('s:1', req('value.subscribe', 'old'));
    await b.state.handle('s:1', req('dict.subscribe', 'old-d'));
    const p = a.node.prefix;
    const v1 = big('old1', 1000);
    const v2 = big('old2', 1000);
    reads.reset();
    // As an older daemon's scripts wrote them: the bytes in the keys, `big=1` in the records.
    const m = admin.multi();
    m.hset(`${p}v:old`, 'ver', '1', 'val', Buffer.from(enc(v1)));
    m.xadd(`${p}chg`, '*', 'k', 'v', 'n', 'old', 'ver', '1', 'big', '1');
    m.hset(`${p}dict:old-d`, 'k', Buffer.from(enc(v2)));
    m.xadd(`${p}chg`, '*', 'k', 'd', 'n', 'old-d', 'ver', '1', 'key', 'k', 'big', '1');
    await m.exec();
    await until(() => of(b, 's:1', 'old').length === 1 && of(b, 's:1', 'old-d').length === 1, 10_000, 'both pushes');
    expect(of(b, 's:1', 'old').map((p) => [p.version, dec(p.value)])).toEqual([[1, v1]]);
    expect(of(b, 's:1', 'old-d').map((p) => [p.version, p.key, dec(p.value)])).toEqual([[1, 'k', v2]]);
    // Their sizes are unknown: each read alone, as the older daemon did.
    expect(reads.total).toBe(2);
    expect(reads.max).toBe(1);
  });

  it('does not push a value overwritten before its read with the newer bytes under the older version', async () => {
    await b.state.handle('s:1', req('value.subscribe', 'ow'));
    await b.state.handle('s:1', req('value.subscribe', 'later'));
    reads.reset();
    // Overwritten between the round's read of the stream and the value's read.
    let release = reads.hold(valueKey('ow'));
    await set(a, 'ow', big('ow1', 1000));
    await until(() => reads.keys.includes(valueKey('ow')), 10_000, 'the read of version 1 sent');
    await set(a, 'ow', big('ow2', 1000));
    release();
    await until(() => of(b, 's:1', 'ow').length > 0, 10_000, 'the push of version 2');
    // Overwritten within one round: the later versions are in the stream when it is read.
    release = reads.hold(valueKey('ow'));
    await set(a, 'ow', big('ow3', 1000));
    await until(() => reads.keys.filter((k) => k === valueKey('ow')).length === 3, 10_000, 'the read of version 3 sent');
    for (const v of ['later1', 'later2', 'later3']) await set(a, 'later', big(v, 1000));
    release();
    await until(() => of(b, 's:1', 'later').length > 0 && of(b, 's:1', 'ow').length > 1, 10_000, 'the pushes');
    expect(of(b, 's:1', 'ow').map((p) => [p.version, dec(p.value)])).toEqual([
      [2, big('ow2', 1000)],
      [3, big('ow3', 1000)],
    ]);
    expect(of(b, 's:1', 'later').map((p) => [p.version, dec(p.value)])).toEqual([[3, big('later3', 1000)]]);
  });

  it('reads a dict key written again and again in one round once, at its last size (not 256 MB at once)', async () => {
    await b.state.handle('s:1', req('dict.subscribe', 'hot'));
    await b.state.handle('s:1', req('value.subscribe', 'gate'));
    reads.reset();
    // The feed waits on the gate's read while the key is written: the 256 writes are the next round.
    const release = reads.hold(valueKey('gate'));
    await set(a, 'gate', big('gate', 1000));
    await until(() => reads.keys.includes(valueKey('gate')), 10_000, 'the read of the gate sent');
    for (let i = 1; i <= 255; i++) await dset(a, 'hot', 'K', big(`hot${i}`, 4097));
    await dset(a, 'hot', 'K', big('hot256', MiB));
    release();
    await until(() => of(b, 's:1', 'hot').some((p) => p.version === 256), 20_000, 'the push of the last write');
    // Each write's record said 4097 B (one said 1 MiB), but the key holds 1 MiB now: 256 reads were 256 MB at once.
    expect(reads.keys.filter((k) => k === dictKey('hot')).length).toBe(1);
    expect(of(b, 's:1', 'hot').map((p) => [p.version, p.key, dec(p.value)])).toEqual([[256, 'K', big('hot256', MiB)]]);
  });

  it('does not read a value or dict key at the larger size it was overwritten with after its record', async () => {
    await b.state.handle('s:1', req('value.subscribe', 'grow'));
    await b.state.handle('s:1', req('dict.subscribe', 'grow-d'));
    const small = big('grow1', 5 * 1024);
    const large = big('grow2', 2 * MiB);
    reads.reset();
    const writes: [string, (v: string) => Promise<unknown>][] = [
      [valueKey('grow'), (v) => set(a, 'grow', v)],
      [dictKey('grow-d'), (v) => dset(a, 'grow-d', 'k', v)],
    ];
    for (const [key, write] of writes) {
      // Recorded at 5 KiB, its read sent (held), then overwritten with 2 MiB before Redis answers it.
      const release = reads.hold(key);
      await write(small);
      await until(() => reads.keys.includes(key), 10_000, 'the read of the 5 KiB record sent');
      await write(large);
      release();
    }
    await until(
      () => of(b, 's:1', 'grow').some((p) => p.version === 2) && of(b, 's:1', 'grow-d').some((p) => p.version === 2),
      20_000,
      'the pushes of the 2 MiB records',
    );
    const size = enc(large).byteLength;
    // The first read answers nothing (the key grew past its record); the second record's read gets the 2 MiB.
    for (const [key] of writes) expect(reads.replies.filter(([k]) => k === key).map(([, n]) => n)).toEqual([0, size]);
    expect(of(b, 's:1', 'grow').map((p) => [p.version, dec(p.value)])).toEqual([[2, large]]);
    expect(of(b, 's:1', 'grow-d').map((p) => [p.version, p.key, dec(p.value)])).toEqual([[2, 'k', large]]);
  });
});

describe('the read plan', () => {
  const entry = (kind: string, n: string, bigBytes?: number, big = true): ChangeEntry => ({
    kind,
    name: n,
    version: 1,
    big,
    deleted: false,
    ...(bigBytes === undefined ? {} : { bigBytes }),
    ...(kind === 'd' ? { key: 'k' } : {}),
  });

  it('groups consecutive reads within the budget, one over it alone', () => {
    expect(groupReads([], 10)).toEqual([]);
    expect(groupReads([undefined, 4, undefined, 4, 2, 1, undefined], 10)).toEqual([[1, 3, 4], [5]]);
    expect(groupReads([3, 30, 3, 3], 10)).toEqual([[0], [1], [2, 3]]);
    // 256 values of 8 MB: two at a time under 16 MiB.
    const groups = groupReads(Array<number>(256).fill(8_000_000), READ_BUDGET);
    expect(groups.length).toBe(128);
    expect(groups.every((g) => g.length === 2)).toBe(true);
  });

  it('reads only what is wanted and not superseded in the round; an unknown size alone', () => {
    const entries = [
      entry('v', 'x', 100),
      entry('q', 'jobs', undefined, false),
      entry('v', 'unwatched', 100),
      entry('d', 'd', 100),
      entry('d', 'd', 100),
      entry('v', 'x', 100),
      entry('v', 'old'),
      entry('v', 'y', 100),
    ];
    const wants = (e: ChangeEntry): boolean => e.big && e.name !== 'unwatched';
    // x's first version is superseded by its second, and d's key k by its next change.
    expect(readPlan(entries, wants, 1000)).toEqual([[4, 5], [6], [7]]);
  });

  it("supersedes a dict key's change by a later set or delete of that key, or the whole dict's delete", () => {
    const d = (n: string, key: string | undefined, deleted = false): ChangeEntry => ({
      kind: 'd',
      name: n,
      version: 1,
      big: !deleted,
      deleted,
      ...(deleted ? {} : { bigBytes: 100 }),
      ...(key === undefined ? {} : { key }),
    });
    const entries = [
      d('d', 'a'), // superseded by 3 (deleted)
      d('d', 'b'), // superseded by 5 (the whole dict deleted)
      d('e', 'a'), // another dict: read
      d('d', 'a', true),
      d('d', 'c'), // superseded by 5
      d('d', undefined, true),
      d('d', 'a'), // after the delete: read
      d('d', 'ab'), // another key: read
      d('d2', 'a'), // another dict's same key: read
    ];
    expect(readPlan(entries, (e) => e.big, 1000)).toEqual([[2, 6, 7, 8]]);
  });
});
