/**
 * The scheduler: takes clients' batches (jobs, job.ts), queues their chunks
 * (client-queues.ts) and places them on the workers of a pool (placement.ts,
 * over the narrow WorkerPool of worker-pool.ts), keeping its own record of
 * each worker (lane.ts). It coordinates what happens to a chunk on its
 * worker: results go to the client (results.ts keeps them while it does not
 * read), a dead worker's chunks are recovered by the decision table
 * of recovery.ts, an item past its timeout kills its worker (the deadline
 * runs from when its chunk becomes its worker's running one, whether or not
 * the worker ever reports the item started), and a cancelled job's running
 * chunks get a grace period, then a kill. Payloads stay opaque bytes.
 * Time comes from an injected Clock, so all of this runs without processes
 * in unit tests. A batch is pinned to the code generation that is newest when
 * it opens (rolling reload, reload.ts): its chunks run only on workers of that
 * generation, and it fails with E_CODE_REPLACED if none is left for it.
 *
 * Over 400 lines (about 750): it is where a worker's messages meet the jobs,
 * the lanes and the results; each of those lives in its own file.
 */
import {
  BadMessageError,
  BadTaskError,
  CUT_SOLO_CHUNK_TARGET_MS,
  CodeReplacedError,
  FlowControlError,
  LimitError,
  MAX_OPEN_BATCHES,
  SOLO_CHUNK_TARGET_MS,
  ShuttingDownError,
  own,
  type BatchChunk,
  type BatchOpen,
  type CorepoolError,
  type TaskSpec,
} from '@corepool/protocol/internal';
import type { DoneMessage, FailMessage, PartMessage, UncaughtMessage } from '../ipc.js';
import { realClock, type Clock } from './clock.js';
import { ClientQueues, runningOf, type ClientFigures, type ClientQueue, type SchedulerClient } from './client-queues.js';
import { Deadlines } from './deadlines.js';
import { FairShare } from './fair-share.js';
import type { WithdrawOutcome } from '../guard-messages.js';
import { ChunkMint, type Chunk, type Job } from './job.js';
import { Lanes, type Lane } from './lane.js';
import { Placement, STALL_RETRY_MS } from './placement.js';
import { crashError, recover, restartPayer, timeoutError, uncaughtError } from './recovery.js';
import { ResultSender } from './results.js';
import { VerifiedSources } from './verified-sources.js';
import { atCap } from './worker-cap.js';
import type { ChunkMessage, PoolEvents, PoolWorker, WorkerPool } from './worker-pool.js';
import type { SchedulerObserver } from './scheduler-observer.js';

export type { SchedulerClient } from './client-queues.js';

export interface SchedulerOptions {
  /** Chunks a worker holds at once: one running, the rest waiting in its pipe. */
  pipelineDepth: number;
  /** Most chunks a client may have queued in the daemon. */
  maxQueuedChunks: number;
  /** Most bytes of items a client may have queued in the daemon. */
  maxQueuedBytes: number;
  /** Replace a worker after it has run this many items; 0: never. */
  maxTasksPerWorker: number;
  /** Told of outcomes as they happen (telemetry.ts). */
  observer?: SchedulerObserver;
}

/** What `daemon status` shows of a worker. */
export interface WorkerFigures {
  busy: boolean;
  tasksDone: number;
  chunksDone: number;
}

/**
 * Heads a worker may give back unbegun in a row, unheard from in between and the last STALL_RETRY_MS or more
 * after the first, before it is taken not to read its channel (#deaf).
 */
export const DEAF_STALLS = 2;
/**
 * The stalls DEAF_STALLS counts come within this of the first. A deaf worker offered work stalls every
 * STALL_RETRY_MS and a bit; one offered work only now and then costs each chunk a stall (STALL_MS), no more.
 */
export const DEAF_WINDOW_MS = 4 * STALL_RETRY_MS;

/** Fair chunk scheduler over a pool of workers. */
export class Scheduler<W extends PoolWorker = PoolWorker> implements PoolEvents<W> {
  readonly #pool: WorkerPool<W>;
  readonly #opts: SchedulerOptions;
  readonly #clock: Clock;
  readonly #lanes: Lanes<W>;
  readonly #fair = new FairShare<ClientQueue>({
    heads: () => this.#lanes.heads(),
    holds: runningOf,
    atCap: (cq) => atCap(cq, this.#lanes.values()),
    reads: (cq) => cq.client.canReceive(),
  });
  readonly #queues = new ClientQueues(this.#fair);
  readonly #placement: Placement<W>;
  readonly #results = new ResultSender(this.#queues);
  readonly #deadlines: Deadlines<W>;
  readonly #sources = new VerifiedSources();
  readonly #mint = new ChunkMint();
  #accepting = true;
  /** Resolvers of idle(). */
  #idle: (() => void)[] = [];

  constructor(pool: WorkerPool<W>, opts: SchedulerOptions, clock: Clock = realClock) {
    this.#pool = pool;
    if (pool.capacity !== undefined) this.#results.workers = () => this.workerCount();
    this.#lanes = new Lanes(pool);
    this.#opts = opts;
    this.#clock = clock;
    this.#results.observer = opts.observer;
    this.#deadlines = new Deadlines(pool, clock, (chunk, i) => {
      const index = chunk.start + i;
      chunk.failedAt = i;
      this.#results.error(chunk.job, index, timeoutError(index, chunk.job.timeoutMs));
    });
    this.#placement = new Placement<W>({
      pool,
      clock,
      queues: this.#queues,
      fair: this.#fair,
      mint: this.#mint,
      pipelineDepth: opts.pipelineDepth,
      soloChunkMs: this.soloChunkMs(),
      runningOf,
      arm: (lane, chunk, i) => this.#deadlines.arm(lane, chunk, i),
      redispatch: () => this.dispatch(),
    });
  }

  /** Items whose result (or error) was delivered since start. */
  get itemsDone(): number {
    return this.#results.itemsDone;
  }

  /** Number of workers the pool can run chunks on (what a client's in-flight window is sized by). */
  workerCount(): number {
    let n = 0;
    for (const w of this.#pool.workers()) if (w.reserve !== true) n++;
    return Math.max(n, this.#pool.capacity?.() ?? 0);
  }

  /**
   * The work a client's chunk may aim at while it is alone (its welcome says so): longer
   * where the pool can cut a running chunk short for a client that arrives.
   */
  soloChunkMs(): number {
    return this.#pool.cut === undefined ? SOLO_CHUNK_TARGET_MS : CUT_SOLO_CHUNK_TARGET_MS;
  }

  /** Stops taking new batches and starting queued chunks (graceful stop); running ones finish. */
  stopAccepting(): void {
    this.#accepting = false;
    // Connections close once running chunks finish: results go out now, not when clients read.
    this.#results.sendAll();
  }

  /** Chunks currently placed on workers. */
  running(): number {
    return this.#lanes.placed();
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
    this.#results.drained(cq);
    if (!cq.active) return;
    // Passed over while it did not read, it banked nothing meanwhile (fair-share.ts, rejoin).
    if (client.canReceive()) this.#fair.rejoin(cq, this.#queues.active, this.#clock.now());
    this.dispatch();
  }

  /** Starts a batch for a client; returns an error if it cannot. */
  open(client: SchedulerClient, m: BatchOpen): CorepoolError | undefined {
    if (!this.#accepting) return new ShuttingDownError('the daemon is stopping and accepts no new batches');
    const cq = this.#queues.of(client);
    if (cq.jobs.has(m.id)) return new BadMessageError(`batch ${m.id} is already open`);
    if (cq.jobs.size >= MAX_OPEN_BATCHES) {
      return new LimitError(
        `client has ${cq.jobs.size} batches open, the limit of ${MAX_OPEN_BATCHES} open batches per client: let one finish first`,
      );
    }
    const task = this.#sources.check(m.task, cq.realm);
    if (task instanceof Error) return task;
    const later = 'spec' in task;
    const job: Job = {
      id: m.id,
      client: cq,
      task: later ? m.task : task,
      ...(later ? { held: [], unwait: task.cancel } : {}),
      timeoutMs: m.timeoutMs,
      retries: m.retries,
      priority: m.priority ?? 0,
      queue: [],
      running: new Set(),
      live: true,
      final: false,
      itemMs: 0,
      ...(this.#pool.generation === undefined ? {} : { generation: this.#pool.generation() }),
    };
    cq.jobs.set(m.id, job);
    if (later) void task.spec.then((t) => this.#versioned(job, t));
    return undefined;
  }

  /** A module batch's task has its version: its chunks held meanwhile are queued (or, refused, the batch fails). */
  #versioned(job: Job, task: TaskSpec | BadTaskError): void {
    const held = this.#unhold(job);
    delete job.held;
    delete job.unwait;
    if (!job.live) return;
    if (task instanceof BadTaskError) {
      this.#results.batchError(job, task.toWire());
      job.client.jobs.delete(job.id);
      job.live = false;
      return;
    }
    job.task = task;
    const now = this.#clock.now();
    for (const chunk of held) this.#queues.enqueue(chunk, false, now);
    this.#forgetIfDone(job);
    this.dispatch();
  }

  /** Queues a chunk of items; returns an error if the client is over its limits. */
  add(client: SchedulerClient, m: BatchChunk): CorepoolError | undefined {
    const cq = this.#queues.get(client);
    const job = cq?.jobs.get(m.id);
    if (cq === undefined || job === undefined) return undefined; // cancelled or closed: late chunks are dropped
    // Chunks held for a task module being read count too: uncounted, a client could hold 1,024 a batch
    // in 1,024 batches, kept until the module's read was done however long that took.
    const chunks = cq.queuedChunks + cq.heldChunks;
    const bytes = cq.queuedBytes + cq.heldBytes;
    if (chunks >= this.#opts.maxQueuedChunks || bytes + m.payload.length > this.#opts.maxQueuedBytes) {
      return new FlowControlError(
        `client has ${chunks} chunks (${bytes} bytes) queued, over the limit of ${this.#opts.maxQueuedChunks} chunks / ${this.#opts.maxQueuedBytes} bytes`,
      );
    }
    // Kept until it has run: not as a view that keeps its whole frame alive (own-bytes.ts).
    const chunk = this.#mint.chunk(job, own(m.payload, 2), 0, m.count, m.start);
    if (m.final === true) job.final = true;
    if (job.held !== undefined) {
      // Its task's version is being made: queued once it is.
      job.held.push(chunk);
      cq.heldChunks++;
      cq.heldBytes += chunk.payload.length;
      return undefined;
    }
    this.#queues.enqueue(chunk, false, this.#clock.now());
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
    this.#results.dropJob(cq, id);
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
    this.#results.drop(cq);
    this.#opts.observer?.clientGone(client);
  }

  /** Hands queued chunks to workers with free pipeline slots, then lets idle workers steal. */
  dispatch(): void {
    if (!this.#accepting) return;
    const now = this.#clock.now();
    const lanes = this.#lanes.current();
    for (const slot of this.#fair.refilling()) {
      if (lanes.some((l) => l.worker.slot === slot && l.open)) this.#fair.ready(slot, now);
    }
    this.#placement.place(lanes, now);
  }

  /** Withdrawals of chunks whose answer is awaited (for leak checks). */
  get withdrawalsAwaited(): number {
    return this.#placement.awaited;
  }

  /** Queue figures for `daemon status`. */
  stats(): { queuedItems: number; runningItems: number; perClient: Map<number, ClientFigures> } {
    return this.#queues.stats();
  }

  /**
   * Chunks queued per client (waiting for a worker), keyed by the client's
   * realm, clients with none left out: the demand cluster mode offers to
   * other daemons' workers (cluster/demand.ts). A client that does not read
   * its results is left out too: placement passes it over, so a worker lent
   * for it would sit idle (and, its share never growing, be lent to it again
   * before any other app). Read only. So is a client holding as many workers
   * as its cap allows (worker-cap.ts): a lent worker could not take its work.
   * So is a recent killer holding a worker (fair-share.ts: one worker at most
   * for KILLER_MEMORY_MS after its last kill): placement passes it over for a
   * lent worker too, so its demand is none a lender can serve. Published, it
   * stayed the cluster's least-charged app (one worker's time, while the
   * others ran on theirs and on lent ones), every lender granted it first, its
   * daemon gave each grant back unused after IDLE_RELEASE_MS, and the lender
   * granted it again: an honest app on another daemon got none of a third
   * daemon's worker beside an app whose items all ran to their timeout.
   */
  queuedChunksByRealm(): Map<string, number> {
    const out = new Map<string, number>();
    const now = this.#clock.now();
    for (const cq of this.#queues.active) {
      if (cq.queuedChunks === 0 || !cq.client.canReceive() || atCap(cq, this.#lanes.values()) || this.#fair.limited(cq, now)) continue;
      out.set(cq.realm, cq.queuedChunks);
    }
    return out;
  }

  /** The weight of the client a realm names, if it is this scheduler's (cluster mode weighs the ledger's charges by it). */
  weightOf(realm: string): number | undefined {
    return this.#queues.byRealm(realm)?.weight;
  }

  /** What a worker has done, for `daemon status`. */
  workerFigures(w: W): WorkerFigures {
    const lane = this.#lanes.get(w);
    return { busy: (lane?.chunks.length ?? 0) > 0, tasksDone: lane?.tasksDone ?? 0, chunksDone: lane?.chunksDone ?? 0 };
  }

  /** A worker takes no new chunks, and is retired once those it holds are done (rolling reload). */
  drain(w: W): void {
    const lane = this.#lanes.of(w);
    lane.spent = true;
    lane.reloading = true;
    this.#retireIfSpent(lane);
  }

  /** Live batches pinned to a code generation older than `generation`. */
  pinnedBelow(generation: number): number {
    let n = 0;
    for (const cq of this.#queues.all()) for (const job of cq.jobs.values()) if (job.live && job.generation! < generation) n++;
    return n;
  }

  /**
   * Fails the live batches pinned to a generation older than `generation`
   * (their code is being replaced and they could not finish on it), or, with
   * `orphansOnly`, those of them no live worker of their generation is left
   * for. Returns how many it failed.
   */
  failPinned(generation: number, why: string, orphansOnly = false): number {
    const live = new Set(
      this.#pool
        .workers()
        .filter((w) => !w.dead)
        .map((w) => w.generation),
    );
    let n = 0;
    for (const cq of [...this.#queues.all()]) {
      for (const job of [...cq.jobs.values()]) {
        if (!job.live || !(job.generation! < generation) || (orphansOnly && live.has(job.generation))) continue;
        this.#results.batchError(job, new CodeReplacedError(why).toWire());
        cq.jobs.delete(job.id);
        this.#abandon(job);
        n++;
      }
    }
    if (n > 0) this.dispatch();
    return n;
  }

  /** The chunk each worker runs now: its client, batch, and since when (for status and the share of worker time). */
  *runningChunks(): Iterable<{ worker: W; client: SchedulerClient; batch: number; since: number | undefined }> {
    for (const lane of this.#lanes.values()) {
      const head = lane.head;
      if (head !== undefined && !head.ghost)
        yield { worker: lane.worker, client: head.job.client.client, batch: head.job.id, since: head.headAt };
    }
  }

  /**
   * The client whose chunk `w` runs now, a cancelled one still winding down included: what its
   * tasks ask of the shared state is that client's work (worker-state-link.ts).
   */
  clientOn(w: W): SchedulerClient | undefined {
    return this.#lanes.get(w)?.head?.job.client.client;
  }

  /** A worker is ready for chunks. */
  workerReady(_w: W): void {
    this.dispatch();
  }

  /** A worker's message about a chunk (or about its own leaving). */
  workerMessage(w: W, m: ChunkMessage): void {
    const lane = this.#lanes.of(w);
    if (m.t === 'recycle') {
      // Its exit blames none of its chunks; the restart is charged to the culprit.
      lane.recycle = { culprit: m.culprit ?? (m.lastRan === true ? lane.lastRealm : undefined) };
      this.#pool.leaving?.(w, 'recycle');
      this.#deadlines.killAfterGrace(w, 'recycle'); // it exits by itself; make sure of it
      return;
    }
    // Only the main thread sends chunk messages: one that does is not held (Placement's #unstick).
    if (m.t !== 'withdrawn') {
      lane.stalled = false;
      lane.stalls = 0;
      lane.heard = true;
    }
    const chunk = lane.chunks.find((c) => c.key === m.key);
    if (chunk === undefined) return;
    if (m.t === 'withdrawn') {
      this.#withdrawn(lane, chunk, m.outcome);
      return;
    }
    if (m.t === 'behind') {
      this.#behind(lane, chunk, m.running);
      return;
    }
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
        this.#deadlines.arm(lane, chunk, m.i);
        return;
      case 'part':
        this.#part(lane, chunk, m);
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

  /**
   * The worker answered placement's request to withdraw a chunk waiting on it (Placement.answered);
   * an answer for a chunk it was never asked about (a task wrote it) changes nothing.
   * Withdrawn, it will never run there, whatever became of the request meanwhile (overdue, it may have
   * moved the old way: then its ghost only gives back its slot, as the worker will not answer for it):
   * it comes off, and a copy goes where it was to go or first in its job's queue, with what it was
   * charged (it never ran) carried over. Kept, it runs where it is; the idle worker takes other work.
   */
  #withdrawn(lane: Lane<W>, chunk: Chunk, outcome: WithdrawOutcome): void {
    if (!chunk.withdrawAsked) return;
    const lanes = this.#lanes.current();
    const asHead = this.#placement.askedAsHead(chunk);
    const to = this.#placement.answered(lane, chunk, outcome, lanes);
    // Kept: it had started (a chunk whose worker cannot say so is answered full): it is never moved.
    if (outcome === 'kept' && !chunk.ghost) chunk.begun = true;
    if (outcome === 'withdrawn') {
      // Its head, asked back as such and given back unbegun: its main thread is held (Placement's #unstick); it
      // takes nothing for now. Not a chunk a steal asked for that became the head meanwhile: its worker was free.
      if (asHead) {
        lane.stalled = true;
        lane.stalledAt = this.#clock.now();
        // Counted afresh past DEAF_WINDOW_MS: a worker idle between two short stalls an hour apart is not deaf.
        if (lane.stalls === 0 || lane.stalledAt - lane.firstStallAt > DEAF_WINDOW_MS) {
          lane.stalls = 0;
          lane.firstStallAt = lane.stalledAt;
        }
        lane.stalls++;
        // Not two heads given back at once (a long garbage collection): unheard from across a retry.
        const across = lane.stalledAt - lane.firstStallAt >= STALL_RETRY_MS;
        if (lane.heard && lane.stalls >= DEAF_STALLS && across) this.#deaf(lane);
      }
      // Given back unbegun: it took nothing there (its client was charged ~250 ms a stall behind another app's spin).
      const unrun = this.#release(lane, chunk, false);
      if (!chunk.ghost && chunk.job.live) {
        const copy = this.#mint.successor(chunk, 0);
        this.#fair.prepay(copy, unrun);
        this.#placement.land(copy, to, lanes, this.#clock.now());
      }
      this.#retireIfSpent(lane);
    }
    this.dispatch();
  }

  /** A worker died: its restart is charged, and each of its chunks recovered (recovery.ts); `how` says how (exitText). */
  workerExit(w: W, blameless = false, how?: string): void {
    const lane = this.#lanes.remove(w);
    if (blameless) lane.recycle ??= { culprit: undefined };
    this.#chargeExit(lane);
    const chunks = lane.clear();
    // Requeue in reverse so the front of each job's queue keeps input order.
    for (const died of [...chunks].reverse()) {
      died.timer?.cancel();
      if (!died.job.live) continue;
      this.#recover(died.sent > 0 ? this.#mint.rest(died) : died, lane.recycle !== undefined, how);
    }
    for (const chunk of chunks) this.#forgetIfDone(chunk.job);
    // A batch pinned to old code whose last worker of that code is gone can never run on it again.
    if (this.#pool.generation !== undefined)
      this.failPinned(this.#pool.generation(), 'the last worker running the code this batch started on (before a reload) exited', true);
    this.#checkIdle();
  }

  /** A dead worker's slot is not refilled: no client waits for its restart any more. */
  slotRemoved(slot: number): void {
    this.#fair.slotRemoved(slot);
    this.dispatch(); // a client limited by that restart may take a worker again
  }

  /** Applies the decision table to a chunk of a dead worker. */
  #recover(chunk: Chunk, recycled: boolean, how: string | undefined): void {
    const job = chunk.job;
    const plan = recover({ ...chunk, retries: job.retries, recycled });
    const now = this.#clock.now();
    if (chunk.begun && (plan.requeue === 'itself' || plan.requeue.length > 0)) this.#opts.observer?.chunkRetried(job.client.client);
    if (plan.requeue === 'itself') {
      chunk.begun = false;
      chunk.current = -1;
      chunk.withdrawAsked = false; // a new worker's guard has noted nothing of it
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
      this.#results.error(job, index, crashError(index, plan.crashed.attempts, job.retries, how));
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
      culprit: lane.recycle?.culprit === undefined ? undefined : this.#queues.byRealm(lane.recycle.culprit),
      head: lane.head?.tenant,
      retired: lane.retired,
    });
    if (payer !== undefined) this.#fair.blame(payer, lane.worker.slot, now);
    if (payer !== undefined && lane.worker.reserve === true) this.#placement.reserveKilled(now);
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
    this.#results.error(chunk.job, index, uncaughtError(index, m.error));
    // The worker exits by itself once the report is out; make sure of it.
    this.#pool.leaving?.(lane.worker, 'uncaught');
    this.#deadlines.killAfterGrace(lane.worker, 'uncaught');
  }

  #done(lane: Lane<W>, chunk: Chunk, m: DoneMessage): void {
    // An item of this chunk already has its outcome and the worker is being replaced: its exit requeues the rest.
    if (chunk.failedAt >= 0) return;
    const from = m.from ?? 0;
    if (from !== chunk.sent) return this.#reportsLost(lane);
    const unrun = this.#release(lane, chunk);
    // Cut short (placement.ts asked): the items before `cut` ran, the rest is queued again, first in its job.
    const cut = m.cut;
    const ran = typeof cut === 'number' && Number.isInteger(cut) && cut > from && cut < chunk.count && !m.aborted ? cut : chunk.count;
    lane.chunksDone++;
    lane.lastRealm = chunk.job.client.realm;
    chunk.tenant.served = true;
    lane.tasksDone += ran;
    this.#retireIfSpent(lane);
    const job = chunk.job;
    if (!m.aborted && m.ms > 0) job.itemMs = m.ms / ran;
    if (job.live && !m.aborted) this.#opts.observer?.chunkDone(job.client.client, this.#clock.now() - chunk.placedAt, m.ms, ran);
    if (job.live && !m.aborted) {
      this.#results.results(job, chunk.start + from, ran - from, m);
      if (ran < chunk.count) {
        const rest = this.#mint.successor(chunk, ran);
        this.#fair.prepay(rest, unrun);
        this.#queues.enqueue(rest, true, this.#clock.now());
      }
      this.#forgetIfDone(job);
    }
    this.dispatch();
  }

  /** Results of the first items of a finished chunk too large for one frame; `done` brings the rest. */
  #part(lane: Lane<W>, chunk: Chunk, m: PartMessage): void {
    if (chunk.failedAt >= 0) return;
    if (m.from !== chunk.sent) return this.#reportsLost(lane);
    chunk.timer?.cancel(); // every item has run
    chunk.sent = m.from + m.count;
    const job = chunk.job;
    if (job.live) this.#results.results(job, chunk.start + m.from, m.count, m);
  }

  /**
   * A chunk's results came with a gap before them: a part between was lost on its way (cluster mode: a
   * lender's report trimmed from this daemon's inbox unread). Delivered as they are, the gap's items would
   * have no result ever. The worker is ended through no fault of its chunks: each runs again from its
   * first item without a result, nobody charged.
   */
  #reportsLost(lane: Lane<W>): void {
    lane.recycle ??= { culprit: undefined };
    this.#pool.kill(lane.worker, 'reports lost');
  }

  /**
   * Urgent `chunk` runs after chunk `runningKey`, not where it was placed (BehindMessage): the lane
   * follows the worker's order. Had `chunk` become the head, its deadline is taken off (its item
   * waits, it does not run) and the chunk that does run is timed; cut requests aim at it from now.
   */
  #behind(lane: Lane<W>, chunk: Chunk, runningKey: number): void {
    // Only an urgent chunk not begun can have missed its place (what a task writing to the channel could forge is no more).
    if (!chunk.urgent || chunk.begun) return;
    const running = lane.chunks.find((c) => c.key === runningKey);
    if (running === undefined || !lane.behind(chunk, running)) return;
    chunk.timer?.cancel();
    if (running.timer === undefined) this.#deadlines.arm(lane, running, Math.max(running.current, 0));
    this.dispatch();
  }

  #fail(lane: Lane<W>, chunk: Chunk, m: FailMessage): void {
    this.#release(lane, chunk);
    this.#retireIfSpent(lane);
    const job = chunk.job;
    if (job.live) {
      this.#results.batchError(job, m.error);
      job.client.jobs.delete(job.id);
      this.#abandon(job);
    }
    this.dispatch();
  }

  /** A chunk leaves its worker: charged what it took (returns what it was charged and did not take); the next one starts its deadline. */
  #release(lane: Lane<W>, chunk: Chunk, ran = true): number {
    chunk.timer?.cancel();
    const now = this.#clock.now();
    const unused = this.#fair.settle(chunk, now, ran);
    const second = lane.chunks[1] === chunk;
    const next = lane.remove(chunk, now);
    if (next !== undefined) {
      // An urgent chunk not begun, with a chunk behind it: its worker may have begun that one first (#behind). Timed
      // from its own start, or from that one's end: a CPU-bound one holds the worker from saying so until it ends.
      if (!(next.urgent && !next.begun && lane.chunks.length > 1)) this.#deadlines.arm(lane, next, Math.max(next.current, 0));
    } else if (second) {
      // The chunk that ran before the urgent head ended: the head runs next.
      const head = lane.head!;
      if (head.urgent && !head.begun && head.timer === undefined) this.#deadlines.arm(lane, head, 0);
    }
    this.#checkIdle();
    return unused;
  }

  /**
   * A worker that gave back its head unbegun DEAF_STALLS times in a row, across a retry, never heard from on
   * its channel in between, does not read it: a task broke what the channel's reads go through (EventEmitter.prototype.emit,
   * Readable.prototype.push) or held its main thread without spinning, while the guard thread still answers.
   * It looked idle and took chunks for ever: beside an app that did so on every worker, a neighbour ran on the
   * reserve alone, or hung without one (a hostile review). Replaced, its chunks run again unblamed, the restart
   * charged to the app whose chunk it ran last.
   */
  #deaf(lane: Lane<W>): void {
    lane.recycle ??= { culprit: lane.lastRealm };
    this.#pool.kill(lane.worker, 'deaf');
  }

  /** A worker past maxTasksPerWorker gets no new chunks, and is retired once its pipeline is empty. */
  #retireIfSpent(lane: Lane<W>): void {
    const max = this.#opts.maxTasksPerWorker;
    if (!lane.spent && (max <= 0 || lane.tasksDone < max)) return;
    lane.spent = true;
    if (lane.chunks.length === 0 && !lane.retired) {
      lane.retired = true;
      this.#pool.retire(lane.worker, lane.reloading ? 'reload' : 'retired');
    }
  }

  /** A job whose last chunk has arrived and whose work is all delivered needs no `batch.close`. */
  #forgetIfDone(job: Job): void {
    if (!job.final || !job.live || job.held !== undefined || job.queue.length > 0 || job.running.size > 0) return;
    job.live = false;
    job.client.jobs.delete(job.id);
  }

  /** Stops a job: queued chunks dropped now, running ones aborted and killed after a grace. */
  #abandon(job: Job): void {
    job.live = false;
    this.#unhold(job);
    this.#queues.drop(job);
    for (const lane of this.#lanes.values()) {
      let running: Chunk | undefined;
      lane.chunks.forEach((chunk, i) => {
        if (chunk.job !== job || chunk.ghost) return;
        chunk.timer?.cancel();
        // A chunk not started yet is dropped by the worker when it gets there (its signal is aborted).
        // An abort that cannot be delivered: the worker is killed, as for any send it refuses (worker-pool.ts).
        if (!this.#pool.send(lane.worker, { t: 'abort', key: chunk.key })) this.#pool.kill(lane.worker, 'cancel');
        else if (i === 0) running = chunk;
      });
      if (running === undefined) continue;
      const chunk = running;
      // The abort is read only once the running chunk yields: a chunk of synchronous items runs whole first (up to a
      // lone client's 500 ms). Asked on the guard socket too, it stops after the item it runs (cut-signal.ts). Asked
      // only once every abort of the lane is on the channel: cut at once, the worker would start the lane's next chunk
      // of this batch before its abort was sent, and run it whole (1 run in 5 of chunk-cut.test's leaving client).
      if (this.#pool.cut !== undefined && chunk.cutAskedAt === -Infinity) {
        chunk.cutAskedAt = this.#clock.now();
        this.#pool.cut(lane.worker, 0);
      }
      this.#deadlines.killAfterGrace(lane.worker, 'cancel', () => !lane.chunks.includes(chunk));
    }
  }

  /** Takes the chunks held for the job's task module off its client's counts (and off the job: a cancelled one's go now). */
  #unhold(job: Job): Chunk[] {
    job.unwait?.();
    const held = job.held ?? [];
    if (held.length === 0) return held;
    job.held = [];
    for (const chunk of held) {
      job.client.heldChunks--;
      job.client.heldBytes -= chunk.payload.length;
    }
    return held;
  }

  #checkIdle(): void {
    if (this.#idle.length > 0 && this.running() === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }
}
