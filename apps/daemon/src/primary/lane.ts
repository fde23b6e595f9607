/**
 * The scheduler's record of one worker (a lane): the chunks it holds in the
 * order it runs them, the task sources it keeps, and what it has done.
 * Placing a chunk on a lane and taking it off are the only ways a chunk's
 * place changes, so the lane, the chunk and its job's running set always
 * agree. Lanes holds one per worker of the pool.
 */
import { PRIMARY_SOURCES, SourceLru } from '@corepool/protocol/internal';
import type { Chunk } from './job.js';
import type { PoolWorker, WorkerPool } from './worker-pool.js';

export class Lane<W extends PoolWorker = PoolWorker> {
  readonly worker: W;
  /** Chunks sent to the worker, in the order it runs them: the first runs (ghosts included). */
  readonly chunks: Chunk[] = [];
  /** Source-task hashes this worker has been sent and still keeps (source-lru.ts). */
  readonly sources = new SourceLru(PRIMARY_SOURCES);
  tasksDone = 0;
  chunksDone = 0;
  /** Past maxTasksPerWorker: takes no more chunks, retired once its pipeline is empty. */
  spent = false;
  /** Ended by the scheduler on purpose: its exit is nobody's fault. */
  retired = false;
  /** Drained by a rolling reload (not its task budget): its exit is counted and logged as `reload`. */
  reloading = false;
  /** The worker said it exits for a reason none of its chunks caused, naming the client whose task did (if known). */
  recycle: { culprit: string | undefined } | undefined;
  /** The realm of the last chunk the worker finished (RecycleMessage.lastRan). */
  lastRealm: string | undefined;
  /**
   * Its worker did not begin the chunk at its head in time and gave it back (placement.ts, #unstick): it takes
   * nothing until it is heard from (a chunk message) or `stalledAt` is STALL_RETRY_MS old.
   */
  stalled = false;
  stalledAt = -Infinity;
  /**
   * Heads it gave back unbegun since it was last heard from (Scheduler's `withdrawn`), the first at
   * `firstStallAt`: at DEAF_STALLS, STALL_RETRY_MS after the first, it is replaced.
   */
  stalls = 0;
  firstStallAt = -Infinity;
  /**
   * Its worker has sent a chunk message since it was ready: it read its channel after its initializer. Until
   * then a stall is the initializer's own background work, left alone (a worker that never read its channel
   * is not taken for deaf: its replacement would run the initializer again, and stall again).
   */
  heard = false;

  constructor(worker: W) {
    this.worker = worker;
  }

  /** The chunk it runs now. */
  get head(): Chunk | undefined {
    return this.chunks[0];
  }

  /** True if it can take a chunk now. */
  get open(): boolean {
    return this.worker.ready && !this.worker.dead && !this.spent && !this.stalled;
  }

  /** Puts a chunk on this worker: last, or (urgent) right after the running one, as the worker queues it. */
  place(chunk: Chunk, urgent: boolean, now: number): void {
    chunk.headAt = this.chunks.length === 0 ? now : undefined;
    chunk.placedAt = now;
    if (urgent) this.chunks.splice(1, 0, chunk);
    else this.chunks.push(chunk);
    chunk.job.running.add(chunk);
  }

  /** Takes a chunk off (done, failed, or a ghost answered); returns the chunk that starts running in its place, if any. */
  remove(chunk: Chunk, now: number): Chunk | undefined {
    const i = this.chunks.indexOf(chunk);
    if (i >= 0) this.chunks.splice(i, 1);
    chunk.job.running.delete(chunk);
    const head = this.chunks[0];
    if (i !== 0 || head === undefined) return undefined;
    head.headAt = now;
    return head;
  }

  /**
   * The worker runs `running` before `chunk` (an urgent chunk that reached it after the chunk it was
   * to follow had ended: worker/run-queue.ts): `chunk` goes right behind `running`. True if `running`
   * thereby became the head, running since `chunk` was taken to be.
   */
  behind(chunk: Chunk, running: Chunk): boolean {
    const i = this.chunks.indexOf(chunk);
    // Right behind it, where the worker's queue had it: nothing else moves.
    if (i < 0 || this.chunks[i + 1] !== running) return false;
    this.chunks[i] = running;
    this.chunks[i + 1] = chunk;
    if (i !== 0) return false;
    running.headAt = chunk.headAt;
    chunk.headAt = undefined;
    return true;
  }

  /** The chunk moved to another worker: this copy stays only until the worker answers for it. */
  disown(chunk: Chunk): void {
    chunk.ghost = true;
    chunk.urgent = false;
    chunk.job.running.delete(chunk);
  }

  /** The worker exited: every chunk comes off, the non-ghosts returned in run order (the first one had begun). */
  clear(): Chunk[] {
    const out: Chunk[] = [];
    this.chunks.splice(0).forEach((c, i) => {
      c.job.running.delete(c);
      if (c.ghost) return; // its copy elsewhere owns the items
      if (i === 0) c.begun = true; // the worker runs its chunks in order: only the first had begun (behind a ghost, maybe not)
      out.push(c);
    });
    return out;
  }
}

/** The lanes of a pool's workers, made on first sight and dropped at exit. */
export class Lanes<W extends PoolWorker> {
  readonly #pool: WorkerPool<W>;
  readonly #byWorker = new Map<W, Lane<W>>();

  constructor(pool: WorkerPool<W>) {
    this.#pool = pool;
  }

  /** The worker's lane. */
  of(w: W): Lane<W> {
    let lane = this.#byWorker.get(w);
    if (lane === undefined) {
      lane = new Lane(w);
      this.#byWorker.set(w, lane);
    }
    return lane;
  }

  /** The worker's lane, if it has one. */
  get(w: W): Lane<W> | undefined {
    return this.#byWorker.get(w);
  }

  /** The worker exited: its lane leaves with it. */
  remove(w: W): Lane<W> {
    const lane = this.of(w);
    this.#byWorker.delete(w);
    return lane;
  }

  /** The lanes of the pool's current workers, in the pool's order. */
  current(): Lane<W>[] {
    return this.#pool.workers().map((w) => this.of(w));
  }

  values(): Iterable<Lane<W>> {
    return this.#byWorker.values();
  }

  /** The chunk each worker runs now. */
  heads(): Chunk[] {
    // An array, not a generator: fair share reads the heads on every placement, and a generator
    // and its step results were a few hundred bytes of garbage per submit.
    const out: Chunk[] = [];
    for (const lane of this.#byWorker.values()) {
      const head = lane.head;
      if (head !== undefined) out.push(head);
    }
    return out;
  }

  /** Chunks placed on workers (ghosts included). */
  placed(): number {
    let n = 0;
    for (const lane of this.#byWorker.values()) n += lane.chunks.length;
    return n;
  }
}
