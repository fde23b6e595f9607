/**
 * The requests a peer sent and has no reply to yet, by request id: the SDK's
 * connection and a worker's IPC channel both number their requests and
 * settle each promise when the reply with its id comes back.
 */
import { fromWire, type WireError } from './errors.js';

/** A request waiting for its reply. */
export interface PendingRequest<M> {
  /** What was asked, kept so it can be sent again after a reconnect. */
  readonly msg: M;
  /** Whether it reached the link (false while the link is down: sent again once it is back). */
  sent: boolean;
}

interface Entry<M> extends PendingRequest<M> {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** A reply as both transports carry it. */
export interface ReplyOutcome {
  ok: boolean;
  value?: unknown;
  error?: WireError | undefined;
}

/** Pending requests in the order they were made (so the first one is the oldest unanswered). */
export class PendingRequests<M> {
  readonly #byRid = new Map<number, Entry<M>>();
  #lastRid = 0;
  /**
   * The oldest rid still pending, known without walking the map (every request sent asks for it):
   * undefined when unknown (the oldest was settled) or when nothing is pending.
   */
  #oldest: number | undefined;

  /**
   * Gives `msg` the next request id and hands it to `send`, which says
   * whether it left; the promise settles with the reply to that id.
   */
  add(msg: M, send: (rid: number) => boolean): Promise<unknown> {
    const rid = ++this.#lastRid;
    return new Promise((resolve, reject) => {
      const entry: Entry<M> = { msg, sent: false, resolve, reject };
      // Registered before it is sent: `oldest` counts it, and a reply cannot beat it.
      if (this.#byRid.size === 0) this.#oldest = rid;
      this.#byRid.set(rid, entry);
      entry.sent = send(rid);
    });
  }

  /** The reply to `rid`: resolves its promise, or rejects it with the error rebuilt. A stale rid is ignored. */
  settle(rid: number, reply: ReplyOutcome): void {
    const entry = this.#byRid.get(rid);
    if (entry === undefined) return;
    this.#remove(rid);
    if (reply.ok) entry.resolve(reply.value);
    else entry.reject(fromWire(reply.error ?? { code: 'E_INTERNAL', message: 'the request failed and its reply gave no error' }));
  }

  /** Rejects `rid` without a reply. */
  reject(rid: number, err: unknown): void {
    const entry = this.#byRid.get(rid);
    if (entry === undefined) return;
    this.#remove(rid);
    entry.reject(err);
  }

  /** Rejects every pending request. */
  rejectAll(err: unknown): void {
    const all = [...this.#byRid.values()];
    this.#byRid.clear();
    this.#oldest = undefined;
    for (const entry of all) entry.reject(err);
  }

  /** How many requests wait for their reply. */
  get size(): number {
    return this.#byRid.size;
  }

  /** The id the next request will get. */
  get next(): number {
    return this.#lastRid + 1;
  }

  /** The lowest request id still unanswered, if any. */
  oldest(): number | undefined {
    if (this.#oldest === undefined && this.#byRid.size > 0) this.#oldest = this.#byRid.keys().next().value;
    return this.#oldest;
  }

  #remove(rid: number): void {
    this.#byRid.delete(rid);
    if (rid === this.#oldest) this.#oldest = undefined;
  }

  /** Every pending request by id, oldest first (one may be rejected while iterating). */
  entries(): IterableIterator<[number, PendingRequest<M>]> {
    return this.#byRid.entries();
  }
}
