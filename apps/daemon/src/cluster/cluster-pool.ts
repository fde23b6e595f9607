/**
 * cluster-pool.ts - the WorkerPool the scheduler takes in cluster mode
 * (worker-pool.ts; docs/cluster.md "Shape: who owns what"): the local
 * Supervisor's workers plus the workers other daemons lend to this one. The
 * scheduler does not know a slot is remote: it places, steals, kills and
 * recovers as it does locally. The Supervisor's events come here first (the
 * daemon wires them), and go on to the scheduler or, for a lent worker, to
 * the lender (lender.ts).
 *
 * Remote slots (owner side):
 *  - A grant becomes a new slot number from a counter that never goes back,
 *    ready at once; it is never refilled: when it ends (released, killed,
 *    lender gone, dispatch refused) the scheduler hears `workerExit` then
 *    `slotRemoved`, and recovers its chunks as from any dead worker.
 *  - `send` runs the `dispatch` script and returns true while the grant is
 *    believed alive; a refusal found later ends the slot.
 *  - A run to a remote slot always carries its task's full source: the lane
 *    of a new slot is empty, so the first run of each source on it carries it
 *    and the slot keeps it; later runs get it back here. The lender need not
 *    know what its worker's cache holds (its own scheduler feeds the same
 *    worker), and nothing lives in Redis with a TTL that could lapse mid-batch.
 *    The cost is the source's bytes per chunk. Measured on the machine's
 *    Redis (3,000 pipelined dispatches of a 200-byte chunk): 125 us a chunk
 *    with a 300-byte or a 4 KB source alike, 1.4 ms with 64 KB; the other way
 *    (`src:<sha>` with PX, restored by the lender) costs a GET on the
 *    lender's path to the worker (21-77 us pipelined, a round trip each when
 *    not) and a second copy of the worker's cache belief. Function sources
 *    are small; a task of tens of KB of source is a module task's case.
 *  - A slot with nothing to run for IDLE_RELEASE_MS, or that its lender asked
 *    back (`reclaim`: placed on no more, released once its chunks are done),
 *    is given back. Slots whose lender's lease or grant key is gone end
 *    (polled every LEASE_POLL_MS; leases are 3 s): the key covers an `end`
 *    message lost on the way.
 *
 * Local workers lent away (lender side): a lent worker is presented to the
 * local scheduler as exited (`workerExit`, on a worker it has no chunk on) and,
 * when given back, as a refilled slot (a new object, `workerReady`). This is
 * the contract's own shape for a slot whose worker is away: the scheduler's
 * lane for it goes, and with it its belief about the worker's source cache,
 * which the owner's runs have made wrong; nothing of the scheduler changes.
 *
 * This daemon's demand (apps with queued chunks) is published to `want`, and
 * every finished chunk of its clients is charged to `share` (share-ledger.ts).
 */
import { encodeMessage, decodeMessage } from '@corepool/protocol';
import type { RunMessage } from '../ipc.js';
import type { SchedulerClient } from '../primary/client-queues.js';
import type { WorkerFigures } from '../primary/scheduler.js';
import type { Supervisor, WorkerSlot } from '../primary/supervisor.js';
import type { ChunkCommand, ChunkMessage, PoolEvents, WorkerPool } from '../primary/worker-pool.js';
import type { ClusterNode } from './cluster-node.js';
import { InboxReader, post, type InboxEntry } from './inbox.js';
import { Lender } from './lender.js';
import { LendingScripts } from './lending-scripts.js';
import { ShareLedger } from './share-ledger.js';
import { Demand } from './demand.js';
import { LocalWorker, RemoteWorker, type ClusterWorker } from './cluster-workers.js';

export { LocalWorker, RemoteWorker, type ClusterWorker } from './cluster-workers.js';

/** A remote slot with nothing to run this long goes back to its lender. */
const IDLE_RELEASE_MS = 300;
/** Lenders' leases (and, on the lender side, owners') are looked at this often. */
const LEASE_POLL_MS = 500;
/** Demand and charges go to Redis this often. */
const PUBLISH_MS = 200;
/** How long a graceful stop waits for the owners of its lent workers to give them back. */
const STOP_WAIT_MS = 3_000;
/** Housekeeping tick. */
const TICK_MS = 100;

/** What the pool needs of the scheduler besides its events. */
export interface ClusterScheduler extends PoolEvents<ClusterWorker> {
  workerFigures(w: ClusterWorker): WorkerFigures;
  queuedChunksByRealm(): Map<string, number>;
  /** The weight of one of this daemon's clients (fair-share.ts), by realm. */
  weightOf(realm: string): number | undefined;
  /** The client whose chunk `w` runs now (scheduler.ts). */
  clientOn(w: ClusterWorker): SchedulerClient | undefined;
}

/** The local workers, as the Supervisor keeps them. */
export type LocalPool = Pick<Supervisor, 'workers' | 'send' | 'kill' | 'retire'> &
  Partial<Pick<Supervisor, 'leaving' | 'withdraw' | 'whenHeard'>>;

export interface ClusterPoolOptions {
  /** The first remote slot number: past every local slot. */
  firstRemoteSlot: number;
  /** The scheduler's pipeline depth (chunks a grant takes off an app's demand). */
  pipelineDepth: number;
  log(e: { event: string } & Record<string, unknown>): void;
}

export class ClusterPool implements WorkerPool<ClusterWorker> {
  readonly #node: ClusterNode;
  readonly #supervisor: LocalPool;
  readonly #opts: ClusterPoolOptions;
  readonly #scripts: LendingScripts;
  readonly #ledger: ShareLedger;
  readonly #lender: Lender;
  #scheduler: ClusterScheduler | undefined;
  /** The current view of each local worker that is not lent away. */
  readonly #views = new Map<WorkerSlot, LocalWorker>();
  /** Local workers lent away (or killed while lent, until their exit). */
  readonly #away = new Set<WorkerSlot>();
  /** Remote slots, by `<lender>|<n>`, in slot order. */
  readonly #remote = new Map<string, RemoteWorker>();
  #nextSlot: number;
  /** App (realm) of each chunk sent and not finished, to charge its time. */
  readonly #realmOf = new Map<number, string>();
  readonly #demand: Demand;
  #timer: NodeJS.Timeout | undefined;
  #inbox: InboxReader | undefined;
  #publishedAt = 0;
  #polledAt = 0;
  /** A look at the local demand for the lent workers is due (workers()). */
  #localCheck = false;

  constructor(node: ClusterNode, supervisor: LocalPool, opts: ClusterPoolOptions) {
    this.#node = node;
    this.#supervisor = supervisor;
    this.#opts = opts;
    this.#nextSlot = opts.firstRemoteSlot;
    this.#scripts = new LendingScripts(node.redis, node.prefix);
    this.#ledger = new ShareLedger(node.redis, this.#scripts.shareKey, (id) => this.#scripts.appsKey(id));
    this.#demand = new Demand(this.#scripts);
    this.#lender = new Lender(
      node,
      this.#scripts,
      {
        idleWorkers: () => this.#idleLocal(),
        take: (w) => this.#take(w),
        giveBack: (w) => this.#giveBack(w),
        localDemand: () => {
          let n = 0;
          for (const q of this.#scheduler?.queuedChunksByRealm().values() ?? []) n += q;
          return n;
        },
        send: (w, m) => this.#supervisor.send(w, m),
        kill: (w, reason) => this.#supervisor.kill(w, reason),
      },
      { pipelineDepth: opts.pipelineDepth, log: opts.log },
    );
    node.on('lost', () => this.#lost());
  }

  /** The scheduler this pool feeds (made with this pool, so told after). */
  attach(scheduler: ClusterScheduler): void {
    this.#scheduler = scheduler;
  }

  /** Starts reading the inbox and the housekeeping. */
  start(): void {
    this.#inbox = new InboxReader(
      this.#node,
      (e) => this.#onEntry(e),
      (lost) => this.#gap(lost),
    );
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  /**
   * A graceful stop (the scheduler is idle): the lent workers are asked back
   * and their owners get RECLAIM_WAIT_MS to finish what runs on them; then
   * every grant ends, lent or borrowed, and this daemon's demand is withdrawn.
   */
  async stop(): Promise<void> {
    this.#lender.stopLending(Date.now());
    const deadline = Date.now() + STOP_WAIT_MS;
    while (this.#lender.lent > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    clearInterval(this.#timer);
    // A flush still in flight would list apps after the leave has dropped this member's set (membership.ts).
    await this.#ledger.settled();
    this.#lender.endAll();
    for (const w of [...this.#remote.values()]) this.#end(w, 'release');
    await this.#demand.withdrawAll(this.#node.id).catch(() => {});
    await this.#inbox?.stop();
  }

  /** Figures: workers lent out and borrowed, reports fenced off here. */
  figures(): { lent: number; borrowed: number; staleReports: number } {
    return { lent: this.#lender.lent, borrowed: this.#remote.size, staleReports: this.#lender.staleReports };
  }

  /** What `daemon status` shows of a local worker (a lent one is busy). */
  workerFigures(w: WorkerSlot): WorkerFigures {
    if (this.#away.has(w)) return { busy: true, tasksDone: 0, chunksDone: 0 };
    return this.#scheduler!.workerFigures(this.#view(w));
  }

  // --- WorkerPool -----------------------------------------------------------

  workers(): ClusterWorker[] {
    // The scheduler lists the workers at every placement (lane.ts), the moment a local client's chunk
    // may be left queued for want of a worker: one lent away is asked back once that placement is over.
    if (this.#lender.lent > 0 && !this.#localCheck) {
      this.#localCheck = true;
      setImmediate(() => {
        this.#localCheck = false;
        this.#lender.localWork(Date.now());
      });
    }
    const out: ClusterWorker[] = [];
    for (const w of this.#supervisor.workers()) if (!this.#away.has(w)) out.push(this.#view(w));
    for (const r of this.#remote.values()) out.push(r);
    return out;
  }

  /** Every live daemon's workers (the cluster this pool can borrow from), as of the last heartbeats. */
  capacity(): number {
    let n = 0;
    for (const m of this.#node.known()) if (m.alive) n += Number(m.info.workers ?? 0);
    return n;
  }

  /** A chunk moves off one of this daemon's own workers only once it says it will not run it; another daemon's worker cannot be asked. */
  withdraw(w: ClusterWorker, key: number): boolean {
    return w.kind === 'local' && !w.dead && this.#supervisor.withdraw?.(w.inner, key) === true;
  }

  send(w: ClusterWorker, m: ChunkCommand): boolean {
    if (w.dead) return false;
    if (m.t === 'run') {
      this.#realmOf.set(m.key, m.realm);
      if (w.outstanding.size === 0) w.headSince = Date.now();
      w.outstanding.add(m.key);
    }
    if (w.kind === 'local') return this.#supervisor.send(w.inner, m);
    let field = '';
    let out: ChunkCommand = m;
    if (m.t === 'run') {
      out = this.#withSource(w, m) ?? m;
      if (out === m && m.task.kind === 'source' && m.task.source === '') return false; // cannot happen: see the header
      field = `${this.#node.id}:${m.key}`;
    }
    // A grant gone at its lender, or a dispatch Redis did not take, is none of the chunks' doing: they
    // run again as they were, no attempt counted (docs/cluster.md).
    this.#scripts.dispatch(this.#node.id, w.lender, w.n, m.t, field, encodeMessage(out)).then(
      (r) => {
        if (!r.ok) this.#end(w, 'none', true);
      },
      () => this.#end(w, 'release', true),
    );
    return true;
  }

  kill(w: ClusterWorker, reason?: string): void {
    if (w.kind === 'local') {
      if (!w.dead) this.#supervisor.kill(w.inner, reason);
    } else this.#end(w, 'kill');
  }

  /** A local worker's messages may be held (worker-state-link.ts); a lender's worker reports through Redis, never held here. */
  whenHeard(w: ClusterWorker, fn: () => void): void {
    if (w.kind === 'local' && !w.dead && this.#supervisor.whenHeard !== undefined) this.#supervisor.whenHeard(w.inner, fn);
    else fn();
  }

  leaving(w: ClusterWorker, cause: string): void {
    if (w.kind === 'local') this.#supervisor.leaving?.(w.inner, cause);
  }

  retire(w: ClusterWorker, reason?: 'retired' | 'reload'): void {
    if (w.kind === 'local') {
      if (!w.dead) this.#supervisor.retire(w.inner, reason);
    } else this.#end(w, 'release');
  }

  // --- the Supervisor's events ----------------------------------------------

  localReady(w: WorkerSlot): void {
    this.#scheduler!.workerReady(this.#view(w));
  }

  localMessage(w: WorkerSlot, m: ChunkMessage): void {
    if (this.#away.has(w)) {
      this.#lender.workerMessage(w, m);
      return;
    }
    const view = this.#view(w);
    this.#charge(view, m);
    this.#scheduler!.workerMessage(view, m);
  }

  /** `how`: how it exited (recovery.ts exitText), for the error of an item that crashed it. */
  localExit(w: WorkerSlot, how?: string): void {
    if (this.#away.delete(w)) {
      this.#lender.workerExit(w); // the scheduler was told it exited when it was lent
      return;
    }
    const view = this.#view(w);
    this.#views.delete(w);
    this.#forget(view);
    this.#scheduler!.workerExit(view, false, how);
  }

  // --- inside ------------------------------------------------------------------

  /** True while local worker `w` is lent to another daemon (its chunks are that daemon's clients'). */
  lentAway(w: WorkerSlot): boolean {
    return this.#away.has(w);
  }

  /** The client of this daemon whose chunk local worker `w` runs now; none while it is lent (scheduler.ts clientOn). */
  clientOn(w: WorkerSlot): SchedulerClient | undefined {
    return this.#away.has(w) ? undefined : this.#scheduler?.clientOn(this.#view(w));
  }

  #view(w: WorkerSlot): LocalWorker {
    let v = this.#views.get(w);
    if (v === undefined) {
      v = new LocalWorker(w);
      this.#views.set(w, v);
    }
    return v;
  }

  #idleLocal(): WorkerSlot[] {
    return (
      this.#supervisor
        .workers()
        // A reserve worker stays for this daemon's own clients stuck behind long chunks (placement.ts).
        .filter((w) => w.ready && !w.dead && !w.reserve && !this.#away.has(w) && !this.#scheduler!.workerFigures(this.#view(w)).busy)
    );
  }

  /** The lender takes `w`: the scheduler, which has no chunk on it, is told it exited. */
  #take(w: WorkerSlot): void {
    const view = this.#view(w);
    view.away = true;
    this.#views.delete(w);
    this.#away.add(w);
    this.#scheduler!.workerExit(view);
  }

  /** The lender gives `w` back: the scheduler sees its slot refilled by a new, ready worker. */
  #giveBack(w: WorkerSlot): void {
    if (!this.#away.delete(w)) return;
    // One that died was exited to the scheduler already (dead is set before its exit is told, and no exit follows).
    if (!w.dead) this.#scheduler!.workerReady(this.#view(w));
  }

  /** A run for a remote slot, with its source put back if the scheduler elided it; undefined if unchanged. */
  #withSource(w: RemoteWorker, m: RunMessage): RunMessage | undefined {
    const task = m.task;
    if (task.kind !== 'source') return undefined;
    if (task.source !== '') {
      w.sources.set(task.hash, task.source);
      return undefined;
    }
    const source = w.sources.get(task.hash);
    return source === undefined ? undefined : { ...m, task: { ...task, source } };
  }

  /** A chunk's time goes to its app's score; a finished chunk leaves the worker's outstanding ones. */
  #charge(w: ClusterWorker, m: ChunkMessage): void {
    if (m.t === 'withdrawn' && m.outcome === 'withdrawn') {
      w.outstanding.delete(m.key);
      this.#realmOf.delete(m.key);
    }
    if (m.t !== 'done' && m.t !== 'part' && m.t !== 'fail') return;
    const realm = this.#realmOf.get(m.key);
    if (m.t !== 'part') {
      w.outstanding.delete(m.key);
      this.#realmOf.delete(m.key);
      w.headSince = Date.now(); // the next one sent to it starts now
    }
    // Weighted as on one daemon (fair-share.ts): an app of weight 2 is charged half its worker time, so it is granted twice as much.
    if (realm !== undefined && m.t !== 'fail') this.#ledger.charge(realm, m.ms / (this.#scheduler?.weightOf(realm) ?? 1));
  }

  /**
   * A worker ended: the chunk it was running is charged the time it held it, as the local fair share
   * settles it (a chunk that dies sends no `done` with its time: items that ran to their timeout, or
   * killed their worker, or ignored a cancel, were never charged, and lenders granted their app first
   * for ever: a neighbour on another daemon got none of a third daemon's worker). The others are not
   * charged (the scheduler reruns them under other keys or the same).
   */
  #forget(w: ClusterWorker): void {
    const head = w.outstanding.values().next();
    const realm = head.done ? undefined : this.#realmOf.get(head.value);
    if (realm !== undefined) this.#ledger.charge(realm, (Date.now() - w.headSince) / (this.#scheduler?.weightOf(realm) ?? 1));
    for (const key of w.outstanding) this.#realmOf.delete(key);
    if (w.kind !== 'local' && w.outstanding.size > 0) this.#scripts.forgetAttempts(this.#node.id, w.outstanding).catch(() => {});
    w.outstanding.clear();
  }

  #onEntry(e: InboxEntry): void {
    switch (e.t) {
      case 'grant':
        this.#granted(e);
        return;
      case 'rep':
      case 'end':
      case 'reclaim': {
        const w = this.#remote.get(`${e.f}|${e.n}`);
        if (w === undefined) return; // ended here already: nothing about it after its exit
        if (e.t === 'end') this.#end(w, 'none', e.b);
        else if (e.t === 'reclaim') {
          w.draining = true;
          w.ready = false;
          if (w.outstanding.size === 0) this.#end(w, 'release');
        } else this.#report(w, decodeMessage(e.m!) as ChunkMessage);
        return;
      }
      default:
        this.#lender.onEntry(e);
    }
  }

  #granted(e: InboxEntry): void {
    if (!this.#node.held()) {
      post(this.#node, this.#node.id, e.f, 'release', e.n).catch(() => {});
      return;
    }
    const w = new RemoteWorker(this.#nextSlot++, e.f, e.n, Date.now());
    this.#remote.set(`${e.f}|${e.n}`, w);
    this.#opts.log({ event: 'cluster-borrowed', slot: w.slot, lender: e.f, grant: e.n });
    this.#scheduler!.workerReady(w);
  }

  #report(w: RemoteWorker, m: ChunkMessage): void {
    this.#charge(w, m);
    if (w.outstanding.size === 0) w.idleSince = Date.now();
    this.#scheduler!.workerMessage(w, m);
    if (w.draining && w.outstanding.size === 0) this.#end(w, 'release');
  }

  /**
   * A remote slot ends: the scheduler hears its exit (and recovers its chunks)
   * and that the slot is gone; the grant's key goes, so nothing the lender
   * still sends for it is delivered; `release` or `kill` tells the lender.
   */
  #end(w: RemoteWorker, tell: 'release' | 'kill' | 'none', blameless = false): void {
    if (w.dead) return;
    w.dead = true;
    w.ready = false;
    this.#remote.delete(`${w.lender}|${w.n}`);
    this.#forget(w);
    this.#scripts.endGrant(w.lender, w.n).catch(() => {});
    if (tell !== 'none') post(this.#node, this.#node.id, w.lender, tell, w.n).catch(() => {});
    this.#scheduler!.workerExit(w, blameless);
    this.#scheduler!.slotRemoved(w.slot);
  }

  /**
   * Entries of this daemon's inbox were trimmed unread (inbox.ts): any grant, run, report or end
   * may be among them, and nothing says which. Every grant ends, both ways: borrowed slots are
   * killed (their chunks rerun; the keys' deletion fences what the lenders still send), lent
   * workers end with their owners told (a run lost here would never be answered). A grant lost
   * on its way here ends at its lender, which never saw a run on it (Lender.tick). None of it is
   * the chunks' doing: they run again as they were, no item's attempt counted, nobody charged.
   */
  #gap(lost: number): void {
    this.#opts.log({ event: 'cluster-inbox-gap', lost, borrowed: this.#remote.size, lent: this.#lender.lent });
    for (const w of [...this.#remote.values()]) this.#end(w, 'kill', true);
    this.#lender.endAll();
  }

  /** This incarnation lost its lease: nothing borrowed can be trusted, nothing lent may go on. */
  #lost(): void {
    this.#lender.lost();
    for (const w of [...this.#remote.values()]) this.#end(w, 'none', true);
    this.#demand.forget();
  }

  #tick(): void {
    const now = Date.now();
    for (const w of [...this.#remote.values()]) {
      if (w.outstanding.size > 0) continue;
      if (w.draining || now - w.idleSince >= IDLE_RELEASE_MS) this.#end(w, 'release');
    }
    this.#lender.tick(now);
    if (now - this.#publishedAt >= PUBLISH_MS && this.#node.held()) {
      this.#publishedAt = now;
      const queued = this.#scheduler?.queuedChunksByRealm() ?? new Map<string, number>();
      this.#demand.publish(this.#node.id, queued).catch(() => {});
      this.#ledger.seen(queued.keys(), now);
      this.#ledger.seen(this.#realmOf.values(), now);
      void this.#ledger.flush(now, this.#node.id);
    }
    if (now - this.#polledAt >= LEASE_POLL_MS) {
      this.#polledAt = now;
      this.#pollLenders().catch(() => {});
      this.#lender.checkOwners().catch(() => {});
    }
  }

  /** Ends the remote slots whose lender's lease is gone, or that the lender ended (its `end` may have been lost). */
  async #pollLenders(): Promise<void> {
    const slots = [...this.#remote.values()];
    const alive = await this.#scripts.alive(slots.map((w) => ({ peer: w.lender, lender: w.lender, n: w.n })));
    // A lender's lease lapsing (killed, stopped, cut off) is none of its chunks' doing either.
    slots.forEach((w, i) => {
      if (!alive[i]) this.#end(w, 'none', true);
    });
  }
}
