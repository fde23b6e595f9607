/**
 * Moving a chunk only once its worker has withdrawn it (placement.ts #move, WorkerPool.withdraw),
 * over a fake pool and clock: the copy goes out on the answer, never before, so no chunk runs on
 * two workers; a kept chunk runs where it is; one the worker could not note moves as it did before
 * withdrawals; an answer nobody asked for changes nothing; a worker that does not answer within
 * WITHDRAW_WAIT_MS has the chunk moved the old way, and a late answer is still heeded, so no chunk
 * is lost; a worker that dies while asked has its chunk recovered once. The real guard thread's side is in work-stealing.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CHUNK_TARGET_MS, STEAL_AFTER_MS } from '@corepool/protocol/internal';
import { STALL_RETRY_MS } from '../src/primary/placement.js';
import { DEAF_WINDOW_MS } from '../src/primary/scheduler.js';
import type { RunMessage } from '../src/ipc.js';
import type { FakeWorker } from './support/fake-pool.js';
import {
  WithdrawingPool,
  add,
  answer,
  arrives,
  delivered,
  fakeScheduler,
  open,
  recordingClient,
  type FakeScheduler,
} from './support/fake-scheduler.js';

type Setup = FakeScheduler & { pool: WithdrawingPool };

/** Three one-item chunks on two workers: item 0 runs long on worker 0, item 2 waits behind it, worker 1 finishes item 1. */
function stealable(workers = 2): { s: Setup; c: ReturnType<typeof recordingClient>; w0: FakeWorker; w1: FakeWorker } {
  const s = fakeScheduler(new WithdrawingPool(workers)) as Setup;
  const c = recordingClient(1);
  open(s, c, 1);
  for (let i = 0; i < 3; i++) add(s, c, 1, i, 1);
  const [w0, w1] = s.pool.workers() as [FakeWorker, FakeWorker];
  expect(s.pool.runs(w0).map((r) => r.start)).toEqual([0, 2]);
  answer(s, w1, s.pool.runs(w1)[0]!);
  s.clock.advance(STEAL_AFTER_MS + 5); // the steal timer fired: the withdrawal is asked, not overdue yet
  return { s, c, w0, w1 };
}

const tellOutcome = (s: Setup, w: FakeWorker, key: number, outcome: 'withdrawn' | 'kept' | 'full'): void =>
  s.scheduler.workerMessage(w, { t: 'withdrawn', key, outcome });

const sorted = (pairs: [number, number][]): [number, number][] => [...pairs].sort((a, b) => a[0] - b[0]);

describe('withdrawals', () => {
  it('the copy goes to the idle worker only once the busy one says it withdrew the chunk; each item delivered once', () => {
    const { s, c, w0, w1 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    expect(s.pool.withdrawals).toEqual([{ w: w0, key: waiting.key }]);
    expect(s.pool.runs(w1)).toHaveLength(1); // nothing sent yet
    expect(s.pool.aborts(w0)).toEqual([]);
    s.clock.advance(5);
    expect(s.pool.withdrawals).toHaveLength(1); // asked once
    tellOutcome(s, w0, waiting.key, 'withdrawn');
    const copy = s.pool.runs(w1)[1]!;
    expect(copy.start).toBe(2);
    expect(copy.key).not.toBe(waiting.key);
    expect(s.pool.aborts(w0)).toEqual([]); // the worker skips it by itself
    expect(s.scheduler.stats().runningItems).toBe(2); // item 0 on worker 0, item 2 on worker 1: no ghost
    answer(s, w0, head);
    answer(s, w1, copy);
    expect(sorted(delivered(c))).toEqual([
      [0, 0],
      [1, 2],
      [2, 4],
    ]);
  });

  it('kept (it had started): it runs where it is and is delivered from there; the idle worker takes new work', () => {
    const { s, c, w0, w1 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    tellOutcome(s, w0, waiting.key, 'kept');
    expect(s.pool.runs(w1)).toHaveLength(1);
    add(s, c, 1, 3, 1);
    expect(s.pool.runs(w1).map((r) => r.start)).toEqual([1, 3]);
    answer(s, w0, head);
    answer(s, w0, waiting);
    answer(s, w1, s.pool.runs(w1)[1]!);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2, 3]);
  });

  it('not noted (full): it moves the old way, the busy worker told to skip it, a copy sent at once', () => {
    const { s, c, w0, w1 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    tellOutcome(s, w0, waiting.key, 'full');
    expect(s.pool.aborts(w0)).toEqual([waiting.key]);
    const copy = s.pool.runs(w1)[1]!;
    expect(copy.start).toBe(2);
    // Had it run anyway, its results are ignored: the copy delivers.
    answer(s, w0, head);
    answer(s, w0, waiting);
    answer(s, w1, copy);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2]);
  });

  it('an answer nobody asked for (a task wrote on the guard socket) changes nothing', () => {
    const { s, c, w0, w1 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    tellOutcome(s, w0, head.key, 'withdrawn'); // the running chunk was never asked for
    tellOutcome(s, w0, 999, 'withdrawn');
    expect(s.pool.runs(w1)).toHaveLength(1);
    expect(s.scheduler.stats().runningItems).toBe(2);
    tellOutcome(s, w0, waiting.key, 'withdrawn');
    tellOutcome(s, w0, waiting.key, 'withdrawn'); // twice: the second is not heeded
    expect(s.pool.runs(w1)).toHaveLength(2);
    answer(s, w0, head);
    answer(s, w1, s.pool.runs(w1)[1]!);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2]);
  });

  it('unanswered for WITHDRAW_WAIT_MS (a stopped worker, a task holding fd 5): it moves the old way; a late answer frees the ghost', () => {
    const { s, c, w0, w1 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    s.clock.advance(CHUNK_TARGET_MS - 10);
    expect(s.pool.runs(w1)).toHaveLength(1); // still waiting for the answer
    s.clock.advance(10); // the timer fires by itself
    expect(s.pool.aborts(w0)).toEqual([waiting.key]);
    const copy = s.pool.runs(w1)[1]!;
    expect(copy.start).toBe(2);
    // The worker did withdraw it after all: it will never answer for it, so its slot is given back now.
    tellOutcome(s, w0, waiting.key, 'withdrawn');
    answer(s, w0, head);
    expect(s.scheduler.workerFigures(w0).busy).toBe(false);
    answer(s, w1, copy);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2]);
  });

  it('withdrawn after its wait ran out and the idle worker took other work: it runs elsewhere, never lost', () => {
    const { s, c, w0, w1 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    add(s, c, 1, 3, 1); // the idle worker takes new work while it waits
    expect(s.pool.runs(w1).map((r) => r.start)).toEqual([1, 3]);
    s.clock.advance(CHUNK_TARGET_MS + 5); // overdue, and worker 1 cannot take it: it stays where it is
    expect(s.pool.aborts(w0)).toEqual([]);
    tellOutcome(s, w0, waiting.key, 'withdrawn'); // then the worker says it will not run it
    answer(s, w1, s.pool.runs(w1)[1]!);
    const again = s.pool.runs(w1).find((r) => r.start === 2);
    expect(again).toBeDefined();
    answer(s, w1, again!);
    answer(s, w0, head);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2, 3]);
  });

  it('unanswered, and the idle worker took other work meanwhile: the chunk moves the old way once a worker is free, never asked again', () => {
    const { s, c, w0, w1 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    add(s, c, 1, 3, 1);
    s.clock.advance(CHUNK_TARGET_MS + 5); // overdue; worker 1 is busy with item 3
    expect(s.pool.aborts(w0)).toEqual([]);
    answer(s, w1, s.pool.runs(w1)[1]!); // worker 1 is idle again: item 2 still waits behind the long item
    expect(s.pool.withdrawals).toHaveLength(1);
    expect(s.pool.aborts(w0)).toEqual([waiting.key]);
    const copy = s.pool.runs(w1)[2]!;
    expect(copy.start).toBe(2);
    answer(s, w1, copy);
    answer(s, w0, head);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2, 3]);
  });

  it('kept: it had started, so it is never moved, even when a worker goes idle later', () => {
    const { s, c, w0, w1 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    tellOutcome(s, w0, waiting.key, 'kept');
    add(s, c, 1, 3, 1);
    answer(s, w1, s.pool.runs(w1)[1]!);
    s.clock.advance(10 * STEAL_AFTER_MS);
    // Besides the waiting chunk, the long-running head is asked once (#unstick) and kept too.
    expect(s.pool.withdrawals.map((x) => x.key)).toEqual([waiting.key, head.key]);
    tellOutcome(s, w0, head.key, 'kept');
    s.clock.advance(10 * STEAL_AFTER_MS);
    expect(s.pool.withdrawals).toHaveLength(2);
    expect(s.pool.aborts(w0)).toEqual([]);
    expect(s.pool.runs(w1)).toHaveLength(2);
    answer(s, w0, head);
    answer(s, w0, waiting);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2, 3]);
  });

  it('a worker that dies while asked has its chunk recovered once; its late answer is ignored', () => {
    const { s, c, w0, w1 } = stealable();
    const waiting = s.pool.runs(w0)[1]!;
    const next = s.pool.exit(w0);
    tellOutcome(s, w0, waiting.key, 'withdrawn');
    // Both back in the queue (item 0 had begun: it waits for the replacement, as any crash's retry does), no copy sent.
    expect(s.scheduler.stats()).toMatchObject({ queuedItems: 2, runningItems: 0 });
    expect(s.pool.runs(w1)).toHaveLength(1);
    s.pool.ready(next);
    // The workers answer every run they get until none is left (item 0 runs alone first: the crash is charged to its client).
    const answered = new Set<number>([s.pool.runs(w1)[0]!.key]);
    const starts: number[] = [];
    for (let more = true; more;) {
      more = false;
      for (const w of [next, w1])
        for (const r of s.pool.runs(w))
          if (!answered.has(r.key)) {
            answered.add(r.key);
            starts.push(r.start);
            answer(s, w, r);
            more = true;
          }
    }
    expect(starts.sort()).toEqual([0, 2]);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2]);
  });

  it("a newcomer's chunk placed behind another client's long item goes to the reserve once its worker has withdrawn it", () => {
    const s = fakeScheduler(new WithdrawingPool(2, undefined, 1)) as Setup;
    const [c0, c1, spare] = s.pool.workers() as [FakeWorker, FakeWorker, FakeWorker];
    const a = recordingClient(1);
    open(s, a, 1);
    for (let k = 0; k < 8; k++) add(s, a, 1, k, 1);
    s.clock.advance(100); // items of 100 ms: a second chunk waits behind each
    for (const w of [c0, c1]) answer(s, w, s.pool.runs(w)[0]!, 1, undefined, 100);
    const b = arrives(s, 2);
    const urgent = s.pool.sent.find((x) => x.m.t === 'run' && x.m.urgent)!;
    s.clock.advance(CHUNK_TARGET_MS + 2);
    // Asked of its worker, not copied yet; the reserve waits for it.
    expect(s.pool.withdrawals).toEqual([{ w: urgent.w, key: urgent.m.key }]);
    expect(s.pool.runs(spare)).toEqual([]);
    tellOutcome(s, urgent.w, urgent.m.key, 'withdrawn');
    const moved = s.pool.runs(spare);
    expect(moved.map((r) => r.start)).toEqual([0]);
    expect(s.pool.aborts(urgent.w)).toEqual([]);
    answer(s, spare, moved[0]!);
    expect(delivered(b)).toEqual([[0, 0]]);
  });
});

/** Two one-item chunks on two workers, worker 1's answered: worker 0's (its head) not begun yet. */
function headOnIdleLooking(): { s: Setup; c: ReturnType<typeof recordingClient>; w0: FakeWorker; w1: FakeWorker; head: RunMessage } {
  const s = fakeScheduler(new WithdrawingPool(2)) as Setup;
  const c = recordingClient(1);
  open(s, c, 1);
  add(s, c, 1, 0, 1);
  add(s, c, 1, 1, 1);
  const [w0, w1] = s.pool.workers() as [FakeWorker, FakeWorker];
  answer(s, w1, s.pool.runs(w1)[0]!);
  return { s, c, w0, w1, head: s.pool.runs(w0)[0]! };
}

/** As headOnIdleLooking, but each worker has run a chunk first: heard from since it was ready. */
function heardThenIdleLooking(): ReturnType<typeof headOnIdleLooking> {
  const s = fakeScheduler(new WithdrawingPool(2)) as Setup;
  const c = recordingClient(1);
  open(s, c, 1);
  const [w0, w1] = s.pool.workers() as [FakeWorker, FakeWorker];
  for (let i = 0; i < 2; i++) add(s, c, 1, i, 1);
  answer(s, w0, s.pool.runs(w0)[0]!);
  answer(s, w1, s.pool.runs(w1)[0]!);
  for (let i = 2; i < 4; i++) add(s, c, 1, i, 1);
  answer(s, w1, s.pool.runs(w1).at(-1)!);
  return { s, c, w0, w1, head: s.pool.runs(w0).at(-1)! };
}

describe('a worker that does not begin the chunk at its head (Placement #unstick)', () => {
  it('asked back, done before its answer comes: nothing of it is kept once placement runs again', () => {
    const { s, c, w0, head } = headOnIdleLooking();
    s.clock.advance(260);
    expect(s.pool.withdrawals).toEqual([{ w: w0, key: head.key }]);
    // Its result was read first, then the guard's answer: the chunk has left its lane.
    answer(s, w0, head);
    tellOutcome(s, w0, head.key, 'kept');
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1]);
    add(s, c, 1, 2, 1);
    s.clock.advance(10);
    expect(s.scheduler.withdrawalsAwaited).toBe(0);
  });

  it('is asked to give it back once STALL_MS have passed; given back, the chunk runs elsewhere and the worker takes nothing for a while', () => {
    // Worker 0 looks idle but its main thread is held: it never begins item 0.
    const { s, c, w0, w1, head: held } = headOnIdleLooking();
    s.clock.advance(200);
    expect(s.pool.withdrawals).toEqual([]);
    s.clock.advance(60);
    expect(s.pool.withdrawals).toEqual([{ w: w0, key: held.key }]);
    tellOutcome(s, w0, held.key, 'withdrawn');
    const copy = s.pool.runs(w1)[1]!;
    expect(copy.start).toBe(0);
    // Held, worker 0 takes none of the chunks that come next; worker 1 has them all.
    add(s, c, 1, 2, 1);
    add(s, c, 1, 3, 1);
    expect(s.pool.runs(w0)).toHaveLength(1);
    answer(s, w1, copy);
    answer(s, w1, s.pool.runs(w1)[2]!);
    answer(s, w1, s.pool.runs(w1)[3]!);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1, 2, 3]);
    // After STALL_RETRY_MS it is tried again.
    s.clock.advance(STALL_RETRY_MS);
    add(s, c, 1, 4, 1);
    add(s, c, 1, 5, 1);
    expect(s.pool.runs(w0)).toHaveLength(2);
  });

  it.each([
    ['having run a chunk, is replaced (it does not read its channel)', heardThenIdleLooking, true],
    ['never heard from since it was ready, is left alone (its initializer holds it)', headOnIdleLooking, false],
  ] as const)('a worker that gives back its head again after the retry, unheard from meanwhile, %s', (_, setup, replaced) => {
    const { s, c, w0, w1, head: held } = setup();
    s.clock.advance(260);
    tellOutcome(s, w0, held.key, 'withdrawn');
    // Held, it takes nothing: worker 1 runs what comes.
    add(s, c, 1, 2, 1);
    answer(s, w1, s.pool.runs(w1)[1]!);
    expect(s.pool.killed).toEqual([]);
    s.clock.advance(STALL_RETRY_MS);
    add(s, c, 1, 3, 1);
    const again = s.pool.runs(w0).at(-1)!;
    expect(again.key).not.toBe(held.key);
    s.clock.advance(260);
    expect(s.pool.withdrawals.at(-1)).toEqual({ w: w0, key: again.key });
    tellOutcome(s, w0, again.key, 'withdrawn');
    expect(s.pool.killed).toEqual(replaced ? [w0] : []);
  });

  it('two stalls further apart than DEAF_WINDOW_MS, the worker idle between them: not replaced', () => {
    const { s, c, w0, w1, head: held } = heardThenIdleLooking();
    s.clock.advance(260);
    tellOutcome(s, w0, held.key, 'withdrawn');
    answer(s, w1, s.pool.runs(w1).at(-1)!);
    s.clock.advance(DEAF_WINDOW_MS + 1);
    add(s, c, 1, 9, 1);
    const next = s.pool.runs(w0).at(-1)!;
    expect(next.key).not.toBe(held.key);
    s.clock.advance(260);
    tellOutcome(s, w0, next.key, 'withdrawn');
    expect(s.pool.killed).toEqual([]);
  });

  it('a held worker heard from (a chunk message from its main thread) takes chunks again at once', () => {
    const s = fakeScheduler(new WithdrawingPool(2)) as Setup;
    const c = recordingClient(1);
    open(s, c, 1);
    for (let i = 0; i < 4; i++) add(s, c, 1, i, 1);
    const [w0, w1] = s.pool.workers() as [FakeWorker, FakeWorker];
    const [first, second] = s.pool.runs(w0) as [RunMessage, RunMessage];
    s.clock.advance(260);
    tellOutcome(s, w1, s.pool.runs(w1)[0]!.key, 'kept'); // it had begun
    tellOutcome(s, w0, first.key, 'withdrawn');
    // Item 0 waits for a worker: worker 1 is full, worker 0 held.
    expect(s.scheduler.stats().queuedItems).toBe(1);
    // Worker 0's main thread comes back and runs the chunk behind: it is heard from, and takes item 0 again at once.
    answer(s, w0, second);
    expect(s.pool.runs(w0).map((r) => r.start)).toEqual([0, 2, 0]);
    expect(s.scheduler.stats().queuedItems).toBe(0);
  });

  it("a waiting chunk a steal asked back, which became its worker's head before the answer: its worker is not held", () => {
    const { s, c, w0 } = stealable();
    const [head, waiting] = s.pool.runs(w0) as [RunMessage, RunMessage];
    expect(s.pool.withdrawals).toEqual([{ w: w0, key: waiting.key }]);
    // Item 0 ends, so item 2 is worker 0's head, then the answer comes: withdrawn (worker 0 had not begun it).
    answer(s, w0, head);
    tellOutcome(s, w0, waiting.key, 'withdrawn');
    add(s, c, 1, 3, 1);
    expect(s.pool.runs(w0).map((r) => r.start)).toContain(3);
    expect(sorted(delivered(c)).map(([i]) => i)).toEqual([0, 1]);
  });
});
