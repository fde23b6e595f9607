/**
 * Cutting a running chunk short for a newcomer, in the scheduler alone (a fake
 * pool that records cut requests, a clock the test moves): who is asked, when
 * not, and what a `done` that says `cut` does (the items that ran are
 * delivered once, the rest is queued again and runs once). The worker's side
 * and the real sockets are in chunk-cut.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CHUNK_TARGET_MS, CUT_SOLO_CHUNK_TARGET_MS, SOLO_CHUNK_TARGET_MS, encodeData } from '@corepool/protocol/internal';

/** As placement.ts's: a cut request awaits its answer this long. */
const CUT_PENDING_MS = 5 * CHUNK_TARGET_MS;
import type { RunMessage } from '../src/ipc.js';
import { FakePool, type FakeWorker } from './support/fake-pool.js';
import {
  CuttingPool,
  add,
  answer,
  delivered,
  fakeScheduler,
  open,
  recordingClient,
  type FakeScheduler as S,
} from './support/fake-scheduler.js';

const client = recordingClient;

function setup(pool: FakePool = new CuttingPool(2)): S {
  return fakeScheduler(pool);
}

/** The worker says it began `run` (its first item). */
function begin(s: S, w: FakeWorker, run: RunMessage): void {
  s.scheduler.workerMessage(w, { t: 'started', key: run.key, i: 0 });
}

/**
 * Client a's two chunks of 100 items run long on both workers (`begun`: their workers said so), then newcomer b
 * comes with one item and nowhere to go.
 */
function newcomerBehindLongChunks(begun: boolean) {
  const s = setup();
  const pool = s.pool as CuttingPool;
  const a = client(1);
  open(s, a, 1);
  add(s, a, 1, 0, 100);
  add(s, a, 1, 100, 100);
  if (begun) for (const w of s.pool.workers()) begin(s, w, s.pool.runs(w)[0]!);
  s.clock.advance(1_000); // both run long: no chunk is placed behind them
  const b = client(2);
  open(s, b, 2);
  add(s, b, 2, 0, 1);
  return { s, pool, a, b };
}

/** Plays every worker until nothing is placed: each answers its runs whole, in order. */
function drain(s: S): void {
  const answered = new Set<number>();
  for (let moved = true; moved;) {
    moved = false;
    for (const w of s.pool.workers()) {
      const next = s.pool.runs(w).find((r) => !answered.has(r.key));
      if (next === undefined) continue;
      answered.add(next.key);
      answer(s, w, next);
      moved = true;
    }
  }
}

describe('cutting a chunk short for a newcomer', () => {
  it('a pool that can cut makes lone clients size longer chunks; one that cannot keeps the short ones', () => {
    expect(setup().scheduler.soloChunkMs()).toBe(CUT_SOLO_CHUNK_TARGET_MS);
    expect(setup(new FakePool(2)).scheduler.soloChunkMs()).toBe(SOLO_CHUNK_TARGET_MS);
  });

  it("a newcomer's first chunk asks the worker it waits on to cut the running chunk short, sparing the newcomer's own", () => {
    const s = setup();
    const pool = s.pool as CuttingPool;
    const a = client(1);
    const b = client(2);
    open(s, a, 1);
    for (let k = 0; k < 4; k++) add(s, a, 1, k * 100, 100);
    expect(pool.cuts).toEqual([]); // alone: nothing to cut for
    open(s, b, 2);
    add(s, b, 2, 0, 1);
    const urgent = s.pool.sent.find((x) => x.m.t === 'run' && x.m.urgent)!;
    expect(pool.cuts).toEqual([{ w: urgent.w, spare: urgent.m.key }]);
    // It names the chunk it goes behind, which the worker may not have started yet (worker/run-queue.ts).
    expect((urgent.m as RunMessage).after).toBe(s.pool.runs(urgent.w)[0]!.key);
    s.scheduler.dispatch();
    expect(pool.cuts).toHaveLength(1); // one request sparing it, not a second behind the first
  });

  it("a cut chunk's items that ran are delivered once, the rest runs again, first in its batch, and is delivered once", () => {
    const s = setup();
    const a = client(1);
    const b = client(2);
    open(s, a, 1);
    for (let k = 0; k < 4; k++) add(s, a, 1, k * 100, 100);
    open(s, b, 2);
    add(s, b, 2, 0, 1);
    const { w } = s.pool.sent.find((x) => x.m.t === 'run' && x.m.urgent)!;
    const head = s.pool.runs(w)[0]!;
    answer(s, w, head, 37);
    expect(delivered(a).map(([i]) => i)).toEqual(Array.from({ length: 37 }, (_, i) => head.start + i));
    // The rest waits in the queue (every pipeline slot is taken), then runs as a chunk of its own, with a new key.
    expect(s.scheduler.stats().queuedItems).toBe(63);
    drain(s);
    const rest = s.pool.sent.map((x) => x.m).find((m): m is RunMessage => m.t === 'run' && m.start === head.start + 37)!;
    expect(rest).toMatchObject({ count: 63, offset: head.offset + 37 });
    expect(rest.key).not.toBe(head.key);
    const got = delivered(a).sort((x, y) => x[0] - y[0]);
    expect(got).toEqual(Array.from({ length: 400 }, (_, i) => [i, 2 * i]));
    expect(delivered(b)).toEqual([[0, 0]]);
    expect(s.scheduler.running()).toBe(0);
  });

  it('a newcomer queued with no slot to go to (the running chunks run long) has one chunk cut, sparing none, then no other', () => {
    const { s, pool, a, b } = newcomerBehindLongChunks(true);
    expect(s.pool.sent.filter((x) => x.m.t === 'run')).toHaveLength(2);
    expect(pool.cuts).toHaveLength(1);
    expect(pool.cuts[0]!.spare).toBe(0);
    s.scheduler.dispatch();
    expect(pool.cuts).toHaveLength(1); // asked once, until that chunk answers
    const w = pool.cuts[0]!.w;
    answer(s, w, s.pool.runs(w)[0]!, 10);
    expect(s.pool.runs(w).at(-1)).toMatchObject({ start: 0, count: 1 }); // the freed worker goes to the newcomer
    drain(s);
    expect(delivered(a).sort((x, y) => x[0] - y[0])).toEqual(Array.from({ length: 200 }, (_, i) => [i, 2 * i]));
    expect(delivered(b)).toEqual([[0, 0]]);
  });

  it('a cut asked of a head its worker had not begun (a worker between chunks drops it) is asked again; of a begun one, once', () => {
    // Asked once only, before the chunk began, the request was dropped, the chunk (30 s of 2 ms items) ran whole
    // and was never asked again: a neighbour's submit waited 23-67 s (a hostile co-tenant run).
    const { s, pool } = newcomerBehindLongChunks(false);
    expect(pool.cuts).toHaveLength(1);
    const { w } = pool.cuts[0]!;
    s.scheduler.dispatch();
    expect(pool.cuts).toHaveLength(1); // pending
    s.clock.advance(CUT_PENDING_MS + 1); // placement is woken: asked again, the head still not begun
    expect(pool.cuts).toEqual([
      { w, spare: 0 },
      { w, spare: 0 },
    ]);
    begin(s, w, s.pool.runs(w)[0]!);
    s.clock.advance(CUT_PENDING_MS + 1); // once more, asked now of a begun chunk
    expect(pool.cuts).toHaveLength(3);
    s.clock.advance(10 * CUT_PENDING_MS);
    s.scheduler.dispatch();
    expect(pool.cuts.filter((c) => c.w === w)).toHaveLength(3); // and not again (the other worker's head may be, now)
  });

  it("a newcomer's chunk behind one that cannot be cut, with another client's chunk waiting after it, asks once for a cut sparing it", () => {
    // The worker may go from the one-item chunk straight to the 50-item one before it has read the
    // newcomer's: the request cuts that one if it starts first, and is dropped once the newcomer's starts.
    const s = setup(new CuttingPool(1));
    const pool = s.pool as CuttingPool;
    const a = client(1);
    open(s, a, 1);
    add(s, a, 1, 0, 1);
    add(s, a, 1, 1, 50);
    expect(pool.cuts).toEqual([]);
    const b = client(2);
    open(s, b, 2);
    add(s, b, 2, 0, 1);
    const urgent = s.pool.sent.find((x) => x.m.t === 'run' && x.m.urgent)!;
    expect(urgent.m).toMatchObject({ start: 0, count: 1 });
    expect(pool.cuts).toEqual([{ w: urgent.w, spare: urgent.m.key }]);
    s.scheduler.dispatch();
    add(s, a, 1, 51, 5);
    expect(pool.cuts).toHaveLength(1); // once per newcomer chunk
    drain(s);
    expect(delivered(b)).toEqual([[0, 0]]);
    expect(delivered(a)).toHaveLength(56);
  });

  it("the rest of a chunk cut for another client is not placed ahead of that client's chunks as a newcomer's first", () => {
    // Its client then has nothing running and only the rest queued, while the other's work is all placed: taken
    // for a newcomer, the rest went first on the worker, ahead of the chunks it was cut for (on a real daemon, a
    // greedy batch's 92 items before a small one's last two in about one round in five).
    const s = setup(new CuttingPool(1));
    const pool = s.pool as CuttingPool;
    const [w] = s.pool.workers();
    const run = (start: number): RunMessage => s.pool.runs(w!).find((r) => r.start === start && r.t === 'run')!;
    const a = client(1);
    const b = client(2);
    open(s, a, 1);
    add(s, a, 1, 0, 1);
    s.clock.advance(5);
    answer(s, w!, run(0), 1, undefined, 5); // a's items take 5 ms
    open(s, b, 2);
    add(s, b, 2, 100, 1);
    add(s, b, 2, 101, 1);
    add(s, a, 1, 1, 96); // a comes back while b holds the worker: its chunk goes behind b's running one
    expect(run(1)).toMatchObject({ count: 96, urgent: true });
    s.clock.advance(5);
    answer(s, w!, run(100), 1, undefined, 5);
    expect(pool.cuts).toEqual([{ w: w!, spare: run(101).key }]); // a's long chunk is asked to stop for b's next
    add(s, b, 2, 102, 1);
    s.clock.advance(20);
    answer(s, w!, run(1), 4); // cut after 4 items: the rest (92) is queued again
    expect(run(102)).toMatchObject({ count: 1, urgent: false }); // b's next takes the freed slot
    expect(run(5)).toBeUndefined(); // a's rest waits for a slot, not placed ahead of b's chunks
    s.clock.advance(5);
    answer(s, w!, run(101), 1, undefined, 5);
    expect(run(5)).toMatchObject({ count: 92, urgent: false });
    drain(s);
    expect(delivered(a)).toHaveLength(97);
    expect(delivered(b).map(([i]) => i)).toEqual([100, 101, 102]);
  });

  it('a client coming back is still placed ahead and has a chunk cut while one that stands below it runs a chunk elsewhere', () => {
    // The rule above is about the chunks a newcomer's would overtake, not about every client running anywhere
    // (a first version compared against every running chunk's client: a one-item chunk running long on
    // another worker, or a client that lagged at its cap, turned admission and cuts off for everyone).
    const pool = new CuttingPool(4);
    const s = setup(pool);
    const a = client(1);
    const b = client(2);
    const n = client(3);
    // Each worker's own order: an urgent run goes right after the one it runs.
    const order = new Map<FakeWorker, RunMessage[]>();
    const seen = new Set<number>();
    const sync = (): void => {
      for (const w of s.pool.workers()) {
        const l = order.get(w) ?? [];
        order.set(w, l);
        for (const r of s.pool.runs(w)) {
          if (seen.has(r.key)) continue;
          seen.add(r.key);
          if (r.urgent && l.length > 0) l.splice(1, 0, r);
          else l.push(r);
        }
      }
    };
    const round = (): void => {
      s.clock.advance(100);
      for (const w of s.pool.workers()) {
        sync();
        const r = order.get(w)![0];
        if (r === undefined || r.start === 9000) continue; // b's one long item never ends here
        order.get(w)!.shift();
        answer(s, w, r, r.count, undefined, r.count * 10);
      }
      sync();
    };
    open(s, a, 1);
    for (let k = 0; k < 90; k++) add(s, a, 1, k * 10, 10);
    round();
    round();
    open(s, b, 2);
    add(s, b, 2, 9000, 1);
    round();
    open(s, n, 3);
    for (let k = 0; k < 30; k++) add(s, n, 3, 5000 + k * 10, 10);
    for (let k = 0; k < 27; k++) round();
    expect(s.scheduler.stats().perClient.get(3)).toMatchObject({ queuedChunks: 0, runningChunks: 0 }); // n's batch is done
    const cuts = pool.cuts.length;
    add(s, n, 3, 6000, 4);
    const back = s.pool.sent.map((x) => x.m).find((m): m is RunMessage => m.t === 'run' && m.start === 6000);
    expect(back).toMatchObject({ urgent: true });
    expect(pool.cuts.length - cuts).toBe(1);
  });

  it("no such request where the chunk waiting after the newcomer's cannot be cut either (one item)", () => {
    const s = setup(new CuttingPool(1));
    const a = client(1);
    const b = client(2);
    open(s, a, 1);
    add(s, a, 1, 0, 1);
    add(s, a, 1, 1, 1);
    open(s, b, 2);
    add(s, b, 2, 0, 1);
    expect(s.pool.sent.some((x) => x.m.t === 'run' && x.m.urgent)).toBe(true);
    expect((s.pool as CuttingPool).cuts).toEqual([]);
  });

  it('no cut for a chunk about to end, a one-item chunk, or the newcomer sharing a worker with itself', () => {
    const s = setup();
    const pool = s.pool as CuttingPool;
    const a = client(1);
    open(s, a, 1);
    add(s, a, 1, 0, 4);
    add(s, a, 1, 4, 4);
    const w0 = s.pool.workers()[0]!;
    // Measured: 1 ms an item, so each running 4-item chunk has ~4 ms left, under CHUNK_TARGET_MS.
    answer(s, w0, s.pool.runs(w0)[0]!, 4, undefined, 4);
    add(s, a, 1, 8, 4);
    s.clock.advance(1);
    const b = client(2);
    open(s, b, 2);
    add(s, b, 2, 0, 1);
    expect(4).toBeLessThan(CHUNK_TARGET_MS);
    expect(pool.cuts).toEqual([]);
    const c = client(3);
    const single = setup();
    open(single, c, 1);
    add(single, c, 1, 0, 1);
    add(single, c, 1, 1, 1);
    add(single, c, 1, 2, 1);
    add(single, c, 1, 3, 1);
    open(single, b, 2);
    add(single, b, 2, 0, 1);
    expect((single.pool as CuttingPool).cuts).toEqual([]);
  });

  it('no cut for a chunk whose payload is large (its rest would carry it all again)', () => {
    const s = setup();
    const a = client(1);
    open(s, a, 1);
    for (let k = 0; k < 4; k++) {
      const items = Array.from({ length: 10 }, () => 'x'.repeat(8 * 1024));
      expect(s.scheduler.add(a, { type: 'batch.chunk', id: 1, start: k * 10, count: 10, payload: encodeData(items) })).toBeUndefined();
    }
    const b = client(2);
    open(s, b, 2);
    add(s, b, 2, 0, 1);
    expect(s.pool.sent.some((x) => x.m.t === 'run' && x.m.urgent)).toBe(true);
    expect((s.pool as CuttingPool).cuts).toEqual([]);
  });

  it("no request sparing the newcomer's chunk where the running chunk's payload is large: it may not have started", () => {
    // The worker, reading its socket between chunks, would run that one before the newcomer's, and the
    // request would cut it: its rest would carry the whole payload again.
    const s = setup(new CuttingPool(1));
    const a = client(1);
    open(s, a, 1);
    const items = Array.from({ length: 10 }, () => 'x'.repeat(8 * 1024));
    expect(s.scheduler.add(a, { type: 'batch.chunk', id: 1, start: 0, count: 10, payload: encodeData(items) })).toBeUndefined();
    add(s, a, 1, 10, 50);
    const b = client(2);
    open(s, b, 2);
    add(s, b, 2, 0, 1);
    expect(s.pool.sent.some((x) => x.m.t === 'run' && x.m.urgent)).toBe(true);
    expect((s.pool as CuttingPool).cuts).toEqual([]);
  });

  it('a chunk that cannot be cut (one item) and runs long from its start has no other client queued behind it', () => {
    const s = setup();
    const a = client(1);
    open(s, a, 1);
    add(s, a, 1, 0, 1);
    add(s, a, 1, 1, 1);
    const [w0, w1] = s.pool.workers() as [FakeWorker, FakeWorker];
    answer(s, w0, s.pool.runs(w0)[0]!, 1, undefined, 300); // measured: 300 ms an item
    add(s, a, 1, 2, 1);
    const b = client(2);
    open(s, b, 2);
    add(s, b, 2, 0, 1);
    add(s, b, 2, 1, 1);
    // Both workers run one of a's items, expected 300 ms: long from their start (1.5 x SOLO_CHUNK_TARGET_MS, as
    // they cannot be cut), so b's chunks wait in the queue for a free worker, not behind either.
    const realmA = s.pool.runs(w0)[0]!.realm;
    expect([...s.pool.runs(w0), ...s.pool.runs(w1)].every((r) => r.realm === realmA)).toBe(true);
    expect(s.scheduler.stats().queuedItems).toBe(2);
  });

  it('a done whose cut is not a count of items within the chunk is taken as the whole chunk', () => {
    for (const bad of [0, 100, 101, 2.5, -1, Number.NaN, '3']) {
      const s = setup(new CuttingPool(1));
      const a = client(1);
      open(s, a, 1);
      add(s, a, 1, 0, 100);
      const w = s.pool.workers()[0]!;
      answer(s, w, s.pool.runs(w)[0]!, 100, bad);
      expect(delivered(a)).toHaveLength(100);
      expect(s.scheduler.running()).toBe(0);
    }
  });
});
