/**
 * Code-generation pinning in the scheduler (rolling reload), over a fake
 * pool and clock: a batch's chunks go only to workers of the generation it
 * opened in, by fill, newcomer admission and work stealing alike; a drained
 * worker is retired once empty; a batch left without a worker of its
 * generation fails with E_CODE_REPLACED, as do those failPinned ends.
 */
import { describe, expect, it } from 'vitest';
import { STEAL_AFTER_MS, encodeData, sourceHash } from '@corepool/protocol/internal';
import type { Scheduler } from '../src/primary/scheduler.js';
import { FakePool, type FakeWorker } from './support/fake-pool.js';
import { fakeScheduler, recordingClient, type RecordingClient } from './support/fake-scheduler.js';

const TASK = { kind: 'source', hash: sourceHash('(x) => x'), source: '(x) => x' } as const;

type Client = RecordingClient;
const client = recordingClient;

function setup(n: number): ReturnType<typeof fakeScheduler> {
  return fakeScheduler(new FakePool(n, 1));
}

function open(s: Scheduler<FakeWorker>, c: Client, id: number, chunks: number): void {
  expect(s.open(c, { type: 'batch.open', id, task: TASK, timeoutMs: 0, retries: 2 })).toBeUndefined();
  for (let start = 0; start < chunks; start++)
    expect(s.add(c, { type: 'batch.chunk', id, start, count: 1, payload: encodeData([start]) })).toBeUndefined();
}

/** The batch ids of the chunks sent to `w`, by the key the scheduler gave each. */
function batchesOn(pool: FakePool, w: FakeWorker, keys: Map<number, number>): number[] {
  return pool.runs(w).map((m) => keys.get(m.key)!);
}

describe('generation pinning', () => {
  it('old and new workers side by side: each runs only batches of its own generation, stealing included', () => {
    const { scheduler, pool, clock } = setup(2);
    const a = client(1);
    const b = client(2);
    open(scheduler, a, 1, 6); // pinned to generation 1
    const [w0, w1] = pool.workers() as [FakeWorker, FakeWorker];
    // The reload: generation 2 begins, worker 0 is drained and replaced.
    pool.codeGeneration = 2;
    scheduler.drain(w0);
    for (const m of pool.runs(w0))
      scheduler.workerMessage(w0, { t: 'done', key: m.key, payload: encodeData([0]), errors: [], ms: 1, aborted: false });
    expect(pool.retired).toContain(w0);
    const n0 = pool.exit(w0);
    expect(n0.generation).toBe(2);
    pool.ready(n0);
    open(scheduler, b, 2, 4); // pinned to generation 2
    // The old worker's head runs long: the idle new worker must not take batch 1's chunk waiting behind it.
    clock.advance(STEAL_AFTER_MS * 10);
    scheduler.dispatch();
    const keyToBatch = new Map<number, number>();
    for (const { m } of pool.sent) if (m.t === 'run') keyToBatch.set(m.key, m.realm.endsWith(':1') ? 1 : 2);
    expect(new Set(batchesOn(pool, n0, keyToBatch))).toEqual(new Set([2]));
    expect(new Set(batchesOn(pool, w1, keyToBatch))).toEqual(new Set([1]));
  });

  it('a batch left without a worker of its generation fails with E_CODE_REPLACED; failPinned ends the rest', () => {
    const { scheduler, pool } = setup(2);
    const a = client(1);
    open(scheduler, a, 1, 4);
    open(scheduler, a, 2, 4);
    pool.codeGeneration = 2;
    expect(scheduler.pinnedBelow(2)).toBe(2);
    const [w0, w1] = pool.workers() as [FakeWorker, FakeWorker];
    pool.exit(w0); // one old worker left: nothing fails yet
    expect(a.got.filter((m) => m.type === 'batch.error')).toHaveLength(0);
    pool.exit(w1); // the last one: both batches can never finish on their code
    const errors = a.got.filter((m) => m.type === 'batch.error');
    expect(errors.map((m) => (m as { error: { code: string } }).error.code)).toEqual(['E_CODE_REPLACED', 'E_CODE_REPLACED']);
    expect(scheduler.pinnedBelow(2)).toBe(0);
    // failPinned: a batch pinned to generation 2 when generation 3 begins.
    open(scheduler, a, 3, 2);
    pool.codeGeneration = 3;
    expect(scheduler.failPinned(3, 'grace over')).toBe(1);
    expect(scheduler.pinnedBelow(3)).toBe(0);
  });
});
