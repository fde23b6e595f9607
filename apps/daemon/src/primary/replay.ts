/**
 * Replies a client may ask for again. A write's reply can be lost with its
 * socket (written, never read); the client then cannot tell whether the write
 * happened. So the SDK names itself (`hello.instance`) and, after reconnecting
 * to the same daemon process, sends its unanswered writes again with the same
 * request ids; the daemon answers each from here (the first outcome,
 * whatever it was), so a write is applied once and acknowledged once. A
 * queue.get is kept too, with one more rule (session.ts): its item belongs to
 * the last connection that carried the request and could still answer.
 * Entries go when the client acknowledges them (`ack` on its next request)
 * and every instance goes a while after its last connection closed. A
 * restarted daemon has an empty table and a new boot id: the client then
 * fails those writes with E_CONNECTION ("may or may not have been applied").
 */
import { BadMessageError } from '@corepool/protocol';

/** Replays kept per instance at most; past this the oldest go (a client that never acks). */
const MAX_PER_INSTANCE = 100_000;
/** How long an instance's replays outlive its last connection (longer than the SDK's reconnect window). */
const KEEP_AFTER_CLOSE_MS = 120_000;

/** One client instance's unacknowledged replies, in request order. */
export class InstanceReplays {
  readonly #replies = new Map<number, Promise<unknown>>();
  /** Highest request id dropped unacknowledged (over MAX_PER_INSTANCE). */
  #dropped = -1;
  sessions = 0;
  expiry: NodeJS.Timeout | undefined;

  /** The outcome of an earlier request `rid`, if it is still kept; throws if it was dropped. */
  get(rid: number): Promise<unknown> | undefined {
    const p = this.#replies.get(rid);
    if (p === undefined && rid <= this.#dropped) {
      throw new BadMessageError(`request ${rid} is too old to replay: whether it was applied is no longer known`);
    }
    return p;
  }

  remember(rid: number, outcome: Promise<unknown>): void {
    this.#replies.set(rid, outcome);
    outcome.catch(() => {}); // kept for a replay, not an unhandled rejection
    if (this.#replies.size > MAX_PER_INSTANCE) {
      const oldest = this.#replies.keys().next().value!;
      this.#replies.delete(oldest);
      this.#dropped = Math.max(this.#dropped, oldest);
    }
  }

  /** Forgets one request's outcome: a resend runs it again. */
  forget(rid: number): void {
    this.#replies.delete(rid);
  }

  /** Forgets every reply below `ack` (the client has them). Request ids grow, so they are at the front. */
  acknowledge(ack: number): void {
    for (const rid of this.#replies.keys()) {
      if (rid >= ack) return;
      this.#replies.delete(rid);
    }
  }
}

/** Every instance's replays, held while it is connected and a while after. */
export class ReplayTable {
  readonly #instances = new Map<string, InstanceReplays>();

  /** A session of `instance` opened. */
  attach(instance: string): InstanceReplays {
    let r = this.#instances.get(instance);
    if (r === undefined) {
      r = new InstanceReplays();
      this.#instances.set(instance, r);
    }
    clearTimeout(r.expiry);
    r.expiry = undefined;
    r.sessions++;
    return r;
  }

  /** A session of `instance` closed: its replays stay for the client's reconnect window. */
  detach(instance: string, r: InstanceReplays): void {
    if (--r.sessions > 0) return;
    r.expiry = setTimeout(() => {
      if (r.sessions === 0 && this.#instances.get(instance) === r) this.#instances.delete(instance);
    }, KEEP_AFTER_CLOSE_MS);
    r.expiry.unref();
  }

  get size(): number {
    return this.#instances.size;
  }
}
