/** The daemon's replay table: kept until acknowledged, bounded, and honest about what it forgot. */
import { describe, expect, it } from 'vitest';
import type { StateRequest } from '@corepool/protocol';
import { CancelledError, ValueTypeError, VersionReply, type CorepoolError } from '@corepool/protocol/internal';
import { notApplied, TOO_OLD_MARK } from '../src/state/state-store.js';
import {
  DATA_REPLY_COST,
  InstanceReplays,
  MAX_BYTES_PER_INSTANCE,
  REPLY_COST,
  type PutBack,
  type ReplayHost,
} from '../src/primary/replay.js';
import { ReplayTable } from '../src/primary/replay-table.js';

/** A request carried by a connection the test opens and closes; `runs` counts the store's runs. */
function carried(rid: number, req: StateRequest, value: () => Promise<unknown>) {
  const c = { open: true, runs: 0, handedBack: [] as unknown[] };
  const host: ReplayHost = {
    run: () => {
      c.runs++;
      return value();
    },
    get open() {
      return c.open;
    },
    handBack: (_req, v) => c.handedBack.push(v),
  };
  return { c, r: { rid, req, host } };
}

/** A queue.get carried by a connection, its item given when the test calls `give` (after the store ran it). */
function waitingGet(rid: number) {
  let resolveItem: (v: unknown) => void = () => {};
  const got = carried(rid, { op: 'queue.get', name: 'q' }, () => new Promise((resolve) => (resolveItem = resolve)));
  return { ...got, give: (v: unknown) => resolveItem(v) };
}

/** The outcome of a carried request. */
function outcomeOf(replays: InstanceReplays, r: { rid: number; req: StateRequest; host: ReplayHost }) {
  return replays.outcome(r.rid, r.req, r.host);
}

/** A table whose kept replies are bounded at `bytes` with no floor (instances themselves not counted), and the replies each shedding dropped. */
function bounded(bytes: number) {
  const sheds: number[] = [];
  const t = new ReplayTable(() => {}, undefined, undefined, undefined, {
    bytes,
    floor: 0,
    instanceCost: 0,
    shed: (replies) => sheds.push(replies),
  });
  return { t, sheds };
}

describe('replays', () => {
  it('answers a request again from its first outcome until the client acknowledges it', async () => {
    const dropped: number[] = [];
    const r = new InstanceReplays('i0', (_i, rid) => dropped.push(rid));
    r.remember(1, Promise.resolve('one'), true);
    r.remember(2, Promise.reject(new Error('two failed')));
    r.remember(3, Promise.resolve('three'), true);
    await expect(r.get(1)).resolves.toBe('one');
    await expect(r.get(2)).rejects.toThrow('two failed');
    r.acknowledge(3);
    expect(r.get(1)).toBeUndefined();
    expect(r.get(2)).toBeUndefined();
    await expect(r.get(3)).resolves.toBe('three');
    expect(r.get(4)).toBeUndefined();
    // Only the replies kept in the store are deleted there.
    expect(dropped).toEqual([1]);
  });

  it('a write the store never applied (NOT_APPLIED) is forgotten, not kept: its resend runs afresh, once', async () => {
    const r = new InstanceReplays('i0', () => {});
    const add: StateRequest = { op: 'value.add', name: 'n', a: new Uint8Array([1]) };
    // Its owner went while it waited for its turn: rejected, never sent.
    const first = carried(5, add, () => Promise.reject(notApplied(new CancelledError('gone before it was sent'))));
    const gone = outcomeOf(r, first.r)!;
    await gone.catch((err: unknown) => r.failed(5, gone, err));
    // The resend, on another connection, runs it (kept, the failure would have answered it, the write never applied).
    const again = carried(5, add, () => Promise.resolve('sum'));
    const resent = outcomeOf(r, again.r)!;
    expect(await resent).toBe('sum');
    r.settled(5, resent, 'sum');
    expect(again.c.runs).toBe(1);
    // Once applied, a further resend is answered from the kept reply, not run.
    const third = carried(5, add, () => Promise.resolve('twice'));
    expect(await outcomeOf(r, third.r)).toBe('sum');
    expect(third.c.runs).toBe(0);
    // Any other failure is kept: the resend gets it, and nothing runs again.
    const failing = carried(6, add, () => Promise.reject(new CancelledError('cancelled')));
    const failed = outcomeOf(r, failing.r)!;
    await failed.catch((err: unknown) => r.failed(6, failed, err));
    const retry = carried(6, add, () => Promise.resolve('no'));
    await expect(outcomeOf(r, retry.r)).rejects.toMatchObject({ code: 'E_CANCELLED' });
    expect(retry.c.runs).toBe(0);
  });

  it('an acknowledgement repeated or lower forgets nothing more, and one above a late reply still forgets it', async () => {
    const dropped: number[] = [];
    const r = new InstanceReplays('i1', (_i, rid) => dropped.push(rid));
    for (const rid of [1, 2, 3, 4]) r.remember(rid, Promise.resolve(rid), true);
    r.acknowledge(3);
    r.acknowledge(3);
    r.acknowledge(2);
    expect(dropped).toEqual([1, 2]);
    await expect(r.get(3)).resolves.toBe(3);
    r.acknowledge(5);
    expect(dropped).toEqual([1, 2, 3, 4]);
    // A request id below the acknowledgements already seen (a client whose acks lie): kept, and
    // forgotten by the next acknowledgement above it even though that one is lower than the last.
    r.remember(2, Promise.resolve('late'), true);
    await expect(r.get(2)).resolves.toBe('late');
    r.acknowledge(3);
    expect(r.get(2)).toBeUndefined();
    expect(dropped).toEqual([1, 2, 3, 4, 2]);
  });

  it('starts with the replies the store kept, and deletes them once acknowledged', async () => {
    const dropped: [string, number][] = [];
    const t = new ReplayTable(
      (i, rid) => dropped.push([i, rid]),
      new Map([
        [
          'i9',
          new Map<number, unknown>([
            [4, { version: 4 }],
            [5, { version: 5 }],
          ]),
        ],
      ]),
    );
    const r = t.attach('i9');
    await expect(r.get(5)).resolves.toEqual({ version: 5 });
    r.acknowledge(5);
    expect(dropped).toEqual([['i9', 4]]);
  });

  it('a table bounded per instance says so when asked for a request it dropped', () => {
    const r = new InstanceReplays('i1', () => {});
    for (let rid = 1; rid <= 100_001; rid++) r.remember(rid, Promise.resolve(rid));
    expect(() => r.get(1)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    expect(r.get(2)).toBeDefined();
  });

  it("bounds the bytes an instance's kept replies carry: the oldest carrying data go, not a get still waiting before them", () => {
    const MiB = 1024 * 1024;
    const r = new InstanceReplays('i-bytes', () => {});
    // A get waiting (the watermark stuck at it), then 100 replies of 1 MiB items and values, never acknowledged.
    const waiting = new Promise<unknown>(() => {});
    r.remember(1, waiting, true);
    const item = new Uint8Array(MiB); // one buffer for all: the bound counts what each reply carries
    for (let rid = 2; rid <= 101; rid++) {
      const p = Promise.resolve();
      r.remember(rid, p, true);
      r.settled(rid, p, rid % 2 === 0 ? item : new VersionReply(rid, item));
    }
    expect(r.bytes).toBeLessThanOrEqual(MAX_BYTES_PER_INSTANCE);
    expect(r.bytes).toBeGreaterThan(MAX_BYTES_PER_INSTANCE - MiB);
    expect(r.get(1)).toBe(waiting);
    expect(() => r.get(2)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    expect(r.get(101)).toBeDefined();
    // Acknowledged, they go, and so do their bytes.
    r.acknowledge(102);
    expect(r.bytes).toBe(0);
  });

  it('an instance keeps its replays across its sessions', () => {
    const t = new ReplayTable();
    const a = t.attach('i1');
    a.remember(7, Promise.resolve(7));
    t.detach(a);
    const again = t.attach('i1');
    expect(again).toBe(a);
    expect(again.get(7)).toBeDefined();
    t.detach(again);
    expect(t.size).toBe(1);
  });

  it("tells the table what kept replies hold, as it changes, gets' items apart: kept, replaced, shed past the bound, acknowledged, ended", () => {
    let items = 0;
    let replies = 0;
    const t = new ReplayTable(
      () => {},
      new Map([['old', new Map<number, unknown>([[1, new Uint8Array(10)]])]]),
      {
        items: (bytes) => void (items += bytes),
        replies: (bytes) => ((replies += bytes), false),
      },
      undefined,
      { bytes: Infinity, instanceCost: 0 },
    );
    const R = REPLY_COST;
    const D = DATA_REPLY_COST;
    // A get's item counts in the state's memory with all its reply holds (I); the rest in the replies'.
    const I = D + R;
    expect([items, replies]).toEqual([10 + I, 0]); // a get's item the store held at start
    const a = t.attach('a');
    const b = t.attach('b');
    a.remember(1, Promise.resolve(), true);
    expect([items, replies]).toEqual([10 + I, R]);
    a.settled(1, a.get(1)!, new Uint8Array(100));
    b.restore(1, new VersionReply(1, new Uint8Array(1000))); // an add's sum
    b.restore(2, new VersionReply(3));
    expect([items, replies]).toEqual([110 + 2 * I, 2 * R + D + 1000]);
    const big = MAX_BYTES_PER_INSTANCE / 2 + 1;
    a.restore(2, new Uint8Array(big));
    a.restore(3, new Uint8Array(big)); // past the bound: rid 1 and 2 go
    expect([items, replies]).toEqual([10 + big + 2 * I, 2 * R + D + 1000]);
    a.acknowledge(4);
    t.end(b);
    expect([items, replies]).toEqual([10 + I, 0]);
    expect([a.bytes, b.bytes]).toEqual([0, 0]);
  });

  it('a reply dropped unacknowledged marks the instance too old up to it in the store; a table made from the store refuses those resends', () => {
    const stored = new Map<string, Map<number, unknown>>();
    const dropped: number[] = [];
    const t = new ReplayTable(
      (_i, rid) => dropped.push(rid),
      undefined,
      undefined,
      (instance, mark) => stored.set(instance, new Map([[TOO_OLD_MARK, mark]])),
    );
    const a = t.attach('a');
    const big = MAX_BYTES_PER_INSTANCE / 2 + 1;
    a.restore(1, new VersionReply(1, new Uint8Array(big)));
    a.restore(2, new VersionReply(2, new Uint8Array(big))); // past the bytes bound: rid 1 goes
    expect(stored.get('a')?.get(TOO_OLD_MARK)).toBe(1);
    expect(dropped).toEqual([1]);
    const droppedAfter: number[] = [];
    const restarted = new ReplayTable((_i, rid) => droppedAfter.push(rid), stored);
    const back = restarted.attach('a');
    expect(() => back.get(1)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    expect(back.get(2)).toBeUndefined(); // its reply was not in this store: run again
    // The watermark goes with the instance.
    restarted.end(back);
    expect(droppedAfter).toEqual([TOO_OLD_MARK]);
  });

  it('past the daemon-wide bound, the instances keeping the most lose their oldest replies first, to one level; items and pending outcomes stay', async () => {
    const stored = new Map<string, unknown>();
    const dropped: string[] = [];
    const sheds: [number, number][] = [];
    const R = REPLY_COST;
    // Room for 400 plain replies; shedding takes them down to 300.
    const t = new ReplayTable(
      (instance, rid) => dropped.push(`${instance}:${rid}`),
      undefined,
      undefined,
      (instance, mark) => stored.set(instance, mark),
      { bytes: 400 * R, floor: 0, instanceCost: 0, shed: (replies, instances) => sheds.push([replies, instances]) },
    );
    const keep = (r: InstanceReplays, rids: number[]) => {
      for (const rid of rids) r.restore(rid, null);
    };
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    // An honest client (acknowledging as the SDK does) keeps 50; a hostile one 300, with a get's item
    // (counted as the state's, not here) and a pending get among its oldest; a third 200.
    const honest = t.attach('honest');
    keep(honest, range(1, 50));
    const hog = t.attach('hog');
    hog.restore(1, new Uint8Array(10));
    hog.remember(2, new Promise(() => {}), true);
    keep(hog, range(3, 300));
    const mid = t.attach('mid');
    keep(mid, range(1, 200));
    expect(t.held).toBe(549 * R);
    while (sheds.length < 1) await new Promise((resolve) => setImmediate(resolve));
    // Cut to one level L with 50 + 2L = 300: only hog and mid lose replies.
    expect(t.held).toBeLessThanOrEqual(300 * R);
    for (const cut of [hog, mid]) expect(cut.held).toSatisfy((held: number) => held <= 125 * R && held > 124 * R);
    expect(sheds).toHaveLength(1);
    expect(sheds[0]![1]).toBe(2);
    expect(honest.held).toBe(50 * R);
    expect(dropped.filter((d) => d.startsWith('honest:'))).toEqual([]);
    // The oldest went, the item and the pending get stayed; resends of what went are E_REPLY_DROPPED, across a restart too.
    expect(hog.get(1)).toBeDefined();
    expect(hog.get(2)).toBeDefined();
    expect(() => hog.get(3)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    expect(() => mid.get(1)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    await expect(mid.get(200)).resolves.toBeNull();
    const mark = stored.get('hog') as number[];
    expect(mark.slice(1)).toEqual([2]); // the watermark, and the pending get it passed over
    expect(hog.get(mark[0]! + 1)).toBeDefined();
    // The pending get's connection is cut before its item came (forgotten, nothing taken): its resend runs afresh,
    // once: the store's mark spares it no more.
    hog.forget(2);
    expect(hog.get(2)).toBeUndefined();
    expect(stored.get('hog')).toBe(mark[0]);
    const restarted = new ReplayTable(() => {}, new Map([['hog', new Map<number, unknown>([[TOO_OLD_MARK, mark]])]]));
    const back = restarted.attach('hog');
    expect(() => back.get(3)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    expect(back.get(2)).toBeUndefined();
    // Under the bound again, nothing more goes; acknowledgements bring the total down.
    keep(honest, range(51, 60));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sheds).toHaveLength(1);
    honest.acknowledge(61);
    expect(honest.held).toBe(0);
  });

  it('sheds a slice a turn, so that a large shedding does not stall every other client', async () => {
    const { t, sheds } = bounded(1000 * REPLY_COST);
    const hogs = [t.attach('a'), t.attach('b'), t.attach('c')];
    for (const r of hogs) for (let rid = 1; rid <= 100_000; rid++) r.restore(rid, null);
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    await turn();
    // The first slice (2 ms) drops far fewer than the 299,250 it must.
    expect(sheds).toEqual([]);
    expect(t.held).toBeGreaterThan(100_000 * REPLY_COST);
    let turns = 1;
    while (sheds.length === 0) {
      await turn();
      turns++;
    }
    expect(turns).toBeGreaterThan(2);
    expect(sheds).toHaveLength(1);
    expect(t.held).toBeLessThanOrEqual(750 * REPLY_COST);
    for (const r of hogs) expect(r.held).toBe(250 * REPLY_COST);
  });

  it('over its bound with nothing it may drop (pending outcomes), the table sheds again only once a quarter of the bound more is held', async () => {
    const { t, sheds } = bounded(100 * REPLY_COST);
    const r = t.attach('pending');
    const waiting = new Promise(() => {});
    for (let rid = 1; rid <= 120; rid++) r.remember(rid, waiting, true);
    while (sheds.length < 1) await new Promise((resolve) => setImmediate(resolve));
    expect(sheds).toEqual([0]);
    for (let rid = 121; rid <= 125; rid++) r.remember(rid, waiting, true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sheds).toEqual([0]);
    expect(r.get(1)).toBeDefined();
  });

  it('shedding marks the highest request id it dropped, whatever order the ids came in', async () => {
    const { t, sheds } = bounded(100 * REPLY_COST);
    const r = t.attach('disorder');
    r.restore(1_000_000, null); // first in the table, highest id
    for (let rid = 1; rid <= 200; rid++) r.restore(rid, null);
    while (sheds.length < 1) await new Promise((resolve) => setImmediate(resolve));
    expect(() => r.get(1_000_000)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
  });

  it('a walk resumed slice after slice reaches ids lower than where it stopped, in segments made later', async () => {
    const { t } = bounded(1000 * REPLY_COST);
    const r = t.attach('high-first');
    // 300 pending gets at high ids first (their segments made first), then 50,000 replies at low ids.
    const waiting = new Promise(() => {});
    for (let i = 0; i < 300; i++) r.remember(1e9 + i, waiting, true);
    for (let rid = 1; rid <= 50_000; rid++) r.restore(rid, null);
    while (r.held > 750 * REPLY_COST) await new Promise((resolve) => setImmediate(resolve));
    expect(() => r.get(1)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
  });

  it("keeps the store's mark in step with the spared set: a spared write dropped since is refused after a restart", async () => {
    const marks: unknown[] = [];
    const sheds: number[] = [];
    const t = new ReplayTable(
      () => {},
      undefined,
      undefined,
      (_i, mark) => marks.push(mark),
      {
        bytes: 100 * REPLY_COST,
        floor: 0,
        shed: (replies) => sheds.push(replies),
      },
    );
    const r = t.attach('w');
    let settle!: (v: unknown) => void;
    const pending = new Promise((resolve) => (settle = resolve));
    r.remember(1, pending, true); // a write still committing when shedding passes it
    for (let rid = 2; rid <= 200; rid++) r.restore(rid, null);
    while (sheds.length < 1) await new Promise((resolve) => setImmediate(resolve));
    expect(marks.at(-1)).toEqual([expect.any(Number), 1]);
    // It settles, is kept, and a later shedding drops it: the mark no longer spares it.
    settle(null);
    await pending;
    r.settled(1, pending, null);
    for (let rid = 201; rid <= 400; rid++) r.restore(rid, null);
    while (sheds.length < 2) await new Promise((resolve) => setImmediate(resolve));
    const last = marks.at(-1);
    expect(typeof last === 'number' || !(last as number[]).slice(1).includes(1)).toBe(true);
    const restarted = new ReplayTable(() => {}, new Map([['w', new Map<number, unknown>([[TOO_OLD_MARK, last]])]]));
    expect(() => restarted.attach('w').get(1)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
  });

  it('spares at most 1,024 pending requests an instance: past them the first spared are refused like the rest', async () => {
    const { t, sheds } = bounded(100 * REPLY_COST);
    const r = t.attach('many-gets');
    const waiting = new Promise(() => {});
    for (let rid = 1; rid <= 3_000; rid++) r.remember(rid, waiting, true);
    for (let rid = 3_001; rid <= 3_500; rid++) r.restore(rid, null);
    while (sheds.length === 0) await new Promise((resolve) => setImmediate(resolve));
    // The lowest went past the cap: forgotten (a cut), their resends are refused; the newest 1,024 run afresh.
    for (const rid of [1, 1_976]) r.forget(rid);
    for (const rid of [2_999, 3_000]) r.forget(rid);
    expect(() => r.get(1)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    expect(r.get(3_000)).toBeUndefined();
  });

  it('sheds past kept items, resuming where each slice stopped, and keeps every item', async () => {
    const { t } = bounded(1000 * REPLY_COST);
    const r = t.attach('items-first');
    for (let rid = 1; rid <= 20_000; rid++) r.restore(rid, new Uint8Array(1));
    for (let rid = 20_001; rid <= 90_000; rid++) r.restore(rid, null);
    while (r.held > 750 * REPLY_COST) await new Promise((resolve) => setImmediate(resolve));
    expect(r.held).toBe(750 * REPLY_COST);
    for (const rid of [1, 20_000]) expect(r.get(rid)).toBeDefined();
    expect(() => r.get(20_001)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    expect(r.get(90_000)).toBeDefined();
  });

  it('an instance closed for good by its client forgets its replays at once, unless another session of it is open', () => {
    const dropped: string[] = [];
    const t = new ReplayTable((instance, rid) => dropped.push(`${instance}:${rid}`));
    const a = t.attach('i1');
    a.remember(7, Promise.resolve(7), true);
    const b = t.attach('i1');
    t.end(a);
    expect([t.size, dropped]).toEqual([1, []]);
    t.end(b);
    expect([t.size, dropped]).toEqual([0, ['i1:7']]);
    // A new session of the same name (not the SDK's: a raw client) gets its resends refused, never applied again.
    const again = t.attach('i1');
    expect(() => again.get(7)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    expect(again.get(8)).toBeUndefined();
  });

  it('a failed outcome is kept as its wire error, counted, until forgotten: a resend gets the same error, the write not run again', async () => {
    let replies = 0;
    const r = new InstanceReplays('i9', () => {}, { memory: { items: () => {}, replies: (bytes) => void (replies += bytes) } });
    const first = carried(1, { op: 'value.add', name: 'v' }, () => Promise.reject(new ValueTypeError('v holds a string')));
    const p = outcomeOf(r, first.r)!;
    const err = (await p.catch((e: unknown) => e)) as CorepoolError;
    r.failed(1, p, err);
    const kept = r.get(1)!;
    kept.catch(() => {});
    expect(kept).not.toBe(p); // the promise (and the error it held, stack and all) is let go
    const again = carried(1, { op: 'value.add', name: 'v' }, () => Promise.resolve(6));
    await expect(outcomeOf(r, again.r)).rejects.toMatchObject({ code: 'E_TYPE', message: 'v holds a string' });
    expect([first.c.runs, again.c.runs]).toEqual([1, 0]);
    expect(replies).toBe(REPLY_COST + 96 + 'v holds a string'.length);
    r.acknowledge(2);
    expect(replies).toBe(0);
  });

  it('a write sent again gets its first outcome: run once', async () => {
    const r = new InstanceReplays('i2', () => {});
    const first = carried(1, { op: 'value.add', name: 'v' }, () => Promise.resolve(5));
    await expect(outcomeOf(r, first.r)).resolves.toBe(5);
    const again = carried(1, { op: 'value.add', name: 'v' }, () => Promise.resolve(6));
    await expect(outcomeOf(r, again.r)).resolves.toBe(5);
    expect([first.c.runs, again.c.runs]).toEqual([1, 0]);
  });

  it('a request that is not replayed is left to its connection', () => {
    const r = new InstanceReplays('i3', () => {});
    expect(outcomeOf(r, carried(1, { op: 'value.get', name: 'v' }, () => Promise.resolve(1)).r)).toBeUndefined();
  });

  it('a queue.get whose connection closed before the item came hands it back; the resend takes one afresh', async () => {
    const dropped: number[] = [];
    const r = new InstanceReplays('i4', (_i, rid) => dropped.push(rid));
    const first = waitingGet(3);
    const lost = outcomeOf(r, first.r)!;
    first.c.open = false;
    first.give('item-1');
    await expect(lost).rejects.toBeTypeOf('symbol');
    expect(first.c.handedBack).toEqual(['item-1']);
    expect(dropped).toEqual([3]);
    const resend = carried(3, { op: 'queue.get', name: 'q' }, () => Promise.resolve('item-2'));
    await expect(outcomeOf(r, resend.r)).resolves.toBe('item-2');
    expect(resend.c.runs).toBe(1);
  });

  it('a queue.get sent again on the connection it waits on is refused; on another connection it is carried', async () => {
    const r = new InstanceReplays('i5', () => {});
    const first = waitingGet(4);
    const waiting = outcomeOf(r, first.r)!;
    // A hostile client resending on the same connection: each resend would chain two promises more.
    for (let i = 0; i < 3; i++) expect(() => outcomeOf(r, first.r)).toThrow(expect.objectContaining({ code: 'E_BAD_MESSAGE' }));
    // A reconnect carries it: the new connection is answered, the old one hands nothing back.
    const second = carried(4, { op: 'queue.get', name: 'q' }, () => Promise.resolve('unused'));
    const carriedOn = outcomeOf(r, second.r)!;
    first.give('item');
    await expect(waiting).resolves.toBe('item');
    await expect(carriedOn).resolves.toBe('item');
    expect([first.c.runs, second.c.runs]).toEqual([1, 0]);
    // Answered: a resend on the same connection now gets the item again (a replay), no refusal.
    await expect(outcomeOf(r, second.r)).resolves.toBe('item');
  });

  it('a queue.get resent on a second connection while the first is half-open: the first closing hands back, the second takes one item and keeps its reply; a third resend gets that item, never a second one', async () => {
    const dropped: number[] = [];
    const r = new InstanceReplays('i7', (_i, rid) => dropped.push(rid));
    const a = waitingGet(5);
    const onA = outcomeOf(r, a.r)!;
    onA.catch(() => {});
    // The client reconnects and resends on B; the daemon still sees A open.
    const b = carried(5, { op: 'queue.get', name: 'q' }, () => Promise.resolve('item-x'));
    const onB = outcomeOf(r, b.r)!;
    // A closes, then its get takes an item: handed back; B's outcome carries on and takes its own.
    a.c.open = false;
    a.give('item-a');
    await expect(onB).resolves.toBe('item-x');
    expect(a.c.handedBack).toEqual(['item-a']);
    expect([a.c.runs, b.c.runs]).toEqual([1, 1]);
    r.settled(5, onB, 'item-x');
    // B is cut before the client read it: the resend on C is answered with B's item, nothing taken again.
    b.c.open = false;
    const c = carried(5, { op: 'queue.get', name: 'q' }, () => Promise.resolve('item-y'));
    await expect(outcomeOf(r, c.r)).resolves.toBe('item-x');
    expect(c.c.runs).toBe(0);
    expect(dropped).toEqual([]);
  });

  it('a queue.get resent on a second connection that closes before the first: nothing runs for the closed one, and a third resend runs afresh', async () => {
    const r = new InstanceReplays('i8', () => {});
    const a = waitingGet(6);
    const onA = outcomeOf(r, a.r)!;
    onA.catch(() => {});
    const b = carried(6, { op: 'queue.get', name: 'q' }, () => new Promise(() => {}));
    const onB = outcomeOf(r, b.r)!;
    onB.catch(() => {});
    // B closes first (its owner's gets dropped then), then A; A's get fails with its connection.
    b.c.open = false;
    a.c.open = false;
    a.give(Promise.reject(new Error('the requester went away')));
    await expect(onB).rejects.toBeDefined();
    // Run for B, closed, the get would wait in the store for nobody (its owner already dropped there).
    expect(b.c.runs).toBe(0);
    const c = carried(6, { op: 'queue.get', name: 'q' }, () => Promise.resolve('item-z'));
    await expect(outcomeOf(r, c.r)).resolves.toBe('item-z');
    expect(c.c.runs).toBe(1);
  });

  it('keeps a settled outcome as its reply, not its promise; a stale settle does not replace a newer outcome', async () => {
    const r = new InstanceReplays('i6', () => {});
    const first = carried(1, { op: 'value.add', name: 'v' }, () => Promise.resolve(7));
    const p = outcomeOf(r, first.r)!;
    expect(r.get(1)).toBe(p);
    r.settled(1, p, await p);
    expect(r.get(1)).not.toBe(p); // the promise is not held any more
    await expect(r.get(1)).resolves.toBe(7);
    await expect(outcomeOf(r, carried(1, { op: 'value.add', name: 'v' }, () => Promise.resolve(8)).r)).resolves.toBe(7);

    // A queue.get carried on by a second connection: the first connection's outcome settling late changes nothing.
    const a = waitingGet(2);
    const pa = outcomeOf(r, a.r)!;
    const b = carried(2, { op: 'queue.get', name: 'q' }, () => Promise.resolve('unused'));
    const pb = outcomeOf(r, b.r)!;
    a.give('item');
    r.settled(2, pa, await pa);
    expect(r.get(2)).toBe(pb);
    r.settled(2, pb, await pb);
    await expect(r.get(2)).resolves.toBe('item');

    // Replies the store held at start are kept as themselves.
    r.restore(3, { version: 4 });
    await expect(r.get(3)).resolves.toEqual({ version: 4 });
  });
});

describe("a get's item at its instance's end", () => {
  /** An instance whose items going back are told to `putBack`. */
  const handingBack = (instance: string, putBack: PutBack): InstanceReplays => new InstanceReplays(instance, () => {}, { putBack });

  /** An instance whose hand-backs the test sees, with one get (rid 1) answered with `item`, and a write (rid 2). */
  async function answered(item: Uint8Array) {
    const back: [string, Uint8Array, unknown][] = [];
    const r = handingBack('i-back', (queue, items) => {
      for (const { value, key } of items) back.push([queue, value, key]);
    });
    const get = waitingGet(1);
    const outcome = outcomeOf(r, get.r)!;
    get.give(item);
    // As the dispatch does once an outcome resolves: the reply is kept as it went.
    r.settled(1, outcome, await outcome);
    const write = carried(2, { op: 'value.set', name: 'v' }, () => Promise.resolve(new VersionReply(1)));
    const written = outcomeOf(r, write.r)!;
    r.settled(2, written, await written);
    return { r, back };
  }

  it('goes back to its queue when the client said, closing, that it never had the reply', async () => {
    const item = new Uint8Array([1, 2, 3]);
    const { r, back } = await answered(item);
    r.closing(3, [1]);
    r.clear();
    expect(back).toEqual([['q', item, ['i-back', 1]]]);
  });

  it('stays taken when the client had it (closing without it), or closed without saying (an older SDK)', async () => {
    const had = await answered(new Uint8Array([4]));
    had.r.closing(3, []);
    had.r.clear();
    expect(had.back).toEqual([]);
    const older = await answered(new Uint8Array([5]));
    older.r.closedByClient();
    older.r.clear();
    expect(older.back).toEqual([]);
  });

  it('goes back when the instance ends unacknowledged (its window ran out), but not once acknowledged', async () => {
    const item = new Uint8Array([6]);
    const cut = await answered(item);
    cut.r.clear();
    expect(cut.back).toEqual([['q', item, ['i-back', 1]]]);
    const acked = await answered(new Uint8Array([7]));
    acked.r.acknowledge(3);
    acked.r.clear();
    expect(acked.back).toEqual([]);
  });

  it('is put back as one list per queue, in the order taken, so that they stand at the front as they were', async () => {
    const back: string[] = [];
    const r = handingBack('i-order', (q, items) => back.push(`${q}:${items.map(({ value }) => String.fromCharCode(value[0]!)).join('')}`));
    for (const [rid, letter] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ] as const) {
      const get = waitingGet(rid);
      const outcome = outcomeOf(r, get.r)!;
      get.give(new Uint8Array([letter.charCodeAt(0)]));
      r.settled(rid, outcome, await outcome);
    }
    r.closing(4, [1, 2, 3]);
    r.clear();
    // One call: put back one at a time (newest first, to stand in order), a get blocked on the queue took c.
    expect(back).toEqual(['q:abc']);
  });

  it("a client's closing list is taken once: a second one walks nothing and changes nothing", async () => {
    const item = new Uint8Array([9]);
    const { r, back } = await answered(item);
    r.closing(3, []);
    r.closing(3, [1]);
    r.clear();
    expect(back).toEqual([]);
  });

  it('a get still waiting is never the reply that goes past 100,000 kept: its item, when it comes, is kept and goes back', async () => {
    const back: unknown[] = [];
    const r = handingBack('i-cap', (queue, items) => {
      for (const { value } of items) back.push([queue, value]);
    });
    const get = waitingGet(1);
    const outcome = outcomeOf(r, get.r)!;
    // The watermark stays at the get: every later reply is kept, past the instance's bound.
    for (let rid = 2; rid <= 100_010; rid++) r.remember(rid, Promise.resolve(rid), true);
    expect(r.size).toBeLessThanOrEqual(100_001);
    const item = new Uint8Array([1]);
    get.give(item);
    r.settled(1, outcome, await outcome);
    await expect(r.get(1)).resolves.toBe(item);
    // The replies that went were the oldest others, refused as too old.
    expect(() => r.get(2)).toThrow(expect.objectContaining({ code: 'E_REPLY_DROPPED' }));
    r.clear();
    expect(back).toEqual([['q', item]]);
  });
});
