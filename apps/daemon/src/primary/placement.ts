/**
 * Placement: which worker takes which chunk. Free pipeline slots are filled
 * from the client queues, depth by depth across the workers; once every slot
 * is taken, a client with nothing running gets its first chunk placed right
 * behind a running one (newcomer admission), so it waits for one chunk at
 * most, not a full pipeline; and where the pool can, that chunk's worker is
 * asked to cut it short (WorkerPool.cut), so it waits for one item.
 *
 * Work stealing: a chunk is not queued behind a worker's chunk that has run
 * longer than STEAL_AFTER_MS, and one already waiting there moves to a worker
 * that goes idle. It moves only once its worker says it will not run it
 * (WorkerPool.withdraw, answered by the worker's guard thread in well under a
 * millisecond even while a task runs): a chunk is never run by two workers, so
 * a task's side effects (a shared counter's add) happen once. The idle worker
 * is kept for it meanwhile. Where the pool cannot ask (another daemon's worker
 * in cluster mode), the old worker is told to skip it and the copy goes at
 * once; if it had started it anyway, its copy (a "ghost") still holds its
 * pipeline slot until it answers, but its results and failures are ignored: an
 * item is delivered once.
 *
 * A client with a cap on workers (worker-cap.ts) gets a chunk on a worker only
 * if that keeps it within the cap; none of the above (filling, admission,
 * stealing) takes it past.
 *
 * Reserve workers: an app with nothing running that waits behind other apps'
 * long chunks runs on a worker kept for that (#relieve), since a running chunk
 * cannot be preempted: a newcomer then waits for no item of another app, not
 * even one that never ends.
 *
 * A chunk goes only to a worker of its job's code generation (job.ts fits):
 * during a rolling reload old and new workers run side by side.
 *
 * Over 400 lines: the passes above run in a fixed order within one placement
 * and share its state (the lanes as of the pass, the withdrawals awaited, the
 * one timer that places again); split apart, each would need the others'.
 */
import { CHUNK_TARGET_MS, CUT_MAX_PAYLOAD_BYTES, SOLO_CHUNK_TARGET_MS, STEAL_AFTER_MS } from '@corepool/protocol/internal';
import type { Clock, Timer } from './clock.js';
import type { ClientQueue, ClientQueues } from './client-queues.js';
import { KILLER_MEMORY_MS, UNMEASURED_CHUNK_MS, type FairShare } from './fair-share.js';
import { fits, type Chunk, type ChunkMint, type Job } from './job.js';
import type { WithdrawOutcome } from '../guard-messages.js';
import type { Lane } from './lane.js';
import type { PoolWorker, WorkerPool } from './worker-pool.js';
import { mayPlace } from './worker-cap.js';

/** A chunk expected to run this many times the longest chunk a client sizes (the solo target) is long from its start. */
const LONG_OVER_SOLO = 1.5;
/** A running chunk is long once it has run this many times its expected time (and STEAL_AFTER_MS). */
const LONG_AFTER_EXPECTED = 1.5;
/**
 * A chunk is cut short for a newcomer only if it has more than this left to run, and its
 * items' payload is at most CUT_MAX_PAYLOAD_BYTES: the rest of a cut chunk goes to a worker
 * with the whole payload again (it is never decoded here), so an app that keeps arriving
 * could otherwise have megabytes of another's items sent again every 20 ms.
 */
const CUT_ABOVE_MS = CHUNK_TARGET_MS;
/** A cut asked this long ago and not answered (a task took the worker's fd 5) no longer holds back a cut elsewhere. */
const CUT_PENDING_MS = 5 * CHUNK_TARGET_MS;
/**
 * A client with nothing running goes to a reserve worker once the chunks it waits behind have
 * each held their worker this long: as long as a chunk sized for clients that share should run.
 */
const RESERVE_AFTER_MS = CHUNK_TARGET_MS;
/**
 * An idle worker waits this long for the chunk it is to take from another (#move); unanswered by
 * then (a stopped worker, or one whose task took its guard socket), the chunk moves the old way.
 */
const WITHDRAW_WAIT_MS = CHUNK_TARGET_MS;
/**
 * A worker that has not begun the chunk at its head this long after it became the head is asked to
 * give it back (#unstick): an idle worker begins one within a millisecond or two.
 */
const STALL_MS = 250;
/** A worker that gave back the chunk at its head unbegun takes nothing for this long, unless heard from first. */
export const STALL_RETRY_MS = 2_000;

/** What placement works with, lent by the scheduler. */
export interface PlacementContext<W extends PoolWorker> {
  readonly pool: WorkerPool<W>;
  readonly clock: Clock;
  readonly queues: ClientQueues;
  readonly fair: FairShare<ClientQueue>;
  readonly mint: ChunkMint;
  /** Chunks a worker holds at once: one running, the rest waiting in its pipe. */
  readonly pipelineDepth: number;
  /** The longest chunk a client sizes: its target while alone (Scheduler.soloChunkMs). */
  readonly soloChunkMs: number;
  /** Chunks of the client placed on workers. */
  runningOf(cq: ClientQueue): number;
  /** Starts the deadline of the chunk's item `i` (it became its worker's running chunk). */
  arm(lane: Lane<W>, chunk: Chunk, i: number): void;
  /** Place again (a chunk waiting behind a running one may have become stealable). */
  redispatch(): void;
}

export class Placement<W extends PoolWorker> {
  readonly #ctx: PlacementContext<W>;
  /** Places again when a chunk may become stealable, a stuck client due the reserve, or a withdrawal overdue (#wakeIn). */
  #timer: Timer | undefined;
  /** When #timer fires. */
  #timerAt = Infinity;
  /** When clients' items last killed a reserve worker, and the time before (Scheduler's exit charge). */
  #reserveKilledAt = -Infinity;
  #reserveKilledBefore = -Infinity;
  /** Every lane of the pool, reserve workers included, as of the placement under way: a client's cap counts them all. */
  #all: readonly Lane<W>[] = [];
  /** Chunks asked to be withdrawn from their worker (`from`), the lane each is to go to, and when: the answers awaited. */
  readonly #withdrawing = new Map<Chunk, { from: Lane<W>; to: Lane<W> | undefined; at: number }>();

  constructor(ctx: PlacementContext<W>) {
    this.#ctx = ctx;
  }

  /** Withdrawals whose answer is awaited (for leak checks). */
  get awaited(): number {
    return this.#withdrawing.size;
  }

  /**
   * Fills free slots of `lanes` (the pool's workers, in its order), admits a newcomer when every slot is taken,
   * lets idle workers steal, then has chunks cut short for clients that wait with nothing running.
   */
  place(lanes: readonly Lane<W>[], now: number): void {
    this.#all = lanes;
    // Reserve workers take no part in the usual placement: they are kept for clients stuck behind long chunks.
    const core = lanes.some((l) => l.worker.reserve === true) ? lanes.filter((l) => l.worker.reserve !== true) : lanes;
    if (this.#withdrawing.size > 0) this.#overdue(lanes, now);
    this.#unstall(lanes, now);
    if (this.#fill(core, now)) this.#admitNewcomer(core, now);
    this.#steal(core, now);
    this.#unstick(lanes, now);
    if (this.#ctx.pool.cut !== undefined) this.#cutForNewcomers(core, now);
    if (core !== lanes) this.#relieve(core, lanes, now);
  }

  /** Fills free slots from the queues; false once nothing more can be taken. */
  #fill(lanes: readonly Lane<W>[], now: number): boolean {
    // A client at its cap may still fill a worker it holds: nothing for one worker is not nothing for all.
    const capped = this.#ctx.queues.active.some((cq) => cq.maxWorkers !== undefined);
    let exhausted = false;
    // Workers of more than one generation (a reload under way): each takes only its own generation's jobs.
    const newest = this.#ctx.pool.generation?.();
    const pinning = newest !== undefined && lanes.some((l) => l.worker.generation !== undefined && l.worker.generation !== newest);
    for (let depth = 1; depth <= this.#ctx.pipelineDepth; depth++) {
      for (const lane of lanes) {
        // Behind a chunk that already runs long, a chunk would wait while another worker may free first.
        if (depth > 1 && this.#longHead(lane, now)) continue;
        const eligible = capped ? (cq: ClientQueue): boolean => this.#reads(cq) && mayPlace(cq, lane, this.#all) : this.#reads;
        let fit: ((job: Job) => boolean) | undefined;
        if (pinning && lane.worker.generation !== undefined) fit = (job) => fits(job, lane.worker);
        while (lane.open && lane.chunks.length < depth) {
          const chunk = this.#ctx.queues.next(now, eligible, fit);
          if (chunk === undefined) {
            if (capped) {
              exhausted = true;
              break;
            }
            // Nothing this worker may run: another (of another generation) may still take some.
            if (fit !== undefined && this.#ctx.queues.active.some((cq) => cq.client.canReceive())) break;
            return false;
          }
          this.#assign(lane, chunk, false);
        }
      }
    }
    return !exhausted;
  }

  /** A client over its send high-water mark is passed over until it drains (Scheduler.drained). */
  readonly #reads = (cq: ClientQueue): boolean => cq.client.canReceive();

  /**
   * Every slot is taken, and a client with nothing running has work queued: its
   * first chunk goes straight behind a running chunk, ahead of the prefetched
   * ones, so a newcomer waits for one chunk at most, not a full pipeline.
   */
  #admitNewcomer(lanes: readonly Lane<W>[], now: number): void {
    const { pipelineDepth, queues, fair } = this.#ctx;
    if (pipelineDepth < 2) return;
    const reserveIdle = this.#all.some((l) => l.worker.reserve === true && l.open && l.chunks.length === 0);
    for (const cq of queues.active) {
      const slack = this.#slack(lanes);
      if (!cq.client.canReceive() || this.#ctx.runningOf(cq) > 0 || !fair.owed(cq, queues.active, now, slack)) continue;
      const job = cq.ready[cq.rr % cq.ready.length];
      const full = lanes.filter(
        (l) =>
          l.open &&
          l.chunks.length === pipelineDepth &&
          !l.chunks.some((c) => c.urgent) &&
          // Behind a ghost (a chunk moved elsewhere) the worker skips to the chunk after it, which
          // would run before the newcomer's while the lane took the newcomer's for the running one;
          // and so it would behind a chunk being withdrawn, once withdrawn.
          !l.chunks[0]!.ghost &&
          !l.chunks.some((c) => this.#withdrawing.has(c)) &&
          (job === undefined || fits(job, l.worker)) &&
          // Never ahead of a waiting chunk of a client that stands below it (fair-share.ts, mayPass).
          l.chunks.every((c, k) => k === 0 || c.ghost || fair.mayPass(cq, c.tenant, now, slack)),
      );
      // Behind the running chunk that should end first: the oldest one not yet long (a long one may run on and on; stealing rescues a chunk left behind it).
      let lane: Lane<W> | undefined;
      for (const l of full) if (!this.#longHead(l, now) && (lane === undefined || l.head!.headAt! < lane.head!.headAt!)) lane = l;
      // Only long ones: with a reserve worker idle, the chunk waits queued for it (#relieve) rather than
      // behind an item that may never end, to be withdrawn from there (each time, for each newcomer chunk).
      if (lane === undefined && !reserveIdle) lane = full[0];
      if (lane === undefined || !mayPlace(cq, lane, this.#all)) continue;
      const chunk = queues.take(cq, (j) => fits(j, lane.worker));
      chunk.urgent = true;
      this.#assign(lane, chunk, true);
    }
  }

  /**
   * A client with nothing running waits behind chunks sized for a client that was alone (up
   * to soloChunkMs), or longer: placed behind one (newcomer admission, or a free second slot
   * behind a long chunk), or queued with no slot to go to. The worker it waits on (for a
   * queued one, the worker whose chunk has the most left to run) is asked to stop its chunk
   * after the item it runs (WorkerPool.cut); the rest goes back to its job's queue
   * (Scheduler's `done`), and the client waits for one item, not a chunk.
   */
  #cutForNewcomers(lanes: readonly Lane<W>[], now: number): void {
    const running = new Set<ClientQueue>();
    for (const l of this.#all) if (l.head !== undefined) running.add(l.head.tenant);
    let asked = false;
    for (const lane of lanes) {
      const next = lane.chunks[1];
      if (next !== undefined && !running.has(next.tenant)) {
        const headCut = this.#cuttable(lane, now) > -Infinity;
        if (headCut || this.#passable(lane, next)) {
          next.spareAsked = true;
          if (headCut) this.#cut(lane, next.key, now);
          else this.#ctx.pool.cut!(lane.worker, next.key);
        }
      }
      asked ||= lane.head !== undefined && now - lane.head.cutAskedAt < CUT_PENDING_MS;
    }
    // Queued with no slot to go to: one cut at a time frees a worker for them (fair share gives it to them).
    if (asked) return;
    const { queues, fair } = this.#ctx;
    const slack = this.#slack(lanes);
    for (const cq of queues.active) {
      if (running.has(cq) || !cq.client.canReceive() || cq.ready.length === 0 || !fair.owed(cq, queues.active, now, slack)) continue;
      let lane: Lane<W> | undefined;
      let most = -Infinity;
      for (const l of lanes) {
        const left = this.#cuttable(l, now);
        if (left > most && mayPlace(cq, l, this.#all) && cq.ready.some((j) => fits(j, l.worker))) [most, lane] = [left, l];
      }
      if (lane === undefined) continue;
      this.#cut(lane, 0, now);
      return;
    }
  }

  /**
   * How far above the others a client with nothing running may be and still be owed a worker
   * at once, where chunks are cut short for it: what the longest running chunk was charged,
   * past a shared chunk's length (a lone client's chunks, charged whole when placed, move its
   * account by up to a solo chunk at a time; among clients that share, chunks are short and
   * the slack is about none, so weights hold). None where chunks are not cut.
   */
  #slack(lanes: readonly Lane<W>[]): number {
    if (this.#ctx.pool.cut === undefined) return 0;
    let longest = 0;
    for (const l of lanes) if (l.head !== undefined && !l.head.ghost) longest = Math.max(longest, l.head.charged);
    return Math.max(0, Math.min(longest, this.#ctx.soloChunkMs) - CHUNK_TARGET_MS);
  }

  /** The pool cuts chunks short, and this one is of two items or more and small enough that its rest may carry its payload again. */
  #canCut(chunk: Chunk): boolean {
    return this.#ctx.pool.cut !== undefined && chunk.count >= 2 && chunk.payload.length <= CUT_MAX_PAYLOAD_BYTES;
  }

  /**
   * The running chunk is not to be cut (one item, nearly done, asked already, or its payload too
   * large to send again), but behind the chunk of a client with nothing running waits another
   * client's chunk that may be. A worker goes from a chunk shorter than its READ_BETWEEN_CHUNKS_MS
   * straight to the next one it holds, without reading its socket: the newcomer's chunk, sent
   * while the short one ran, is then read only after the one behind it, which the primary takes
   * to be waiting and never cuts. Measured with the worker's side (cut-signal.ts) fixed too: a
   * batch of four 5 ms items beside a greedy batch on one worker waited behind whole ~480 ms
   * chunks in 13 of 20 runs (median 548 ms, 8 runs ~1 s), against none in 20 after (median 86
   * ms). A cut request is for whatever chunk other than the spared one runs when the worker sees
   * it, and is dropped once the spared one starts: it cuts the chunk behind only if that one
   * started first. Asked once per newcomer chunk (counting a cut of the running chunk for it).
   */
  #passable(lane: Lane<W>, next: Chunk): boolean {
    const behind = lane.chunks[2];
    const head = lane.head;
    return (
      lane.open &&
      // The worker may not have started the running one yet (it reads its socket between chunks, and then runs
      // it before the newcomer's: worker/run-queue.ts): the request would cut that one, so it must be one that
      // may be cut (a one-item chunk cannot be).
      (head === undefined || head.count < 2 || this.#canCut(head)) &&
      !next.spareAsked &&
      !next.ghost &&
      next.job.live &&
      behind !== undefined &&
      behind.tenant !== next.tenant &&
      !behind.ghost &&
      this.#canCut(behind)
    );
  }

  /**
   * Asks the lane's worker to cut its running chunk short, sparing chunk `spare` (0: none). Asked of a head its
   * worker had not begun, a request sparing none may reach the worker between chunks, which drops it (it asked
   * for a free worker: cut-signal.ts), and the chunk runs whole: asked so, it is asked again after
   * CUT_PENDING_MS (#cuttable), placement woken for it. Asked once only, chunks of 30 s (16,000 items of 2 ms)
   * started so on both workers, and a neighbour's submit waited 23-67 s (a hostile co-tenant run).
   */
  #cut(lane: Lane<W>, spare: number, now: number): void {
    const head = lane.head!;
    head.cutAskedAt = now;
    head.cutAskedUnbegun = spare === 0 && !head.begun;
    if (head.cutAskedUnbegun) this.#wakeIn(CUT_PENDING_MS, now);
    this.#ctx.pool.cut!(lane.worker, spare);
  }

  /** What the lane's running chunk has left to run (Infinity unmeasured), or -Infinity if it is not to be cut. */
  #cuttable(lane: Lane<W>, now: number): number {
    const head = lane.head;
    const asked = head !== undefined && head.cutAskedAt > -Infinity && !(head.cutAskedUnbegun && now - head.cutAskedAt >= CUT_PENDING_MS);
    if (!lane.open || head === undefined || head.ghost || asked || head.headAt === undefined || !this.#canCut(head)) return -Infinity;
    if (!(head.job.itemMs > 0)) return Infinity;
    const left = head.count * head.job.itemMs - (now - head.headAt);
    return left > CUT_ABOVE_MS ? left : -Infinity;
  }

  /**
   * An idle worker takes the chunk waiting behind another worker's long-running
   * one (the next one that worker would start), as a fresh copy; the old
   * worker is told to skip its copy. A chunk waiting behind a chunk that is not
   * long yet is looked at again when it becomes so.
   */
  #steal(lanes: readonly Lane<W>[], now: number): void {
    let soonest = Infinity;
    for (const idle of lanes) {
      if (!idle.open || idle.chunks.length > 0) continue;
      const waits = this.#awaits(idle, now);
      if (waits > 0) {
        soonest = Math.min(soonest, waits);
        continue;
      }
      let victim: Lane<W> | undefined;
      let at = -1;
      let oldest = Infinity;
      for (const v of lanes) {
        if (v === idle || v.worker.dead) continue;
        // A cancelled job's chunks are being dropped; a capped client's chunk stays where it is if the idle worker would be
        // one too many; one of another code generation cannot move here.
        const i = v.chunks.findIndex(
          (c, k) => k > 0 && this.#movable(c) && mayPlace(c.tenant, idle, this.#all) && fits(c.job, idle.worker),
        );
        if (i < 0) continue;
        const since = v.head!.headAt!;
        if (now - since < STEAL_AFTER_MS) {
          soonest = Math.min(soonest, since + STEAL_AFTER_MS - now);
        } else if (since < oldest) {
          oldest = since;
          victim = v;
          at = i;
        }
      }
      if (victim !== undefined && this.#move(victim, at, idle, now)) soonest = Math.min(soonest, WITHDRAW_WAIT_MS);
    }
    this.#wakeIn(soonest, now);
  }

  /** Workers held (#unstick) for STALL_RETRY_MS take chunks again; placement wakes when the next one's time is up. */
  #unstall(lanes: readonly Lane<W>[], now: number): void {
    let soonest = Infinity;
    for (const lane of lanes) {
      if (!lane.stalled) continue;
      if (now - lane.stalledAt >= STALL_RETRY_MS) lane.stalled = false;
      else soonest = Math.min(soonest, lane.stalledAt + STALL_RETRY_MS - now);
    }
    this.#wakeIn(soonest, now);
  }

  /**
   * A worker that has not begun the chunk at its head STALL_MS after it became the head is asked,
   * through its guard thread, to give it back unbegun. A worker whose main thread is held by work a
   * task left behind (a process.nextTick loop) looks idle once its chunks are done, and a
   * neighbour's chunk placed there waited for the worker's replacement, 5-7 s each time (a submit
   * waited 15 s and more in all, hostile review). Given back, the chunk goes first in its job's
   * queue again and the worker takes nothing until it is heard from or STALL_RETRY_MS pass (the
   * Scheduler's `withdrawn`); kept (it had begun, as a long chunk has), nothing changes. One ask a
   * chunk, answered by a thread no task blocks.
   */
  #unstick(lanes: readonly Lane<W>[], now: number): void {
    const pool = this.#ctx.pool;
    if (pool.withdraw === undefined) return;
    let soonest = Infinity;
    for (const lane of lanes) {
      const head = lane.head;
      if (head?.headAt === undefined || head.withdrawAsked || !this.#movable(head) || lane.worker.dead) continue;
      const waited = now - head.headAt;
      if (waited < STALL_MS) soonest = Math.min(soonest, STALL_MS - waited);
      else if (pool.withdraw(lane.worker, head.key)) {
        head.withdrawAsked = true;
        this.#withdrawing.set(head, { from: lane, to: undefined, at: now });
      }
    }
    this.#wakeIn(soonest, now);
  }

  /**
   * A client's item killed a reserve worker. The one who did is held off by its own memory of the
   * kill (#relieve), but it could come back on a new connection each time and kill each replacement
   * (a hostile run: a neighbour got 8 submits in 6 s). So once two kills come within KILLER_MEMORY_MS
   * of each other, the reserve goes for KILLER_MEMORY_MS only to clients that have had a chunk run
   * to its end. One kill alone holds back no newcomer.
   */
  reserveKilled(now: number): void {
    this.#reserveKilledBefore = this.#reserveKilledAt;
    this.#reserveKilledAt = now;
  }

  /** Until when the reserve goes only to clients that have had a chunk run (reserveKilled); -Infinity if not. */
  #servedOnlyUntil(): number {
    return this.#reserveKilledAt - this.#reserveKilledBefore < KILLER_MEMORY_MS ? this.#reserveKilledAt + KILLER_MEMORY_MS : -Infinity;
  }

  /**
   * Moves the chunk waiting at `at` in `from`'s pipeline to the idle `to`: once `from` has withdrawn it
   * (the Scheduler's `withdrawn`, then #land), or, where it cannot be asked, as a fresh copy at once, `from`
   * told to skip its own. A chunk is asked for once: asked again, its worker could note it twice and
   * skip it once, and a stale note would stay; one whose withdrawal went unanswered moves the old way.
   * True if it waits for the answer.
   */
  #move(from: Lane<W>, at: number, to: Lane<W>, now: number): boolean {
    const old = from.chunks[at]!;
    if (!old.withdrawAsked && this.#ctx.pool.withdraw?.(from.worker, old.key) === true) {
      old.withdrawAsked = true;
      this.#withdrawing.set(old, { from, to, at: now });
      return true;
    }
    this.#copyAtOnce(from, old, to);
    return false;
  }

  /** `from` is told to skip `old`, and a fresh copy of it goes to `to` at once: if `from` had started it, it runs twice. */
  #copyAtOnce(from: Lane<W>, old: Chunk, to: Lane<W>): void {
    from.disown(old);
    // An abort that cannot be delivered: the worker is killed, as for any send it refuses (worker-pool.ts).
    if (!this.#ctx.pool.send(from.worker, { t: 'abort', key: old.key })) this.#ctx.pool.kill(from.worker, 'abort refused');
    this.#assign(to, this.#ctx.mint.successor(old, 0), false);
  }

  /**
   * Reserve workers (WorkerPool's `reserve`): a client with nothing running, owed a worker,
   * whose chunk waits behind other clients' chunks that have each held their worker for
   * RESERVE_AFTER_MS and are not about to end, runs it on an idle reserve worker instead, one
   * chunk at a time. The operating system then shares the cores between one process more than
   * there are cores: the long chunks run a little slower for as long as the short one runs,
   * where without it the client would wait for a whole item of another app, however long, or
   * for ever behind items that never end. A chunk already waiting in a busy worker's pipeline
   * moves (as a stolen one does); otherwise the client's next queued chunk goes.
   */
  #relieve(core: readonly Lane<W>[], lanes: readonly Lane<W>[], now: number): void {
    const { queues } = this.#ctx;
    let soonest = Infinity;
    // Who runs something: behind a ghost (a chunk moved elsewhere), its worker may be running the next chunk already.
    const running = new Set<ClientQueue>();
    for (const l of lanes) {
      const head = l.head;
      if (head === undefined) continue;
      if (!head.ghost) running.add(head.tenant);
      else if (l.chunks[1] !== undefined) running.add(l.chunks[1].tenant);
    }
    // A client whose item killed a worker in the last KILLER_MEMORY_MS gets no reserve: it would take the
    // reserve's replacement as soon as it is up, and kill that too, again and again (a hostile run: a
    // neighbour got one submit a second). Nor, while reserves are killed in a row, does a client that has
    // had nothing run yet (reserveKilled). Each is looked at again when that memory ends.
    const recentKiller = (cq: ClientQueue): boolean => {
      const until = Math.max(cq.killedAt + KILLER_MEMORY_MS, cq.served ? -Infinity : this.#servedOnlyUntil());
      if (until <= now) return false;
      soonest = Math.min(soonest, until - now);
      return true;
    };
    for (const idle of lanes) {
      if (idle.worker.reserve !== true || !idle.open) continue;
      const awaits = this.#awaits(idle, now);
      if (awaits > 0) {
        soonest = Math.min(soonest, awaits);
        continue;
      }
      // A newcomer held back by the fair share (newcomers' probation: fair-share.ts) gets no reserve either: it
      // is a worker, and newcomers killing one after another from new connections took it as well as the one
      // they were left (with the reserve, a neighbour's items in 3 s: 16-609 against 950-1,300 alone; now 1,252-1,378
      // against 2,377-2,495, on a quieter machine).
      const placeable = (cq: ClientQueue): boolean =>
        !running.has(cq) && cq.client.canReceive() && mayPlace(cq, idle, lanes) && !recentKiller(cq);
      const stuck = (cq: ClientQueue): boolean => placeable(cq) && !this.#ctx.fair.limited(cq, now);
      // Not asked whether it is owed a worker: charged ahead for a chunk placed and moved (each copy
      // charged until it answers), a client that keeps returning stood above the one holding every
      // worker, and waited out an item a few probes in a hundred. A client holding no worker takes
      // none from the others here.
      const waits = (cq: ClientQueue): boolean => this.#ctx.runningOf(cq) === 0 && stuck(cq);
      if (idle.chunks.length > 0) {
        // Busy with a stuck client's chunk: another stuck one has it cut short (after the item it runs), as a
        // newcomer has a worker's chunk cut; the rest goes back to its queue, and the reserve to the one owed it.
        const someoneStuck = (): boolean =>
          queues.active.some(waits) || core.some((v) => v.chunks.some((c, k) => k > 0 && this.#movable(c) && stuck(c.tenant)));
        if (this.#ctx.pool.cut !== undefined && this.#cuttable(idle, now) > -Infinity && someoneStuck()) this.#cut(idle, 0, now);
        continue;
      }
      // A chunk waiting behind one that holds its worker: the longest waiting goes first. It was placed
      // already, so it moves whatever the fair share says of its client now (`placeable`, not `stuck`): the
      // move takes no worker from anyone, and a client limited after a kill, or a newcomer on probation
      // (fair-share.ts), counts this very chunk as held.
      let victim: Lane<W> | undefined;
      let at = -1;
      for (const v of core) {
        if (v.worker.dead || v.chunks.length < 2) continue;
        const i = v.chunks.findIndex((c, k) => k > 0 && this.#movable(c) && fits(c.job, idle.worker) && placeable(c.tenant));
        if (i < 0) continue;
        const held = this.#heldFrom(v, now);
        if (held > now) soonest = Math.min(soonest, held - now);
        else if (victim === undefined || v.chunks[i]!.placedAt < victim.chunks[at]!.placedAt) [victim, at] = [v, i];
      }
      if (victim !== undefined) {
        running.add(victim.chunks[at]!.tenant);
        if (this.#move(victim, at, idle, now)) soonest = Math.min(soonest, WITHDRAW_WAIT_MS);
        continue;
      }
      // Queued with no worker to go to: every worker is held (or being replaced).
      if (!queues.active.some((cq) => waits(cq) && cq.ready.some((j) => fits(j, idle.worker)))) continue;
      let heldAll = true;
      for (const v of core) {
        if (!v.open) continue;
        const held = this.#heldFrom(v, now);
        if (held <= now) continue;
        heldAll = false;
        if (held < Infinity) soonest = Math.min(soonest, held - now);
      }
      if (!heldAll) continue;
      const chunk = queues.next(now, waits, (job) => fits(job, idle.worker));
      if (chunk === undefined) continue;
      running.add(chunk.tenant);
      this.#assign(idle, chunk, false);
    }
    this.#wakeIn(soonest, now);
  }

  /**
   * Places again in `ms` (nothing if Infinity). One timer, for the soonest: a later one pending (a
   * kill's 5 s memory) must not hold back a client due sooner.
   */
  #wakeIn(ms: number, now: number): void {
    if (!(ms < Infinity) || (this.#timer !== undefined && now + ms >= this.#timerAt)) return;
    this.#timer?.cancel();
    const after = Math.ceil(ms) + 1;
    this.#timerAt = now + after;
    this.#timer = this.#ctx.clock.after(after, () => {
      this.#timer = undefined;
      this.#ctx.redispatch();
    });
  }

  /** A chunk that may move to another worker: not a ghost, its batch live, not started (its worker said so), no withdrawal of it awaited. */
  #movable(c: Chunk): boolean {
    return !c.ghost && c.job.live && !c.begun && !this.#withdrawing.has(c);
  }

  /** How much longer the idle lane waits for a chunk being withdrawn from another (#move; WITHDRAW_WAIT_MS at most); 0 if it does not. */
  #awaits(lane: Lane<W>, now: number): number {
    let longest = 0;
    for (const w of this.#withdrawing.values()) if (w.to === lane) longest = Math.max(longest, w.at + WITHDRAW_WAIT_MS - now);
    return longest;
  }

  /**
   * A withdrawal unanswered for WITHDRAW_WAIT_MS (its worker is stopped, or a task took its guard
   * socket) moves the old way, if the chunk still waits there and its lane can still take it: else
   * a client stuck behind that worker's item would wait for as long as the item runs. A late answer
   * is still heeded (the Scheduler's `withdrawn`). Withdrawals whose worker died are forgotten.
   */
  #overdue(lanes: readonly Lane<W>[], now: number): void {
    let soonest = Infinity;
    for (const [chunk, w] of this.#withdrawing) {
      const waited = now - w.at;
      // Left its lane (done before the answer came, which then finds no chunk and is dropped): nothing to wait for.
      // Kept, each such head asked back held its chunk, job and session for the worker's life.
      if (!w.from.chunks.includes(chunk)) {
        this.#withdrawing.delete(chunk);
        continue;
      }
      // A head asked back (#unstick) waits for its answer however late: nothing waits on it, and the answer says whether its worker is held.
      if (w.to === undefined && !w.from.worker.dead) continue;
      if (waited < WITHDRAW_WAIT_MS && !w.from.worker.dead) {
        soonest = Math.min(soonest, WITHDRAW_WAIT_MS - waited);
        continue;
      }
      this.#withdrawing.delete(chunk);
      if (w.to !== undefined) this.#copyIfWaiting(w.from, chunk, w.to, lanes);
    }
    this.#wakeIn(soonest, now);
  }

  /**
   * `lane`'s worker answered a withdrawal of `chunk` (#move): the lane it was to go to while that
   * withdrawal is awaited, else undefined; it is awaited no more. Not noted (full), as the worker has
   * not reached the withdrawals before it (held by an item that does not end, it never will): it
   * moves at once, the old way, if it still waits and that lane can take it, so a stuck client is
   * not left behind such an item (the ghost left on the lane keeps newcomers from being placed there
   * again).
   */
  /** True if `chunk`'s withdrawal, awaited, was asked for as its worker's unbegun head (#unstick), not to move it to an idle worker. */
  askedAsHead(chunk: Chunk): boolean {
    const w = this.#withdrawing.get(chunk);
    return w !== undefined && w.to === undefined;
  }

  answered(lane: Lane<W>, chunk: Chunk, outcome: WithdrawOutcome, lanes: readonly Lane<W>[]): Lane<W> | undefined {
    const w = this.#withdrawing.get(chunk);
    if (w === undefined) return undefined;
    this.#withdrawing.delete(chunk);
    if (outcome === 'full' && w.to !== undefined) this.#copyIfWaiting(lane, chunk, w.to, lanes);
    return w.to;
  }

  /** A withdrawal that cannot be had (overdue, or not noted): the chunk moves the old way, if it still waits on `from` and `to` can take it. */
  #copyIfWaiting(from: Lane<W>, chunk: Chunk, to: Lane<W>, lanes: readonly Lane<W>[]): void {
    if (from.chunks.indexOf(chunk) > 0 && !chunk.ghost && chunk.job.live && this.#takes(to, chunk, lanes))
      this.#copyAtOnce(from, chunk, to);
  }

  /**
   * The copy of a withdrawn chunk goes to the lane it was withdrawn for, if there is one and it can
   * still take it (open and idle, of its generation, within its client's cap); else it goes back
   * first in its job's queue, for the placement that follows.
   */
  land(copy: Chunk, to: Lane<W> | undefined, lanes: readonly Lane<W>[], now: number): void {
    if (to !== undefined && this.#takes(to, copy, lanes)) this.#assign(to, copy, false);
    else this.#ctx.queues.enqueue(copy, true, now);
  }

  /** `to` can take `chunk` now: open and idle, of its generation, within its client's cap. */
  #takes(to: Lane<W>, chunk: Chunk, lanes: readonly Lane<W>[]): boolean {
    return to.open && to.chunks.length === 0 && fits(chunk.job, to.worker) && mayPlace(chunk.tenant, to, lanes);
  }

  /**
   * From when the lane's running chunk counts as holding its worker, for a reserve worker's sake
   * (#relieve): RESERVE_AFTER_MS after it started; never (Infinity) while a cut asked of it will
   * free the worker within an item shorter than that, or with no chunk running: the client waits.
   */
  #heldFrom(lane: Lane<W>, now: number): number {
    const head = lane.head;
    if (head?.headAt === undefined) return Infinity;
    const itemMs = head.job.itemMs;
    if (now - head.cutAskedAt < CUT_PENDING_MS && itemMs > 0 && itemMs < RESERVE_AFTER_MS) return Infinity;
    return head.headAt + RESERVE_AFTER_MS;
  }

  /**
   * True when the worker's first chunk has run longer than STEAL_AFTER_MS and
   * longer than its job's measured item cost says it should: a 100 ms chunk
   * of 1 ms items is not stuck at 60 ms, and keeping a second chunk behind it
   * saves the round trip between chunks (1% of efficiency at 10,000 x 1 ms).
   * A chunk measured to take longer than any sized chunk should (items that
   * each run 200 ms, beside which another app's chunk would wait until stolen)
   * is long from its start: the round trip saved behind it is under 0.3%.
   */
  #longHead(lane: Lane<W>, now: number): boolean {
    const head = lane.head;
    if (head === undefined) return false;
    const expected = head.count * head.job.itemMs;
    // A chunk that can be cut short for a newcomer may be as long as a lone client's; one that cannot, as before cuts.
    const longest = this.#canCut(head) ? this.#ctx.soloChunkMs : SOLO_CHUNK_TARGET_MS;
    if (expected >= LONG_OVER_SOLO * longest) return true;
    const ran = now - head.headAt!;
    return ran >= STEAL_AFTER_MS && ran >= LONG_AFTER_EXPECTED * expected;
  }

  /** Sends a chunk to a worker; an urgent one runs right after the one running now (the worker puts it first in its queue). */
  #assign(lane: Lane<W>, chunk: Chunk, urgent: boolean): void {
    const job = chunk.job;
    // The chunk an urgent one goes behind: the worker may not have started it yet (worker/run-queue.ts).
    const after = urgent ? lane.head?.key : undefined;
    lane.place(chunk, urgent, this.#ctx.clock.now());
    this.#ctx.fair.charge(chunk, job.itemMs > 0 ? chunk.count * job.itemMs : UNMEASURED_CHUNK_MS);
    let task = job.task;
    if (task.kind === 'source') {
      // Touched on every run message, as the worker does on receipt (source-lru.ts).
      if (lane.sources.touch(task.hash)) task = { kind: 'source', hash: task.hash, source: '' };
      else lane.sources.set(task.hash, task.source.length, undefined);
    }
    const sent = this.#ctx.pool.send(lane.worker, {
      t: 'run',
      key: chunk.key,
      task,
      offset: chunk.offset,
      count: chunk.count,
      start: chunk.start,
      timed: job.timeoutMs > 0 || chunk.tracked,
      urgent,
      ...(after === undefined ? {} : { after }),
      realm: job.client.realm,
      payload: chunk.payload, // last: the channel writes its bytes as they are (split-message.ts)
    });
    if (!sent)
      this.#ctx.pool.kill(lane.worker, 'send refused'); // its exit requeues the chunk
    else if (chunk.headAt !== undefined) this.#ctx.arm(lane, chunk, 0);
  }
}
