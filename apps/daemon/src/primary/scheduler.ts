/**
 * The scheduler: takes clients' batches (jobs, job.ts), queues their chunks
 * (client-queues.ts) and places them on the workers of a pool (placement.ts,
 * over the narrow WorkerPool of worker-pool.ts), keeping its own record of
 * each worker (lane.ts). It coordinates what happens to a chunk on its
 * worker: results go to the client (unsent-results.ts holds them while it
 * does not read), a dead worker's chunks are recovered by the decision table
 * of recovery.ts, an item past its timeout kills its worker (the deadline
 * runs from when its chunk becomes its worker's running one, whether or not
 * the worker ever reports the item started), and a cancelled job's running
 * chunks get a grace period, then a kill. Payloads stay opaque bytes.
 * Time comes from an injected Clock, so all of this runs without processes
 * in unit tests.
 */
import {
  CANCEL_GRACE_MS,
  BadMessageError,
  FlowControlError,
  LimitError,
  MAX_OPEN_BATCHES,
  ShuttingDownError,
  encodeCheckedData,
  type BatchChunk,
  type BatchOpen,
  type ChunkResult,
  type CorepoolError,
  type WireError,
} from '@corepool/protocol';
import type { DoneMessage, FailMessage, PartMessage, UncaughtMessage } from '../ipc.js';
import { realClock, type Clock, type Timer } from './clock.js';
import { ClientQueues, type ClientQueue, type SchedulerClient } from './client-queues.js';
import { FairShare } from './fair-share.js';
import { ChunkMint, type Chunk, type Job } from './job.js';
import { Lane } from './lane.js';
import { Placement } from './placement.js';
import { crashError, recover, restartPayer, timeoutError, uncaughtError } from './recovery.js';
import { UnsentResults } from './unsent-results.js';
import { VerifiedSources } from './verified-sources.js';
import type { ChunkMessage, PoolEvents, PoolWorker, WorkerPool } from './worker-pool.js';

export type { SchedulerClient } from './client-queues.js';

export interface SchedulerOptions<W extends PoolWorker> {
  /** Chunks a worker holds at once: one running, the rest waiting in its pipe. */
  pipelineDepth: number;
  /** Most chunks a client may have queued in the daemon. */
  maxQueuedChunks: number;
  /** Most bytes of items a client may have queued in the daemon. */
  maxQueuedBytes: number;
  /** Replace a worker after it has run this many items; 0: never. */
  maxTasksPerWorker: number;
  /** Called when a worker dies, so its shared-state locks are released. */
  onWorkerGone(w: W): void;
  /**
   * Stopgap while the session does not call `drained()` yet: look this often
   * for clients that drained. Unset, only `drained()` moves their results and chunks.
   */
  drainPollMs?: number;
}

/** What `daemon status` shows of a worker. */
export interface WorkerFigures {
  busy: boolean;
  tasksDone: number;
  chunksDone: number;
}

const UNDEFINED_RESULT = encodeCheckedData([undefined]);

/** Fair chunk scheduler over a pool of workers. */
export class Scheduler<W extends PoolWorker = PoolWorker> implements PoolEvents<W> {
  readonly #pool: WorkerPool<W>;
  readonly #opts: SchedulerOptions<W>;
  readonly #clock: Clock;
  readonly #fair = new FairShare<ClientQueue>({
    heads: () => this.#heads(),
    holds: (cq) => this.#runningOf(cq),
  });
  readonly #queues = new ClientQueues(this.#fair);
  readonly #lanes = new Map<W, Lane<W>>();
  readonly #placement: Placement<W>;
  readonly #unsent = new UnsentResults();
  readonly #sources = new VerifiedSources();
  readonly #mint = new ChunkMint();
  #accepting = true;
  /** Resolvers of idle(). */
  #idle: (() => void)[] = [];
  #pollTimer: Timer | undefined;
  /** Items whose result (or error) was delivered since start. */
  itemsDone = 0;

  constructor(pool: WorkerPool<W>, opts: SchedulerOptions<W>, clock: Clock = realClock) {
    this.#pool = pool;
    this.#opts = opts;
    this.#clock = clock;
    this.#placement = new Placement<W>({
      pool, clock, queues: this.#queues, fair: this.#fair, mint: this.#mint, pipelineDepth: opts.pipelineDepth,
      lanes: () => this.#pool.workers().map((w) => this.#lane(w)),
      runningOf: (cq) => this.#runningOf(cq),
      arm: (lane, chunk, i) => this.#arm(lane, chunk, i),
      skipped: () => this.#pollDrain(),
      redispatch: () => this.dispatch(),
    });
  }

  /** Number of workers. */
  workerCount(): number {
    return this.#pool.workers().length;
  }

  /** Stops taking new batches and starting queued chunks (graceful stop); running ones finish. */
  stopAccepting(): void {
    this.#accepting = false;
    // Connections close once running chunks finish: results go out now, not when clients read.
    this.#unsent.sendAll();
  }

  /** Chunks currently held by workers. */
  running(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) n += lane.chunks.length;
    return n;
  }

  /** Resolves once no worker holds a chunk. */
  idle(): Promise<void> {
    if (this.running() === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * The client's send buffer fell below its high-water mark: its unsent
   * results leave (while it reads), and its queued chunks, passed over while
   * it did not read, may be placed again.
   */
  drained(client: SchedulerClient): void {
    const cq = this.#queues.get(client);
    if (cq === undefined) return;
    this.#unsent.drained(cq);
    if (cq.active) this.dispatch();
  }

  /** Starts a batch for a client; returns an error if it cannot. */
  open(client: SchedulerClient, m: BatchOpen): CorepoolError | undefined {
    if (!this.#accepting) return new ShuttingDownError('the daemon is stopping and accepts no new batches');
    const cq = this.#queues.of(client);
    if (cq.jobs.has(m.id)) return new BadMessageError(`batch ${m.id} is already open`);
    if (cq.jobs.size >= MAX_OPEN_BATCHES) {
      return new LimitError(`client has ${cq.jobs.size} batches open, the limit of ${MAX_OPEN_BATCHES} open batches per client: let one finish first`);
    }
    const task = this.#sources.check(m.task);
    if (task instanceof Error) return task;
    cq.jobs.set(m.id, {
      id: m.id, client: cq, task, timeoutMs: m.timeoutMs, retries: m.retries,
      queue: [], running: new Set(), live: true, final: false, itemMs: 0,
    });
    return undefined;
  }

  /** Queues a chunk of items; returns an error if the client is over its limits. */
  add(client: SchedulerClient, m: BatchChunk): CorepoolError | undefined {
    const cq = this.#queues.get(client);
    const job = cq?.jobs.get(m.id);
    if (cq === undefined || job === undefined) return undefined; // cancelled or closed: late chunks are dropped
    if (cq.queuedChunks >= this.#opts.maxQueuedChunks || cq.queuedBytes + m.payload.length > this.#opts.maxQueuedBytes) {
      return new FlowControlError(
        `client has ${cq.queuedChunks} chunks (${cq.queuedBytes} bytes) queued, over the limit of ${this.#opts.maxQueuedChunks} chunks / ${this.#opts.maxQueuedBytes} bytes`,
      );
    }
    this.#queues.enqueue(this.#mint.chunk(job, m.payload, 0, m.count, m.start), false, this.#clock.now());
    if (m.final === true) job.final = true;
    this.dispatch();
    return undefined;
  }

  /** Drops a batch's queued chunks and abandons its running ones. */
  cancel(client: SchedulerClient, id: number): void {
    const cq = this.#queues.get(client);
    const job = cq?.jobs.get(id);
    if (cq === undefined || job === undefined) return;
    cq.jobs.delete(id);
    this.#abandon(job);
    this.#unsent.dropJob(cq, id);
  }

  /** The client has what it needs from the batch. */
  close(client: SchedulerClient, id: number): void {
    this.cancel(client, id);
  }

  /** A client disconnected: forget all of its work. */
  dropClient(client: SchedulerClient): void {
    const cq = this.#queues.get(client);
    if (cq === undefined) return;
    for (const job of cq.jobs.values()) this.#abandon(job);
    cq.jobs.clear();
    this.#queues.delete(cq);
    this.#unsent.drop(cq);
  }

  /** Hands queued chunks to workers with free pipeline slots, then lets idle workers steal. */
  dispatch(): void {
    if (!this.#accepting) return;
    const now = this.#clock.now();
    for (const slot of this.#fair.refilling()) {
      if (this.#pool.workers().some((w) => w.slot === slot && this.#lane(w).open)) this.#fair.ready(slot, now);
    }
    this.#placement.place(now);
  }

  /** Queue figures for `daemon status`. */
  stats(): { queuedItems: number; runningItems: number; perClient: Map<number, { batches: number; queuedChunks: number; runningChunks: number }> } {
    let queuedItems = 0;
    let runningItems = 0;
    const perClient = new Map<number, { batches: number; queuedChunks: number; runningChunks: number }>();
    for (const cq of this.#queues.all()) {
      let running = 0;
      for (const job of cq.jobs.values()) {
        for (const c of job.queue) queuedItems += c.count;
        for (const c of job.running) runningItems += c.count;
        running += job.running.size;
      }
      perClient.set(cq.client.id, { batches: cq.jobs.size, queuedChunks: cq.queuedChunks, runningChunks: running });
    }
    return { queuedItems, runningItems, perClient };
  }

  /** What a worker has done, for `daemon status`. */
  workerFigures(w: W): WorkerFigures {
    const lane = this.#lanes.get(w);
    return { busy: (lane?.chunks.length ?? 0) > 0, tasksDone: lane?.tasksDone ?? 0, chunksDone: lane?.chunksDone ?? 0 };
  }

  /** A worker is ready for chunks. */
  workerReady(_w: W): void {
    this.dispatch();
  }

  /** A worker's message about a chunk (or about its own leaving). */
  workerMessage(w: W, m: ChunkMessage): void {
    const lane = this.#lane(w);
    if (m.t === 'recycle') {
      lane.recycle = { culprit: m.culprit }; // its exit blames none of its chunks; the restart is charged to the culprit
      this.#clock.after(CANCEL_GRACE_MS, () => this.#pool.kill(w)); // it exits by itself; make sure of it
      return;
    }
    const chunk = lane.chunks.find((c) => c.key === m.key);
    if (chunk === undefined) return;
    if (chunk.ghost) {
      // Its copy on another worker owns the items: this one only gives back its slot (parts included).
      if (m.t === 'done' || m.t === 'fail') {
        this.#release(lane, chunk);
        this.#retireIfSpent(lane);
        this.dispatch();
      }
      return;
    }
    switch (m.t) {
      case 'started':
        chunk.begun = true;
        chunk.current = m.i;
        this.#arm(lane, chunk, m.i);
        return;
      case 'part':
        this.#part(chunk, m);
        return;
      case 'done':
        this.#done(lane, chunk, m);
        return;
      case 'fail':
        this.#fail(lane, chunk, m);
        return;
      case 'uncaught':
        this.#uncaught(lane, chunk, m);
        return;
    }
  }

  /** A worker died: its restart is charged, and each of its chunks recovered (recovery.ts). */
  workerExit(w: W): void {
    const lane = this.#lanes.get(w) ?? new Lane(w);
    this.#lanes.delete(w);
    this.#chargeExit(lane);
    const chunks = lane.clear();
    this.#opts.onWorkerGone(w);
    // Requeue in reverse so the front of each job's queue keeps input order.
    for (const died of [...chunks].reverse()) {
      died.timer?.cancel();
      if (!died.job.live) continue;
      this.#recover(died.sent > 0 ? this.#mint.rest(died) : died, lane.recycle !== undefined);
    }
    for (const chunk of chunks) this.#forgetIfDone(chunk.job);
    this.#checkIdle();
  }

  /** The scheduler's record of a worker, made on first sight. */
  #lane(w: W): Lane<W> {
    let lane = this.#lanes.get(w);
    if (lane === undefined) {
      lane = new Lane(w);
      this.#lanes.set(w, lane);
    }
    return lane;
  }

  #runningOf(cq: ClientQueue): number {
    let n = 0;
    for (const job of cq.jobs.values()) n += job.running.size;
    return n;
  }

  /** The chunk each worker runs now. */
  *#heads(): Iterable<Chunk> {
    for (const lane of this.#lanes.values()) {
      const head = lane.head;
      if (head !== undefined) yield head;
    }
  }

  /** Applies the decision table to a chunk of a dead worker. */
  #recover(chunk: Chunk, recycled: boolean): void {
    const job = chunk.job;
    const plan = recover({ ...chunk, retries: job.retries, recycled });
    const now = this.#clock.now();
    if (plan.requeue === 'itself') {
      chunk.begun = false;
      chunk.current = -1;
      this.#queues.enqueue(chunk, true, now);
    } else {
      for (const p of [...plan.requeue].reverse()) {
        const piece = this.#mint.piece(chunk, p.from, p.count);
        piece.tracked = p.tracked;
        piece.attempts = p.attempts;
        piece.crashes = p.crashes;
        this.#queues.enqueue(piece, true, now);
      }
    }
    if (plan.crashed !== undefined) {
      const index = chunk.start + plan.crashed.at;
      this.#deliverError(job, index, crashError(index, plan.crashed.attempts, job.retries));
    }
  }

  /** A dead worker's chunks are charged what they took, and the restart to whoever caused it (recovery.ts). */
  #chargeExit(lane: Lane<W>): void {
    const now = this.#clock.now();
    for (const c of lane.chunks) {
      c.timer?.cancel();
      this.#fair.settle(c, now);
    }
    const payer = restartPayer({
      recycled: lane.recycle !== undefined,
      culprit: lane.recycle === undefined ? undefined : this.#queues.byId(lane.recycle.culprit ?? -1),
      head: lane.head?.tenant,
      retired: lane.retired,
    });
    if (payer !== undefined) this.#fair.blame(payer, lane.worker.slot, now);
  }

  /**
   * Arms the deadline of item `i`: when its chunk becomes its worker's running
   * one (for its first item), and again as each item starts. A worker that
   * never gets to the item (stopped, spinning in a timer another task left,
   * stuck between items) misses it just the same: the item fails and the
   * worker is replaced.
   */
  #arm(lane: Lane<W>, chunk: Chunk, i: number): void {
    chunk.timer?.cancel();
    const timeoutMs = chunk.job.timeoutMs;
    if (timeoutMs === 0) return; // tracked only, to name the item a crash belongs to
    chunk.timer = this.#clock.after(timeoutMs, () => {
      // A ghost's items belong to its copy: its worker is only stuck.
      if (!chunk.ghost) {
        const index = chunk.start + i;
        chunk.failedAt = i;
        this.#deliverError(chunk.job, index, timeoutError(index, timeoutMs));
      }
      this.#pool.kill(lane.worker);
    });
  }

  /**
   * A task's async callback threw: the item that was running fails, and the
   * worker, whose state can no longer be trusted, exits and is replaced.
   * The chunk's other items are rerun when its exit is handled.
   */
  #uncaught(lane: Lane<W>, chunk: Chunk, m: UncaughtMessage): void {
    if (m.i === undefined || chunk.failedAt >= 0) return;
    chunk.timer?.cancel();
    chunk.failedAt = m.i;
    const index = chunk.start + m.i;
    this.#deliverError(chunk.job, index, uncaughtError(index, m.error));
    // The worker exits by itself once the report is out; make sure of it.
    this.#clock.after(CANCEL_GRACE_MS, () => this.#pool.kill(lane.worker));
  }

  #done(lane: Lane<W>, chunk: Chunk, m: DoneMessage): void {
    // An item of this chunk already has its outcome and the worker is being replaced: its exit requeues the rest.
    if (chunk.failedAt >= 0) return;
    this.#release(lane, chunk);
    lane.chunksDone++;
    lane.tasksDone += chunk.count;
    this.#retireIfSpent(lane);
    const job = chunk.job;
    if (!m.aborted && m.ms > 0) job.itemMs = m.ms / chunk.count;
    if (job.live && !m.aborted) {
      const from = m.from ?? 0;
      this.itemsDone += chunk.count - from;
      this.#sendResult(job.client, {
        type: 'chunk.result', id: job.id, start: chunk.start + from, count: chunk.count - from, payload: m.payload, errors: m.errors, ms: m.ms,
        load: this.#queues.load(job.client),
      });
      this.#forgetIfDone(job);
    }
    this.dispatch();
  }

  /** Results of the first items of a finished chunk too large for one frame; `done` brings the rest. */
  #part(chunk: Chunk, m: PartMessage): void {
    if (chunk.failedAt >= 0) return;
    chunk.timer?.cancel(); // every item has run
    chunk.sent = m.from + m.count;
    const job = chunk.job;
    if (!job.live) return;
    this.itemsDone += m.count;
    this.#sendResult(job.client, {
      type: 'chunk.result', id: job.id, start: chunk.start + m.from, count: m.count, payload: m.payload, errors: m.errors, ms: m.ms,
      load: this.#queues.load(job.client),
    });
  }

  #fail(lane: Lane<W>, chunk: Chunk, m: FailMessage): void {
    this.#release(lane, chunk);
    const job = chunk.job;
    if (job.live) {
      job.client.client.send({ type: 'batch.error', id: job.id, error: m.error });
      job.client.jobs.delete(job.id);
      this.#abandon(job);
    }
    this.dispatch();
  }

  #sendResult(cq: ClientQueue, m: ChunkResult): void {
    if (this.#unsent.send(cq, m)) this.#pollDrain();
  }

  #deliverError(job: Job, index: number, error: WireError): void {
    if (!job.live) return;
    this.itemsDone++;
    this.#sendResult(job.client, { type: 'chunk.result', id: job.id, start: index, count: 1, payload: UNDEFINED_RESULT, errors: [error], ms: 0 });
  }

  /** A chunk leaves its worker: charged what it took; the next one starts its deadline. */
  #release(lane: Lane<W>, chunk: Chunk): void {
    chunk.timer?.cancel();
    const now = this.#clock.now();
    this.#fair.settle(chunk, now);
    const next = lane.remove(chunk, now);
    if (next !== undefined) this.#arm(lane, next, Math.max(next.current, 0));
    this.#checkIdle();
  }

  /** A worker past maxTasksPerWorker gets no new chunks, and is retired once its pipeline is empty. */
  #retireIfSpent(lane: Lane<W>): void {
    const max = this.#opts.maxTasksPerWorker;
    if (max <= 0 || lane.tasksDone < max) return;
    lane.spent = true;
    if (lane.chunks.length === 0 && !lane.retired) {
      lane.retired = true;
      this.#pool.retire(lane.worker);
    }
  }

  /** A job whose last chunk has arrived and whose work is all delivered needs no `batch.close`. */
  #forgetIfDone(job: Job): void {
    if (!job.final || !job.live || job.queue.length > 0 || job.running.size > 0) return;
    job.live = false;
    job.client.jobs.delete(job.id);
  }

  /** Stops a job: queued chunks dropped now, running ones aborted and killed after a grace. */
  #abandon(job: Job): void {
    job.live = false;
    this.#queues.drop(job);
    for (const lane of this.#lanes.values()) {
      lane.chunks.forEach((chunk, i) => {
        if (chunk.job !== job || chunk.ghost) return;
        chunk.timer?.cancel();
        // A chunk not started yet is dropped by the worker when it gets there (its signal is aborted).
        this.#pool.send(lane.worker, { t: 'abort', key: chunk.key });
        if (i > 0) return;
        this.#clock.after(CANCEL_GRACE_MS, () => {
          if (lane.chunks.includes(chunk)) this.#pool.kill(lane.worker);
        });
      });
    }
  }

  #checkIdle(): void {
    if (this.#idle.length > 0 && this.running() === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Stopgap (drainPollMs) until the session calls drained(): look again shortly for clients that drained. */
  #pollDrain(): void {
    const ms = this.#opts.drainPollMs;
    if (ms === undefined || this.#pollTimer !== undefined) return;
    this.#pollTimer = this.#clock.after(ms, () => {
      this.#pollTimer = undefined;
      for (const cq of [...this.#queues.all()]) if (cq.client.canReceive()) this.#unsent.drained(cq);
      if (this.#unsent.any) this.#pollDrain();
      this.dispatch();
    });
  }
}
