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
 * the in-memory replays hold), so a write costs no encoding of its own: a
 * segment is encoded once per batch that changed it.
 *
 * A batch that fails to commit: its segments are read back from LMDB
 * (`reload`), so no reply of a rolled-back write is ever made durable.
 */
import { decodeMessage, encodeMessage } from '@corepool/protocol/internal';

import type { ReplayKey } from './state-store.js';
import type { Dirty, Store, Table } from './store.js';

/** Request ids per segment record. */
export const SEGMENT_RIDS = 256;

/** One segment of an instance's kept replies. */
class Segment implements Dirty {
  readonly table: Table;
  readonly key: [string, number];
  /** Request id -> reply. */
  readonly entries = new Map<number, unknown>();

  constructor(table: Table, instance: string, segment: number) {
    this.table = table;
    this.key = [instance, segment];
  }

  record(): Uint8Array | undefined {
    if (this.entries.size === 0) return undefined;
    const flat: unknown[] = [];
    for (const [rid, reply] of this.entries) flat.push(rid, reply);
    return encodeMessage(flat);
  }

  /** Replaces the entries with those of a stored record (undefined: none); false if it does not decode. */
  load(stored: Uint8Array | undefined): boolean {
    this.entries.clear();
    if (stored === undefined) return true;
    let flat: unknown;
    try {
      flat = decodeMessage(stored);
    } catch {
      return false;
    }
    if (!Array.isArray(flat)) return false;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      if (typeof flat[i] === 'number') this.entries.set(flat[i] as number, flat[i + 1]);
    }
    return flat.length % 2 === 0;
  }
}

/** Every client instance's kept replies, in memory and in the store. */
export class ReplayLog {
  readonly #store: Store;
  readonly #table: Table;
  /** instance -> segment number -> segment. */
  readonly #segments = new Map<string, Map<number, Segment>>();

  private constructor(store: Store) {
    this.#store = store;
    this.#table = store.replayLog;
  }

  /** Loads the stored segments; replies kept one record per request id (the earlier layout) move into them. */
  static load(store: Store): ReplayLog {
    const log = new ReplayLog(store);
    for (const { key, value } of store.replayLog.getRange()) {
      if (!Array.isArray(key) || typeof key[0] !== 'string' || typeof key[1] !== 'number') continue;
      const s = log.#segment(key[0], key[1]);
      if (!s.load(value)) {
        // Damaged: whatever parsed is kept; the record is rewritten from it.
        store.touch(s);
      }
    }
    for (const { key, value } of store.replays.getRange()) {
      store.remove(store.replays, key);
      if (!Array.isArray(key) || typeof key[0] !== 'string' || typeof key[1] !== 'number') continue;
      let reply: unknown;
      try {
        reply = (decodeMessage(value) as { v: unknown }).v;
      } catch {
        continue;
      }
      log.keep([key[0], key[1]], reply);
    }
    return log;
  }

  /** Keeps `reply` for a resend of `key`'s request, committed with the current batch. */
  keep(key: ReplayKey, reply: unknown): void {
    const s = this.#segment(key[0], Math.floor(key[1] / SEGMENT_RIDS));
    s.entries.set(key[1], reply);
    this.#store.touch(s);
  }

  /** Deletes a kept reply (acknowledged, or its client is gone). */
  drop(key: ReplayKey): void {
    const [instance, rid] = key;
    const segments = this.#segments.get(instance);
    const n = Math.floor(rid / SEGMENT_RIDS);
    const s = segments?.get(n);
    if (s === undefined || !s.entries.delete(rid)) return;
    this.#store.touch(s);
    if (s.entries.size > 0) return;
    // The record goes at the commit (record() is undefined); the segment object is not needed until a reply lands in it again.
    segments!.delete(n);
    if (segments!.size === 0) this.#segments.delete(instance);
  }

  /** Every kept reply, by client instance and request id. */
  all(): Map<string, Map<number, unknown>> {
    const out = new Map<string, Map<number, unknown>>();
    for (const [instance, segments] of this.#segments) {
      const m = new Map<number, unknown>();
      for (const s of [...segments.values()].sort((a, b) => a.key[1] - b.key[1])) {
        for (const [rid, reply] of [...s.entries].sort((a, b) => a[0] - b[0])) m.set(rid, reply);
      }
      if (m.size > 0) out.set(instance, m);
    }
    return out;
  }

  /** A commit that held `d` failed: if it is one of these segments, back to what LMDB has. */
  reload(d: Dirty): void {
    if (!(d instanceof Segment)) return;
    const [instance, n] = d.key;
    d.load(this.#table.get(d.key));
    let segments = this.#segments.get(instance);
    if (d.entries.size === 0) {
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
