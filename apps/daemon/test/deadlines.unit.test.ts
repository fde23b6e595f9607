/**
 * deadlines.ts: an item's deadline that falls due while its worker's messages are held unread
 * (its client's share of the primary's turn spent) waits until they are heard, so that the
 * next item's start among them re-arms it and an item that finished in time is never blamed;
 * a worker still stuck once they are heard is killed, its running item blamed.
 */
import { describe, expect, it } from 'vitest';
import { Deadlines } from '../src/primary/deadlines.js';
import type { Chunk } from '../src/primary/job.js';
import type { Lane } from '../src/primary/lane.js';
import type { PoolWorker, WorkerPool } from '../src/primary/worker-pool.js';
import { FakeClock } from './support/fake-clock.js';

/** A pool of one worker whose messages the test holds and releases; what it kills and who was blamed. */
function held() {
  const worker = { id: 1 } as unknown as PoolWorker;
  let waiting: (() => void)[] | undefined;
  const killed: string[] = [];
  const pool = {
    kill: (_w: PoolWorker, reason?: string) => killed.push(reason ?? ''),
    whenHeard: (_w: PoolWorker, fn: () => void) => (waiting === undefined ? fn() : waiting.push(fn)),
  } as unknown as WorkerPool<PoolWorker>;
  const clock = new FakeClock();
  const blamed: number[] = [];
  const deadlines = new Deadlines(pool, clock, (_chunk, i) => blamed.push(i));
  const lane = { worker } as unknown as Lane<PoolWorker>;
  const chunk = { job: { timeoutMs: 100 }, ghost: false } as unknown as Chunk;
  return {
    clock,
    killed,
    blamed,
    arm: (i: number) => deadlines.arm(lane, chunk, i),
    end: () => chunk.timer?.cancel(),
    hold: () => (waiting = []),
    release: () => {
      const fns = waiting ?? [];
      waiting = undefined;
      for (const fn of fns) fn();
    },
  };
}

describe('deadlines', () => {
  it('an item past its timeout kills its worker and is blamed, at once when nothing is held', () => {
    const d = held();
    d.arm(0);
    d.clock.advance(99);
    expect(d.killed).toEqual([]);
    d.clock.advance(1);
    expect([d.blamed, d.killed]).toEqual([[0], ['timeout']]);
  });

  it("falling due while the worker's messages are held, it waits for them: the next item's start among them re-arms it", () => {
    const d = held();
    d.arm(0);
    d.clock.advance(90); // item 0 took 90 ms; item 1 starts, but its `started` is held
    d.hold();
    d.clock.advance(20);
    expect([d.blamed, d.killed]).toEqual([[], []]);
    d.arm(1); // heard: item 1 started at 90 ms
    d.release();
    expect([d.blamed, d.killed]).toEqual([[], []]);
    d.clock.advance(100);
    expect([d.blamed, d.killed]).toEqual([[1], ['timeout']]);
  });

  it("the chunk's end among the held messages cancels it; a worker still stuck once they are heard is killed", () => {
    const ended = held();
    ended.arm(0);
    ended.hold();
    ended.clock.advance(100);
    ended.end();
    ended.release();
    expect([ended.blamed, ended.killed]).toEqual([[], []]);
    const stuck = held();
    stuck.arm(3);
    stuck.hold();
    stuck.clock.advance(150);
    expect(stuck.killed).toEqual([]);
    stuck.release();
    expect([stuck.blamed, stuck.killed]).toEqual([[3], ['timeout']]);
  });
});
