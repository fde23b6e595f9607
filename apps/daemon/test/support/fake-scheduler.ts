/**
 * A Scheduler over a fake pool and a clock the test moves (pipeline depth 2, small queue
 * limits), and a client that records what the scheduler sends it: what the scheduler's
 * unit tests build on.
 */
import { expect } from 'vitest';
import { decodeData, encodeData, sourceHash, type ChunkResult, type ServerMessage } from '@corepool/protocol/internal';
import { Scheduler, type SchedulerClient } from '../../src/primary/scheduler.js';
import type { RunMessage } from '../../src/ipc.js';
import { FakeClock } from './fake-clock.js';
import { FakePool, type FakeWorker } from './fake-pool.js';

export interface RecordingClient extends SchedulerClient {
  got: ServerMessage[];
}

/** A client that always reads, keeping every message it gets. */
export function recordingClient(id: number): RecordingClient {
  const c: RecordingClient = { id, got: [], send: (m) => c.got.push(m), canReceive: () => true };
  return c;
}

export interface FakeScheduler {
  scheduler: Scheduler<FakeWorker>;
  pool: FakePool;
  clock: FakeClock;
}

/** A scheduler placing chunks on `pool`'s workers, told of their events. */
export function fakeScheduler(pool: FakePool): FakeScheduler {
  const clock = new FakeClock();
  const scheduler = new Scheduler<FakeWorker>(
    pool,
    { pipelineDepth: 2, maxQueuedChunks: 100, maxQueuedBytes: 1 << 20, maxTasksPerWorker: 0 },
    clock,
  );
  pool.events = scheduler;
  return { scheduler, pool, clock };
}

/** A task whose items are what it returns (the fake workers answer for it). */
export const TASK = { kind: 'source', hash: sourceHash('(x) => x'), source: '(x) => x' } as const;

/** A pool that can cut chunks short, recording each request. */
export class CuttingPool extends FakePool {
  readonly cuts: { w: FakeWorker; spare: number }[] = [];
  cut(w: FakeWorker, spare: number): void {
    this.cuts.push({ w, spare });
  }
}

/** A pool that cuts chunks short and whose workers can be asked to withdraw a chunk (WorkerPool.withdraw), as the real one: it records each request; the test answers. */
export class WithdrawingPool extends CuttingPool {
  readonly withdrawals: { w: FakeWorker; key: number }[] = [];
  withdraw(w: FakeWorker, key: number): boolean {
    if (w.dead) return false;
    this.withdrawals.push({ w, key });
    return true;
  }
}

/** Opens batch `id` of TASK for `c`. */
export function open(s: FakeScheduler, c: SchedulerClient, id: number): void {
  expect(s.scheduler.open(c, { type: 'batch.open', id, task: TASK, timeoutMs: 0, retries: 2 })).toBeUndefined();
}

/** One chunk of items start..start+count-1 (each item is its own index). */
export function add(s: FakeScheduler, c: SchedulerClient, id: number, start: number, count: number): void {
  const items = Array.from({ length: count }, (_, i) => start + i);
  expect(s.scheduler.add(c, { type: 'batch.chunk', id, start, count, payload: encodeData(items) })).toBeUndefined();
}

/** The worker answers run `r` with its items doubled, `ran` of them (all by default), saying `cut` if fewer, having taken `ms`. */
export function answer(
  s: FakeScheduler,
  w: FakeWorker,
  r: RunMessage,
  ran = r.count,
  cut: unknown = ran < r.count ? ran : undefined,
  ms = ran,
): void {
  const items = (decodeData(r.payload) as number[]).slice(r.offset, r.offset + ran);
  s.scheduler.workerMessage(w, {
    t: 'done',
    key: r.key,
    payload: encodeData(items.map((x) => x * 2)),
    errors: [],
    ms,
    aborted: false,
    ...(cut === undefined ? {} : { cut: cut as number }),
  });
}

/** Client `id` opens batch `id` and sends one chunk of the one item `item`. */
export function arrives(s: FakeScheduler, id: number, item = 0): RecordingClient {
  const c = recordingClient(id);
  open(s, c, id);
  add(s, c, id, item, 1);
  return c;
}

/** Results a client got, as [index, value] pairs. */
export function delivered(c: RecordingClient): [number, number][] {
  return c.got
    .filter((m): m is ChunkResult => m.type === 'chunk.result')
    .flatMap((m) => (decodeData(m.payload) as number[]).map((v, i): [number, number] => [m.start + i, v]));
}
