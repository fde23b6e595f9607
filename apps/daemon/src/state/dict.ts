/**
 * dict.ts - Dict: a named map from string keys to data-encoded values (what
 * `client.dict(name)` and `ctx.dict(name)` share).
 *
 * Invariants:
 *  - Keys are strings, kept in a Map (never assigned onto a plain object, so
 *    `__proto__` is a key like any other). Each entry is the record
 *    [name, key] in the store's `dicts` table.
 *  - Keys stay in insertion order, also across restarts: a new key gets the
 *    next sequence number of its dict, stored under ['dict-order', name, key]
 *    in `meta` (written when the key is added, removed with it; updating an
 *    existing key writes nothing more). The load sorts each dict by it.
 *  - The dict has one version, bumped by 1 on every set and every delete that
 *    removed something; it is stored under ['dict', name] in `meta`, so it
 *    keeps growing across restarts and subscribers can drop stale pushes.
 *  - remove deletes the whole dict: its entries, order records and version
 *    record, so nothing of it is left (a loop creating and deleting dicts
 *    leaves nothing behind); its subscribers get one push without a key,
 *    `deleted: true`, and a dict made again starts over at version 1.
 *  - A dict whose last key is deleted while nobody subscribes to it (or whose
 *    last subscriber leaves while it is empty) is forgotten the same way,
 *    without a push: its version only matters to a subscriber, and a
 *    subscriber that comes later starts from its first push. Kept, dicts
 *    emptied key by key stayed in memory for good, unlisted and uncounted
 *    (a hostile run filled --max-state-mb with 109,580 of them). A version
 *    record without entries, left by an earlier daemon, is not loaded.
 *  - Subscribers get one push per change ({ key, value } or { key, deleted }),
 *    in version order, after the change is committed; a change whose commit
 *    failed is never pushed, and the dict goes back to what LMDB has (reload).
 */
import type { Push } from '@corepool/protocol';

import type { DictMeasure, Listed } from './listing-encoder.js';
import type { Fanout } from './fanout.js';
import { Subscribers } from './owner-index.js';
import { decodeNumber, encodeNumber } from './number-record.js';
import { dictCost, keyCost, type StateMemory } from './state-memory.js';
import type { Dirty, Store, Table } from './store.js';

/** First element of the `meta` keys that hold each dict key's insertion sequence number. */
const ORDER = 'dict-order';

/** One dict: its entries and its version (the Dirty record is the version in `meta`). */
class DictRecord implements Dirty {
  readonly table: Table;
  readonly key: [string, string];
  readonly map = new Map<string, Uint8Array>();
  version = 0;
  /** The insertion sequence number of the newest key. */
  lastSeq = 0;
  /** Lengths of the keys (UTF-16 units) and of the values (bytes), together: what a listing is refused by before it is read. */
  keyLengths = 0;
  valueBytes = 0;
  readonly #memory: StateMemory;
  /** What the whole dict holds of the primary's memory (state-memory.ts), counted in `#memory` too. */
  #cost = 0;

  /** Sets an entry in the map, keeping the lengths and the state's memory. */
  put(key: string, bytes: Uint8Array): void {
    const old = this.map.get(key);
    if (old === undefined) this.keyLengths += key.length;
    else this.valueBytes -= old.length;
    this.valueBytes += bytes.length;
    this.#grow((old === undefined ? keyCost(key) : -old.length) + bytes.length);
    this.map.set(key, bytes);
  }

  /** Deletes an entry from the map, keeping the lengths and the state's memory; false when it was not there. */
  drop(key: string): boolean {
    const old = this.map.get(key);
    if (old === undefined) return false;
    this.keyLengths -= key.length;
    this.valueBytes -= old.length;
    this.#grow(-(keyCost(key) + old.length));
    return this.map.delete(key);
  }

  /** Counts the dict's own record in `memory`; the caller keeps the record (Dicts.#map) or forgets it (`forget`). */
  constructor(meta: Table, name: string, memory: StateMemory) {
    this.table = meta;
    this.key = ['dict', name];
    this.#memory = memory;
    this.#grow(dictCost(name));
  }

  /** The record is dropped from memory: none of it counts any more. */
  forget(): void {
    this.#grow(-this.#cost);
  }

  #grow(n: number): void {
    this.#cost += n;
    this.#memory.used += n;
  }

  /** Set when the dict was deleted: its version record goes in the batch's commit instead of being written. */
  removed = false;

  record(): Uint8Array | undefined {
    return this.removed ? undefined : encodeNumber(this.version);
  }
}

/** Every Dict, in memory and in the store's `dicts` table. */
export class Dicts {
  readonly #store: Store;
  readonly #map = new Map<string, DictRecord>();
  readonly #subs: Subscribers;
  readonly #fanout: Fanout;
  readonly #memory: StateMemory;

  private constructor(store: Store, fanout: Fanout, memory: StateMemory) {
    this.#store = store;
    this.#fanout = fanout;
    this.#memory = memory;
    this.#subs = new Subscribers('dict subscriptions', memory);
  }

  /** Loads every stored entry and dict version. */
  static load(store: Store, fanout: Fanout, memory: StateMemory): Dicts {
    const dicts = new Dicts(store, fanout, memory);
    const seqs = new Map<string, Map<string, number>>();
    for (const { key, value } of store.meta.getRange({ start: [ORDER], end: [`${ORDER}\0`] })) {
      if (!Array.isArray(key) || key[0] !== ORDER || typeof key[1] !== 'string' || typeof key[2] !== 'string' || value.length !== 8)
        continue;
      let m = seqs.get(key[1]);
      if (m === undefined) seqs.set(key[1], (m = new Map()));
      m.set(key[2], decodeNumber(value));
    }
    const loaded = new Map<string, [string, Uint8Array, number][]>();
    for (const { key, value } of store.dicts.getRange()) {
      if (!Array.isArray(key) || typeof key[0] !== 'string' || typeof key[1] !== 'string') continue;
      let entries = loaded.get(key[0]);
      if (entries === undefined) loaded.set(key[0], (entries = []));
      // An entry without an order record sorts first (in key order: the sort is stable).
      entries.push([key[1], value.slice(), seqs.get(key[0])?.get(key[1]) ?? 0]);
    }
    for (const [name, entries] of loaded) {
      entries.sort((a, b) => a[2] - b[2]);
      const d = dicts.#record(name);
      for (const [k, bytes, seq] of entries) {
        d.put(k, bytes);
        if (seq > d.lastSeq) d.lastSeq = seq;
      }
    }
    for (const { key, value } of store.meta.getRange({ start: ['dict'], end: ['dict\0'] })) {
      if (!Array.isArray(key) || key[0] !== 'dict' || typeof key[1] !== 'string' || value.length !== 8) continue;
      const d = dicts.#map.get(key[1]);
      if (d !== undefined) d.version = decodeNumber(value);
    }
    return dicts;
  }

  /** Back to what LMDB has committed (a commit failed): its entries, their order and its version. Never pushed. */
  reload(name: string): void {
    this.#map.get(name)?.forget();
    const d = new DictRecord(this.#store.meta, name, this.#memory);
    const seqs = new Map<string, number>();
    for (const { key, value } of this.#store.meta.getRange({ start: [ORDER, name], end: [ORDER, `${name}\0`] })) {
      if (Array.isArray(key) && key[1] === name && typeof key[2] === 'string' && value.length === 8) seqs.set(key[2], decodeNumber(value));
    }
    const entries: [string, Uint8Array, number][] = [];
    for (const { key, value } of this.#store.dicts.getRange({ start: [name], end: [`${name}\0`] })) {
      if (Array.isArray(key) && key[0] === name && typeof key[1] === 'string') entries.push([key[1], value.slice(), seqs.get(key[1]) ?? 0]);
    }
    entries.sort((a, b) => a[2] - b[2]);
    for (const [k, bytes, seq] of entries) {
      d.put(k, bytes);
      if (seq > d.lastSeq) d.lastSeq = seq;
    }
    const version = this.#store.meta.get(['dict', name]);
    if (version !== undefined && version.length === 8) d.version = decodeNumber(version);
    if (d.map.size === 0 && (d.version === 0 || this.#subs.of(name) === undefined)) {
      d.forget();
      this.#map.delete(name);
    } else this.#map.set(name, d);
  }

  /** Dicts that hold entries. */
  get count(): number {
    let n = 0;
    for (const d of this.#map.values()) if (d.map.size > 0) n++;
    return n;
  }

  /** Every dict that holds keys, with its number of keys (the dashboard's listing). */
  *all(): Generator<[string, number]> {
    for (const [name, d] of this.#map) if (d.map.size > 0) yield [name, d.map.size];
  }

  get(name: string, key: string): Uint8Array | undefined {
    return this.#map.get(name)?.map.get(key);
  }

  has(name: string, key: string): boolean {
    return this.#map.get(name)?.map.has(key) ?? false;
  }

  /** How many keys the dict holds, and the lengths of its keys (UTF-16 units) and of its values (bytes). */
  measure(name: string): DictMeasure {
    const d = this.#map.get(name);
    return d === undefined
      ? { count: 0, keyLengths: 0, valueBytes: 0 }
      : { count: d.map.size, keyLengths: d.keyLengths, valueBytes: d.valueBytes };
  }

  /** The dict's keys now, and their values for entries, as flat arrays (a pair per entry took ten times as long). */
  listing(name: string, values: boolean): Listed {
    const d = this.#map.get(name);
    if (d === undefined) return { keys: [] };
    return values ? { keys: [...d.map.keys()], values: [...d.map.values()] } : { keys: [...d.map.keys()] };
  }

  size(name: string): number {
    return this.#map.get(name)?.map.size ?? 0;
  }

  /** Sets `key`; returns the dict's new version. E_LIMIT (nothing changed) when that would take the state past its bound (StateMemory). */
  set(name: string, key: string, bytes: Uint8Array): number {
    const had = this.#map.get(name);
    const old = had?.map.get(key);
    const growth = old !== undefined ? bytes.length - old.length : keyCost(key) + bytes.length + (had === undefined ? dictCost(name) : 0);
    this.#memory.admit(growth, 'dict.set');
    const d = this.#record(name);
    if (!d.map.has(key)) this.#store.put(this.#store.meta, [ORDER, name, key], encodeNumber(++d.lastSeq));
    d.put(key, bytes);
    this.#store.put(this.#store.dicts, [name, key], bytes);
    return this.#changed(name, d, key, bytes);
  }

  /** Deletes `key`; false when it was not there (and nothing changes). */
  delete(name: string, key: string): boolean {
    const d = this.#map.get(name);
    if (d === undefined || !d.drop(key)) return false;
    this.#store.remove(this.#store.dicts, [name, key]);
    this.#store.remove(this.#store.meta, [ORDER, name, key]);
    this.#changed(name, d, key, undefined);
    this.#forgetIfEmpty(name, true);
    return true;
  }

  /**
   * An empty dict nobody subscribes to is forgotten (see the invariants), its version record
   * deleted in the current batch; with `write` false (the daemon stopping, its store closing) only
   * in memory: a version record without entries is never loaded, and the next set writes over it.
   */
  #forgetIfEmpty(name: string, write: boolean): void {
    const d = this.#map.get(name);
    if (d === undefined || d.map.size > 0 || this.#subs.of(name) !== undefined) return;
    if (write) {
      // A change earlier in this batch serialises the version at commit, after this delete: it must delete too.
      d.removed = true;
      this.#store.remove(this.#store.meta, d.key);
    }
    d.forget();
    this.#map.delete(name);
  }

  /** Deletes the whole dict; false when it held no keys. Subscribers get one keyless `deleted` push once committed. */
  remove(name: string): boolean {
    const d = this.#map.get(name);
    if (d === undefined) return false;
    const had = d.map.size > 0;
    for (const key of d.map.keys()) {
      this.#store.remove(this.#store.dicts, [name, key]);
      this.#store.remove(this.#store.meta, [ORDER, name, key]);
    }
    // A change earlier in this batch serialises the version at commit, after these deletes: it must delete too.
    d.removed = true;
    this.#store.remove(this.#store.meta, d.key);
    d.forget();
    this.#map.delete(name);
    // Pushed even when it held no keys: its version restarts, and subscribers must start over with it.
    if (this.#subs.of(name) !== undefined) {
      const push: Push = { type: 'push', kind: 'dict', name, version: d.version + 1, deleted: true };
      this.#fanout.after(this.#store.committed(), this.#subs, name, push);
    }
    return had;
  }

  subscribe(owner: string, name: string): void {
    this.#subs.add(owner, name);
  }

  unsubscribe(owner: string, name: string): void {
    this.#subs.delete(owner, name);
    this.#forgetIfEmpty(name, true);
  }

  /** `write()`: false once the daemon stops (its store closing): what it leaves in memory then goes with the process. */
  dropOwner(owner: string, write: () => boolean): void {
    this.#subs.dropOwner(owner, (name) => this.#forgetIfEmpty(name, write()));
  }

  #record(name: string): DictRecord {
    let d = this.#map.get(name);
    if (d === undefined) {
      d = new DictRecord(this.#store.meta, name, this.#memory);
      this.#map.set(name, d);
    }
    return d;
  }

  #changed(name: string, d: DictRecord, key: string, bytes: Uint8Array | undefined): number {
    const version = ++d.version;
    this.#store.touch(d);
    if (this.#subs.of(name) !== undefined) {
      const push: Push =
        bytes === undefined
          ? { type: 'push', kind: 'dict', name, version, key, deleted: true }
          : { type: 'push', kind: 'dict', name, version, key, value: bytes };
      this.#fanout.after(this.#store.committed(), this.#subs, name, push);
    }
    return version;
  }
}
