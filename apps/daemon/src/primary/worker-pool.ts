/**
 * The seam between the scheduler and whatever runs its chunks. The local
 * Supervisor (forked worker processes) implements WorkerPool; cluster mode can
 * implement it again for workers of another daemon. The scheduler decides
 * what runs where and keeps all of its own per-worker state (lane.ts); a pool
 * only carries messages and keeps processes alive.
 *
 * Contract of a WorkerPool:
 *  - `workers()` lists the pool's current workers in a stable order (by
 *    slot). A worker that exits is `dead` when `workerExit` is told, and is
 *    then replaced by a new object in its slot, with `ready` false until its
 *    `workerReady`.
 *  - `ready` is true from the worker's ready report until it is killed,
 *    retired or exits; `dead` is true once it has exited. A killed worker
 *    may still answer for chunks until its exit is told.
 *  - `send` delivers run and abort messages in order, or returns false if the
 *    worker cannot take them (gone, or its channel refused): the scheduler
 *    then kills it and recovers the chunk from its exit.
 *  - `kill` ends a worker at once (nothing it was running is trusted);
 *    `retire` ends an idle one on purpose. Either way, exactly one
 *    `workerExit` follows, and the slot is refilled.
 *  - Events reach the scheduler (PoolEvents) in the order the worker sent them:
 *    `workerReady` once per worker, its chunk messages, then `workerExit`
 *    once; nothing about a worker after its exit.
 */
import type {
  AbortMessage,
  DoneMessage,
  FailMessage,
  PartMessage,
  RecycleMessage,
  RunMessage,
  StartedMessage,
  UncaughtMessage,
} from '../ipc.js';

/** A worker as the scheduler sees it. */
export interface PoolWorker {
  /** Stable slot number (0..n-1); a replacement keeps the slot (fair-share.ts charges restarts per slot). */
  readonly slot: number;
  /** Takes chunks: it reported ready and is not being killed or retired. */
  readonly ready: boolean;
  /** It has exited. */
  readonly dead: boolean;
}

/** What the scheduler sends a worker. */
export type ChunkCommand = RunMessage | AbortMessage;

/** What a worker tells the scheduler about its chunks (and its own leaving, `recycle`). */
export type ChunkMessage = StartedMessage | PartMessage | DoneMessage | FailMessage | UncaughtMessage | RecycleMessage;

/** The workers the scheduler places chunks on. */
export interface WorkerPool<W extends PoolWorker> {
  /** Live workers, by slot. */
  workers(): readonly W[];
  /** Sends a command; false if the worker cannot take it (the scheduler kills it then). */
  send(w: W, m: ChunkCommand): boolean;
  /** Ends a worker at once; its exit is told and it is replaced. */
  kill(w: W): void;
  /** Ends an idle worker on purpose (past its task budget); replaced like any other. */
  retire(w: W): void;
}

/** What the pool tells the scheduler, in the order it happened. */
export interface PoolEvents<W extends PoolWorker> {
  workerReady(w: W): void;
  workerMessage(w: W, m: ChunkMessage): void;
  workerExit(w: W): void;
}
