/**
 * The seam between the scheduler and whatever runs its chunks. The local
 * Supervisor (forked worker processes) implements WorkerPool; cluster mode can
 * implement it again for workers of another daemon. The scheduler decides
 * what runs where and keeps all of its own per-worker state (lane.ts); a pool
 * only carries messages and keeps processes alive.
 *
 * Contract of a WorkerPool:
 *  - `workers()` lists the pool's current workers in a stable order (by
 *    slot). A worker that exits is `dead` when `workerExit` is told. Its slot
 *    is then refilled by a new object, with `ready` false until its
 *    `workerReady`, or, if the pool shrinks (a remote daemon lost), dropped
 *    for good: `slotRemoved` follows its `workerExit` (fair-share.ts would
 *    otherwise wait for that slot's restart forever).
 *  - Slot numbers are stable and unique among the pool's slots; a refill
 *    keeps its slot. The scheduler takes one pool: local and remote workers
 *    together need one pool that numbers all their slots.
 *  - `ready` is true from the worker's ready report until it is killed,
 *    retired or exits; `dead` is true once it has exited. A killed worker
 *    may still answer for chunks until its exit is told.
 *  - `send` delivers run and abort messages verbatim and in order, or returns
 *    false if the worker cannot take them (gone, or its channel refused): the
 *    scheduler then kills it and recovers its chunks from its exit.
 *    Verbatim matters for two fields of a run message:
 *      - `task.source` is '' when the scheduler's copy of the worker's source
 *        cache (lane.ts) says the worker already keeps that hash. That copy is
 *        only right for a worker that this scheduler alone feeds for as long
 *        as the worker is listed: a pool whose workers also run chunks of
 *        other schedulers must not hand them such messages as they are.
 *      - `realm` names the client's app to the worker, which resets its
 *        globals between realms (realm-guard.ts). The scheduler makes it
 *        unique beyond this daemon (its own random prefix and the client's
 *        id), so chunks of two apps never share a realm, on any worker. A
 *        `recycle`'s culprit is such a realm; one this scheduler did not make
 *        is charged to nobody.
 *  - `kill` ends a worker at once (nothing it was running is trusted);
 *    `retire` ends an idle one on purpose. Either way, exactly one
 *    `workerExit` follows. On a dead worker both do nothing, and a second kill
 *    of a dying one brings no second exit: a deadline's grace (deadlines.ts)
 *    may kill a worker that has long been replaced.
 *  - Events reach the scheduler (PoolEvents) in the order the worker sent them:
 *    `workerReady` once per worker, its chunk messages, then `workerExit`
 *    once; nothing about a worker after its exit.
 *  - Only chunk traffic goes through the pool: a task's shared-state requests
 *    and the pushes for them travel between the worker and the state store
 *    (worker-state-link.ts), under an owner name the pool's worker gives.
 */
import type {
  AbortMessage,
  BehindMessage,
  DoneMessage,
  FailMessage,
  PartMessage,
  RecycleMessage,
  RunMessage,
  StartedMessage,
  UncaughtMessage,
  WithdrawnMessage,
} from '../ipc.js';

/** A worker as the scheduler sees it. */
export interface PoolWorker {
  /** Stable slot number, unique in the pool; a replacement keeps the slot (fair-share.ts charges restarts per slot). */
  readonly slot: number;
  /** Takes chunks: it reported ready and is not being killed or retired. */
  readonly ready: boolean;
  /** It has exited. */
  readonly dead: boolean;
  /**
   * The code generation it runs (a rolling reload starts a new one). A batch
   * runs only on workers of the generation it was opened in; absent (a worker
   * of another daemon), it takes chunks of any.
   */
  readonly generation?: number;
  /**
   * A reserve worker: one more process than the cores it shares, kept idle for a client stuck
   * behind other apps' long chunks (placement.ts, #relieve), never filled, lent or counted in
   * the capacity clients size their window by. Absent: an ordinary worker.
   */
  readonly reserve?: boolean;
}

/** What the scheduler sends a worker. */
export type ChunkCommand = RunMessage | AbortMessage;

/** What a worker tells the scheduler about its chunks (and its own leaving, `recycle`). */
export type ChunkMessage =
  StartedMessage | BehindMessage | PartMessage | DoneMessage | FailMessage | UncaughtMessage | RecycleMessage | WithdrawnMessage;

/** The workers the scheduler places chunks on. */
export interface WorkerPool<W extends PoolWorker> {
  /** Live workers, by slot. */
  workers(): readonly W[];
  /** Sends a command verbatim; false if the worker cannot take it (the scheduler kills it then). */
  send(w: W, m: ChunkCommand): boolean;
  /**
   * Ends a worker at once; its exit is told and its slot refilled (or removed). Nothing on a dead worker.
   * `reason` is what the log says it was killed for, and its restart's cause in the metrics (telemetry.ts); the first one given stands.
   */
  kill(w: W, reason?: string): void;
  /** Ends an idle worker on purpose (past its task budget, or drained by a reload: `reason`), as kill does otherwise. */
  retire(w: W, reason?: 'retired' | 'reload'): void;
  /** The worker said it is leaving by itself (`cause`: recycle, uncaught): its exit is recorded with that cause. */
  leaving?(w: W, cause: string): void;
  /**
   * Asks the worker to cut short the chunk it runs when the request arrives, unless that is
   * chunk `spare` (the newcomer's chunk the request is made for): it stops after the item it
   * runs and answers `done` with `cut` set (the scheduler queues the rest again), or, not
   * hearing it, runs the chunk whole. A pool without it never cuts a chunk, and clients keep
   * the shorter chunks of SOLO_CHUNK_TARGET_MS while alone.
   */
  cut?(w: W, spare: number): void;
  /**
   * Asks the worker to give up chunk `key`, which it holds and has not started, so that it runs
   * elsewhere; the worker answers with a `withdrawn` message (its outcome: withdrawn, it will not
   * run it; kept, it had started; full, it could not note it). False if the request cannot go out
   * (then no answer comes). A pool without it, or a worker it cannot ask, has a moved chunk aborted
   * instead, and its copy may run too.
   */
  withdraw?(w: W, key: number): boolean;
  /**
   * How many workers the pool can run chunks on, where that is more than it lists now
   * (cluster mode: every daemon's workers, of which only those lent at the moment are
   * listed). Clients size their in-flight window by it. Absent: `workers().length`.
   */
  capacity?(): number;
  /** The generation new batches are pinned to (the newest); absent: batches are not pinned. */
  generation?(): number;
  /**
   * Calls `fn` once the worker's messages are no longer held unread (worker-state-link.ts holds
   * them while its client's share of the primary's turn is spent): at once if they are not. A
   * deadline waits for them, since a later item's start may be among them. Absent: at once.
   */
  whenHeard?(w: W, fn: () => void): void;
}

/** What the pool tells the scheduler, in the order it happened. */
export interface PoolEvents<W extends PoolWorker> {
  workerReady(w: W): void;
  workerMessage(w: W, m: ChunkMessage): void;
  /**
   * `blameless`: the pool ended the worker for a reason none of its chunks caused (cluster mode: the
   * daemon lost its lease, or lending messages were lost): its chunks run again as they were, nobody
   * charged for the restart nor any item's attempt counted. `how`: how it exited, for the error of an
   * item that crashed it (recovery.ts exitText).
   */
  workerExit(w: W, blameless?: boolean, how?: string): void;
  /** The slot of a worker whose exit was told will not be refilled. */
  slotRemoved(slot: number): void;
}
