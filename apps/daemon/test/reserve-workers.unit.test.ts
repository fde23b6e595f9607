/**
 * Reserve workers in the scheduler alone (a fake pool of two workers and one reserve, a clock
 * the test moves): a client with nothing running that waits behind other clients' long chunks
 * runs on the reserve, and nothing else ever does. The real processes and sockets are in
 * reserve-workers.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CHUNK_TARGET_MS } from '@corepool/protocol/internal';
import type { RunMessage } from '../src/ipc.js';
import { KILLER_MEMORY_MS } from '../src/primary/fair-share.js';
import type { FakeWorker } from './support/fake-pool.js';
import {
  CuttingPool,
  add,
  answer,
  arrives,
  delivered,
  fakeScheduler,
  open,
  recordingClient,
  type FakeScheduler,
} from './support/fake-scheduler.js';

/** Two workers and one reserve worker, with chunks cut short for newcomers as the real pool does. */
function setup(reserve = 1): FakeScheduler & { core: FakeWorker[]; spare: FakeWorker } {
  const s = fakeScheduler(new CuttingPool(2, undefined, reserve));
  const ws = s.pool.workers();
  return { ...s, core: ws.filter((w) => w.reserve !== true), spare: ws.find((w) => w.reserve === true)! };
}

/**
 * `a` holds both workers with one-item chunks measured at `itemMs` each (the first two answered
 * to measure them, the next two starting now), more queued.
 */
function longItems(s: ReturnType<typeof setup>, itemMs: number): ReturnType<typeof recordingClient> {
  const a = recordingClient(1);
  open(s, a, 1);
  for (let k = 0; k < 8; k++) add(s, a, 1, k, 1);
  s.clock.advance(itemMs);
  for (const w of s.core) answer(s, w, s.pool.runs(w)[0]!, 1, undefined, itemMs);
  return a;
}

/** Client `id` with item `item` run to its end on the first worker, before anything else is placed. */
function servedClient(s: ReturnType<typeof setup>, id: number, item: number): ReturnType<typeof recordingClient> {
  const c = arrives(s, id, item);
  answer(s, s.core[0]!, runsOn(s, s.core[0]!)[0]!, 1, undefined, 1);
  return c;
}

function runsOn(s: FakeScheduler, w: FakeWorker): RunMessage[] {
  return s.pool.runs(w);
}

describe('reserve workers', () => {
  it('are never filled: a lone client, or clients whose chunks end within RESERVE_AFTER_MS, run on the workers alone', () => {
    const s = setup();
    const a = recordingClient(1);
    const b = recordingClient(2);
    open(s, a, 1);
    for (let k = 0; k < 20; k++) add(s, a, 1, k * 10, 10);
    s.clock.advance(10 * CHUNK_TARGET_MS);
    s.scheduler.dispatch();
    expect(runsOn(s, s.spare)).toEqual([]);
    const answered = new Set<number>();
    for (const w of s.core) {
      const r = runsOn(s, w)[0]!;
      answered.add(r.key);
      answer(s, w, r, r.count, undefined, 10 * CHUNK_TARGET_MS);
    }
    // b arrives; from now on every chunk ends in half of RESERVE_AFTER_MS: whoever waits, waits less than that.
    open(s, b, 2);
    for (let k = 0; k < 20; k++) add(s, b, 2, k * 10, 10);
    for (let step = 0; step < 60; step++) {
      s.clock.advance(CHUNK_TARGET_MS / 2);
      for (const w of s.core) {
        const r = runsOn(s, w).find((x) => !answered.has(x.key));
        if (r === undefined) continue;
        answered.add(r.key);
        answer(s, w, r, r.count, undefined, CHUNK_TARGET_MS / 2);
      }
    }
    expect(delivered(a).length + delivered(b).length).toBe(400);
    expect(runsOn(s, s.spare)).toEqual([]);
    // Clients size their window by the workers, not counting the reserve.
    expect(s.scheduler.workerCount()).toBe(2);
  });

  it("a newcomer waiting behind another client's long item moves to the reserve once that item has held its worker RESERVE_AFTER_MS", () => {
    const s = setup();
    // Items of 100 ms are not long from their start (placement.ts, #longHead): a second chunk waits behind each.
    longItems(s, 100);
    const b = arrives(s, 2);
    // Placed behind a running chunk (newcomer admission), on a worker: not yet on the reserve.
    const urgent = s.pool.sent.find((x) => x.m.t === 'run' && x.m.urgent)!;
    expect(urgent.w.reserve).toBeUndefined();
    expect(runsOn(s, s.spare)).toEqual([]);
    // The clock moves: the reserve takes it as a fresh copy, and the worker is told to skip its own.
    s.clock.advance(CHUNK_TARGET_MS + 2);
    const moved = runsOn(s, s.spare);
    expect(moved).toHaveLength(1);
    expect(moved[0]!.start).toBe(0);
    expect(s.pool.aborts(urgent.w)).toEqual([urgent.m.key]);
    answer(s, s.spare, moved[0]!);
    expect(delivered(b)).toEqual([[0, 0]]);
    // The skipped copy answering anyway delivers nothing twice.
    answer(s, urgent.w, urgent.m as RunMessage);
    expect(delivered(b)).toEqual([[0, 0]]);
  });

  it('a newcomer queued with every worker held by long items goes to the reserve, its next chunk again once it is free', () => {
    const s = setup();
    longItems(s, 500);
    s.clock.advance(CHUNK_TARGET_MS + 1);
    s.scheduler.dispatch();
    const b = arrives(s, 2);
    add(s, b, 2, 1, 1);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    expect(runsOn(s, s.spare)).toHaveLength(1);
    // One chunk at a time on the reserve: the second waits for the first.
    answer(s, s.spare, runsOn(s, s.spare)[0]!);
    s.clock.advance(1);
    const runs = runsOn(s, s.spare);
    const mine = runs.filter((r) => s.pool.sent.some((x) => x.m === r));
    expect(mine.length).toBeGreaterThanOrEqual(1);
    for (const r of runs) answer(s, s.spare, r);
    expect(
      delivered(b)
        .map(([i]) => i)
        .sort(),
    ).toEqual([0, 1]);
  });

  it('a client that runs something already waits its turn: the reserve stays idle for it', () => {
    const s = setup();
    const a = longItems(s, 500);
    s.clock.advance(5 * CHUNK_TARGET_MS);
    s.scheduler.dispatch();
    expect(runsOn(s, s.spare)).toEqual([]);
    expect(delivered(a)).toHaveLength(2);
  });

  it('behind a chunk of short items asked to cut, the newcomer waits for the cut, not the reserve', () => {
    const s = setup();
    const a = recordingClient(1);
    open(s, a, 1);
    for (let k = 0; k < 4; k++) add(s, a, 1, k * 100, 100);
    // Measured at 1 ms an item.
    const first = s.pool.runs(s.core[0]!)[0]!;
    s.clock.advance(100);
    answer(s, s.core[0]!, first, 100, undefined, 100);
    arrives(s, 2);
    s.clock.advance(3 * CHUNK_TARGET_MS);
    expect(runsOn(s, s.spare)).toEqual([]);
    expect((s.pool as CuttingPool).cuts.length).toBeGreaterThan(0);
  });

  it('a newcomer with two chunks queued gets the reserve for one, then waits like anyone for the rest', () => {
    const s = setup();
    longItems(s, 10_000);
    const b = recordingClient(2);
    const c = recordingClient(3);
    open(s, b, 2);
    open(s, c, 3);
    add(s, b, 2, 0, 1);
    add(s, c, 3, 0, 1);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    // Two clients stuck, one reserve: one runs there, the other waits for it, never a second chunk on it.
    expect(runsOn(s, s.spare)).toHaveLength(1);
    const first = runsOn(s, s.spare)[0]!;
    s.clock.advance(5);
    answer(s, s.spare, first);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    expect(runsOn(s, s.spare)).toHaveLength(2);
    answer(s, s.spare, runsOn(s, s.spare)[1]!);
    expect(delivered(b)).toEqual([[0, 0]]);
    expect(delivered(c)).toEqual([[0, 0]]);
  });

  it('a reserve killed under a newcomer: the rest, placed behind a long item while the reserve restarts, moves to the new one once the kill is 5 s old', () => {
    const s = setup();
    longItems(s, 100);
    const b = arrives(s, 2);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    expect(runsOn(s, s.spare)).toHaveLength(1);
    // Killed: b is charged the restart, and for 5 s it may hold no worker beside what it holds (fair-share.ts).
    const next = s.pool.exit(s.spare);
    expect(s.scheduler.stats().perClient.get(2)).toMatchObject({ runningChunks: 0, queuedChunks: 1 });
    // The new reserve is ready: the chunk is placed behind a long item, as a newcomer's is, and being held
    // there already it is no new worker: it moves to the reserve all the same (it stayed behind the item once).
    s.pool.ready(next);
    // Not before b's memory of the kill ends (KILLER_MEMORY_MS): a client whose items kill the reserve would take
    // each replacement as it came up.
    expect(runsOn(s, next)).toEqual([]);
    s.clock.advance(KILLER_MEMORY_MS + 5);
    const moved = runsOn(s, next);
    expect(moved).toHaveLength(1);
    answer(s, next, moved[0]!);
    expect(delivered(b)).toEqual([[0, 0]]);
  });

  it('a client that has had more worker time than the one holding every worker still gets the reserve: it holds none', () => {
    const s = setup();
    const b = arrives(s, 2);
    // b runs 5 s on a worker alone: far more worker time than a will have when b comes back.
    s.clock.advance(5_000);
    answer(s, s.core[0]!, runsOn(s, s.core[0]!)[0]!, 1, undefined, 5_000);
    longItems(s, 300);
    add(s, b, 2, 1, 1);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    const moved = runsOn(s, s.spare);
    expect(moved).toHaveLength(1);
    answer(s, s.spare, moved[0]!);
    expect(delivered(b)).toEqual([
      [0, 0],
      [1, 2],
    ]);
  });

  it("a stuck client's chunk of short items on the reserve is cut short for another stuck client, who runs next", () => {
    const s = setup();
    longItems(s, 10_000);
    const b = recordingClient(2);
    open(s, b, 2);
    // b's first chunk measures its items (1 ms each) on the reserve; its second is 400 of them.
    add(s, b, 2, 0, 1);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    answer(s, s.spare, runsOn(s, s.spare)[0]!, 1, undefined, 1);
    add(s, b, 2, 1, 400);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    const long = runsOn(s, s.spare).at(-1)!;
    expect(long.count).toBe(400);
    const c = arrives(s, 3);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    const pool = s.pool as CuttingPool;
    expect(pool.cuts.filter((x) => x.w === s.spare)).toEqual([{ w: s.spare, spare: 0 }]);
    // b's worker stops after 5 items; the rest goes back to b's queue, and c (less worker time) runs next.
    answer(s, s.spare, long, 5, 5, 5);
    const next = runsOn(s, s.spare).at(-1)!;
    expect(next.count).toBe(1);
    answer(s, s.spare, next);
    expect(delivered(c)).toEqual([[0, 0]]);
  });

  it('a client whose items crash the reserve does not get its replacement for 5 s: a neighbour does', () => {
    const s = setup();
    // The neighbour has had an item run (a client with none waits 5 s after a reserve's death too: see below).
    const c = servedClient(s, 3, 100);
    longItems(s, 10_000);
    const k = arrives(s, 2);
    add(s, k, 2, 1, 1);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    expect(runsOn(s, s.spare)).toHaveLength(1);
    const next = s.pool.exit(s.spare);
    s.pool.ready(next);
    add(s, c, 3, 0, 1);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    // The new reserve runs c's item, not k's next.
    const runs = runsOn(s, next);
    expect(runs).toHaveLength(1);
    answer(s, next, runs[0]!);
    expect(delivered(c)).toEqual([
      [100, 200],
      [0, 0],
    ]);
    s.clock.advance(100);
    expect(runsOn(s, next)).toHaveLength(1);
    s.clock.advance(KILLER_MEMORY_MS + 5);
    expect(runsOn(s, next)).toHaveLength(2);
  });

  it('reserves killed in a row by clients that have had nothing run (a crasher back on new connections): the next such client waits 5 s, one that has run something does not', () => {
    const s = setup();
    // c has had an item run before the long items came.
    const c = servedClient(s, 9, 0);
    longItems(s, 10_000);
    // The crasher on one new connection after another: each takes the reserve and kills it.
    let reserve = s.spare;
    for (const id of [2, 3]) {
      const k = arrives(s, id);
      s.clock.advance(CHUNK_TARGET_MS + 2);
      expect(runsOn(s, reserve)).toHaveLength(1); // one kill alone holds back no newcomer
      const next = s.pool.exit(reserve);
      s.pool.ready(next);
      s.scheduler.dropClient(k);
      reserve = next;
    }
    // Two in a row: the third connection waits.
    const k3 = arrives(s, 4);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    expect(runsOn(s, reserve)).toEqual([]);
    // c has had an item run: it gets the reserve meanwhile.
    add(s, c, 9, 1, 1);
    s.clock.advance(CHUNK_TARGET_MS + 2);
    expect(runsOn(s, reserve)).toHaveLength(1);
    answer(s, reserve, runsOn(s, reserve)[0]!);
    expect(delivered(c)).toEqual([
      [0, 0],
      [1, 2],
    ]);
    // Once the last kill is 5 s old, k3 gets it too.
    s.clock.advance(KILLER_MEMORY_MS);
    expect(runsOn(s, reserve)).toHaveLength(2);
    answer(s, reserve, runsOn(s, reserve)[1]!);
    expect(delivered(k3)).toEqual([[0, 0]]);
  });

  it('with no reserve worker, the newcomer waits for the item (what the reserve is for)', () => {
    const s = setup(0);
    longItems(s, 500);
    const b = arrives(s, 2);
    s.clock.advance(10 * CHUNK_TARGET_MS);
    expect(delivered(b)).toEqual([]);
  });
});
