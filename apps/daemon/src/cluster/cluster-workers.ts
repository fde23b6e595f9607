/**
 * cluster-workers.ts - the two kinds of worker a ClusterPool lists
 * (cluster-pool.ts): a view of one of this daemon's workers, which ends when
 * the worker is lent away, and a worker of another daemon lent to this one.
 */
import type { WorkerSlot } from '../primary/supervisor.js';
import type { PoolWorker } from '../primary/worker-pool.js';

/** One of this daemon's workers, as the scheduler sees it: a view that ends when the worker is lent away. */
export class LocalWorker implements PoolWorker {
  readonly kind = 'local';
  readonly inner: WorkerSlot;
  /** Lent away: the scheduler was told it exited. */
  away = false;
  /** Keys of the chunks sent and not finished. */
  readonly outstanding = new Set<number>();
  /** When the first of them began running, as far as the pool can tell (cluster-pool.ts #forget). */
  headSince = 0;
  constructor(inner: WorkerSlot) {
    this.inner = inner;
  }
  get slot(): number {
    return this.inner.slot;
  }
  get ready(): boolean {
    return this.inner.ready && !this.away;
  }
  get dead(): boolean {
    return this.inner.dead || this.away;
  }
  get reserve(): boolean {
    return this.inner.reserve;
  }
}

/** A worker of another daemon lent to this one. */
export class RemoteWorker implements PoolWorker {
  readonly kind = 'remote';
  readonly slot: number;
  readonly lender: string;
  /** The lender's number for the grant. */
  readonly n: number;
  ready = true;
  dead = false;
  /** The lender asked for it back: no new chunks, released once those it has are done. */
  draining = false;
  /** Keys of the chunks sent and not finished. */
  readonly outstanding = new Set<number>();
  /** When the first of them began running, as far as the pool can tell (cluster-pool.ts #forget). */
  headSince = 0;
  /** Sources sent to it, by hash (put back into runs the scheduler elides them from). */
  readonly sources = new Map<string, string>();
  idleSince: number;
  constructor(slot: number, lender: string, n: number, now: number) {
    this.slot = slot;
    this.lender = lender;
    this.n = n;
    this.idleSince = now;
  }
}

export type ClusterWorker = LocalWorker | RemoteWorker;
