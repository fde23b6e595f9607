/**
 * state-memory.ts - what the shared state holds in the primary's memory, as an
 * estimate kept up to date by every change, and the bound on it
 * (`--max-state-mb`). Values, queues and dicts live in the primary's heap as
 * well as in LMDB, so without a bound one app writing new names or items
 * without end grows the primary until it dies of memory, for every app.
 *
 * A write that would take the estimate past the bound is refused with
 * E_LIMIT before it changes anything; writes that do not grow the state
 * (a same-size set, an add to a number, a get, a delete, a put that a
 * blocked getter takes at once) always pass, so a full daemon can still be
 * drained and its counters kept. Like Redis's `maxmemory` with `noeviction`,
 * the bound is for the daemon as a whole: state is shared between apps and
 * outlives the connection that wrote it, so it has no owner to charge.
 *
 * The per-entry overheads are what the primary's heap and ArrayBuffers grew
 * by per entry, measured with short names and 1-byte and 1,000-byte values
 * (Node 20, 200,000 entries after a full GC: a value 351 bytes in all, a
 * queue with one item 743, another item 263, a dict with one key 657,
 * another key 312), less the lengths, which are counted as they are.
 */
import { LimitError } from '@corepool/protocol';

/** A Value's record, its map entry and its bytes' objects, besides its name and bytes. */
const VALUE_COST = 344;
/** A queue's record and map entry, besides its name. */
const QUEUE_COST = 480;
/** A queue item's array slots and its bytes' objects, besides the bytes. */
const ITEM_COST = 264;
/** A dict's record, its inner Map and its map entry, besides its name. */
const DICT_COST = 352;
/** A dict key's map entry and its bytes' objects, besides the key and the bytes. */
const KEY_COST = 304;
/**
 * One entry a connection keeps (a subscription, a lock held or awaited), its name included: 460
 * bytes each measured with 256-character names, less with short ones.
 */
export const ENTRY_COST = 400;

/**
 * A blocked queue get, with what it keeps besides in the primary: its waiter, its request and the
 * promise its reply waits on, the outcome its client instance keeps for a resend, and the queue's
 * record and line when it is the only one on its name. What the primary's heap grew by (after a
 * full GC, Node 20, 100,000 gets from 10 SDK connections with names of 5-9 characters): 1,625
 * bytes a get on one queue, 2,063 on a queue each (810 and 1,250 from raw connections, which keep
 * no outcome for a resend); less the 64 counted with the kept replies (replay.ts REPLY_COST).
 * It was counted 400 bytes, as any entry: 300,000 gets held ~600 MB counted as 120.
 */
export const GET_COST = 2000;

/**
 * Share of the bound that connections' entries may hold besides: they are bounded apart, so
 * that neither side can crowd out the other (a full state still lets a consumer wait for an
 * item; a flood of waiting gets does not stop anyone's writes).
 */
export const ENTRY_SHARE = 0.25;

/** Any character V8 cannot keep in a one-byte string. */
const WIDE = /[\u0100-\uffff]/;

/**
 * What a name or a dict key holds of the heap: V8 keeps a string of Latin-1 characters at a byte
 * each, any other at two (40,000 values named with 256 '€' cost 830 bytes each, counted as 601).
 */
function textBytes(s: string): number {
  return WIDE.test(s) ? 2 * s.length : s.length;
}

/** What a Value named `name` holding `bytes` bytes holds of the heap. */
export function valueCost(name: string, bytes: number): number {
  return VALUE_COST + textBytes(name) + bytes;
}

/** What a queue's own record holds, besides its items (counted while it has any). */
export function queueCost(name: string): number {
  return QUEUE_COST + textBytes(name);
}

/** What one queue item of `bytes` bytes holds. */
export function itemCost(bytes: number): number {
  return ITEM_COST + bytes;
}

/** What a dict's own record holds, besides its entries. */
export function dictCost(name: string): number {
  return DICT_COST + textBytes(name);
}

/** What a dict key holds, besides its value's bytes. */
export function keyCost(key: string): number {
  return KEY_COST + textBytes(key);
}

/** The estimate and its bounds, shared by Values, Queues, Dicts and the connections' entries (owner-index.ts). */
export class StateMemory {
  /** Estimated bytes values, queues and dicts hold now. */
  used = 0;
  /** Estimated bytes connections' entries hold now (subscriptions, locks, blocked gets): they go with their connections. */
  entries = 0;
  /**
   * Estimated bytes replies kept for a resend hold besides gets' items (replay.ts): never refused,
   * nor dropped for memory (a reply dropped is a resend refused, and on disk one applied twice
   * after a restart); bounded per client instance alone.
   */
  replies = 0;
  /** The bound on `used`, in bytes (Infinity: none). */
  readonly limit: number;
  /** The bound on `entries`: ENTRY_SHARE of `limit`. */
  readonly entryLimit: number;

  constructor(limit = Infinity) {
    this.limit = limit;
    this.entryLimit = limit * ENTRY_SHARE;
  }

  /** Throws E_LIMIT if `growth` more bytes would take the state past the bound. */
  admit(growth: number, op: string): void {
    if (growth <= 0 || this.used + growth <= this.limit) return;
    throw new LimitError(
      `${op}: the daemon's shared state is full (${mb(this.used)} MiB held; this needs ${Math.ceil(growth)} bytes more, ` +
        `the bound is ${mb(this.limit)} MiB, --max-state-mb): delete values, queues or dict keys, or start the daemon with a larger bound`,
    );
  }

  /** Throws E_LIMIT if one more entry of `cost` bytes would take the connections' entries past their bound. */
  admitEntry(what: string, cost = ENTRY_COST): void {
    if (this.entries + cost <= this.entryLimit) return;
    throw new LimitError(
      `one more of the ${what}: the daemon's connections keep as many subscriptions, locks and blocked gets as it has room for ` +
        `(${mb(this.entries)} MiB, a quarter of --max-state-mb; past it each connection keeps 64 of each kind); they go with their connections`,
    );
  }

  /** `n` more entries of connections of `cost` bytes each (less, when negative): see ENTRY_COST, GET_COST. */
  enter(n: number, cost = ENTRY_COST): void {
    this.entries += n * cost;
  }
}

function mb(n: number): string {
  return (n / 1048576).toFixed(1);
}
