/**
 * lender.ts - the lender side of worker lending (docs/cluster.md): lends this
 * daemon's idle workers, one at a time, to other daemons' apps, and relays
 * between the owner and the lent worker.
 *
 *  - Local clients come first: a worker is lent only while this daemon has no
 *    queued chunk, and every lent worker is asked back (between chunks) as
 *    soon as local demand appears (one being granted then comes back as the
 *    grant is answered, unused). The host (cluster-pool.ts) takes a lent
 *    worker out of the local scheduler's hands and gives it back.
 *  - A grant goes to the app with demand and the lowest cluster-wide score
 *    (the `lend` script), the least recently granted among equal scores (a
 *    burst of grants finds apps level). A grant held a while by an app that
 *    is far ahead of another app with demand is asked back, so a lender's
 *    workers rotate between apps instead of staying with whoever came first.
 *  - Chunk keys are translated: the owner's key becomes a negative local key
 *    (the local scheduler's keys are positive), so the two never collide on a
 *    worker, and the worker's messages go back under the owner's key with the
 *    attempt number they ran under, through the `report` script (fencing),
 *    in order, a chunk's `started` messages coalesced while they wait
 *    (report-queue.ts: one per item of a timed batch, each a script, took a
 *    lender's lease).
 *  - Sources: the owner always sends a lent worker the full source (cluster-
 *    pool.ts says why), so runs are handed on as they are but for the key.
 *  - Liveness: an owner whose lease is gone (or a grant whose key the owner
 *    deleted, its `release` lost on the way), or this daemon losing its own
 *    lease (`lost`: a zombie), ends its grants at once: a worker with chunks
 *    of that owner is killed (nothing it says could be delivered anyway),
 *    an idle one given back.
 */
import { hostname } from 'node:os';
import { decodeMessage, encodeMessage } from '@corepool/protocol';
import type { AbortMessage, RunMessage } from '../ipc.js';
import type { WorkerSlot } from '../primary/supervisor.js';
import type { ChunkMessage } from '../primary/worker-pool.js';
import type { FailMessage } from '../ipc.js';
import type { ClusterNode } from './cluster-node.js';
import { post, type InboxEntry } from './inbox.js';
import type { LendingScripts } from './lending-scripts.js';
import { ReportQueue, type Report } from './report-queue.js';

/** What the lender needs from the pool that holds the local workers. */
export interface LenderHost {
  /** Local workers ready, idle and not lent. */
  idleWorkers(): WorkerSlot[];
  /** Takes a worker out of the local scheduler's hands. */
  take(w: WorkerSlot): void;
  /** Gives a taken worker back to the local scheduler (nothing if it exited meanwhile). */
  giveBack(w: WorkerSlot): void;
  /** Chunks the local clients have queued. */
  localDemand(): number;
  send(w: WorkerSlot, m: RunMessage | AbortMessage): boolean;
  kill(w: WorkerSlot, reason?: string): void;
}

export interface LenderOptions {
  /** Chunks one grant is expected to take off its app's demand (the owner's pipeline depth). */
  pipelineDepth: number;
  log(e: { event: string } & Record<string, unknown>): void;
}

/** A grant held this long is looked at again for fairness. */
const REVIEW_MS = 1_000;
/** A grant is asked back when its app is this many worker-ms ahead of another app with demand. */
const REVIEW_SLACK_MS = 500;
/** An owner that does not give a worker back this long after it was asked loses it anyway. */
const RECLAIM_WAIT_MS = 3_000;
/**
 * A grant with no chunk this long is one its owner does not know (its `grant` entry was trimmed
 * from the owner's inbox unread, inbox.ts): an owner gives back a slot idle for 300 ms.
 */
const UNUSED_GRANT_MS = 5_000;

interface Running {
  /** The owner's key. */
  key: number;
  attempt: number;
  /** The module of a module task (its failure to load here is this host's, said so in the error). */
  module?: string;
}

/** Why a lent worker was asked back (Grant.reclaimFor), and which reason overrides which. */
type Reclaim = 'fair' | 'local' | 'stop';
const RECLAIM_STRENGTH: Record<Reclaim, number> = { fair: 0, local: 1, stop: 2 };

interface Grant {
  readonly worker: WorkerSlot;
  /** The incarnation of this daemon that lent it (its lease fences the grant). */
  readonly self: string;
  readonly n: number;
  readonly owner: string;
  readonly app: string;
  readonly since: number;
  /** When its last chunk ended (or it was made): with none running since UNUSED_GRANT_MS, it ends. */
  idleSince: number;
  /** Local key -> the owner's chunk. */
  readonly chunks: Map<number, Running>;
  /** The owner's key -> local key. */
  readonly local: Map<number, number>;
  /** When this daemon asked for the worker back. */
  reclaimAt: number | undefined;
  /**
   * Why it was asked back: for this daemon's own clients ('local': taken by force after RECLAIM_WAIT_MS
   * only while they still wait), for a stop ('stop': taken then), or for another app that fell behind
   * ('fair': never taken by force, the owner gives it back after its chunk).
   */
  reclaimFor: Reclaim | undefined;
  /** The worker's reports on their way to the owner, in order (report-queue.ts). */
  readonly reports: ReportQueue;
}

export class Lender {
  readonly #node: ClusterNode;
  readonly #scripts: LendingScripts;
  readonly #host: LenderHost;
  readonly #opts: LenderOptions;
  readonly #byWorker = new Map<WorkerSlot, Grant>();
  readonly #byN = new Map<number, Grant>();
  /**
   * Grants ended here whose worker was killed, until it exits: what it still
   * says goes through the `report` script all the same, which refuses it (the
   * grant's key went before it), so a zombie's late reports are counted where
   * they are refused.
   */
  readonly #killed = new Map<WorkerSlot, Grant>();
  /**
   * Grants being made (the `lend` script's reply not read yet), with what
   * their owner already sent for them: the owner may read the grant and
   * dispatch a run before this daemon reads the script's reply.
   */
  readonly #making = new Map<number, InboxEntry[]>();
  #nextN = 0;
  #nextKey = 0;
  #lending = false;
  /** A graceful stop began: nothing more is lent. */
  #stopping = false;
  #reviewedAt = 0;
  /** Reports fenced off by the `report` script (this daemon's). */
  staleReports = 0;

  constructor(node: ClusterNode, scripts: LendingScripts, host: LenderHost, opts: LenderOptions) {
    this.#node = node;
    this.#scripts = scripts;
    this.#host = host;
    this.#opts = opts;
  }

  /** Workers lent now. */
  get lent(): number {
    return this.#byWorker.size;
  }

  /** True while `w` is lent (its messages are the lender's). */
  has(w: WorkerSlot): boolean {
    return this.#byWorker.has(w);
  }

  /** Called a few times a second: asks workers back for local clients, rotates grants, lends idle workers. */
  tick(now: number): void {
    if (!this.#node.held()) return;
    this.localWork(now);
    for (const g of [...this.#byWorker.values()]) {
      if (g.reclaimAt !== undefined && now - g.reclaimAt > RECLAIM_WAIT_MS) {
        // Asked back as soon as a placement left a local chunk queued (localWork), maybe for a
        // moment: if nothing local waits now, the owner still gives it back after its chunk, as
        // asked, and the wait starts again. Otherwise it is taken, its chunk killed and rerun by
        // the owner charging nobody: the lender's need is not the chunk's fault. Asked back for
        // fairness, it is never taken: killed after 3 s, an item longer than that was killed on
        // every lent worker it got, run again for ever (its app charged each time, so asked back again).
        if (g.reclaimFor === 'fair' || (g.reclaimFor === 'local' && !this.#stopping && this.#host.localDemand() === 0)) g.reclaimAt = now;
        else this.#end(g, 'end', true);
      } else if (g.chunks.size === 0 && now - g.idleSince > UNUSED_GRANT_MS) this.#end(g, 'end');
    }
    if (now - this.#reviewedAt >= REVIEW_MS && this.#byWorker.size > 0) {
      this.#reviewedAt = now;
      void this.#review(now).catch(() => {});
    }
    if (this.#host.localDemand() === 0 && !this.#lending && !this.#stopping) {
      this.#lending = true;
      void this.#lend(now)
        .catch(() => {})
        .finally(() => (this.#lending = false));
    }
  }

  /**
   * This daemon's own clients may have work its workers cannot take: every grant is asked back
   * (between the owner's chunks) now. Left to the tick, the lender's own client waited up to a tick
   * (100 ms) more for its worker than a remote app's chunk of a few ms held it.
   */
  localWork(now: number): void {
    if (this.#byWorker.size === 0 || !this.#node.held() || this.#host.localDemand() === 0) return;
    for (const g of this.#byWorker.values()) this.#reclaim(g, now, 'local');
  }

  /** Ends grants whose owner's lease is gone, or that the owner ended (their key is gone: its message may have been lost). */
  async checkOwners(): Promise<void> {
    const grants = [...this.#byWorker.values()];
    const alive = await this.#scripts.alive(grants.map((g) => ({ peer: g.owner, lender: g.self, n: g.n })));
    grants.forEach((g, i) => {
      if (!alive[i]) this.#end(g, 'none');
    });
  }

  /** This incarnation lost its lease: it lends nothing, and what it lent ends now (the owners see the lease gone). */
  lost(): void {
    for (const g of [...this.#byWorker.values()]) this.#end(g, 'none');
  }

  /** A graceful stop: nothing more is lent, and every lent worker is asked back between chunks. */
  stopLending(now: number): void {
    this.#stopping = true;
    for (const g of this.#byWorker.values()) this.#reclaim(g, now, 'stop');
  }

  /** The end of a graceful stop: what is still lent ends now, and its owners hear it. */
  endAll(): void {
    for (const g of [...this.#byWorker.values()]) this.#end(g, 'end', true);
  }

  /** An owner's message for one of the workers lent to it. */
  onEntry(e: InboxEntry): void {
    const g = this.#byN.get(e.n);
    if (g === undefined) {
      this.#making.get(e.n)?.push(e); // else a grant that ended meanwhile
      return;
    }
    if (g.owner !== e.f) return;
    switch (e.t) {
      case 'run': {
        const run = decodeMessage(e.m!) as RunMessage;
        const key = --this.#nextKey; // negative: never one of the local scheduler's keys
        g.chunks.set(key, { key: run.key, attempt: e.a, ...(run.task.kind === 'module' ? { module: run.task.url } : {}) });
        g.local.set(run.key, key);
        // An urgent chunk's `after` names one of the owner's keys too (worker/run-queue.ts). Unknown here once that chunk
        // is done (its end reaches the owner later, through Redis): 0, a key no chunk has, so the worker takes it to have
        // ended and says so (`behind`) if it runs another now. Left out, the worker could not tell.
        const after = run.after === undefined ? undefined : (g.local.get(run.after) ?? 0);
        const { after: _owners, ...rest } = run;
        if (!this.#host.send(g.worker, { ...rest, key, ...(after === undefined ? {} : { after }) }))
          this.#host.kill(g.worker, 'send refused');
        return;
      }
      case 'abort': {
        const abort = decodeMessage(e.m!) as AbortMessage;
        const key = g.local.get(abort.key);
        if (key !== undefined && !this.#host.send(g.worker, { t: 'abort', key })) this.#host.kill(g.worker, 'abort refused');
        return;
      }
      case 'kill':
        this.#end(g, 'kill');
        return;
      case 'release':
        this.#end(g, 'none');
        return;
    }
  }

  /** A lent worker's message: back to the owner under its key, through the attempt check. */
  workerMessage(w: WorkerSlot, m: ChunkMessage): void {
    const g = this.#byWorker.get(w) ?? this.#killed.get(w);
    // A lent worker was idle when lent, and its borrower cannot ask it to withdraw a chunk (ClusterPool.withdraw).
    if (g === undefined || m.t === 'withdrawn') return;
    let field = '';
    let attempt = 0;
    let final = false;
    let out: ChunkMessage = m;
    if (m.t !== 'recycle' && m.key !== undefined) {
      const run = g.chunks.get(m.key);
      if (run === undefined) return;
      field = `${g.owner}:${run.key}`;
      attempt = run.attempt;
      if (m.t === 'behind') {
        // Its running chunk's key is this daemon's too.
        const running = g.chunks.get(m.running);
        if (running === undefined) return;
        out = { ...m, key: run.key, running: running.key };
      } else out = m.t === 'fail' && run.module !== undefined ? { ...onThisHost(m, g.self), key: run.key } : { ...m, key: run.key };
      if (m.t === 'done' || m.t === 'fail') {
        final = true;
        g.chunks.delete(m.key);
        g.local.delete(run.key);
        if (g.chunks.size === 0) g.idleSince = Date.now();
      }
    }
    g.reports.push({ m: out, field, attempt, final });
  }

  /** Runs the report script for one of `g`'s reports (ReportQueue's send: never rejects). */
  #report(g: Grant, r: Report): Promise<void> {
    return this.#scripts
      .report(g.self, g.owner, g.n, r.field, r.attempt, r.final, encodeMessage(r.m))
      .then((delivered) => {
        if (!delivered) {
          this.staleReports++;
          this.#opts.log({ event: 'cluster-report-stale', owner: g.owner, grant: g.n, kind: r.m.t });
        }
      })
      .catch(() => {
        // Not known to have reached the owner (Redis unreachable, the link reset): the grant ends, and the
        // owner reruns what it had on this worker rather than wait for a report that may never come.
        if (this.#byWorker.get(g.worker) === g) this.#end(g, 'end', true);
      });
  }

  /** A lent worker exited: the grant ends; the owner recovers its chunks. */
  workerExit(w: WorkerSlot): void {
    this.#killed.delete(w);
    const g = this.#byWorker.get(w);
    if (g !== undefined) this.#end(g, 'end');
  }

  /** Asks the owner to give the worker back once it has nothing running on it. */
  #reclaim(g: Grant, now: number, why: Reclaim): void {
    if (g.reclaimAt !== undefined) {
      // The stronger reason holds: a stop over local need over fairness.
      if (RECLAIM_STRENGTH[why] > RECLAIM_STRENGTH[g.reclaimFor!]) g.reclaimFor = why;
      return;
    }
    g.reclaimAt = now;
    g.reclaimFor = why;
    post(this.#node, g.self, g.owner, 'reclaim', g.n).catch(() => {});
  }

  /**
   * Ends a grant: `end` tells the owner (the lender took the worker back or it
   * exited), `kill` and `none` do not (the owner asked, or is gone). A worker
   * still holding the owner's chunks is killed; an idle one goes back to the
   * local scheduler.
   */
  /** `blameless`: the owner is told no chunk on the worker caused it (it reruns them as they were, charging nobody). */
  #end(g: Grant, how: 'end' | 'kill' | 'none', blameless = false): void {
    if (this.#byWorker.get(g.worker) !== g) return;
    this.#byWorker.delete(g.worker);
    this.#byN.delete(g.n);
    // Behind the reports the worker made before (a `done` reaches the owner before the grant's end); what it says later is refused.
    g.reports.then(() => {
      this.#scripts.endGrant(g.self, g.n).catch(() => {});
      if (how === 'end') post(this.#node, g.self, g.owner, 'end', g.n, blameless).catch(() => {});
    });
    // The host keeps a killed worker out of the local scheduler's hands until its exit.
    if (how === 'kill' || g.chunks.size > 0) {
      if (!g.worker.dead) this.#killed.set(g.worker, g);
      this.#host.kill(g.worker, how === 'kill' ? 'killed by the borrowing daemon' : 'lent grant ended with chunks running');
    } else this.#host.giveBack(g.worker);
  }

  /** Lends idle workers while some app elsewhere has demand. */
  async #lend(now: number): Promise<void> {
    let idle = this.#host.idleWorkers();
    if (idle.length === 0) return;
    const want = await this.#node.redis.hgetall(this.#scripts.wantKey);
    const self = this.#node.id;
    if (!Object.values(want).some((v) => !v.startsWith(`${self}:`) && !v.endsWith(':0'))) return;
    for (;;) {
      idle = this.#host.idleWorkers();
      const w = idle[0];
      if (w === undefined || this.#host.localDemand() > 0 || !this.#node.held() || this.#stopping) return;
      this.#host.take(w);
      const n = ++this.#nextN;
      this.#making.set(n, []);
      let r;
      try {
        r = await this.#scripts.lend(this.#node.id, n, this.#opts.pipelineDepth);
      } catch (err) {
        // Whether it was granted is unknown: its key goes (the owner's poll ends a slot it made of it).
        this.#making.delete(n);
        this.#scripts.endGrant(self, n).catch(() => {});
        this.#host.giveBack(w);
        throw err;
      }
      const early = this.#making.get(n) ?? [];
      this.#making.delete(n);
      // A local client's chunk left queued while the script ran was placed when this grant was in no
      // list to ask back (localWork): kept, the worker went to the owner and came back only after the
      // next tick and the owner's chunk. Not yet used, it goes back to the local clients at once.
      const neededHere = this.#host.localDemand() > 0;
      if (!r.granted || w.dead || !this.#node.held() || this.#node.id !== self || this.#stopping || neededHere) {
        if (r.granted) {
          // The owner hears it ended (the worker died, this daemon lost its lease, or its clients need it);
          // runs it sent meanwhile never reached the worker, so they are rerun charging nobody.
          this.#scripts.endGrant(self, n).catch(() => {});
          post(this.#node, self, r.owner, 'end', n, true).catch(() => {});
        }
        this.#host.giveBack(w);
        return;
      }
      const g: Grant = {
        worker: w,
        self,
        n,
        owner: r.owner,
        app: r.app,
        since: now,
        idleSince: Date.now(),
        chunks: new Map(),
        local: new Map(),
        reclaimAt: undefined,
        reclaimFor: undefined,
        reports: new ReportQueue((report) => this.#report(g, report)),
      };
      this.#byWorker.set(w, g);
      this.#byN.set(n, g);
      this.#opts.log({ event: 'cluster-lent', slot: w.slot, pid: w.pid, owner: r.owner, grant: n });
      for (const e of early) this.onEntry(e);
    }
  }

  /** Asks back one grant whose app is far ahead of another app with demand (cluster-wide fairness). */
  async #review(now: number): Promise<void> {
    const redis = this.#node.redis;
    const want = await redis.hgetall(this.#scripts.wantKey);
    const self = `${this.#node.id}:`;
    const apps = Object.keys(want).filter((a) => !want[a]!.startsWith(self) && !want[a]!.endsWith(':0'));
    const held = [...this.#byWorker.values()].filter((g) => g.reclaimAt === undefined && now - g.since >= REVIEW_MS);
    if (apps.length === 0 || held.length === 0) return;
    const names = [...new Set([...apps, ...held.map((g) => g.app)])];
    const scores = await redis.zmscore(this.#scripts.shareKey, ...names);
    const score = new Map(names.map((a, i) => [a, Number(scores[i] ?? 0)]));
    const least = Math.min(...apps.map((a) => score.get(a)!));
    let worst: Grant | undefined;
    for (const g of held) if (worst === undefined || score.get(g.app)! > score.get(worst.app)!) worst = g;
    if (worst !== undefined && score.get(worst.app)! - least > REVIEW_SLACK_MS) this.#reclaim(worst, now, 'fair');
  }
}

/**
 * A module task that failed to load on a lent worker: the owner's app may have it where it
 * runs, so the error names this host and the rule it broke, not just the path.
 */
function onThisHost(m: FailMessage, self: string): FailMessage {
  const where = `on host ${hostname()} (daemon ${self}), whose worker ran it for another daemon of the cluster`;
  return {
    ...m,
    error: {
      ...m.error,
      message: `${m.error.message} [${where}: a module task must exist at the same path on every host of the cluster]`,
    },
  };
}
