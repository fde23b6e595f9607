/**
 * value.ts - Value: a named, versioned cell holding one data-encoded value
 * (what `client.value(name)` and `ctx.value(name)` share).
 *
 * Invariants:
 *  - name -> { version, bytes }; `bytes` is data-encoded (encodeData) and is
 *    returned to readers as is; the primary decodes it only to compute on it
 *    (add, compare-and-set).
 *  - Every change bumps the version by exactly 1; a value is created at
 *    version 1, so versions only grow (also across restarts: the version is
 *    stored with the bytes) until it is deleted (remove): then its record
 *    goes, its subscribers get a `deleted` push, and a value made again
 *    starts over at version 1 (no tombstone is kept, so a loop creating and
 *    deleting names leaves nothing behind).
 *  - Changes are applied synchronously, in arrival order (the primary is the
 *    single writer), so concurrent add(1) calls get 1..N, each once.
 *  - Subscribers get one push per version, in version order, after the
 *    version is committed. A version whose commit failed is never pushed
 *    (nor acknowledged); the value goes back to its committed version, and
 *    the next change takes the failed version's number.
 *  - add: number + number, bigint + bigint; an absent value counts as 0 of
 *    the delta's type (like Redis INCR); anything else is E_TYPE; a bigint
 *    value or delta over MAX_ADD_BIGINT_BYTES is E_TOO_LARGE, nothing changed.
 */
import { decodeData, encodeCheckedData, own, ValueTypeError, type Push } from '@corepool/protocol/internal';

import { dataEqual, decodeCost, MAX_COST } from './data-equal.js';
import { checkAddable } from './operands.js';
import type { Fanout } from './fanout.js';
import { Subscribers } from './owner-index.js';
import { decodeNumber } from './number-record.js';
import { valueCost, type StateMemory } from './state-memory.js';
import type { Dirty, Store, Table } from './store.js';

/** A value's stored record: its version and its data-encoded bytes. */
export class ValueRecord implements Dirty {
  readonly table: Table;
  readonly key: string;
  version: number;
  bytes: Uint8Array;
  /** The decoded number/bigint, null when the value is not numeric, undefined when not decoded yet. */
  num: number | bigint | null | undefined = undefined;

  constructor(table: Table, name: string, version: number, bytes: Uint8Array) {
    this.table = table;
    this.key = name;
    this.version = version;
    this.bytes = bytes;
  }

  /** Set when the value was deleted: a commit in the same batch as its last change deletes the record instead. */
  removed = false;

  /** [version: float64 BE][bytes], serialised once per commit batch; undefined (delete it) once removed. */
  record(): Uint8Array | undefined {
    if (this.removed) return undefined;
    const out = new Uint8Array(8 + this.bytes.length);
    new DataView(out.buffer).setFloat64(0, this.version);
    out.set(this.bytes, 8);
    return out;
  }

  numeric(): number | bigint | null {
    if (this.num === undefined) {
      let v: unknown = null;
      // A number or a bigint decodes cheaply; anything costlier is not one (and is not decoded).
      if (decodeCost(this.bytes, MAX_COST) <= MAX_COST) {
        try {
          v = decodeData(this.bytes);
        } catch {
          v = null;
        }
      }
      this.num = typeof v === 'number' || typeof v === 'bigint' ? v : null;
    }
    return this.num;
  }
}

/** Every Value, in memory and in the store's `values` table. */
export class Values {
  readonly #store: Store;
  readonly #map = new Map<string, ValueRecord>();
  readonly #subs: Subscribers;
  readonly #fanout: Fanout;
  readonly #memory: StateMemory;

  private constructor(store: Store, fanout: Fanout, memory: StateMemory) {
    this.#store = store;
    this.#fanout = fanout;
    this.#memory = memory;
    this.#subs = new Subscribers('value subscriptions', memory);
  }

  /** Loads every stored value. */
  static load(store: Store, fanout: Fanout, memory: StateMemory): Values {
    const values = new Values(store, fanout, memory);
    for (const { key, value } of store.values.getRange()) {
      if (typeof key !== 'string' || value.length < 8) continue;
      const r = new ValueRecord(store.values, key, decodeNumber(value), value.slice(8));
      values.#map.set(key, r);
      memory.used += cost(r);
    }
    return values;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Every value, in creation order (the dashboard's listing). */
  all(): IterableIterator<[string, ValueRecord]> {
    return this.#map.entries();
  }

  get(name: string): ValueRecord | undefined {
    return this.#map.get(name);
  }

  /** Back to what LMDB has committed (a commit failed): its version and bytes, or absent. Never pushed. */
  reload(name: string): void {
    const stored = this.#store.values.get(name);
    const old = this.#map.get(name);
    if (old !== undefined) this.#memory.used -= cost(old);
    if (stored === undefined || stored.length < 8) {
      this.#map.delete(name);
      return;
    }
    const r = old ?? new ValueRecord(this.#store.values, name, 0, stored);
    r.version = decodeNumber(stored);
    r.bytes = stored.slice(8);
    r.num = undefined;
    this.#map.set(name, r);
    this.#memory.used += cost(r);
  }

  /** Creates the value with `bytes` if it does not exist; never overwrites. */
  init(name: string, bytes: Uint8Array): ValueRecord {
    const r = this.#map.get(name);
    if (r !== undefined) return r;
    return this.#create(name, bytes, undefined, 'value.init');
  }

  set(name: string, bytes: Uint8Array): ValueRecord {
    const r = this.#map.get(name);
    if (r === undefined) return this.#create(name, bytes, undefined, 'value.set');
    this.#replace(r, bytes, 'value.set');
    r.num = undefined;
    this.#changed(r);
    return r;
  }

  /** Adds `delta` (already checked to be a number or a bigint); E_TYPE on a mismatch. */
  add(name: string, delta: number | bigint): ValueRecord {
    const r = this.#map.get(name);
    // A sum's bytes are msgpackr's output, a view into the buffer it encodes every message in
    // (16 MB or more once a large message has passed): kept as they came, a counter held that.
    if (r === undefined) return this.#create(name, own(encodeCheckedData(delta)), delta, 'value.add');
    // On the stored bytes, before numeric() decodes them.
    checkAddable(r.bytes, `value "${name}"`);
    const cur = r.numeric();
    let next: number | bigint;
    if (typeof cur === 'number' && typeof delta === 'number') next = cur + delta;
    else if (typeof cur === 'bigint' && typeof delta === 'bigint') next = cur + delta;
    else if (cur === null) throw new ValueTypeError(`value "${name}" is not a number: add needs a number or a bigint`);
    else throw new ValueTypeError(`value "${name}" is a ${typeof cur} and the delta a ${typeof delta}: add needs both of one type`);
    const bytes = own(encodeCheckedData(next));
    this.#replace(r, bytes, 'value.add');
    r.num = next;
    this.#changed(r);
    return r;
  }

  /**
   * Sets `next` if the current value equals `expected` (dataEqual: equal bytes, or
   * structurally equal values within a budget). An absent value equals nothing.
   */
  cas(name: string, expected: Uint8Array, next: Uint8Array): boolean {
    const r = this.#map.get(name);
    if (r === undefined || !dataEqual(r.bytes, expected)) return false;
    this.#replace(r, next, 'value.cas');
    r.num = undefined;
    this.#changed(r);
    return true;
  }

  /** Deletes the value; false when it did not exist. Subscribers get a `deleted` push once committed. */
  remove(name: string): boolean {
    const r = this.#map.get(name);
    if (r === undefined) return false;
    this.#map.delete(name);
    this.#memory.used -= cost(r);
    // A change earlier in this batch serialises the record at commit, after this delete: it must delete too.
    r.removed = true;
    this.#store.remove(this.#store.values, name);
    if (this.#subs.of(name) !== undefined) {
      const push: Push = { type: 'push', kind: 'value', name, version: r.version + 1, deleted: true };
      this.#fanout.after(this.#store.committed(), this.#subs, name, push);
    }
    return true;
  }

  /** True when the subscription is new. */
  subscribe(owner: string, name: string): boolean {
    return this.#subs.add(owner, name);
  }

  unsubscribe(owner: string, name: string): void {
    this.#subs.delete(owner, name);
  }

  dropOwner(owner: string): void {
    this.#subs.dropOwner(owner);
  }

  /** E_LIMIT (nothing changed) when the new value would take the state past its bound (StateMemory). */
  #create(name: string, bytes: Uint8Array, num: number | bigint | undefined, op: string): ValueRecord {
    this.#memory.admit(valueCost(name, bytes.length), op);
    const r = new ValueRecord(this.#store.values, name, 0, bytes);
    r.num = num;
    this.#map.set(name, r);
    this.#memory.used += cost(r);
    this.#changed(r);
    return r;
  }

  /** E_LIMIT (nothing changed) when the new bytes would take the state past its bound (StateMemory). */
  #replace(r: ValueRecord, bytes: Uint8Array, op: string): void {
    this.#memory.admit(bytes.length - r.bytes.length, op);
    this.#memory.used += bytes.length - r.bytes.length;
    r.bytes = bytes;
  }

  #changed(r: ValueRecord): void {
    r.version++;
    this.#store.touch(r);
    if (this.#subs.of(r.key) === undefined) return;
    const push: Push = { type: 'push', kind: 'value', name: r.key, version: r.version, value: r.bytes };
    this.#fanout.after(this.#store.committed(), this.#subs, r.key, push);
  }
}

/** What a value holds of the primary's memory (state-memory.ts). */
function cost(r: ValueRecord): number {
  return valueCost(r.key, r.bytes.length);
}
