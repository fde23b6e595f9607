/**
 * state-store.ts - the shared-state store as the primary uses it, whichever
 * backs it: SharedState (LMDB, one daemon) or RedisState (Redis, cluster mode,
 * apps/daemon/src/cluster/state/). Both take the same requests and give the
 * same replies and errors (the reply table is in shared-state.ts's header);
 * what differs is where the state lives and what a reply's durability means.
 */
import type { Push, StateListEntry, StateListPage, StateRequest } from '@corepool/protocol/internal';

/** A client instance and one of its request ids: where a write's reply is kept for a replay. */
export type ReplayKey = [instance: string, rid: number];

/**
 * Set on the error a store rejects a replayed request with when it never applied it (it waited its
 * turn, was never sent, and its owner went: cluster/state/costly-scripts.ts). The replay table then
 * forgets the request instead of keeping the failure, so the client's resend runs it afresh, once,
 * on whichever daemon it reaches. Kept, the resend was answered with the failure, the write never
 * applied; run later anyway, it could land a second time beside a resend another daemon applied.
 */
export const NOT_APPLIED: unique symbol = Symbol('not applied');

/** `err`, marked as the failure of a request that was never applied (NOT_APPLIED). */
export function notApplied<E extends Error>(err: E): E {
  return Object.assign(err, { [NOT_APPLIED]: true });
}

/**
 * The request id under which an instance's "too old to replay" watermark is kept with its
 * replies (no request has it: request ids are unsigned). Its reply is the watermark: resends up
 * to it were answered once and their replies dropped, so a restarted daemon refuses them too; or
 * [watermark, ...spared]: requests below it still pending when it was set, which may run afresh.
 */
export const TOO_OLD_MARK = -1;

/** How much state there is, for `daemon status` (a Redis store may give a recent, cached count). */
export interface StateCounts {
  values: number;
  queues: number;
  dicts: number;
  locks: number;
  blockedGets: number;
  lockWaiters: number;
  /**
   * What values, queues and dicts hold of the primary's memory and its bound, and what connections'
   * entries hold (state-memory.ts); absent when the state lives elsewhere (Redis).
   */
  memory?: { usedBytes: number; limitBytes: number; entryBytes: number; replyBytes: number };
}

/**
 * One named thing of the shared state and one page of them, as the dashboard, `client.list()`
 * and `corepool state ls` get them (state-listing.ts bounds names to LISTED_NAME_CHARS and
 * previews to PREVIEW_CHARS): the protocol's types, one definition for both sides.
 */
export type StateEntry = StateListEntry;
export type StateListing = StateListPage;

/** The shared-state store. */
/** A queue item whose reply its owner can no longer receive (StateStore.undeliveredItems). */
export interface UndeliveredItem {
  value: Uint8Array;
  key?: ReplayKey | undefined;
}

/** Each queue's undelivered items, in the order of `entries` (a Map keeps its keys' order of insertion). */
export function byQueue<T extends { name: string }>(entries: Iterable<T>, item: (e: T) => UndeliveredItem): Map<string, UndeliveredItem[]> {
  const out = new Map<string, UndeliveredItem[]>();
  for (const e of entries) {
    const list = out.get(e.name);
    if (list === undefined) out.set(e.name, [item(e)]);
    else list.push(item(e));
  }
  return out;
}

export interface StateStore {
  /** Where pushes for subscribers go; set by the primary. */
  onPush: (owner: string, push: Push) => void;
  /**
   * Where the time spent for an owner outside its requests' turns goes, so the primary charges the owner's
   * connection: its writes' pushes (fanout.ts), its large listings' encoding (listing-encoder.ts).
   */
  onOwnerCost?: (owner: string, ms: number) => void;
  /**
   * Runs one request for `owner` (an opaque string like "c:12" for a client or
   * "w:3" for a task's worker, unique among this daemon's owners). Resolves to
   * the reply, rejects with a CorepoolError. With `key`, a write's reply is
   * kept with the write, so a resend of the same request id is answered from
   * it, not applied again.
   */
  handle(owner: string, req: StateRequest, key?: ReplayKey): Promise<unknown>;
  /**
   * A reply its owner can no longer receive: a queue item taken for it goes
   * back to the front of its queue. `key`: the replay key the item was taken
   * under, when it was (a store shared by several daemons puts it back only if
   * no other daemon has answered a resend of that request from the kept reply).
   */
  undelivered(req: StateRequest, value: unknown, key?: ReplayKey): void;
  /**
   * Items of queue `name` taken for owners that can no longer receive them, in the order they were
   * taken: back to the front of the queue in that order (the first of them first in line, or to the
   * oldest blocked get), not one at a time, which would stand them in reverse or hand a blocked get
   * the newest. `key` as for `undelivered`.
   */
  undeliveredItems(name: string, items: readonly UndeliveredItem[]): void;
  /** The owner is gone: its subscriptions end, its locks are released, its blocked gets and acquires fail with E_CANCELLED. */
  releaseOwner(owner: string): void;
  /** The owner's blocked queue gets fail with E_CANCELLED (a worker whose running task was cancelled); nothing else of it ends. */
  cancelGets(owner: string): void;
  /**
   * The owner's blocked lock acquires fail with E_CANCELLED (a worker whose tasks that asked for
   * them have ended); the locks it holds stay held, released by their tasks' own releases.
   */
  cancelAcquires(owner: string): void;
  /** Every reply kept for a replay that the primary must load at start (a store that answers resends itself returns none). */
  keptReplies(): Map<string, Map<number, unknown>>;
  /** Deletes a kept reply (acknowledged, or its client is gone). */
  dropReply(key: ReplayKey): void;
  /** Keeps `instance`'s too-old mark (TOO_OLD_MARK, as replay.ts writes and reads it) with its replies. */
  markTooOld(instance: string, mark: number | number[]): void;
  /**
   * Items that gets took and replies kept in the primary for a resend hold grew by `bytes` (shrank,
   * when negative): a store that bounds the primary's memory counts them as its state still,
   * never refusing them.
   */
  holdItems(bytes: number): void;
  /** What else replies kept in the primary hold grew by `bytes` (shrank, when negative): counted apart, never refused. */
  holdReplies(bytes: number): void;
  /** How much state there is. */
  counts(): StateCounts;
  /**
   * One page of the named state (at most about `limit` entries, from `cursor`, an opaque
   * string of a previous page's `next`), for the dashboard: bounded in what it reads and
   * decodes however much state an app made.
   */
  list(limit: number, cursor?: string): Promise<StateListing>;
  /** Fails blocked calls with E_SHUTTING_DOWN and makes durable what is pending; later requests fail with E_SHUTTING_DOWN. */
  close(): Promise<void>;
}
