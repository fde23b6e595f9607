/**
 * The scheduler: queues each client's chunks and hands them to free workers,
 * to the client owed the most worker time (fair-share.ts; round-robin across
 * a client's batches), so a small batch never waits behind another app's
 * million items, nor behind an app whose items keep killing workers. It also
 * owns the failure rules: a dead worker's chunks are retried (split down until
 * only the item that kills workers fails), an item past its timeout kills its
 * worker (the deadline runs from when its chunk becomes its worker's running
 * one, whether or not the worker ever reports the item started), and a
 * cancelled batch's running chunks get a grace period, then a kill.
 * Payloads stay opaque bytes: a split only narrows a chunk's [offset, count).
 *
 * Work stealing: a chunk is not queued behind a worker's chunk that has run
 * longer than STEAL_AFTER_MS, and one already waiting there moves to a worker
 * that goes idle. The old worker is told to skip it; if it had started it
 * anyway, its copy (a "ghost") still holds its pipeline slot until it answers,
 * but its results and failures are ignored: an item is delivered once.
 *
 * Results leave while the client reads (below its send high-water mark); the
 * rest wait here, so a chunk whose results come in several parts (each within
 * a frame) never piles up past the connection's hard cap.
 *
 * Long because placement, stealing, retries and timeouts all move the same
 * chunks between the same queues; what stands apart is elsewhere: the
 * accounts of fair sharing (fair-share.ts), the check of task hashes
 * (verified-sources.ts).
 */
import {
  CANCEL_GRACE_MS,
  ErrorCode,
  STEAL_AFTER_MS,
  SOLO_CHUNK_TARGET_MS,
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
  type ServerMessage,
  type TaskSpec,
  type WireError,
} from '@corepool/protocol';
import type { DoneMessage, FailMessage, PartMessage, RecycleMessage, StartedMessage, UncaughtMessage } from '../ipc.js';

type ChunkMessage = StartedMessage | PartMessage | DoneMessage | FailMessage | UncaughtMessage | RecycleMessage;
import type { Supervisor, WorkerSlot } from './supervisor.js';
import { FairShare, UNMEASURED_CHUNK_MS, type Tenant } from './fair-share.js';
import { VerifiedSources } from './verified-sources.js';

/** What the scheduler needs from a connection. */
export interface SchedulerClient {
  readonly id: number;
  send(m: ServerMessage): void;
  /** False while the client's send buffer is above its high-water mark. */
  canReceive(): boolean;
}

interface Chunk {
  readonly key: number;
  readonly batch: Batch;
  /** Its batch's client, charged for the worker time it takes. */
  readonly tenant: ClientQueue;
  /** Virtual time charged for it while a worker holds it (fair-share.ts). */
  charged: number;
  readonly payload: Uint8Array;
  readonly offset: number;
  readonly count: number;
  /** Input index of the chunk's first item. */
  readonly start: number;
  /** Crashes while this (single-item) chunk ran. */
  attempts: number;
  /** Worker deaths this chunk's items lived through before the culprit was known. */
  crashes: number;
  /** The worker reports each item as it starts, so a crash names the item (after a first, anonymous crash). */
  tracked: boolean;
  worker?: WorkerSlot | undefined;
  begun: boolean;
  /** Sent ahead of the worker's prefetched chunks (a newcomer's first chunk). */
  urgent?: boolean;
  /** When it became the first chunk of its worker (roughly when it started running); 0 while it waits. */
  headAt: number;
  /** Moved to another worker: this copy only holds its old worker's slot until the worker answers for it. */
  ghost: boolean;
  /** Index (within the chunk) of the item running, for timed batches. */
  current: number;
  /** Item (within the chunk) whose outcome was already delivered (timeout, uncaught exception); its worker is being replaced. */
  failedAt: number;
  /** Items (from the first) whose results came in parts: every item had run, and these are delivered. */
  sent: number;
  timer?: NodeJS.Timeout;
}

/** A chunk expected to run this long is long from its start: 1.5x the longest chunk a client sizes (SOLO_CHUNK_TARGET_MS). */
const LONG_EXPECTED_MS = 1.5 * SOLO_CHUNK_TARGET_MS;
/** A running chunk is long once it has run this many times its expected time (and STEAL_AFTER_MS). */
const LONG_AFTER_EXPECTED = 1.5;

interface Batch {
  readonly id: number;
  readonly client: ClientQueue;
  readonly task: TaskSpec;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly queue: Chunk[];
  readonly running: Set<Chunk>;
  live: boolean;
  /** Mean run time of one item, from the last chunk done (0 until one is). */
  itemMs: number;
  /** The client sent its last chunk: the batch is forgotten once nothing is queued or running. */
  final: boolean;
}

interface ClientQueue extends Tenant {
  readonly client: SchedulerClient;
  readonly batches: Map<number, Batch>;
  /** Batches with queued chunks, served round-robin. */
  readonly ready: Batch[];
  rr: number;
  active: boolean;
  queuedChunks: number;
  queuedBytes: number;
  /** Results waiting for the client to read (its send buffer is above the high-water mark). */
  readonly held: ChunkResult[];
}

export interface SchedulerOptions {
  /** Chunks a worker holds at once: one running, the rest waiting in its pipe. */
  pipelineDepth: number;
  /** Most chunks a client may have queued in the daemon. */
  maxQueuedChunks: number;
  /** Most bytes of items a client may have queued in the daemon. */
  maxQueuedBytes: number;
  /** Replace a worker after it has run this many items; 0: never. */
  maxTasksPerWorker: number;
  /** Called when a worker dies, so its shared-state locks are released. */
  onWorkerGone(w: WorkerSlot): void;
}

const UNDEFINED_RESULT = encodeCheckedData([undefined]);

/** Round-robin chunk scheduler over the supervisor's workers. */
export class Scheduler {
  readonly #sup: Supervisor;
  readonly #opts: SchedulerOptions;
  readonly #clients = new Map<number, ClientQueue>();
  readonly #active: ClientQueue[] = [];
  readonly #fair = new FairShare<ClientQueue>({
    heads: () => this.#heads(),
    holds: (cq) => this.#runningOf(cq),
  });
  readonly #sources = new VerifiedSources();
  #nextKey = 1;
  #retryTimer: NodeJS.Timeout | undefined;
  #stealTimer: NodeJS.Timeout | undefined;
  #heldTimer: NodeJS.Timeout | undefined;
  /** Workers that said they exit for a reason none of their chunks caused (RecycleMessage). */
  /** Workers leaving on their own without blame for their chunks, with the client whose task made them (if known). */
  readonly #recycling = new Map<WorkerSlot, number | undefined>();
  /** Clients with results held back. */
  readonly #holding = new Set<ClientQueue>();
  #accepting = true;
  /** Items whose result (or error) was delivered since start. */
  itemsDone = 0;

  constructor(sup: Supervisor, opts: SchedulerOptions) {
    this.#sup = sup;
    this.#opts = opts;
  }

  /** Number of worker slots. */
  workerCount(): number {
    return this.#sup.workers.length;
  }

  /** Stops taking new batches and starting queued chunks (graceful stop); running ones finish. */
  stopAccepting(): void {
    this.#accepting = false;
    // Connections close once running chunks finish: results go out now, not when clients read.
    this.#flushHeld();
  }

  /** Chunks currently held by workers. */
  running(): number {
    let n = 0;
    for (const w of this.#sup.workers) n += w.assigned.length;
    return n;
  }

  /** Starts a batch for a client; returns an error if it cannot. */
  open(client: SchedulerClient, m: BatchOpen): CorepoolError | undefined {
    if (!this.#accepting) return new ShuttingDownError('the daemon is stopping and accepts no new batches');
    const cq = this.#queueOf(client);
    if (cq.batches.has(m.id)) return new BadMessageError(`batch ${m.id} is already open`);
    if (cq.batches.size >= MAX_OPEN_BATCHES) {
      return new LimitError(`client has ${cq.batches.size} batches open, the limit of ${MAX_OPEN_BATCHES} open batches per client: let one finish first`);
    }
    const task = this.#sources.check(m.task);
    if (task instanceof Error) return task;
    cq.batches.set(m.id, {
      id: m.id, client: cq, task, timeoutMs: m.timeoutMs, retries: m.retries,
      queue: [], running: new Set(), live: true, final: false, itemMs: 0,
    });
    return undefined;
  }

  /** Queues a chunk of items; returns an error if the batch is unknown or the client is over its limits. */
  add(client: SchedulerClient, m: BatchChunk): CorepoolError | undefined {
    const cq = this.#clients.get(client.id);
    const batch = cq?.batches.get(m.id);
    if (cq === undefined || batch === undefined) return undefined; // cancelled or closed: late chunks are dropped
    if (cq.queuedChunks >= this.#opts.maxQueuedChunks || cq.queuedBytes + m.payload.length > this.#opts.maxQueuedBytes) {
      return new FlowControlError(
        `client has ${cq.queuedChunks} chunks (${cq.queuedBytes} bytes) queued, over the limit of ${this.#opts.maxQueuedChunks} chunks / ${this.#opts.maxQueuedBytes} bytes`,
      );
    }
    this.#enqueue(batch, this.#chunk(batch, m.payload, 0, m.count, m.start), false);
    if (m.final === true) batch.final = true;
    this.dispatch();
    return undefined;
  }

  /** Drops a batch's queued chunks and abandons its running ones. */
  cancel(client: SchedulerClient, id: number): void {
    const cq = this.#clients.get(client.id);
    const batch = cq?.batches.get(id);
    if (cq === undefined || batch === undefined) return;
    cq.batches.delete(id);
    this.#abandon(batch);
    if (cq.held.length > 0) {
      const keep = cq.held.filter((m) => m.id !== id);
      cq.held.length = 0;
      cq.held.push(...keep);
    }
  }

  /** The client has what it needs from the batch. */
  close(client: SchedulerClient, id: number): void {
    this.cancel(client, id);
  }

  /** A client disconnected: forget all of its work. */
  dropClient(client: SchedulerClient): void {
    const cq = this.#clients.get(client.id);
    if (cq === undefined) return;
    for (const batch of cq.batches.values()) this.#abandon(batch);
    cq.batches.clear();
    this.#clients.delete(client.id);
    this.#deactivate(cq);
    cq.held.length = 0;
    this.#holding.delete(cq);
  }

  /** Hands queued chunks to workers with free pipeline slots, then lets idle workers steal. */
  dispatch(): void {
    if (!this.#accepting) return;
    const workers = this.#sup.workers;
    const now = performance.now();
    for (const slot of this.#fair.refilling()) {
      if (workers.some((w) => w.slot === slot && w.ready && !w.dead)) this.#fair.ready(slot, now);
    }
    if (this.#fill(workers, now)) this.#admitNewcomer(workers, now);
    this.#steal(workers, now);
  }

  /** Fills free slots from the queues; false once nothing more can be taken. */
  #fill(workers: WorkerSlot[], now: number): boolean {
    for (let depth = 1; depth <= this.#opts.pipelineDepth; depth++) {
      for (const w of workers) {
        // Behind a chunk that already runs long, a chunk would wait while another worker may free first.
        if (depth > 1 && this.#longHead(w, now)) continue;
        while (w.ready && !w.dead && w.assigned.length < depth) {
          const chunk = this.#next(now);
          if (chunk === undefined) return false;
          this.#assign(w, chunk, false);
        }
      }
    }
    return true;
  }

  /**
   * Every slot is taken, and a client with nothing running has work queued: its
   * first chunk goes straight behind a running chunk, ahead of the prefetched
   * ones, so a newcomer waits for one chunk at most, not a full pipeline.
   */
  #admitNewcomer(workers: WorkerSlot[], now: number): void {
    if (this.#opts.pipelineDepth < 2) return;
    for (const cq of this.#active) {
      if (!cq.client.canReceive() || this.#runningOf(cq) > 0 || !this.#fair.owed(cq, this.#active, now)) continue;
      const full = workers.filter((x) => x.ready && !x.dead && x.assigned.length === this.#opts.pipelineDepth && !(x.assigned as Chunk[]).some((c) => c.urgent));
      // Behind the running chunk that should end first: the oldest one not yet long (a long one may run on and on; stealing rescues a chunk left behind it).
      let w: WorkerSlot | undefined;
      for (const x of full) if (!this.#longHead(x, now) && (w === undefined || (x.assigned[0] as Chunk).headAt < (w.assigned[0] as Chunk).headAt)) w = x;
      w ??= full[0];
      if (w === undefined) return;
      const chunk = this.#takeFrom(cq);
      chunk.urgent = true;
      this.#assign(w, chunk, true);
    }
  }

  /**
   * An idle worker takes the chunk waiting behind another worker's long-running
   * one (the next one that worker would start), as a fresh copy; the old
   * worker is told to skip its copy. A chunk waiting behind a chunk that is not
   * long yet is looked at again when it becomes so.
   */
  #steal(workers: WorkerSlot[], now: number): void {
    let soonest = Infinity;
    for (const idle of workers) {
      if (!idle.ready || idle.dead || idle.assigned.length > 0) continue;
      let victim: WorkerSlot | undefined;
      let at = -1;
      let oldest = Infinity;
      for (const v of workers) {
        if (v === idle || v.dead) continue;
        const assigned = v.assigned as Chunk[];
        const i = assigned.findIndex((c, k) => k > 0 && !c.ghost && c.batch.live); // a cancelled batch's chunks are being dropped
        if (i < 0) continue;
        const since = assigned[0]!.headAt;
        if (now - since < STEAL_AFTER_MS) {
          soonest = Math.min(soonest, since + STEAL_AFTER_MS - now);
        } else if (since < oldest) {
          oldest = since;
          victim = v;
          at = i;
        }
      }
      if (victim === undefined) continue;
      const old = (victim.assigned as Chunk[])[at]!;
      old.ghost = true;
      old.urgent = false;
      old.batch.running.delete(old);
      this.#sup.send(victim, { t: 'abort', key: old.key });
      this.#assign(idle, this.#successor(old, 0), false);
    }
    if (soonest < Infinity && this.#stealTimer === undefined) {
      this.#stealTimer = setTimeout(() => {
        this.#stealTimer = undefined;
        this.dispatch();
      }, Math.ceil(soonest) + 1);
      this.#stealTimer.unref();
    }
  }

  /**
   * True when the worker's first chunk has run longer than STEAL_AFTER_MS and
   * longer than its batch's measured item cost says it should: a 100 ms chunk
   * of 1 ms items is not stuck at 60 ms, and keeping a second chunk behind it
   * saves the round trip between chunks (1% of efficiency at 10,000 x 1 ms).
   * A chunk measured to take longer than any sized chunk should (items that
   * each run 200 ms, beside which another app's chunk would wait until stolen)
   * is long from its start: the round trip saved behind it is under 0.3%.
   */
  #longHead(w: WorkerSlot, now: number): boolean {
    const head = w.assigned[0] as Chunk | undefined;
    if (head === undefined) return false;
    const expected = head.count * head.batch.itemMs;
    if (expected >= LONG_EXPECTED_MS) return true;
    const ran = now - head.headAt;
    return ran >= STEAL_AFTER_MS && ran >= LONG_AFTER_EXPECTED * expected;
  }

  #runningOf(cq: ClientQueue): number {
    let n = 0;
    for (const b of cq.batches.values()) n += b.running.size;
    return n;
  }

  /** The chunk each worker runs now. */
  *#heads(): Iterable<Chunk> {
    for (const w of this.#sup.workers) {
      const head = w.assigned[0] as Chunk | undefined;
      if (head !== undefined) yield head;
    }
  }

  /** A worker message about a chunk. */
  onWorkerMessage(w: WorkerSlot, m: ChunkMessage): void {
    if (m.t === 'recycle') {
      this.#recycling.set(w, m.culprit); // its exit blames none of its chunks; the restart is charged to the culprit
      setTimeout(() => this.#sup.kill(w), CANCEL_GRACE_MS).unref(); // it exits by itself; make sure of it
      return;
    }
    const chunk = w.assigned.find((c) => c.key === m.key) as Chunk | undefined;
    if (chunk === undefined) return;
    if (chunk.ghost) {
      // Its copy on another worker owns the items: this one only gives back its slot (parts included).
      if (m.t === 'done' || m.t === 'fail') {
        this.#release(w, chunk);
        this.#retireIfSpent(w);
        this.dispatch();
      }
      return;
    }
    switch (m.t) {
      case 'started':
        this.#startTimer(w, chunk, m.i);
        return;
      case 'part':
        this.#part(chunk, m);
        return;
      case 'done':
        this.#done(w, chunk, m);
        return;
      case 'fail':
        this.#fail(w, chunk, m);
        return;
      case 'uncaught':
        this.#uncaught(w, chunk, m);
        return;
    }
  }

  /** A worker died: retry, split or fail each of its chunks. */
  onWorkerExit(w: WorkerSlot): void {
    const recycled = this.#recycling.has(w);
    this.#chargeExit(w);
    this.#recycling.delete(w);
    // Ghosts belong to their copies elsewhere: nothing to retry or blame.
    const chunks = (w.assigned.splice(0) as Chunk[]).filter((c, i) => {
      // The worker runs its chunks in order: only the first one had begun (behind a ghost, maybe not: no blame).
      if (i === 0 && !c.ghost) c.begun = true;
      return !c.ghost;
    });
    this.#opts.onWorkerGone(w);
    // Requeue in reverse so the front of each batch's queue keeps input order.
    for (const died of chunks.reverse()) {
      clearTimeout(died.timer);
      died.worker = undefined;
      const batch = died.batch;
      batch.running.delete(died);
      if (!batch.live) continue;
      const chunk = died.sent > 0 ? this.#rest(died) : died;
      if (recycled) {
        chunk.begun = false;
        chunk.current = -1;
      }
      if (chunk.failedAt >= 0) {
        this.#requeuePieces(chunk, chunk.failedAt, false);
      } else if (!chunk.begun) {
        this.#enqueue(batch, chunk, true);
      } else if (chunk.current >= 0) {
        this.#requeuePieces(chunk, chunk.current, true);
      } else if (chunk.count > 1 && !chunk.tracked) {
        // Which item was running is unknown: run the chunk again, reporting each item as it starts,
        // so a poison item is named by its second death (worker deaths = retries + 1, not log2(chunk) more).
        const again = this.#chunk(batch, chunk.payload, chunk.offset, chunk.count, chunk.start);
        again.tracked = true;
        again.crashes = chunk.crashes + 1;
        this.#enqueue(batch, again, true);
      } else if (chunk.count > 1) {
        // Died before its first item started even though tracked: split it.
        const half = Math.ceil(chunk.count / 2);
        for (const [off, count] of [[half, chunk.count - half], [0, half]] as const) {
          const piece = this.#chunk(batch, chunk.payload, chunk.offset + off, count, chunk.start + off);
          piece.tracked = true;
          this.#enqueue(batch, piece, true);
        }
      } else {
        this.#crashed(chunk);
      }
    }
    for (const chunk of chunks) this.#forgetIfDone(chunk.batch);
  }

  /**
   * A dead worker's chunks are charged what they took, and the client whose
   * chunk it was running (crash, timeout, cancel, memory limit) is charged its
   * replacement. A worker retired on purpose is nobody's fault.
   */
  #chargeExit(w: WorkerSlot): void {
    const now = performance.now();
    const head = w.assigned[0] as Chunk | undefined;
    for (const c of w.assigned as Chunk[]) {
      clearTimeout(c.timer);
      this.#fair.settle(c, now);
    }
    if (this.#recycling.has(w)) {
      const culprit = this.#clients.get(this.#recycling.get(w) ?? -1);
      if (culprit !== undefined) this.#fair.blame(culprit, w.slot, now);
    } else if (head !== undefined && w.killedFor !== 'retired') {
      this.#fair.blame(head.tenant, w.slot, now);
    }
  }

  /** Queue figures for `daemon status`. */
  stats(): { queuedItems: number; runningItems: number; perClient: Map<number, { batches: number; queuedChunks: number; runningChunks: number }> } {
    let queuedItems = 0;
    let runningItems = 0;
    const perClient = new Map<number, { batches: number; queuedChunks: number; runningChunks: number }>();
    for (const cq of this.#clients.values()) {
      let running = 0;
      for (const b of cq.batches.values()) {
        for (const c of b.queue) queuedItems += c.count;
        for (const c of b.running) runningItems += c.count;
        running += b.running.size;
      }
      perClient.set(cq.client.id, { batches: cq.batches.size, queuedChunks: cq.queuedChunks, runningChunks: running });
    }
    return { queuedItems, runningItems, perClient };
  }

  #queueOf(client: SchedulerClient): ClientQueue {
    let cq = this.#clients.get(client.id);
    if (cq === undefined) {
      cq = { client, batches: new Map(), ready: [], rr: 0, active: false, queuedChunks: 0, queuedBytes: 0, held: [], vtime: 0, killedAt: -Infinity, restarting: 0 };
      this.#clients.set(client.id, cq);
    }
    return cq;
  }

  #chunk(batch: Batch, payload: Uint8Array, offset: number, count: number, start: number): Chunk {
    return {
      key: this.#nextKey++, batch, tenant: batch.client, charged: 0, payload, offset, count, start, attempts: 0, crashes: 0, tracked: false, begun: false,
      current: -1, failedAt: -1, sent: 0, headAt: 0, ghost: false,
    };
  }

  /** A fresh chunk (new key) for `chunk`'s items from `from` on, carrying its crash history. */
  #successor(chunk: Chunk, from: number): Chunk {
    const next = this.#chunk(chunk.batch, chunk.payload, chunk.offset + from, chunk.count - from, chunk.start + from);
    next.attempts = chunk.attempts;
    next.crashes = chunk.crashes;
    next.tracked = chunk.tracked;
    return next;
  }

  /** What is left of a chunk whose worker died after delivering its first items in parts (the rest had run too). */
  #rest(chunk: Chunk): Chunk {
    const n = chunk.sent;
    const rest = this.#successor(chunk, n);
    rest.begun = true;
    rest.current = chunk.current >= n ? chunk.current - n : -1;
    rest.failedAt = chunk.failedAt >= n ? chunk.failedAt - n : -1;
    return rest;
  }

  #enqueue(batch: Batch, chunk: Chunk, front: boolean): void {
    const cq = batch.client;
    if (front) batch.queue.unshift(chunk);
    else batch.queue.push(chunk);
    cq.queuedChunks++;
    cq.queuedBytes += chunk.payload.length;
    if (batch.queue.length === 1) cq.ready.push(batch);
    if (!cq.active) {
      this.#fair.enter(cq, this.#active, performance.now());
      cq.active = true;
      this.#active.push(cq);
    }
  }

  #next(now: number): Chunk | undefined {
    let skipped = false;
    const cq = this.#fair.pick(this.#active, now, (c) => c.client.canReceive() || !(skipped = true));
    if (cq !== undefined) return this.#takeFrom(cq);
    // A client over its send high-water mark is skipped; look again once it may have drained.
    if (skipped && this.#retryTimer === undefined) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.dispatch();
      }, 5);
    }
    return undefined;
  }

  /** The next chunk of an active client, round-robin over its batches. */
  #takeFrom(cq: ClientQueue): Chunk {
    const batch = cq.ready[cq.rr++ % cq.ready.length]!;
    const chunk = batch.queue.shift()!;
    cq.queuedChunks--;
    cq.queuedBytes -= chunk.payload.length;
    if (batch.queue.length === 0) cq.ready.splice(cq.ready.indexOf(batch), 1);
    if (cq.ready.length === 0) this.#deactivate(cq);
    return chunk;
  }

  #deactivate(cq: ClientQueue): void {
    if (!cq.active) return;
    cq.active = false;
    const i = this.#active.indexOf(cq);
    if (i >= 0) this.#active.splice(i, 1);
    cq.ready.length = 0;
  }

  #assign(w: WorkerSlot, chunk: Chunk, urgent: boolean): void {
    const batch = chunk.batch;
    chunk.worker = w;
    chunk.headAt = w.assigned.length === 0 ? performance.now() : 0;
    // An urgent chunk runs right after the one running now (the worker puts it first in its queue).
    if (urgent) (w.assigned as Chunk[]).splice(1, 0, chunk);
    else (w.assigned as Chunk[]).push(chunk);
    batch.running.add(chunk);
    this.#fair.charge(chunk, batch.itemMs > 0 ? chunk.count * batch.itemMs : UNMEASURED_CHUNK_MS);
    let task = batch.task;
    if (task.kind === 'source') {
      // Touched on every run message, as the worker does on receipt (source-lru.ts).
      if (w.knownTasks.touch(task.hash)) task = { kind: 'source', hash: task.hash, source: '' };
      else w.knownTasks.set(task.hash, task.source.length, undefined);
    }
    const sent = this.#sup.send(w, {
      t: 'run', key: chunk.key, task, payload: chunk.payload, offset: chunk.offset, count: chunk.count,
      start: chunk.start, timed: batch.timeoutMs > 0 || chunk.tracked, urgent, realm: batch.client.client.id,
    });
    if (!sent) this.#sup.kill(w); // its exit requeues the chunk
    else if (chunk.headAt > 0) this.#arm(w, chunk, 0);
  }

  #startTimer(w: WorkerSlot, chunk: Chunk, i: number): void {
    chunk.begun = true;
    chunk.current = i;
    this.#arm(w, chunk, i);
  }

  /**
   * Arms the deadline of item `i`: when its chunk becomes its worker's running
   * one (for its first item), and again as each item starts. A worker that
   * never gets to the item (stopped, spinning in a timer another task left,
   * stuck between items) misses it just the same: the item fails and the
   * worker is replaced.
   */
  #arm(w: WorkerSlot, chunk: Chunk, i: number): void {
    clearTimeout(chunk.timer);
    const timeoutMs = chunk.batch.timeoutMs;
    if (timeoutMs === 0) return; // tracked only, to name the item a crash belongs to
    chunk.timer = setTimeout(() => {
      // A ghost's items belong to its copy: its worker is only stuck.
      if (!chunk.ghost) {
        const index = chunk.start + i;
        chunk.failedAt = i;
        this.#deliverError(chunk.batch, index, {
          code: ErrorCode.E_TIMEOUT, index, timeoutMs,
          message: `item ${index} ran longer than its timeout of ${timeoutMs} ms; its worker was replaced`,
        });
      }
      this.#sup.kill(w);
    }, timeoutMs);
  }

  /**
   * A task's async callback threw: the item that was running fails with a
   * TaskError (no retry: it is the task's own error, not a crash), and the
   * worker, whose state can no longer be trusted, exits and is replaced.
   * The chunk's other items are rerun when its exit is handled.
   */
  #uncaught(w: WorkerSlot, chunk: Chunk, m: UncaughtMessage): void {
    if (m.i === undefined || chunk.failedAt >= 0) return;
    clearTimeout(chunk.timer);
    chunk.failedAt = m.i;
    const index = chunk.start + m.i;
    this.#deliverError(chunk.batch, index, {
      ...m.error, code: ErrorCode.E_TASK_FAILED, index,
      message: `uncaught exception in an async callback while item ${index} ran (its worker was replaced): ${m.error.message}`,
    });
    // The worker exits by itself once the report is out; make sure of it.
    setTimeout(() => this.#sup.kill(w), CANCEL_GRACE_MS).unref();
  }

  #done(w: WorkerSlot, chunk: Chunk, m: DoneMessage): void {
    // An item of this chunk already has its outcome and the worker is being replaced: its exit requeues the rest.
    if (chunk.failedAt >= 0) return;
    this.#release(w, chunk);
    w.chunksDone++;
    w.tasksDone += chunk.count;
    this.#retireIfSpent(w);
    const batch = chunk.batch;
    if (!m.aborted && m.ms > 0) batch.itemMs = m.ms / chunk.count;
    if (batch.live && !m.aborted) {
      const from = m.from ?? 0;
      this.itemsDone += chunk.count - from;
      this.#sendResult(batch.client, {
        type: 'chunk.result', id: batch.id, start: chunk.start + from, count: chunk.count - from, payload: m.payload, errors: m.errors, ms: m.ms,
        load: this.#load(batch.client),
      });
      this.#forgetIfDone(batch);
    }
    this.dispatch();
  }

  /** Results of the first items of a finished chunk too large for one frame; `done` brings the rest. */
  #part(chunk: Chunk, m: PartMessage): void {
    if (chunk.failedAt >= 0) return;
    clearTimeout(chunk.timer); // every item has run
    chunk.sent = m.from + m.count;
    const batch = chunk.batch;
    if (!batch.live) return;
    this.itemsDone += m.count;
    this.#sendResult(batch.client, {
      type: 'chunk.result', id: batch.id, start: chunk.start + m.from, count: m.count, payload: m.payload, errors: m.errors, ms: m.ms,
      load: this.#load(batch.client),
    });
  }

  /** Sends a result now if the client reads, else holds it (in order) until it does. */
  #sendResult(cq: ClientQueue, m: ChunkResult): void {
    if ((cq.held.length === 0 && cq.client.canReceive()) || !this.#accepting) {
      cq.client.send(m);
      return;
    }
    cq.held.push(m);
    this.#holding.add(cq);
    this.#heldTimer ??= setTimeout(() => this.#flushHeld(), 5);
  }

  #flushHeld(): void {
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
    for (const cq of this.#holding) {
      while (cq.held.length > 0 && (cq.client.canReceive() || !this.#accepting)) cq.client.send(cq.held.shift()!);
      if (cq.held.length === 0) this.#holding.delete(cq);
    }
    // The session has no drain event for us: look again shortly.
    if (this.#holding.size > 0) this.#heldTimer = setTimeout(() => this.#flushHeld(), 5);
  }

  /** A worker past maxTasksPerWorker gets no new chunks, and is retired once its pipeline is empty. */
  #retireIfSpent(w: WorkerSlot): void {
    const max = this.#opts.maxTasksPerWorker;
    if (max <= 0 || w.tasksDone < max) return;
    w.ready = false;
    if (w.assigned.length === 0) this.#sup.retire(w);
  }

  /** Clients competing for the workers, as this client sees it (itself included). */
  #load(cq: ClientQueue): number {
    return this.#active.length + (cq.active ? 0 : 1);
  }

  /** A batch whose last chunk has arrived and whose work is all delivered needs no `batch.close`. */
  #forgetIfDone(batch: Batch): void {
    if (!batch.final || !batch.live || batch.queue.length > 0 || batch.running.size > 0) return;
    batch.live = false;
    batch.client.batches.delete(batch.id);
  }

  #fail(w: WorkerSlot, chunk: Chunk, m: FailMessage): void {
    this.#release(w, chunk);
    const batch = chunk.batch;
    if (batch.live) {
      batch.client.client.send({ type: 'batch.error', id: batch.id, error: m.error });
      batch.client.batches.delete(batch.id);
      this.#abandon(batch);
    }
    this.dispatch();
  }

  #release(w: WorkerSlot, chunk: Chunk): void {
    clearTimeout(chunk.timer);
    const now = performance.now();
    this.#fair.settle(chunk, now);
    const i = w.assigned.indexOf(chunk);
    if (i >= 0) w.assigned.splice(i, 1);
    const head = w.assigned[0] as Chunk | undefined;
    if (i === 0 && head !== undefined) {
      head.headAt = now;
      this.#arm(w, head, Math.max(head.current, 0));
    }
    chunk.batch.running.delete(chunk);
    chunk.worker = undefined;
  }

  /** Requeues a chunk's items around item `i`; `blame` counts a crash against item i, else i already has its outcome. */
  #requeuePieces(chunk: Chunk, i: number, blame: boolean): void {
    const batch = chunk.batch;
    if (i + 1 < chunk.count) {
      this.#enqueue(batch, this.#chunk(batch, chunk.payload, chunk.offset + i + 1, chunk.count - i - 1, chunk.start + i + 1), true);
    }
    if (blame) {
      const single = this.#chunk(batch, chunk.payload, chunk.offset + i, 1, chunk.start + i);
      // The deaths the item's chunk lived through before the item was named count as its attempts.
      single.attempts = chunk.count === 1 ? chunk.attempts : chunk.crashes;
      this.#crashed(single);
    }
    if (i > 0) this.#enqueue(batch, this.#chunk(batch, chunk.payload, chunk.offset, i, chunk.start), true);
  }

  /** A single-item chunk whose worker died while running it. */
  #crashed(chunk: Chunk): void {
    chunk.attempts++;
    if (chunk.attempts > chunk.batch.retries) {
      const index = chunk.start;
      this.#deliverError(chunk.batch, index, {
        code: ErrorCode.E_WORKER_CRASHED, index, attempts: chunk.attempts,
        message: `item ${index} crashed its worker ${chunk.attempts} time${chunk.attempts === 1 ? '' : 's'} (retries: ${chunk.batch.retries})`,
      });
      return;
    }
    const retry = this.#chunk(chunk.batch, chunk.payload, chunk.offset, 1, chunk.start);
    retry.attempts = chunk.attempts;
    this.#enqueue(chunk.batch, retry, true);
  }

  #deliverError(batch: Batch, index: number, error: WireError): void {
    if (!batch.live) return;
    this.itemsDone++;
    this.#sendResult(batch.client, { type: 'chunk.result', id: batch.id, start: index, count: 1, payload: UNDEFINED_RESULT, errors: [error], ms: 0 });
  }

  /** Stops a batch: queued chunks dropped now, running ones aborted and killed after a grace. */
  #abandon(batch: Batch): void {
    batch.live = false;
    const cq = batch.client;
    for (const c of batch.queue) {
      cq.queuedChunks--;
      cq.queuedBytes -= c.payload.length;
    }
    batch.queue.length = 0;
    const r = cq.ready.indexOf(batch);
    if (r >= 0) cq.ready.splice(r, 1);
    if (cq.ready.length === 0) this.#deactivate(cq);
    for (const chunk of batch.running) {
      const w = chunk.worker;
      if (w === undefined) continue;
      clearTimeout(chunk.timer);
      if (w.assigned[0] !== chunk) continue; // not started: the worker drops it when it gets there (its signal is aborted)
      this.#sup.send(w, { t: 'abort', key: chunk.key });
      const timer = setTimeout(() => {
        if (chunk.worker === w && w.assigned.includes(chunk)) this.#sup.kill(w);
      }, CANCEL_GRACE_MS);
      timer.unref();
    }
    for (const chunk of batch.running) {
      if (chunk.worker !== undefined && chunk.worker.assigned[0] !== chunk) this.#sup.send(chunk.worker, { t: 'abort', key: chunk.key });
    }
  }
}
