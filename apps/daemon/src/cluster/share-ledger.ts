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
 */
import type { Redis } from 'ioredis';

/** An app unseen (nothing queued or running) this long leaves `share`. */
const FORGET_MS = 60_000;

export class ShareLedger {
  readonly #redis: Redis;
  readonly #key: string;
  #pending = new Map<string, number>();
  /** Apps charged or seen, with when they last had chunks queued or running. */
  readonly #seen = new Map<string, number>();
  #flushing = false;

  constructor(redis: Redis, shareKey: string) {
    this.#redis = redis;
    this.#key = shareKey;
  }

  /** `app` held a worker `ms` milliseconds (already divided by its weight). */
  charge(app: string, ms: number): void {
    if (!(ms > 0)) return;
    this.#pending.set(app, (this.#pending.get(app) ?? 0) + ms);
  }

  /** These apps have chunks queued or running now. */
  seen(apps: Iterable<string>, now: number): void {
    for (const app of apps) this.#seen.set(app, now);
  }

  /** Adds the pending charges; drops apps unseen for FORGET_MS. */
  async flush(now: number): Promise<void> {
    for (const [app, at] of this.#seen) {
      if (now - at < FORGET_MS) continue;
      this.#seen.delete(app);
      this.#redis.zrem(this.#key, app).catch(() => {});
    }
    if (this.#flushing || this.#pending.size === 0) return;
    this.#flushing = true;
    const batch = this.#pending;
    this.#pending = new Map();
    const pipe = this.#redis.pipeline();
    for (const [app, ms] of batch) pipe.zincrby(this.#key, Math.round(ms), app);
    try {
      const replies = (await pipe.exec()) ?? [];
      if (replies.some(([err]) => err !== null)) throw new Error('refused');
    } catch {
      for (const [app, ms] of batch) this.charge(app, ms);
    } finally {
      this.#flushing = false;
    }
  }
}
