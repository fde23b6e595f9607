/**
 * share-ledger.ts - this daemon's side of the cluster-wide fair-share ledger
 * (`share`: app -> worker-ms, docs/cluster.md "Fairness across the cluster").
 * Every daemon charges the chunks of its own clients as they finish, on its
 * own workers or on lent ones; lenders grant to the app with demand and the
 * lowest score. Charges are summed here and added in one pipeline a few times
 * a second: the ledger orders apps, it need not be exact to the millisecond.
 * A charge Redis refused is kept for the next flush. Apps are client realms,
 * one per connection: an app neither queued nor running for FORGET_MS leaves
 * the ledger (its client is gone), or `share` would keep every client ever seen.
 * Charges come weighted (cluster-pool.ts divides a chunk's time by its client's
 * weight), so the score is worker time over weight, as on one daemon.
 *
 * Only this daemon forgets its apps, and a daemon that dies (kill -9, a host
 * lost) forgets nothing: its apps' entries stayed in `share` for the life of
 * the cluster, one per connection it ever had. So each daemon also lists the
 * apps it put in `share` in `apps:<member id>` (a SET under the cluster's
 * hash tag): added in the same pipeline as their first charge (the `demand`
 * script adds the apps it enters into `share` itself), removed with the ZREM of
 * a forgotten app. The reaper (membership-scripts.ts) removes a dead member's apps from
 * `share` and drops the set; a graceful leave does the same. The set costs no
 * round trip of its own: an SADD rides with the charges, once per app and
 * incarnation.
 */
import type { Redis } from 'ioredis';

/** An app unseen (nothing queued or running) this long leaves `share`. */
const FORGET_MS = 60_000;

export class ShareLedger {
  readonly #redis: Redis;
  readonly #key: string;
  /** The key of member `id`'s set of apps in `share`. */
  readonly #appsKey: (id: string) => string;
  #pending = new Map<string, number>();
  /** Apps charged or seen, with when they last had chunks queued or running. */
  readonly #seen = new Map<string, number>();
  /** Apps known to be in `apps:<#owner>` (added by a flush that succeeded). */
  readonly #listed = new Set<string>();
  /** The member id `#listed` is about: a new incarnation lists its apps again. */
  #owner = '';
  /** Apps forgotten whose ZREM/SREM has not been applied yet (retried at the next flush). */
  readonly #forgotten = new Set<string>();
  #flushing: Promise<void> | undefined;

  constructor(redis: Redis, shareKey: string, appsKey: (id: string) => string) {
    this.#redis = redis;
    this.#key = shareKey;
    this.#appsKey = appsKey;
  }

  /** `app` held a worker `ms` milliseconds (already divided by its weight). */
  charge(app: string, ms: number): void {
    if (!(ms > 0)) return;
    this.#pending.set(app, (this.#pending.get(app) ?? 0) + ms);
  }

  /** These apps have chunks queued or running now. */
  seen(apps: Iterable<string>, now: number): void {
    for (const app of apps) {
      this.#seen.set(app, now);
      this.#forgotten.delete(app);
    }
  }

  /** Adds the pending charges and lists their apps as member `self`'s; drops apps unseen for FORGET_MS. */
  flush(now: number, self: string): Promise<void> {
    if (this.#flushing !== undefined) return this.#flushing;
    this.#flushing = this.#flush(now, self).finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  /** Resolves once no flush is in flight (a graceful stop: nothing is listed after the leave). */
  async settled(): Promise<void> {
    await this.#flushing;
  }

  async #flush(now: number, self: string): Promise<void> {
    if (self !== this.#owner) {
      // A new incarnation (the old lease lapsed): its set is a new key, so every app is listed again.
      this.#owner = self;
      this.#listed.clear();
    }
    const batch = this.#pending;
    this.#pending = new Map();
    // A charged app counts as seen: one whose chunks all started and finished between two
    // publications was never seen, so never forgotten, and stayed in `share` for good.
    for (const app of batch.keys()) if (!this.#seen.has(app)) this.#seen.set(app, now);
    for (const [app, at] of this.#seen) {
      if (now - at < FORGET_MS) continue;
      this.#seen.delete(app);
      this.#listed.delete(app);
      this.#forgotten.add(app);
    }
    const fresh = [...batch.keys()].filter((app) => !this.#listed.has(app));
    const gone = [...this.#forgotten];
    if (batch.size === 0 && gone.length === 0) return;
    const apps = this.#appsKey(self);
    const pipe = this.#redis.pipeline();
    // Listed before charged: a daemon killed between the two leaves no entry the reaper cannot find.
    if (fresh.length > 0) pipe.sadd(apps, ...fresh);
    for (const [app, ms] of batch) pipe.zincrby(this.#key, Math.round(ms), app);
    if (gone.length > 0) pipe.zrem(this.#key, ...gone).srem(apps, ...gone);
    try {
      const replies = (await pipe.exec()) ?? [];
      if (replies.some(([err]) => err !== null)) throw new Error('refused');
      if (this.#owner === self) for (const app of fresh) this.#listed.add(app);
      for (const app of gone) this.#forgotten.delete(app);
    } catch {
      for (const [app, ms] of batch) this.charge(app, ms);
    }
  }
}
