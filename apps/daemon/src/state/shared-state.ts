/**
 * shared-state.ts - the facade the primary calls for every shared-state
 * request, from a client connection or from a task's worker. It validates
 * names and operands, runs the operation on the type (value.ts, queue.ts,
 * dict.ts, lock.ts) synchronously, in arrival order, and replies once the
 * operation's writes (and every write before them) are committed.
 *
 * Replies (control-codec-safe; `Uint8Array`s are data-encoded values):
 *   value.get, value.init, value.subscribe -> { version, value }
 *       (value.subscribe on an absent value -> { version: 0 }, no `value`)
 *   value.set                    -> { version }
 *   value.add                    -> { version, value }   (the new value)
 *   value.cas                    -> { ok: boolean, version }   (version after the call)
 *   queue.put                    -> { size }              (size after the put)
 *   queue.get                    -> Uint8Array
 *   queue.size                   -> number
 *   dict.get                     -> Uint8Array | null     (null: no such key)
 *   dict.set                     -> { version }           (the dict's version)
 *   dict.delete, dict.has        -> boolean
 *   dict.keys                    -> string[]              (from SLICED_FROM keys, the same as an EncodedValue:
 *   dict.entries                 -> [string, Uint8Array][] encoded a slice a turn, listing-encoder.ts)
 *   dict.size                    -> number
 *   dict.subscribe               -> true
 *   lock.acquire                 -> { token }
 *   lock.release                 -> true
 *   value.unsubscribe, dict.unsubscribe -> true
 *   value.remove, queue.remove, dict.remove -> boolean (whether there was something to delete)
 *   state.list                   -> StateListing (a page: { entries, next? }; no name needed)
 * Errors reject with a CorepoolError: E_BAD_NAME, E_BAD_MESSAGE (missing or
 * undecodable operand), E_NO_SUCH_VALUE, E_TYPE, E_TIMEOUT, E_CANCELLED,
 * E_LOCK_NOT_HELD, E_SHUTTING_DOWN, E_LIMIT (a per-owner limit: blocked gets,
 * locks held or awaited, subscriptions), E_NO_SPACE (the commit failed for want
 * of space: the write was rolled back), E_INTERNAL (another failed commit).
 *
 * Pushes: onPush(owner, { type: 'push', kind: 'value', name, version, value })
 * per committed version, in version order; for dicts kind 'dict' with `key`
 * and `value`, or `deleted: true`. A deleted Value or Dict: one push with
 * `deleted: true` and no key; its versions start over.
 *
 * About 450 lines, a third of them this reply table: the operations
 * themselves live in the types' files.
 */
import {
  BadMessageError,
  CancelledError,
  own,
  NoSuchValueError,
  NoSpaceError,
  ShuttingDownError,
  VersionReply,
  type Push,
  type StateRequest,
} from '@corepool/protocol/internal';

import { Dicts } from './dict.js';
import { Locks } from './lock.js';
import { Queues } from './queue.js';
import { checked, checkRequest, delta, dictKey, operand } from './operands.js';
import { ReplayLog, TakenItem } from './replay-log.js';
import { cut, LISTED_NAME_CHARS, Pager, preview } from './state-listing.js';
import { Fanout } from './fanout.js';
import { HeldPushes } from './held-pushes.js';
import { StateMemory } from './state-memory.js';
import { ListingEncoder, SLICED_FROM } from './listing-encoder.js';
import {
  TOO_OLD_MARK,
  type ReplayKey,
  type StateCounts,
  type StateEntry,
  type StateListing,
  type StateStore,
  type UndeliveredItem,
} from './state-store.js';
import { DEFAULT_FSYNC, FSYNC_MODES, Store, type FailedWrites, type FsyncMode } from './store.js';
import { Values } from './value.js';

export type { ReplayKey } from './state-store.js';

/** Options of SharedState.open. */
export interface SharedStateOptions {
  /** The daemon's data dir; the state lives in `<dataDir>/state`. */
  dataDir: string;
  /** When the disk is flushed. @default 'everysec' */
  fsync?: FsyncMode;
  /**
   * Largest operand a write may store: what one reply can carry back. A
   * value stored above it could never be read (and a queue item taken for a
   * reply too large to send would be lost), so it is refused with E_TOO_LARGE.
   * @default Infinity
   */
  maxValueBytes?: number;
  /**
   * Most bytes the state may hold in the primary's memory, as state-memory.ts estimates them;
   * a write that would grow it past this is refused with E_LIMIT (`--max-state-mb`).
   * @default Infinity
   */
  maxStateBytes?: number;
}

/**
 * A write's operand `a`, checked (operands.ts) and as the state keeps it: its own bytes, not a
 * view into the frame it came in (own).
 */
function stored(a: Uint8Array | undefined, op: string): Uint8Array {
  return own(checked(a, 'a', op));
}

/** A read behind failing commits is taken again this many times before it fails with their error. */
const READ_ATTEMPTS = 3;

/** Writes of this many bytes or more are checked against the free disk alone (Store.fits) before they are applied. */
const LARGE_WRITE_BYTES = 1024 * 1024;

/** How soon an item put back in a batch that failed to commit is put back again, and the longest wait between tries. */
const PUT_BACK_RETRY_MS = 100;
const PUT_BACK_RETRY_MAX_MS = 5_000;

/** The reply of (un)subscribe: nothing to wait for. */
const RESOLVED_TRUE: Promise<true> = Promise.resolve(true);

/** The shared state the primary keeps: Values, Queues, Dicts and Locks, durable in LMDB. */
export class SharedState implements StateStore {
  /** Where pushes for subscribers go; set by the primary. */
  onPush: (owner: string, push: Push) => void = () => {};

  readonly #store: Store;
  readonly #values: Values;
  readonly #queues: Queues;
  readonly #dicts: Dicts;
  readonly #locks: Locks;
  readonly #replayLog: ReplayLog;
  readonly #pager = new Pager(() => this.#listing());
  #closing: Promise<void> | null = null;

  /** See SharedStateOptions.maxValueBytes. */
  readonly #maxValueBytes: number;
  readonly #listings: ListingEncoder;
  /** Dict pushes to an owner wait while its listing of that dict is encoded. */
  readonly #held = new HeldPushes((owner, p) => this.onPush(owner, p));
  /** Pushes of committed changes, their time charged to the writer. */
  readonly #fanout = new Fanout((owner, p) => this.#held.deliver(owner, p));
  /** What values, queues and dicts hold of the primary's memory, and its bound. */
  readonly #memory: StateMemory;

  private constructor(store: Store, maxValueBytes: number, maxStateBytes: number) {
    this.#store = store;
    this.#maxValueBytes = maxValueBytes;
    this.#listings = new ListingEncoder(maxValueBytes);
    const memory = (this.#memory = new StateMemory(maxStateBytes));
    // Writes a full disk kept in the journal at the start are read with the rest. State over the
    // bound (a smaller --max-state-mb than before) is loaded whole: only growth is refused.
    [this.#values, this.#queues, this.#dicts, this.#locks, this.#replayLog] = store.read(
      () =>
        [
          Values.load(store, this.#fanout, memory),
          Queues.load(store, memory),
          Dicts.load(store, this.#fanout, memory),
          Locks.load(store, memory),
          ReplayLog.load(store),
        ] as const,
    );
    store.onFailed = (writes) => this.#rollBack(writes);
  }

  /**
   * A batch failed to commit (disk full): every record it wrote goes back to what LMDB has,
   * so nothing of it is read, handed out or pushed. Its writers fail with the commit's error;
   * reads waiting on it read again (#read). Locks granted in it pass on (Locks#grant).
   */
  #rollBack(w: FailedWrites): void {
    const store = this.#store;
    const values = new Set<string>();
    const queues = new Set<string>();
    const dicts = new Set<string>();
    const note = (table: unknown, key: unknown): void => {
      const k = Array.isArray(key) ? key : [key];
      if (table === store.values && typeof k[0] === 'string') values.add(k[0]);
      else if (table === store.queues && typeof k[0] === 'string') queues.add(k[0]);
      else if (table === store.dicts && typeof k[0] === 'string') dicts.add(k[0]);
      else if (table === store.meta && (k[0] === 'dict' || k[0] === 'dict-order') && typeof k[1] === 'string') dicts.add(k[1]);
      else if (table === store.replays) this.#replayLog.reloadOwn(key);
    };
    for (let i = 0; i < w.keys.length; i++) note(w.tables[i], w.keys[i]);
    for (const d of w.dirty) {
      note(d.table, d.key);
      this.#replayLog.reload(d);
    }
    for (const name of values) this.#values.reload(name);
    for (const name of queues) this.#queues.reload(name);
    for (const name of dicts) this.#dicts.reload(name);
  }

  /** Opens (creating if needed) the state under `dataDir`. */
  static async open(opts: SharedStateOptions): Promise<SharedState> {
    const fsync = opts.fsync ?? DEFAULT_FSYNC;
    if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw new TypeError('options.dataDir must be a non-empty string');
    if (!(FSYNC_MODES as readonly string[]).includes(fsync)) throw new RangeError('options.fsync must be "always", "everysec" or "no"');
    return new SharedState(Store.open(opts.dataDir, fsync), opts.maxValueBytes ?? Infinity, opts.maxStateBytes ?? Infinity);
  }

  /**
   * Writes a write's reply under its replay key in the same batch as the
   * write, so a client that lost the reply gets it from a restarted daemon
   * too: both are committed, or neither. Returns the reply.
   */
  #keepReply<T>(key: ReplayKey | undefined, reply: T): T {
    if (key !== undefined) this.#replayLog.keep(key, reply);
    return reply;
  }

  /** A get's reply: its item, kept with the queue it came from (replay-log.ts TakenItem). Returns the item. */
  #keepTaken(key: ReplayKey, queue: string, item: Uint8Array): Uint8Array {
    this.#replayLog.keep(key, new TakenItem(queue, item));
    return item;
  }

  /** What the start found wrong with the store's journal (a damaged frame, a full disk): the daemon logs each. */
  get warnings(): readonly string[] {
    return this.#store.warnings;
  }

  /** Every reply kept for a replay, by client instance and request id (read once, at start). */
  keptReplies(): Map<string, Map<number, unknown>> {
    return this.#replayLog.all();
  }

  /** Deletes a kept reply (acknowledged, or its client is gone). */
  dropReply(key: ReplayKey): void {
    if (this.#closing === null) this.#replayLog.drop(key);
  }

  /** Keeps the instance's too-old mark with its replies (state-store.ts TOO_OLD_MARK), committed with the current batch. */
  markTooOld(instance: string, mark: number | number[]): void {
    if (this.#closing === null) this.#replayLog.keep([instance, TOO_OLD_MARK], mark);
  }

  /**
   * A queue item taken is held until its client acknowledges the reply (replay.ts): still the
   * state's memory. Counted, never refused, so a get still passes on a full state (its item
   * leaves the queue as its reply is kept); a put past the bound does not. Uncounted, an app
   * taking items without acknowledging them, as new client instances, moved them out of the
   * bound and put more: 64 MiB each time, for the two minutes an instance is kept.
   */
  holdItems(bytes: number): void {
    this.#memory.used += bytes;
  }

  /** The rest kept replies hold: counted apart (state-memory.ts), so that they never refuse a counter's add. */
  holdReplies(bytes: number): void {
    this.#memory.replies += bytes;
  }

  /**
   * Runs one request for `owner` (an opaque string like "c:12" for a client
   * or "w:3" for a task's worker). Resolves to the reply above, rejects with
   * a CorepoolError. The operation takes effect synchronously, before this
   * returns; only the reply waits for the commit. With `key`, a write's reply
   * is kept in the store with the write, for a replay (see #keepReply).
   */
  handle(owner: string, req: StateRequest, key?: ReplayKey): Promise<unknown> {
    this.#fanout.writer = owner;
    try {
      return this.#handle(owner, req, key);
    } catch (err) {
      return Promise.reject(err);
    } finally {
      this.#fanout.writer = undefined;
    }
  }

  /** Where the time spent for an owner outside its requests goes (its pushes, its listings' encoding): the primary charges its connection. */
  get onOwnerCost(): (owner: string, ms: number) => void {
    return this.#fanout.charge;
  }

  set onOwnerCost(f: (owner: string, ms: number) => void) {
    this.#fanout.charge = f;
    this.#listings.charge = f;
  }

  /**
   * handle's body, not an async function: a write's reply waits for the commit in
   * #afterCommit, so a request in flight holds a promise and its reply, not this
   * function's suspended frame (its registers span every case; measured: 550 of the
   * 3,300 bytes the primary allocated per value.add with 100,000 in flight).
   */
  #handle(owner: string, req: StateRequest, key: ReplayKey | undefined): Promise<unknown> {
    if (this.#closing !== null) throw new ShuttingDownError('the daemon is stopping');
    // A page is taken over turns when its cursor is far (state-listing.ts).
    if (req.op === 'state.list') return this.#listPage(req.limit ?? 100, req.cursor);
    const name = checkRequest(req, this.#maxValueBytes);
    // A large write that the disk has no room for fails alone, before it joins the turn's batch (which
    // fails whole when it does not fit: the other apps' writes of that turn with it).
    const large = Math.max(req.a?.length ?? 0, req.b?.length ?? 0);
    if (large >= LARGE_WRITE_BYTES && !this.#store.fits(large)) {
      throw new NoSpaceError(`the disk under the state has no room for a write of ${large} bytes: it was not applied`);
    }
    switch (req.op) {
      case 'value.get':
        return this.#read(() => {
          const r = this.#values.get(name);
          if (r === undefined) throw new NoSuchValueError(`no value named "${name}"`);
          return new VersionReply(r.version, r.bytes);
        });
      case 'value.init': {
        const r = this.#values.init(name, stored(req.a, req.op));
        const reply = this.#keepReply(key, new VersionReply(r.version, r.bytes));
        return this.#afterCommit(reply);
      }
      case 'value.set': {
        const r = this.#values.set(name, stored(req.a, req.op));
        const reply = this.#keepReply(key, new VersionReply(r.version));
        return this.#afterCommit(reply);
      }
      case 'value.add': {
        const r = this.#values.add(name, delta(req.a, req.op));
        const reply = this.#keepReply(key, new VersionReply(r.version, r.bytes));
        return this.#afterCommit(reply);
      }
      case 'value.cas': {
        // `a` is decoded only if it differs from the current bytes, and within dataEqual's budget.
        const expected = operand(req.a, 'a', req.op);
        const next = checked(req.b, 'b', req.op);
        const ok = this.#values.cas(name, expected, own(next));
        const reply = this.#keepReply(key, { ok, version: this.#values.get(name)?.version ?? 0 });
        return this.#afterCommit(reply);
      }
      case 'value.subscribe': {
        const fresh = this.#values.subscribe(owner, name);
        return this.#read(() => {
          const r = this.#values.get(name);
          return r === undefined ? new VersionReply(0) : new VersionReply(r.version, r.bytes);
        }).then(
          (r) => this.#afterPushes(r),
          (err: unknown) => {
            // Its caller is told it failed and keeps nothing: the entry, its quota and pushes go too.
            if (fresh) this.#values.unsubscribe(owner, name);
            throw err;
          },
        );
      }
      case 'value.unsubscribe':
        this.#values.unsubscribe(owner, name);
        return RESOLVED_TRUE;

      case 'queue.put': {
        const reply = this.#keepReply(key, { size: this.#queues.put(name, stored(req.a, req.op)) });
        return this.#afterCommit(reply);
      }
      case 'queue.get': {
        // The item taken and its kept reply are committed together, now or when a put hands it over.
        const got = this.#queues.get(
          owner,
          name,
          req.timeoutMs,
          key === undefined ? undefined : (bytes) => this.#keepTaken(key, name, bytes),
        );
        if (got instanceof Uint8Array) {
          if (key !== undefined) this.#keepTaken(key, name, got);
          return this.#afterCommit(got);
        }
        return got;
      }
      case 'queue.size':
        return this.#read(() => this.#queues.size(name));

      case 'dict.get': {
        const k = dictKey(req);
        return this.#read(() => this.#dicts.get(name, k) ?? null);
      }
      case 'dict.set': {
        const reply = this.#keepReply(key, { version: this.#dicts.set(name, dictKey(req), stored(req.a, req.op)) });
        return this.#afterCommit(reply);
      }
      case 'dict.delete': {
        const removed = this.#keepReply(key, this.#dicts.delete(name, dictKey(req)));
        return this.#afterCommit(removed);
      }
      case 'dict.has': {
        const k = dictKey(req);
        return this.#read(() => this.#dicts.has(name, k));
      }
      case 'dict.keys':
      case 'dict.entries':
        return this.#list(owner, name, req.op);
      case 'dict.size':
        return this.#read(() => this.#dicts.size(name));
      case 'dict.subscribe':
        this.#dicts.subscribe(owner, name);
        return RESOLVED_TRUE;
      case 'dict.unsubscribe':
        this.#dicts.unsubscribe(owner, name);
        return RESOLVED_TRUE;

      case 'value.remove':
      case 'queue.remove':
      case 'dict.remove': {
        const kind = req.op === 'value.remove' ? this.#values : req.op === 'queue.remove' ? this.#queues : this.#dicts;
        const removed = this.#keepReply(key, kind.remove(name));
        return this.#afterCommit(removed);
      }

      case 'lock.acquire': {
        const got = this.#locks.acquire(owner, name, req.timeoutMs);
        if (typeof got === 'number') return this.#afterCommit({ token: got });
        return got.then((token) => ({ token }));
      }
      case 'lock.release': {
        if (req.token === undefined) throw new BadMessageError('lock.release needs the token of the grant');
        this.#locks.release(owner, name, req.token);
        const reply = this.#keepReply(key, true);
        // Locks are not stored: the release happened even if its batch failed to commit.
        return this.#store.committed().then(
          () => reply,
          () => reply,
        );
      }
      default:
        throw new BadMessageError(`unknown state operation ${String((req as { op: unknown }).op)}`);
    }
  }

  /**
   * `reply` once the pushes of every change committed so far have gone (a large fan-out goes over
   * turns: fanout.ts): the state a subscriber starts from must not reach it before an older push.
   */
  #afterPushes<T>(reply: T): T | Promise<T> {
    const settled = this.#fanout.settled();
    return settled === undefined ? reply : settled.then(() => reply);
  }

  /** A write's reply, once the write is committed; the commit's error if it failed (the write was rolled back). */
  #afterCommit<T>(reply: T): Promise<T> {
    return this.#store.committed().then(() => reply);
  }

  /**
   * dict.keys() or dict.entries(): refused at once when the dict's lengths say the reply could not
   * be sent; a large one is encoded over turns (listing-encoder.ts), the dict's pushes to the owner
   * held until its reply has gone (held-pushes.ts).
   */
  #list(owner: string, name: string, op: 'dict.keys' | 'dict.entries'): Promise<unknown> {
    const values = op === 'dict.entries';
    const m = this.#dicts.measure(name);
    const refused = this.#listings.refuse(op, name, m);
    if (refused !== undefined) return Promise.reject(refused);
    const admitted = this.#listings.admit(owner, m.count);
    if (admitted instanceof Error) return Promise.reject(admitted);
    let release: (() => void) | undefined;
    const listed = this.#read(() => {
      const l = this.#dicts.listing(name, values);
      // From the turn it is read (a write after it may be pushed as soon as it commits), once.
      if (l.keys.length >= SLICED_FROM) release ??= this.#held.hold(owner, name);
      return l;
    })
      .then((l) => this.#afterPushes(l))
      .then((l) => this.#listings.reply(owner, l, op, name));
    return listed.finally(() => {
      admitted();
      release?.();
    });
  }

  /**
   * A read's reply, taken now (so it reflects exactly the operations before it) and sent
   * once those are committed (so it shows nothing a crash could lose). If their commit
   * failed, they were rolled back: the read is taken again, from the restored state.
   */
  async #read<T>(read: () => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const reply = read();
      try {
        await this.#store.committed();
        return reply;
      } catch (err) {
        if (attempt >= READ_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * A reply its owner can no longer receive (the client closed, the worker died). A queue
   * item taken for it goes back to the front of its queue (Queues.putBack); other replies
   * carry nothing that would be lost.
   */
  undelivered(req: StateRequest, value: unknown, key?: ReplayKey): void {
    if (this.#closing !== null || req.op !== 'queue.get' || !(value instanceof Uint8Array)) return;
    this.undeliveredItems(req.name, [{ value, key }]);
  }

  undeliveredItems(name: string, items: readonly UndeliveredItem[]): void {
    if (this.#closing !== null || items.length === 0) return;
    const owned = items.map(({ value, key }) => ({ item: own(value), key }));
    // Never refused for memory: the items were in the state a moment ago.
    this.#queues.putBack(
      name,
      owned.map((o) => o.item),
    );
    // Rolled back with a batch that failed (a full disk), an item was in neither its queue nor a reply anyone
    // would resend until a restart (the kept reply's drop, in the same batch, rolled back too): it goes back
    // again, with that drop, in a later batch (a reviewer's chained case).
    this.#store.committed().catch(() => {
      for (const { item, key } of owned) this.#putBackLater({ op: 'queue.get', name }, item, key, PUT_BACK_RETRY_MS);
    });
  }

  /**
   * The put-back of `item` again, once the disk has room for it alone (Store.fits): retried blindly, a large
   * item rejoined every turn's batch and failed the other apps' writes with it while the disk stayed full.
   * Waits longer each time, up to PUT_BACK_RETRY_MAX_MS; not once the daemon stops (a restart hands it back).
   */
  #putBackLater(req: StateRequest, item: Uint8Array, key: ReplayKey | undefined, ms: number): void {
    setTimeout(() => {
      if (this.#closing !== null) return;
      if (!this.#store.fits(item.length)) {
        this.#putBackLater(req, item, key, Math.min(PUT_BACK_RETRY_MAX_MS, 2 * ms));
        return;
      }
      this.undelivered(req, item, key);
      if (key !== undefined) this.dropReply(key);
    }, ms).unref();
  }

  /**
   * The owner is gone: drop its subscriptions, release its locks, fail its blocked gets/acquires with
   * E_CANCELLED. Its subscriptions and blocked calls go a slice a turn (state/leftover-clears.ts), set apart
   * from anything the same owner name does next; its locks pass on now.
   */
  releaseOwner(owner: string): void {
    this.#values.dropOwner(owner);
    this.#dicts.dropOwner(owner, () => this.#closing === null);
    this.#listings.dropOwner(owner, new CancelledError('the requester went away'));
    this.#held.dropOwner(owner);
    this.#queues.dropOwner(owner);
    this.#locks.dropOwner(owner);
  }

  cancelGets(owner: string): void {
    this.#queues.dropOwner(owner, new CancelledError('the task waiting for an item was cancelled'));
  }

  cancelAcquires(owner: string): void {
    this.#locks.cancelAcquires(owner, new CancelledError('the task waiting for this lock has ended or was cancelled'));
  }

  /** How many values exist, queues and dicts hold items, and locks are held; how many gets and acquires are blocked. */
  counts(): StateCounts {
    return {
      values: this.#values.size,
      queues: this.#queues.count,
      dicts: this.#dicts.count,
      locks: this.#locks.count,
      blockedGets: this.#queues.blockedGets,
      lockWaiters: this.#locks.waiting,
      memory: {
        usedBytes: this.#memory.used,
        limitBytes: this.#memory.limit,
        entryBytes: this.#memory.entries,
        replyBytes: this.#memory.replies,
      },
    };
  }

  /** One page of the named state: values, then queues, dicts and held locks; the cursor is an offset into that order. */
  list(limit: number, cursor?: string): Promise<StateListing> {
    return this.#pager.page(limit, cursor);
  }

  /**
   * Entries in listing order, each made only when asked (a value's preview decodes it), from what the
   * name holds then: a walk kept between pages makes the next page's first entry a request later.
   */
  *#listing(): Generator<() => StateEntry | undefined> {
    const name = (s: string): string => cut(s, LISTED_NAME_CHARS);
    for (const [k] of this.#values.all()) {
      yield () => {
        const r = this.#values.get(k);
        return r && { kind: 'value', name: name(k), version: r.version, bytes: r.bytes.length, preview: preview(r.bytes) };
      };
    }
    const sized = (kind: 'queue' | 'dict', k: string, size: number): StateEntry | undefined =>
      size > 0 ? { kind, name: name(k), size } : undefined;
    for (const [k] of this.#queues.all()) yield () => sized('queue', k, this.#queues.size(k));
    for (const [k] of this.#dicts.all()) yield () => sized('dict', k, this.#dicts.size(k));
    for (const [k] of this.#locks.all()) {
      yield () => {
        const holder = this.#locks.holder(k);
        return holder === undefined ? undefined : { kind: 'lock', name: name(k), holder };
      };
    }
  }

  /** A page, sent (like any read) once what it saw is committed; taken again if that commit failed and was rolled back. */
  async #listPage(limit: number, cursor: string | undefined): Promise<StateListing> {
    for (let attempt = 1; ; attempt++) {
      const page = await this.#pager.page(limit, cursor);
      try {
        await this.#store.committed();
        return page;
      } catch (err) {
        if (attempt >= READ_ATTEMPTS) throw err;
      }
    }
  }

  /** In-memory records that exist only while someone waits or holds a lock (a leak check): they drop to 0 when their owners go. */
  footprint(): { queueRecords: number; blockedOwners: number; lockRecords: number } {
    return { queueRecords: this.#queues.records, blockedOwners: this.#queues.blockedOwners, lockRecords: this.#locks.records };
  }

  /** Fails blocked calls with E_SHUTTING_DOWN, commits and syncs what is pending, and closes LMDB. */
  close(): Promise<void> {
    if (this.#closing === null) {
      const err = new ShuttingDownError('the daemon is stopping');
      this.#queues.dropAll(err);
      this.#locks.dropAll(err);
      this.#closing = this.#store.close();
    }
    return this.#closing;
  }
}
