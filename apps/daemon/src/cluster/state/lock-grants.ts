/**
 * lock-grants.ts - Lock in cluster mode: an acquire takes the lock at once
 * (LOCK_ACQUIRE, with the next fencing token), or parks here while another
 * holds it and is retried, oldest first, when the change feed says the lock
 * was released and on the slow poll (a holder whose daemon died frees the
 * lock when its lease key lapses, which records no change). What this
 * daemon's owners hold is known here (lock-holdings.ts), so an owner that
 * goes has its locks released.
 */
import { CancelledError, TimeoutError } from '@corepool/protocol';

import { OwnerQuota } from '../../state/owner-index.js';
import type { ReplayKey } from '../../state/state-store.js';
import { LockHoldings, type Doubt, type Holding } from './lock-holdings.js';
import { LOCK_ACQUIRE, LOCK_RELEASE } from './lock-scripts.js';
import { ParkedCalls } from './parked.js';
import { locksFree, PollSweep } from './poll-sweep.js';
import { Pumps } from './pump.js';
import { decimal, type ScriptAnswer } from './replies.js';
import { Script } from './scripts.js';
import type { StateRedis } from './state-redis.js';

const ACQUIRE = new Script(LOCK_ACQUIRE);
const RELEASE = new Script(LOCK_RELEASE);

export class LockGrants {
  readonly #r: StateRedis;
  /** Locks held or awaited per owner: a grant turns an awaited entry into a held one. */
  readonly #quota = new OwnerQuota('locks held or awaited');
  readonly #parked = new ParkedCalls<number>((p, served) => {
    if (!served) this.#quota.remove(p.owner);
  });
  readonly #holdings = new LockHoldings();
  readonly #pumps: Pumps;
  /** What comes before and after a daemon id in its lease key: the acquire script rebuilds a holder's. */
  readonly #leasePre: string;
  readonly #leasePost: string;
  /** The highest token granted here: a fence that starts over starts above it. */
  #lastToken = 0;
  /** The poll wakes only the locks Redis says an acquire would get, not every lock acquires are parked on. */
  readonly #sweep: PollSweep;

  constructor(r: StateRedis) {
    this.#r = r;
    this.#pumps = new Pumps(() => !r.closed && r.node.held());
    const probe = r.node.leaseKey('\u0000');
    this.#leasePre = probe.slice(0, probe.indexOf('\u0000'));
    this.#leasePost = probe.slice(probe.indexOf('\u0000') + 1);
    this.#sweep = new PollSweep(
      (names) =>
        locksFree(
          r.node.redis,
          names.map((n) => r.keys.lock(n)),
          this.#leasePre,
          this.#leasePost,
        ),
      (name) => this.wake(name),
    );
  }

  /** Acquires waiting now. */
  get waiting(): number {
    return this.#parked.size;
  }

  /** The token of a grant of `name` to `owner`, now or once the lock is free (E_TIMEOUT past `timeoutMs`; 0: try once). */
  async acquire(owner: string, name: string, timeoutMs: number | undefined): Promise<number> {
    this.#quota.check(owner);
    if (this.#parked.has(name)) this.#r.ready();
    else {
      const [token, cancel] = await this.#parked.firstTry(owner, () => this.#try(owner, name));
      if (token !== undefined) {
        this.#quota.add(owner);
        return token;
      }
      if (cancel !== undefined) throw cancel;
    }
    if (timeoutMs === 0) throw new TimeoutError(`lock "${name}" is held`, { timeoutMs });
    this.#quota.check(owner);
    this.#quota.add(owner);
    const timedOut = (): Error => new TimeoutError(`lock "${name}": not acquired within ${timeoutMs} ms`, { timeoutMs });
    const parked = this.#parked.park(owner, name, undefined, timeoutMs, timedOut);
    this.wake(name);
    return parked;
  }

  /** Releases `name` held by `owner` with `token`; E_LOCK_NOT_HELD otherwise. */
  async release(owner: string, name: string, token: number, key: ReplayKey | undefined): Promise<void> {
    const held = this.#holdings.get(owner, name);
    const mine = held?.token === token;
    // The holder as recorded at the grant (this daemon's incarnation then).
    const holder = mine ? held.holder : this.#r.holder(owner);
    try {
      await this.#r.run(RELEASE, key, [this.#r.keys.lock(name)], [holder, String(token), name]);
    } catch (err) {
      // A release Redis did not take is this daemon's to retry (not held: someone else's now).
      if (mine && (err as { code?: unknown }).code !== 'E_LOCK_NOT_HELD') this.#holdings.retryLater(held);
      throw err;
    } finally {
      // The grant is given up whatever Redis said: the caller forgets it on any answer (the SDK, a task's
      // end). Kept as held after a failure, it stayed held in Redis and counted here until the owner went.
      if (mine) {
        this.#holdings.remove(owner, name);
        this.#quota.remove(owner);
      }
    }
  }

  /** The lock was released (or may be free): grant it to the oldest acquire parked on it. */
  wake(name: string): void {
    if (!this.#parked.has(name)) return;
    void this.#pumps.pump(name, async () => {
      const w = this.#parked.first(name);
      if (w === undefined) return 'done';
      const token = await this.#try(w.owner, name);
      if (token === undefined) return 'empty';
      if (!this.#parked.resolve(w, token)) {
        // It timed out meanwhile: the grant is given up (its quota entry went with the timeout).
        const h = this.#holdings.get(w.owner, name);
        this.#holdings.remove(w.owner, name);
        if (h !== undefined) this.#release(h);
      }
      return 'done';
    });
  }

  /**
   * The slow poll: parked acquires tried again where the lock is free (poll-sweep.ts), releases Redis
   * did not take sent again, locks acquires whose answer was lost may hold looked at.
   */
  poll(): void {
    if (this.#r.node.held()) this.#sweep.run(this.#parked.names());
    for (const h of this.#holdings.retries()) this.#release(h);
    for (const d of this.#holdings.doubts()) this.#settle(d);
  }

  /**
   * An acquire's answer was lost: if Redis holds the lock for its holder with a token this daemon
   * did not grant, nobody knows of that grant (the caller had an error), so it is released. The
   * token guards the release: a later grant to the same owner has another.
   */
  #settle(d: Doubt): void {
    const r = this.#r;
    r.track(
      (r.read('HMGET', r.keys.lock(d.name), 'owner', 'token') as Promise<[Buffer | null, Buffer | null]>).then(
        ([holder, token]) => {
          if (holder === null || token === null || String(holder) !== d.holder) return;
          const t = decimal(token);
          if (this.#holdings.get(d.owner, d.name)?.token !== t) this.#release({ name: d.name, holder: d.holder, token: t });
        },
        () => this.#holdings.doubt(d),
      ),
    );
  }

  /** `owner` is gone: its parked acquires fail with `err`, its locks are released. */
  dropOwner(owner: string, err: Error): void {
    this.#parked.dropOwner(owner, err);
    for (const h of this.#holdings.take(owner)) this.#release(h);
    this.#quota.drop(owner);
  }

  /**
   * `owner`'s parked acquires fail with `err` (their quota entries go with them), and so do those
   * whose first try is in flight now; what it holds stays held.
   */
  cancelAcquires(owner: string, err: Error): void {
    this.#parked.cancel(owner, err);
  }

  /** The owners holding locks through this daemon now. */
  holders(): string[] {
    return this.#holdings.owners();
  }

  /** Fails every parked acquire. */
  dropAll(err: Error): void {
    this.#parked.dropAll(err);
  }

  /** One acquire attempt for `owner`: its token (recorded as held), or undefined while another holds the lock. */
  async #try(owner: string, name: string): Promise<number | undefined> {
    const r = this.#r;
    const holder = r.holder(owner);
    r.ready(); // not sent: nothing to doubt
    this.#holdings.acquiring(owner);
    let a: ScriptAnswer | undefined;
    let failure: unknown;
    try {
      a = await r.run(
        ACQUIRE,
        undefined,
        [r.keys.lock(name), r.keys.fence],
        [holder, r.node.id, this.#leasePre, this.#leasePost, this.#lastToken],
      );
    } catch (err) {
      failure = err;
    }
    const gone = this.#holdings.acquired(owner);
    if (a === undefined) {
      // No answer (the link remade under it): Redis may have run it, the lock then held by nobody who knows.
      if ((failure as { code?: unknown }).code === 'E_UNAVAILABLE') this.#holdings.doubt({ owner, name, holder });
      throw failure;
    }
    if (a.word === 'held') return undefined;
    const h: Holding = { name, holder, token: decimal(a.rest[0]) };
    this.#lastToken = Math.max(this.#lastToken, h.token);
    if (gone) {
      this.#release(h);
      throw new CancelledError('the requester went away');
    }
    this.#holdings.add(owner, h);
    return h.token;
  }

  /** Releases a lock an owner here no longer holds; retried on the poll while Redis does not answer. */
  #release(h: Holding): void {
    const r = this.#r;
    r.track(
      r.script(RELEASE, undefined, [r.keys.lock(h.name)], [h.holder, String(h.token), h.name]).catch((err: unknown) => {
        if ((err as { code?: unknown }).code !== 'E_LOCK_NOT_HELD') this.#holdings.retryLater(h);
      }),
    );
  }
}
