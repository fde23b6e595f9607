/**
 * replay-log.ts - the writes' kept replies (see primary/replay.ts), durable
 * in LMDB's `replay-log` table, committed in the same batch as the writes
 * they answer.
 *
 * A client instance's replies are grouped by request id into segments of
 * SEGMENT_RIDS, one record each ([instance, segment] -> the segment's
 * entries), serialised once per commit batch like a counter's record
 * (store.ts's `touch`). A write and the acknowledgement of the ones before it
 * then cost one record written per batch and client, instead of one record
 * put and one deleted per write (the first layout, one record per request id,
 * spent a third of the primary's LMDB work on that churn). A segment never
 * holds more than SEGMENT_RIDS entries, so re-serialising one is bounded even
 * for a client that never acknowledges anything. An emptied segment's record
 * is deleted.
 *
 * Record layout: one control-encoded array [rid, reply, rid, reply, ...].
 * Replies are kept as the objects the writes answered with (the same ones
 * the in-memory replays hold), and a segment is encoded once per batch that
 * changed it (encodePairs, which writes a Value's reply by hand): under a
 * burst of 100,000 adds each reply was encoded ~15 times as its segment
 * filled, by msgpackr 3.5 times slower.
 *
 * A queue.get's reply is kept with its queue's name (TakenItem). One whose item
 * is over OWN_RECORD_BYTES is not in a segment: it
 * has a record of its own in the `replays` table ([instance, rid] ->
 * {v: reply}, the earlier layout's), written once and deleted once. In a
 * segment it would be written again with every later reply of its segment: a
 * consumer with many large gets in flight wrote its items quadratically (64
 * items of 64 KiB, answered a batch each: 137.8 MB written instead of 5.3).
 *
 * An instance's too-old mark ([instance, TOO_OLD_MARK], replay.ts) has a
 * record of its own in `replays` too, and one Map entry here: in a segment it
 * took a Map, a segment and its slots, ~700 bytes, for each of the instances a
 * flood evicts (primary/replay-table.ts), whose marks stay two minutes.
 *
 * A batch that fails to commit: its segments and own records are read back
 * from LMDB (`reload`, `reloadOwn`), so no reply of a rolled-back write is
 * ever made durable.
 */
import { VersionReply, decodeMessage, encodeMessage, encodePairs } from '@corepool/protocol/internal';

import { TOO_OLD_MARK, type ReplayKey } from './state-store.js';
import type { Dirty, Store, Table } from './store.js';

/** Request ids per segment record. */
export const SEGMENT_RIDS = 256;

/** Replies (bytes) longer than this have a record of their own (see the header). */
export const OWN_RECORD_BYTES = 256;

/**
 * A queue.get's reply as the log keeps it: the item, with the queue it came from. The client
 * gets the item alone; the queue is for a daemon restarted before the client acknowledged it,
 * which puts the item back there when the client's instance ends (primary/replay.ts's
 * restore), as a daemon that never stopped does. Stored as {taken, item}; a get's reply an
 * earlier version kept (the item alone) is restored as a reply and never put back.
 */
export class TakenItem {
  readonly taken: string;
  readonly item: Uint8Array;

  constructor(queue: string, item: Uint8Array) {
    this.taken = queue;
    this.item = item;
  }
}

/** The item and queue of a stored get's reply (a TakenItem, or what one decodes to); undefined for any other reply. */
export function takenItem(reply: unknown): TakenItem | undefined {
  if (reply instanceof TakenItem) return reply;
  if (typeof reply !== 'object' || reply === null) return undefined;
  const { taken, item } = reply as { taken?: unknown; item?: unknown };
  return typeof taken === 'string' && item instanceof Uint8Array ? new TakenItem(taken, item) : undefined;
}

/**
 * Whether `reply` is kept in a record of its own rather than in its segment: one carrying more than
 * OWN_RECORD_BYTES of data. A value's reply carries the value (`value.init` on a value that exists, the
 * sum of an `add`): kept in its segment, a segment of 256 such replies of a value of 8 MB was encoded
 * again and written whole at every commit that touched it (a hostile review: a frame of `value.init`s of
 * one large value, never acknowledged, made gigabytes of segment writes in one uncharged flush).
 */
function ownRecord(reply: unknown): boolean {
  const bytes = reply instanceof Uint8Array ? reply : (takenItem(reply)?.item ?? versionBytes(reply));
  return bytes !== undefined && bytes.byteLength > OWN_RECORD_BYTES;
}

/** The value a Value's reply carries (a VersionReply, or what one decodes to from its record); undefined for any other reply. */
function versionBytes(reply: unknown): Uint8Array | undefined {
  if (reply instanceof VersionReply) return reply.value;
  if (typeof reply !== 'object' || reply === null) return undefined;
  const { version, value } = reply as { version?: unknown; value?: unknown };
  return typeof version === 'number' && value instanceof Uint8Array ? value : undefined;
}

/**
 * One segment of an instance's kept replies: a slot per request id from the lowest one it holds
 * (the first set since it was last empty), grown as ids come (at most SEGMENT_RIDS). A Map
 * reallocated its table as a burst filled a segment and again as acknowledgements emptied it
 * (~250 bytes per write in flight). Slots from the segment's own first id made a holey array
 * as long as the id's place in the segment whenever an emptied segment was made again: a client
 * awaiting each write (its next request acknowledges the last) had one made per write, about
 * 1 KB each, the largest allocation of the daemon's write path.
 */
class Segment implements Dirty {
  readonly table: Table;
  readonly key: [string, number];
  /** Request id of slot 0: slot i holds request base + i's reply (undefined: none). */
  #base: number;
  #slots: unknown[] = [];
  /** Replies held. */
  size = 0;

  constructor(table: Table, instance: string, segment: number) {
    this.table = table;
    this.key = [instance, segment];
    this.#base = segment * SEGMENT_RIDS;
  }

  /** `rid` must be one of this segment's (ReplayLog#segment placed it here); `reply` is never undefined. */
  set(rid: number, reply: unknown): void {
    if (this.size === 0) {
      this.#slots = [];
      this.#base = rid;
    } else if (rid < this.#base) {
      // An id below the lowest held (requests answered out of order): the slots move up.
      this.#slots = [...new Array<unknown>(this.#base - rid), ...this.#slots];
      this.#base = rid;
    }
    const i = rid - this.#base;
    if (this.#slots[i] === undefined) this.size++;
    this.#slots[i] = reply;
  }

  /** Forgets `rid`'s reply; false if there was none. */
  delete(rid: number): boolean {
    const i = rid - this.#base;
    if (i < 0 || this.#slots[i] === undefined) return false;
    this.#slots[i] = undefined;
    this.size--;
    return true;
  }

  /** Each reply with its request id, in request id order (what encodePairs reads, as it reads a Map). */
  forEach(each: (reply: unknown, rid: number) => void): void {
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) if (slots[i] !== undefined) each(slots[i], this.#base + i);
  }

  record(): Uint8Array | undefined {
    if (this.size === 0) return undefined;
    return encodePairs(this);
  }

  /** Replaces the entries with those of a stored record (undefined: none); false if it does not decode, or holds ids of another segment. */
  load(stored: Uint8Array | undefined): boolean {
    this.#slots = [];
    this.size = 0;
    const first = this.key[1] * SEGMENT_RIDS;
    if (stored === undefined) return true;
    let flat: unknown;
    try {
      flat = decodeMessage(stored);
    } catch {
      return false;
    }
    if (!Array.isArray(flat)) return false;
    let whole = flat.length % 2 === 0;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const rid = flat[i];
      if (typeof rid !== 'number' || !Number.isInteger(rid) || rid < first || rid >= first + SEGMENT_RIDS) {
        whole = false;
        continue;
      }
      // A reply that decodes as undefined (a damaged record) is still a reply: the write is not applied again.
      this.set(rid, flat[i + 1] ?? null);
    }
    return whole;
  }
}

/** Every client instance's kept replies, in memory and in the store. */
export class ReplayLog {
  readonly #store: Store;
  readonly #table: Table;
  /** instance -> segment number -> segment. */
  readonly #segments = new Map<string, Map<number, Segment>>();
  /** instance -> request id -> a reply with a record of its own (in `replays`). */
  readonly #own = new Map<string, Map<number, unknown>>();
  /** instance -> its too-old mark, each with a record of its own (in `replays`). */
  readonly #marks = new Map<string, unknown>();

  private constructor(store: Store) {
    this.#store = store;
    this.#table = store.replayLog;
  }

  /** Loads the stored segments; replies kept one record per request id (the earlier layout) move into them. */
  static load(store: Store): ReplayLog {
    const log = new ReplayLog(store);
    for (const { key, value } of store.replayLog.getRange()) {
      if (!isReplayKey(key)) continue;
      const s = log.#segment(key[0], key[1]);
      if (!s.load(value)) {
        // Damaged: whatever parsed is kept; the record is rewritten from it.
        store.touch(s);
      }
    }
    // A mark an earlier version kept in a segment moves to a record of its own.
    for (const [instance, segments] of log.#segments) {
      const s = segments.get(Math.floor(TOO_OLD_MARK / SEGMENT_RIDS));
      s?.forEach((mark, rid) => {
        if (rid !== TOO_OLD_MARK) return;
        log.drop([instance, rid]);
        log.keep([instance, rid], mark);
      });
    }
    for (const { key, value } of store.replays.getRange()) {
      const reply = ownReply(key, value);
      if (reply === NONE) {
        store.remove(store.replays, key);
        continue;
      }
      const k = key as ReplayKey;
      if (k[1] === TOO_OLD_MARK) log.#marks.set(k[0], reply);
      else if (ownRecord(reply)) log.#setOwn(k, reply);
      else {
        store.remove(store.replays, key);
        log.keep(k, reply);
      }
    }
    return log;
  }

  /** Keeps `reply` for a resend of `key`'s request, committed with the current batch. */
  keep(key: ReplayKey, reply: unknown): void {
    if (key[1] === TOO_OLD_MARK) {
      this.#marks.set(key[0], reply);
      this.#store.put(this.#store.replays, key, encodeMessage({ v: reply }));
      return;
    }
    if (this.#own.size > 0) this.#dropOwn(key);
    if (ownRecord(reply)) {
      this.drop(key);
      this.#setOwn(key, reply);
      this.#store.put(this.#store.replays, key, encodeMessage({ v: reply }));
      return;
    }
    const s = this.#segment(key[0], Math.floor(key[1] / SEGMENT_RIDS));
    s.set(key[1], reply);
    this.#store.touch(s);
  }

  /** Deletes a kept reply (acknowledged, or its client is gone). */
  drop(key: ReplayKey): void {
    const [instance, rid] = key;
    if (rid === TOO_OLD_MARK && this.#marks.delete(instance)) {
      this.#store.remove(this.#store.replays, key);
      return;
    }
    if (this.#own.size > 0 && this.#dropOwn(key)) return;
    const segments = this.#segments.get(instance);
    const n = Math.floor(rid / SEGMENT_RIDS);
    const s = segments?.get(n);
    if (s === undefined || !s.delete(rid)) return;
    this.#store.touch(s);
    if (s.size > 0) return;
    // The record goes at the commit (record() is undefined); the segment object is not needed until a reply lands in it again.
    segments!.delete(n);
    if (segments!.size === 0) this.#segments.delete(instance);
  }

  /** Every kept reply, by client instance and request id. */
  all(): Map<string, Map<number, unknown>> {
    const out = new Map<string, Map<number, unknown>>();
    for (const [instance, segments] of this.#segments) {
      const m = new Map<number, unknown>();
      for (const s of [...segments.values()].sort((a, b) => a.key[1] - b.key[1])) s.forEach((reply, rid) => m.set(rid, reply));
      if (m.size > 0) out.set(instance, m);
    }
    for (const [instance, own] of this.#own) {
      // In request id order, as the replays expect them (primary/replay.ts's acknowledge).
      const m = [...(out.get(instance) ?? []), ...own].sort((a, b) => a[0] - b[0]);
      out.set(instance, new Map(m));
    }
    for (const [instance, mark] of this.#marks) out.set(instance, new Map([[TOO_OLD_MARK, mark], ...(out.get(instance) ?? [])]));
    return out;
  }

  /** A commit that wrote `key` of the `replays` table failed: the reply goes back to what LMDB has. */
  reloadOwn(key: unknown): void {
    if (!isReplayKey(key)) return;
    const stored = this.#store.replays.get(key);
    const reply = stored === undefined ? NONE : ownReply(key, stored);
    if (key[1] === TOO_OLD_MARK) {
      if (reply === NONE) this.#marks.delete(key[0]);
      else this.#marks.set(key[0], reply);
    } else if (reply === NONE) this.#forgetOwn(key);
    else this.#setOwn(key, reply);
  }

  #setOwn(key: ReplayKey, reply: unknown): void {
    let own = this.#own.get(key[0]);
    if (own === undefined) this.#own.set(key[0], (own = new Map()));
    own.set(key[1], reply);
  }

  /** Forgets an own record's reply in memory; false if there was none. */
  #forgetOwn(key: ReplayKey): boolean {
    const own = this.#own.get(key[0]);
    if (own === undefined || !own.delete(key[1])) return false;
    if (own.size === 0) this.#own.delete(key[0]);
    return true;
  }

  /** Deletes an own record (in memory and, with the current batch, in the store); false if there was none. */
  #dropOwn(key: ReplayKey): boolean {
    if (!this.#forgetOwn(key)) return false;
    this.#store.remove(this.#store.replays, key);
    return true;
  }

  /** A commit that held `d` failed: if it is one of these segments, back to what LMDB has. */
  reload(d: Dirty): void {
    if (!(d instanceof Segment)) return;
    const [instance, n] = d.key;
    d.load(this.#table.get(d.key));
    let segments = this.#segments.get(instance);
    if (d.size === 0) {
      if (segments?.get(n) === d) segments.delete(n);
      if (segments?.size === 0) this.#segments.delete(instance);
      return;
    }
    if (segments === undefined) this.#segments.set(instance, (segments = new Map()));
    segments.set(n, d);
  }

  #segment(instance: string, n: number): Segment {
    let segments = this.#segments.get(instance);
    if (segments === undefined) this.#segments.set(instance, (segments = new Map()));
    let s = segments.get(n);
    if (s === undefined) segments.set(n, (s = new Segment(this.#table, instance, n)));
    return s;
  }
}

/** Whether a stored key has a replay key's shape ([client instance, request id] or [instance, segment]). */
function isReplayKey(key: unknown): key is ReplayKey {
  return Array.isArray(key) && typeof key[0] === 'string' && typeof key[1] === 'number';
}

/** No reply: a record that is not one. */
const NONE = Symbol('none');

/** The reply of a `replays` record ([instance, rid] -> {v: reply}), or NONE if it is not one. */
function ownReply(key: unknown, value: Uint8Array): unknown {
  if (!isReplayKey(key)) return NONE;
  try {
    return (decodeMessage(value) as { v: unknown }).v;
  } catch {
    return NONE;
  }
}
