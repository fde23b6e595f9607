/**
 * dict.ts - Dict: a named map from string keys to data-encoded values (what
 * `client.dict(name)` and `ctx.dict(name)` share).
 *
 * Invariants:
 *  - Keys are strings, kept in a Map (never assigned onto a plain object, so
 *    `__proto__` is a key like any other). Each entry is the record
 *    [name, key] in the store's `dicts` table.
 *  - The dict has one version, bumped by 1 on every set and every delete that
 *    removed something; it is stored under ['dict', name] in `meta`, so it
 *    keeps growing across restarts and subscribers can drop stale pushes.
 *  - Subscribers get one push per change ({ key, value } or { key, deleted }),
 *    in version order, after the change is committed.
 */
import type { Push } from '@corepool/protocol';

import { Subscribers } from './owner-index.js';
import { decodeNumber, encodeNumber, type Dirty, type Store, type Table } from './store.js';

/** Longest dict key in UTF-8 bytes (an LMDB key holds the dict's name and the key, at most 1978 bytes). */
export const MAX_DICT_KEY_BYTES = 1024;

/** Returns why `key` cannot be a dict key, or undefined. */
export function checkDictKey(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'a dict key must be a string';
  if (key.length > MAX_DICT_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_DICT_KEY_BYTES) {
    return `a dict key must be at most ${MAX_DICT_KEY_BYTES} bytes in UTF-8`;
  }
  return undefined;
}

/** One dict: its entries and its version (the Dirty record is the version in `meta`). */
class DictRecord implements Dirty {
  readonly table: Table;
  readonly key: [string, string];
  readonly map = new Map<string, Uint8Array>();
  version = 0;

  constructor(meta: Table, name: string) {
    this.table = meta;
    this.key = ['dict', name];
  }

  record(): Uint8Array {
    return encodeNumber(this.version);
  }
}

/** Every Dict, in memory and in the store's `dicts` table. */
export class Dicts {
  readonly #store: Store;
  readonly #map = new Map<string, DictRecord>();
  readonly #subs = new Subscribers();
  readonly #push: (owner: string, push: Push) => void;

  private constructor(store: Store, push: (owner: string, push: Push) => void) {
    this.#store = store;
    this.#push = push;
  }

  /** Loads every stored entry and dict version. */
  static load(store: Store, push: (owner: string, push: Push) => void): Dicts {
    const dicts = new Dicts(store, push);
    for (const { key, value } of store.dicts.getRange()) {
      if (!Array.isArray(key) || typeof key[0] !== 'string' || typeof key[1] !== 'string') continue;
      dicts.#record(key[0]).map.set(key[1], value.slice());
    }
    for (const { key, value } of store.meta.getRange({ start: ['dict'], end: ['dict\0'] })) {
      if (!Array.isArray(key) || key[0] !== 'dict' || typeof key[1] !== 'string' || value.length !== 8) continue;
      dicts.#record(key[1]).version = decodeNumber(value);
    }
    return dicts;
  }

  /** Dicts that hold entries. */
  get count(): number {
    let n = 0;
    for (const d of this.#map.values()) if (d.map.size > 0) n++;
    return n;
  }

  get(name: string, key: string): Uint8Array | undefined {
    return this.#map.get(name)?.map.get(key);
  }

  has(name: string, key: string): boolean {
    return this.#map.get(name)?.map.has(key) ?? false;
  }

  keys(name: string): string[] {
    const d = this.#map.get(name);
    return d === undefined ? [] : [...d.map.keys()];
  }

  entries(name: string): [string, Uint8Array][] {
    const d = this.#map.get(name);
    return d === undefined ? [] : [...d.map.entries()];
  }

  size(name: string): number {
    return this.#map.get(name)?.map.size ?? 0;
  }

  /** Sets `key`; returns the dict's new version. */
  set(name: string, key: string, bytes: Uint8Array): number {
    const d = this.#record(name);
    d.map.set(key, bytes);
    this.#store.put(this.#store.dicts, [name, key], bytes);
    return this.#changed(name, d, key, bytes);
  }

  /** Deletes `key`; false when it was not there (and nothing changes). */
  delete(name: string, key: string): boolean {
    const d = this.#map.get(name);
    if (d === undefined || !d.map.delete(key)) return false;
    this.#store.remove(this.#store.dicts, [name, key]);
    this.#changed(name, d, key, undefined);
    return true;
  }

  subscribe(owner: string, name: string): void {
    this.#subs.add(owner, name);
  }

  unsubscribe(owner: string, name: string): void {
    this.#subs.delete(owner, name);
  }

  dropOwner(owner: string): void {
    this.#subs.dropOwner(owner);
  }

  #record(name: string): DictRecord {
    let d = this.#map.get(name);
    if (d === undefined) {
      d = new DictRecord(this.#store.meta, name);
      this.#map.set(name, d);
    }
    return d;
  }

  #changed(name: string, d: DictRecord, key: string, bytes: Uint8Array | undefined): number {
    const version = ++d.version;
    this.#store.touch(d);
    if (this.#subs.of(name) !== undefined) {
      const push: Push = bytes === undefined
        ? { type: 'push', kind: 'dict', name, version, key, deleted: true }
        : { type: 'push', kind: 'dict', name, version, key, value: bytes };
      this.#store.committed().then(
        () => {
          const owners = this.#subs.of(name);
          if (owners !== undefined) for (const owner of owners) this.#push(owner, push);
        },
        () => {},
      );
    }
    return version;
  }
}
