/**
 * The per-client cap on workers held at once (`connect({ maxWorkers })`,
 * `--client-max-workers`): a worker is held by a client while any chunk of
 * its own sits there, running, waiting in the pipeline, or as a ghost (a
 * copy moved elsewhere that the worker may still be running). Placement asks
 * before it puts a chunk on a worker; one more chunk on a worker the client
 * already holds takes no new worker.
 */
import type { ClientQueue } from './client-queues.js';
import type { Chunk } from './job.js';

/** What the cap reads of a worker: the chunks it holds. */
export interface HeldLane {
  readonly chunks: readonly Chunk[];
}

/** Workers holding a chunk of `cq`. */
export function workersHeld(cq: ClientQueue, lanes: Iterable<HeldLane>): number {
  let n = 0;
  for (const lane of lanes) if (holds(lane, cq)) n++;
  return n;
}

/** True if a chunk of `cq` may go to `lane` without `cq` holding more workers than its cap. */
export function mayPlace(cq: ClientQueue, lane: HeldLane, lanes: Iterable<HeldLane>): boolean {
  if (cq.maxWorkers === undefined || holds(lane, cq)) return true;
  return workersHeld(cq, lanes) < cq.maxWorkers;
}

/** True if the client holds as many workers as its cap allows (it cannot use another one). */
export function atCap(cq: ClientQueue, lanes: Iterable<HeldLane>): boolean {
  return cq.maxWorkers !== undefined && workersHeld(cq, lanes) >= cq.maxWorkers;
}

function holds(lane: HeldLane, cq: ClientQueue): boolean {
  return lane.chunks.some((c) => c.tenant === cq);
}
