/**
 * The per-client cap on workers held at once (`connect({ maxWorkers })`,
 * `--client-max-workers`): a worker is held by a client while any chunk of
 * its own sits there, running, waiting in the pipeline, or as a ghost (a
 * copy moved elsewhere that the worker may still be running). Placement asks
 * before it puts a chunk on a worker; one more chunk on a worker the client
 * already holds takes no new worker. The operator's cap for a name
 * (`--client-max-workers name=N`) is held by the connections of that name
 * together (NameCap): counted per connection, an app of eight connections
 * under a name capped at 1 held eight workers.
 */
import type { ClientQueue, NameCap } from './client-queues.js';
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

/** True if a chunk of `cq` may go to `lane` without `cq`, or the connections of its name, holding more workers than their cap allows. */
export function mayPlace(cq: ClientQueue, lane: HeldLane, lanes: Iterable<HeldLane>): boolean {
  if (cq.maxWorkers !== undefined && !holds(lane, cq) && workersHeld(cq, lanes) >= cq.maxWorkers) return false;
  const group = cq.nameCap;
  return group === undefined || groupHolds(lane, group) || groupHeld(group, lanes) < group.max;
}

/** True if the client, or the connections of its name, hold as many workers as their cap allows (it cannot use another one). */
export function atCap(cq: ClientQueue, lanes: Iterable<HeldLane>): boolean {
  if (cq.maxWorkers !== undefined && workersHeld(cq, lanes) >= cq.maxWorkers) return true;
  return cq.nameCap !== undefined && groupHeld(cq.nameCap, lanes) >= cq.nameCap.max;
}

function holds(lane: HeldLane, cq: ClientQueue): boolean {
  return lane.chunks.some((c) => c.tenant === cq);
}

function groupHolds(lane: HeldLane, group: NameCap): boolean {
  return lane.chunks.some((c) => c.tenant.nameCap === group);
}

/** Workers holding a chunk of any connection of the group's name. */
function groupHeld(group: NameCap, lanes: Iterable<HeldLane>): number {
  let n = 0;
  for (const lane of lanes) if (groupHolds(lane, group)) n++;
  return n;
}
