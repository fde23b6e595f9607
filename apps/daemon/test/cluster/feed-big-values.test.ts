/**
 * Big values on the change feed: an app writing values past the inline size
 * (read by each daemon from their keys) must not hold up its co-tenants'
 * pushes and wake-ups behind a Redis round trip per value. A round's reads go
 * out together, in groups within a byte budget, and pushes still come in
 * stream order, a value's only while it is still that version; records of an
 * older daemon (`big=1`, no size) still push.
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

const name = clusterName('feed-big');
let a: Side;
let b: Side;
let admin: Redis;
let reads: ReadWatch;

beforeAll(async () => {
  a = await side(MACHINE_REDIS, name, { inlineBytes: 64 });
  b = await side(MACHINE_REDIS, name, { inlineBytes: 64 });
  admin = new Redis(MACHINE_REDIS);
  reads = watchReads(b);
});
afterAll(async () => {
  admin.disconnect();
  await closeSide(a);
  await closeSide(b);
  await dropCluster(MACHINE_REDIS, name);
});

/** The big-value reads (HMGET of a value, HGET of a dict key) one side sends, and how many were in flight at once. */
interface ReadWatch {
  inFlight: number;
  max: number;
  total: number;
  /** Keys read so far. */
  keys: string[];
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
    },
  };
  const big = (cmd: string, key: string): boolean =>
    (cmd === 'HMGET' && key.startsWith(`${s.node.prefix}v:`)) || (cmd === 'HGET' && key.startsWith(`${s.node.prefix}dict:`));
  (redis as unknown as { callBuffer: unknown }).callBuffer = async (cmd: string, ...args: unknown[]) => {
    const key = String(args[0]);
    if (!big(cmd.toUpperCase(), key)) return send(cmd, ...args);
    w.inFlight++;
    w.total++;
    w.keys.push(key);
    w.max = Math.max(w.max, w.inFlight);
    try {
      await held.get(key);
      return await send(cmd, ...args);
    } finally {
      w.inFlight--;
    }
  };
  return w;
}

const of = (s: Side, owner: string, n: string): Push[] => s.pushes.filter((p) => p.owner === owner && p.push.name === n).map((p) => p.push);
/** A value of `bytes` characters that says which write it was. */
const big = (tag: string, bytes: number): string => `${tag}:`.padEnd(bytes, 'x');
const valueKey = (n: string): string => `${b.node.prefix}v:${n}`;
const set = (s: Side, n: string, v: unknown): Promise<unknown> => s.state.handle('h:1', req('value.set', n, { a: enc(v) }));

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
    // x's first version is superseded by its second; a dict key's every version is pushed.
    expect(readPlan(entries, wants, 1000)).toEqual([[3, 4, 5], [6], [7]]);
  });
});
