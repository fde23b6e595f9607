/**
 * queue.ts - Queue: a named FIFO of data-encoded items with blocking gets
 * (what `client.queue(name)` and `ctx.queue(name)` share).
 *
 * Invariants:
 *  - Items are handed out in put order, each to exactly one getter; blocked
 *    getters are served in the order they arrived.
 *  - Every stored item is the record [name, seq] in the store's `queues`
 *    table, seq increasing within a queue; it is deleted when handed out, so
 *    after a restart the queue holds exactly the items put and not yet got.
 *  - A put that finds a blocked getter hands the item over directly (nothing
 *    to store); the getter's reply, like every reply, follows the commit of
 *    the writes before it. Items and blocked getters coexist only while those
 *    getters wait behind more of a gone app's gets than a put lets go of
 *    (waiters.ts): they get the items first once they are first in line.
 *  - A commit that fails puts the queue back as LMDB has it (reload): a
 *    failed put's item is not there, a failed get's item is back.
 *  - timeoutMs absent: wait as long as it takes; 0: do not wait (E_TIMEOUT at
 *    once when empty, or when its items are kept for earlier gets still
 *    waiting). A getter whose owner goes away fails with E_CANCELLED.
 *  - An owner has at most OWNER_LIMIT blocked gets (E_LIMIT past it); a queue
 *    with neither items nor getters is not kept in memory.
 */
import { CancelledError, TimeoutError } from '@corepool/protocol';

import { OwnerQuota } from './owner-index.js';
import { GET_COST, itemCost, queueCost, type StateMemory } from './state-memory.js';
import type { Store } from './store.js';
import { Waiters, type Waiter } from './waiters.js';

/** Called when an item is handed over, in the batch that takes it (SharedState keeps the reply for a replay). */
type Taken = ((bytes: Uint8Array) => void) | undefined;

/** A blocked get. */
type Getter = Waiter<Uint8Array, Taken>;

/** One queue: items from `head` on, with their storage sequence numbers (its blocked getters are in Queues#getters). */
class QueueRecord {
  items: Uint8Array[] = [];
  seqs: number[] = [];
  head = 0;
  nextSeq = 1;
  /** What it holds of the primary's memory while it has items (state-memory.ts): its items and its own record. */
  cost = 0;
  /** Its own record's part of that: counted from its first item to its last, not while it only has getters. */
  readonly overhead: number;

  constructor(name: string) {
    this.overhead = queueCost(name);
  }

  get size(): number {
    return this.items.length - this.head;
  }

  shift(): { bytes: Uint8Array; seq: number } {
    const bytes = this.items[this.head]!;
    const seq = this.seqs[this.head]!;
    this.items[this.head] = EMPTY;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.seqs = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.seqs = this.seqs.slice(this.head);
      this.head = 0;
    }
    return { bytes, seq };
  }
}

const EMPTY = new Uint8Array(0);

/** Every Queue, in memory and in the store's `queues` table. */
export class Queues {
  readonly #store: Store;
  readonly #memory: StateMemory;
  readonly #map = new Map<string, QueueRecord>();
  /** Blocked gets per owner, bounded (each keeps a promise, maybe a timer, and its queue's record). */
  readonly #blocked: OwnerQuota;
  /** Blocked gets by queue, oldest first; one that times out or is cancelled gives back its quota entry. */
  readonly #getters = new Waiters<Uint8Array, Taken>(
    (g, ownerGone) => {
      // An owner gone had its count given back at once (dropOwner): its next ones are counted afresh, this one's memory only now.
      if (ownerGone) this.#blocked.gone();
      else this.#blocked.remove(g.owner);
      const q = this.#map.get(g.name);
      if (q !== undefined) this.#forgetIfIdle(g.name, q);
    },
    // Its getters were behind a gone app's, and items were kept meanwhile: they are served now, in order.
    (name) => {
      const q = this.#map.get(name);
      if (q !== undefined) this.#serve(name, q);
    },
  );

  private constructor(store: Store, memory: StateMemory) {
    this.#store = store;
    this.#memory = memory;
    this.#blocked = new OwnerQuota('blocked queue gets', memory, GET_COST);
  }

  /** Loads every stored item, in order. */
  static load(store: Store, memory: StateMemory): Queues {
    const queues = new Queues(store, memory);
    for (const { key, value } of store.queues.getRange()) {
      if (!Array.isArray(key) || typeof key[0] !== 'string' || typeof key[1] !== 'number') continue;
      const q = queues.#record(key[0]);
      q.items.push(value.slice());
      q.seqs.push(key[1]);
      queues.#grew(q, value.length);
      q.nextSeq = Math.max(q.nextSeq, key[1] + 1);
    }
    return queues;
  }

  /** Owners with a blocked get (a leak check: 0 once they are gone). */
  get blockedOwners(): number {
    return this.#blocked.owners;
  }

  /** Gets blocked on an empty queue, on every queue. */
  get blockedGets(): number {
    return this.#getters.size;
  }

  /** Queue records in memory: queues with items or blocked getters (a leak check). */
  get records(): number {
    return this.#map.size;
  }

  /** Queues that hold items. */
  get count(): number {
    let n = 0;
    for (const q of this.#map.values()) if (q.size > 0) n++;
    return n;
  }

  /** Every queue that holds items, with its length (the dashboard's listing). */
  *all(): Generator<[string, number]> {
    for (const [name, q] of this.#map) if (q.size > 0) yield [name, q.size];
  }

  size(name: string): number {
    return this.#map.get(name)?.size ?? 0;
  }

  /**
   * Appends an item (or hands it to the oldest blocked getter); returns the queue's size. E_LIMIT
   * (nothing changed) when a stored item would take the state past its bound (StateMemory).
   */
  put(name: string, bytes: Uint8Array): number {
    return this.#append(name, bytes, true);
  }

  /**
   * Hands the item to the oldest blocked getter, or stores it: then, for a put (`admit`), within the
   * bound; an item that was in the queue a moment ago (putBack) is not refused. Decided by the take, not
   * `has`: the getters there may be only a gone owner's, leaving a slice at a time (waiters.ts).
   */
  #append(name: string, bytes: Uint8Array, admit = false): number {
    // Items kept while getters wait: those getters are behind a gone app's (Waiters#take), served in order once first.
    const g = this.size(name) === 0 ? this.#getters.take(name) : undefined;
    if (g !== undefined) {
      const q = this.#record(name);
      this.#handOver(name, q, g, bytes);
      return q.size;
    }
    if (admit) this.#memory.admit(itemCost(bytes.length) + (this.size(name) > 0 ? 0 : queueCost(name)), 'queue.put');
    const q = this.#record(name);
    const seq = q.nextSeq++;
    q.items.push(bytes);
    q.seqs.push(seq);
    this.#grew(q, bytes.length);
    this.#store.put(this.#store.queues, [name, seq], bytes);
    return q.size;
  }

  /**
   * Takes the oldest item now, or blocks `owner` until one is put or the
   * timeout passes; `taken` hears of a blocked get's item in the batch that hands it over.
   */
  get(owner: string, name: string, timeoutMs: number | undefined, taken?: Taken): Uint8Array | Promise<Uint8Array> {
    const q = this.#map.get(name);
    // Getters waiting while items are kept came first (behind a gone app's, Waiters#take): this one queues behind them.
    const ahead = this.#getters.has(name);
    if (q !== undefined && q.size > 0 && !ahead) {
      const { bytes, seq } = this.#shift(q);
      this.#store.remove(this.#store.queues, [name, seq]);
      this.#forgetIfIdle(name, q);
      return bytes;
    }
    if (timeoutMs === 0) {
      const why = ahead ? `queue "${name}": its items go to the gets before this one` : `queue "${name}" is empty`;
      return Promise.reject(new TimeoutError(why, { timeoutMs }));
    }
    this.#blocked.check(owner);
    this.#blocked.add(owner);
    // The record stays while its getters wait (#forgetIfIdle), so `records` counts it.
    if (q === undefined) this.#record(name);
    const timedOut = (): Error => new TimeoutError(`queue "${name}": no item within ${timeoutMs} ms`, { timeoutMs });
    return this.#getters.wait(owner, name, timeoutMs, timedOut, taken);
  }

  /**
   * Puts back items whose getter went away before their reply could be sent (or that a dead
   * worker never read), in their order, ahead of every other item: to the oldest blocked getters
   * first, the first item to the first getter, when the queue is empty. So a getter dying at the
   * wrong moment loses nothing, and a get blocked meanwhile takes the oldest of them, not the newest.
   */
  putBack(name: string, items: readonly Uint8Array[]): void {
    const q = this.#record(name);
    if (q.size === 0) {
      // Never refused for memory (they were in the state a moment ago): refused, one would be lost,
      // and its caller, a reply's or a worker's callback, has nobody to tell. Once one is stored (no
      // getter left to take it), the rest go behind it: the queue held nothing else.
      for (const bytes of items) this.#append(name, bytes);
      return;
    }
    for (let i = items.length - 1; i >= 0; i--) {
      const bytes = items[i]!;
      // One below the current head keeps the stored order (a removed record's seq may be reused:
      // writes apply in order, so its earlier delete comes first).
      const seq = q.seqs[q.head]! - 1;
      if (q.head > 0) {
        q.head--;
        q.items[q.head] = bytes;
        q.seqs[q.head] = seq;
      } else {
        q.items.unshift(bytes);
        q.seqs.unshift(seq);
      }
      this.#grew(q, bytes.length);
      this.#store.put(this.#store.queues, [name, seq], bytes);
    }
  }

  /**
   * Deletes the queue's items; false when it held none. Blocked getters keep waiting (deleting
   * is emptying). The record stays only while they wait, as for any empty queue.
   */
  remove(name: string): boolean {
    const q = this.#map.get(name);
    if (q === undefined || q.size === 0) return false;
    for (let i = q.head; i < q.items.length; i++) this.#store.remove(this.#store.queues, [name, q.seqs[i]!]);
    this.#empty(q);
    this.#forgetIfIdle(name, q);
    return true;
  }

  /** Fails the blocked gets of `owner` with E_CANCELLED. */
  dropOwner(owner: string, err: Error = new CancelledError('the requester went away')): void {
    this.#blocked.setApart(owner, this.#getters.dropOwner(owner, err));
  }

  /** Fails every blocked get (shutdown). */
  dropAll(err: Error): void {
    this.#getters.dropAll(err);
  }

  /**
   * Back to what LMDB has committed (a commit failed): the items stored now, in order. Items
   * a failed get took are back; items a failed put added are gone. Blocked getters stay,
   * and are served if items are back.
   */
  reload(name: string): void {
    const q = this.#record(name);
    this.#empty(q);
    for (const { key, value } of this.#store.queues.getRange({ start: [name], end: [`${name}\0`] })) {
      if (!Array.isArray(key) || key[0] !== name || typeof key[1] !== 'number') continue;
      q.items.push(value.slice());
      q.seqs.push(key[1]);
      this.#grew(q, value.length);
      q.nextSeq = Math.max(q.nextSeq, key[1] + 1);
    }
    this.#serve(name, q);
  }

  /** Hands `q`'s items to its blocked getters, oldest to oldest, while both last. */
  #serve(name: string, q: QueueRecord): void {
    while (q.size > 0) {
      const g = this.#getters.take(name);
      if (g === undefined) break;
      const { bytes, seq } = this.#shift(q);
      this.#store.remove(this.#store.queues, [name, seq]);
      this.#handOver(name, q, g, bytes);
    }
    this.#forgetIfIdle(name, q);
  }

  /** Gives `bytes` to the blocked getter `g` (taken from #getters); it hears of it once the batch is committed. */
  #handOver(name: string, q: QueueRecord, g: Getter, bytes: Uint8Array): void {
    this.#blocked.remove(g.owner);
    this.#forgetIfIdle(name, q);
    g.data?.(bytes);
    this.#store.committed().then(
      () => g.resolve(bytes),
      (err: Error) => g.reject(err),
    );
  }

  #record(name: string): QueueRecord {
    let q = this.#map.get(name);
    if (q === undefined) {
      q = new QueueRecord(name);
      this.#map.set(name, q);
    }
    return q;
  }

  /** An empty queue nobody waits on is dropped from memory (its seqs restart safely: writes apply in order). */
  #forgetIfIdle(name: string, q: QueueRecord): void {
    if (q.size === 0 && !this.#getters.has(name)) this.#map.delete(name);
  }

  /** `q` has one item more, of `bytes` (and so its record counts, if it is its first). */
  #grew(q: QueueRecord, bytes: number): void {
    const more = itemCost(bytes) + (q.cost === 0 ? q.overhead : 0);
    q.cost += more;
    this.#memory.used += more;
  }

  #shift(q: QueueRecord): { bytes: Uint8Array; seq: number } {
    const item = q.shift();
    const less = itemCost(item.bytes.length) + (q.size === 0 ? q.overhead : 0);
    q.cost -= less;
    this.#memory.used -= less;
    return item;
  }

  /** Drops every item of `q` (their records are the caller's to delete or reload). */
  #empty(q: QueueRecord): void {
    this.#memory.used -= q.cost;
    q.cost = 0;
    q.items = [];
    q.seqs = [];
    q.head = 0;
  }
}
