/**
 * A Scheduler over a fake pool and a clock the test moves (pipeline depth 2, small queue
 * limits), and a client that records what the scheduler sends it: what the scheduler's
 * unit tests build on.
 */
import type { ServerMessage } from '@corepool/protocol/internal';
import { Scheduler, type SchedulerClient } from '../../src/primary/scheduler.js';
import { FakeClock } from './fake-clock.js';
import type { FakePool, FakeWorker } from './fake-pool.js';

export interface RecordingClient extends SchedulerClient {
  got: ServerMessage[];
}

/** A client that always reads, keeping every message it gets. */
export function recordingClient(id: number): RecordingClient {
  const c: RecordingClient = { id, got: [], send: (m) => c.got.push(m), canReceive: () => true };
  return c;
}

/** A scheduler placing chunks on `pool`'s workers, told of their events. */
export function fakeScheduler(pool: FakePool): { scheduler: Scheduler<FakeWorker>; pool: FakePool; clock: FakeClock } {
  const clock = new FakeClock();
  const scheduler = new Scheduler<FakeWorker>(
    pool,
    { pipelineDepth: 2, maxQueuedChunks: 100, maxQueuedBytes: 1 << 20, maxTasksPerWorker: 0 },
    clock,
  );
  pool.events = scheduler;
  return { scheduler, pool, clock };
}
