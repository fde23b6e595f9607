/**
 * Deadlines on workers: an item past its timeout, and a worker that should
 * have left (a cancelled chunk ignoring its abort, a worker reporting an
 * uncaught exception or its recycling) after a grace. Either way the worker
 * is killed, and its exit recovers its chunks (recovery.ts).
 */
import { CANCEL_GRACE_MS } from '@corepool/protocol/internal';
import type { Clock } from './clock.js';
import type { Chunk } from './job.js';
import type { Lane } from './lane.js';
import type { PoolWorker, WorkerPool } from './worker-pool.js';

export class Deadlines<W extends PoolWorker> {
  readonly #pool: WorkerPool<W>;
  readonly #clock: Clock;
  /** Item `i` of `chunk` ran past its timeout (before its worker is killed). */
  readonly #timedOut: (chunk: Chunk, i: number) => void;

  constructor(pool: WorkerPool<W>, clock: Clock, timedOut: (chunk: Chunk, i: number) => void) {
    this.#pool = pool;
    this.#clock = clock;
    this.#timedOut = timedOut;
  }

  /**
   * Arms the deadline of item `i`: when its chunk becomes its worker's running
   * one (for its first item), and again as each item starts. A worker that
   * never gets to the item (stopped, spinning in a timer another task left,
   * stuck between items) misses it just the same: the item fails and the
   * worker is replaced.
   */
  arm(lane: Lane<W>, chunk: Chunk, i: number): void {
    chunk.timer?.cancel();
    const timeoutMs = chunk.job.timeoutMs;
    if (timeoutMs === 0) return; // tracked only, to name the item a crash belongs to
    let live = true;
    const due = (): void => {
      // Re-armed (the next item started) or cancelled (the chunk ended) meanwhile.
      if (!live) return;
      // A ghost's items belong to its copy: its worker is only stuck.
      if (!chunk.ghost) this.#timedOut(chunk, i);
      this.#pool.kill(lane.worker, 'timeout');
    };
    // The worker's messages may be held unread, the next item's start or the chunk's end among
    // them: heard first, so that an item that finished in time is never the one blamed.
    const timer = this.#clock.after(timeoutMs, () => (this.#pool.whenHeard === undefined ? due() : this.#pool.whenHeard(lane.worker, due)));
    chunk.timer = {
      cancel: () => {
        live = false;
        timer.cancel();
      },
    };
  }

  /**
   * Kills the worker after CANCEL_GRACE_MS unless `gone()` says it no longer
   * needs to. By then it may have exited and been replaced: the kill of a dead
   * worker does nothing (worker-pool.ts), so the timer needs no cancelling.
   */
  killAfterGrace(w: W, cause: string, gone: () => boolean = () => false): void {
    this.#clock.after(CANCEL_GRACE_MS, () => {
      if (!gone()) this.#pool.kill(w, cause);
    });
  }
}
