/**
 * What the scheduler tells whoever measures it (telemetry.ts): outcomes of
 * items and chunks as they happen, per client. Calls come from the hot path
 * (once per chunk, not per item), so an observer only counts.
 */
import type { WireError } from '@corepool/protocol/internal';
import type { SchedulerClient } from './client-queues.js';

export interface SchedulerObserver {
  /** `count` items of `client`'s batches got their results; `errors` lists the items among them that failed (their task threw). */
  items(client: SchedulerClient, count: number, errors: readonly WireError[]): void;
  /** One item failed for its worker (timeout, crash, uncaught exception). */
  itemFailed(client: SchedulerClient, error: WireError): void;
  /** A batch failed as a whole (its task could not run). */
  batchFailed(client: SchedulerClient, error: WireError): void;
  /** A chunk of `items` items came back from its worker: `roundTripMs` from its sending to its result, `workMs` its run time as the worker measured it. */
  chunkDone(client: SchedulerClient, roundTripMs: number, workMs: number, items: number): void;
  /** A chunk that had begun on a worker that died runs again (in one or more pieces). */
  chunkRetried(client: SchedulerClient): void;
  /** The client left: what the scheduler knew of it is gone. */
  clientGone(client: SchedulerClient): void;
}
