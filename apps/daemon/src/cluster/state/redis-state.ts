/**
 * redis-state.ts - the shared-state store of cluster mode: Values, Queues,
 * Dicts and Locks in Redis, shared by every daemon of the cluster, behind
 * the same requests, replies and errors as SharedState (the reply table is in
 * shared-state.ts's header). This file validates and dispatches; its parts:
 * state-redis.ts (how a request reaches Redis), the Lua of each type
 * (value-, queue-, dict-, lock-scripts.ts), queue-gets.ts and lock-grants.ts
 * (calls that wait), dict-walks.ts (a whole dict, a page at a time), and
 * subscriptions.ts and change-feed.ts (pushes), costly-scripts.ts and
 * value-sizes.ts (the Lua time an owner's requests may hold Redis for).
 *
 * - Every write is one Lua script that checks this daemon's lease, answers a
 *   resent request id from the kept reply (`rep:<instance>`), writes, bumps
 *   the version, records the change in `chg` and keeps the reply, atomically.
 *   A reply is given only once Redis answered the script: nothing is
 *   acknowledged that was not written (how durable it is then is Redis's
 *   persistence setting). compareAndSet by value takes a second script when
 *   the bytes differ (see #cas); each commits atomically.
 * - Owners are qualified with the daemon's incarnation (`<id>/c:12`), so they
 *   are unique in the cluster.
 * - The lease not held, or Redis unreachable: a request fails at once with
 *   E_UNAVAILABLE. Calls already parked go on waiting (their timeout holds).
 *
 * Differences from SharedState (docs/cluster.md): names and dict keys must be
 * well-formed Unicode; queue.put's size counts an item a parked get is about
 * to take; FIFO among blocked gets and acquires holds per daemon; a dict push
 * of a value past the inline size carries the key's value when read.
 */
import type { Logger } from '../../logger.js';
import {
  BadMessageError,
  CancelledError,
  encodeCheckedData,
  NoSuchValueError,
  ShuttingDownError,
  UnavailableError,
  type Push,
  type StateRequest,
} from '@corepool/protocol/internal';

import { dataEqual, decodeCost, MAX_COST } from '../../state/data-equal.js';
import { checked, checkRequest, delta, dictKey, operand } from '../../state/operands.js';
import {
  notApplied,
  type ReplayKey,
  type StateCounts,
  type StateListing,
  type StateStore,
  type UndeliveredItem,
} from '../../state/state-store.js';
import type { ClusterNode } from '../cluster-node.js';
import { ChangeFeed, type ChangeEntry } from './change-feed.js';
import { CostlyScripts, type Measure } from './costly-scripts.js';
import { DICT_DELETE, DICT_REMOVE, DICT_SET } from './dict-scripts.js';
import { DictWalks } from './dict-walks.js';
import { LockGrants } from './lock-grants.js';
import { QUEUE_PUT, QUEUE_REMOVE, DROP_REPLIES } from './queue-scripts.js';
import { OrphanSweep } from './orphan-sweep.js';
import { QueueGets } from './queue-gets.js';
import { listRedisState } from './redis-listing.js';
import { bytes, casReply, decimal, versionAndValue } from './replies.js';
import { Script } from './scripts.js';
import { checkWellFormed, StateKeys } from './state-keys.js';
import { StateRedis } from './state-redis.js';
import { Subscriptions } from './subscriptions.js';
import { ValueSizes } from './value-sizes.js';
import { KEEP_REPLY, VALUE_ADD, VALUE_CAS, VALUE_CAS_AT, VALUE_INIT, VALUE_REMOVE, VALUE_SET } from './value-scripts.js';

export interface RedisStateOptions {
  /** This daemon's membership: its Redis connections, key prefix, incarnation and lease. */
  node: ClusterNode;
  /** Largest operand a write may store (what one reply can carry back). @default Infinity */
  maxValueBytes?: number;
  /** Entries `chg` keeps (MAXLEN ~): a daemon further behind resyncs its subscribers. @default 10000 */
  streamLength?: number;
  /** Largest value a change record carries; a larger one is read from its key by each daemon that pushes it. @default 4096 */
  inlineBytes?: number;
  /** How long a client instance's kept replies outlive its last write. @default 600000 */
  replyTtlMs?: number;
  /** How long a dead daemon's held queue items wait for their consumer's resend before going back (the reconnect window). @default 120000 */
  orphanWaitMs?: number;
  /** Parked calls are retried at least this often; the feed notices a Redis that lost its data within it. @default 1000 */
  pollMs?: number;
  log?: Logger;
}

/** A compareAndSet whose value keeps changing between its compare and its write gives up after this many rounds. */
const CAS_ROUNDS = 100;
/** Acknowledged replies deleted by one script at most (a few ms of Redis's time). */
const DROP_BATCH = 1_000;
/** close() waits this long at most for releases and put-backs in flight. */
const CLOSE_WAIT_MS = 2_000;

const S = {
  valueInit: new Script(VALUE_INIT),
  valueSet: new Script(VALUE_SET),
  valueAdd: new Script(VALUE_ADD),
  valueCas: new Script(VALUE_CAS),
  valueCasAt: new Script(VALUE_CAS_AT),
  keepReply: new Script(KEEP_REPLY),
  queuePut: new Script(QUEUE_PUT),
  dropReplies: new Script(DROP_REPLIES),
  dictSet: new Script(DICT_SET),
  dictDelete: new Script(DICT_DELETE),
  valueRemove: new Script(VALUE_REMOVE),
  queueRemove: new Script(QUEUE_REMOVE),
  dictRemove: new Script(DICT_REMOVE),
};

/** The shared state of a cluster, in Redis. */
export class RedisState implements StateStore {
  readonly #r: StateRedis;
  readonly #max: number;
  readonly #pollMs: number;
  readonly #log: Logger | undefined;
  readonly #feed: ChangeFeed<Uint8Array | undefined>;
  readonly #subs: Subscriptions;
  readonly #gets: QueueGets;
  readonly #locks: LockGrants;
  readonly #walks: DictWalks;
  readonly #orphans: OrphanSweep;
  readonly #costly = new CostlyScripts();
  readonly #sizes = new ValueSizes();
  #counts = { values: 0, queues: 0, dicts: 0, locks: 0 };
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  /** Acknowledged replies to delete, by client instance: sent together at the end of the turn. */
  readonly #drops = new Map<string, number[]>();
  #dropsScheduled = false;

  private constructor(opts: RedisStateOptions) {
    const keys = new StateKeys(opts.node.prefix);
    this.#r = new StateRedis(opts.node, keys, {
      streamLength: opts.streamLength ?? 10_000,
      inlineBytes: opts.inlineBytes ?? 4096,
      replyTtlMs: opts.replyTtlMs ?? 600_000,
    });
    this.#max = opts.maxValueBytes ?? Infinity;
    this.#pollMs = opts.pollMs ?? 1_000;
    this.#log = opts.log;
    this.#subs = new Subscriptions(this.#r);
    this.#gets = new QueueGets(this.#r);
    this.#locks = new LockGrants(this.#r);
    this.#walks = new DictWalks(this.#r, this.#max);
    this.#orphans = new OrphanSweep(this.#r, opts.orphanWaitMs ?? 120_000, opts.streamLength ?? 10_000);
    this.#feed = new ChangeFeed({
      node: opts.node,
      keys,
      pollMs: this.#pollMs,
      bigs: this.#subs,
      onEntry: (e, big) => this.#onChange(e, big),
      onResync: (why) => {
        this.#log?.warn({ event: 'state-resync', reason: why });
        this.#subs.resync();
      },
    });
  }

  /**
   * The owners (connections, workers) that hold locks through this daemon. When its lease is
   * lost their grants are no longer safe (another daemon may take them over): the primary ends
   * those owners so the SDK tells each holder (its grant's signal aborts with E_LOCK_NOT_HELD).
   */
  lockHolders(): string[] {
    return this.#locks.holders();
  }

  list(limit: number, cursor?: string): Promise<StateListing> {
    return listRedisState(this.#r, limit, cursor);
  }

  /** Opens the store on `node`'s Redis and starts following its changes. */
  static async open(opts: RedisStateOptions): Promise<RedisState> {
    const s = new RedisState(opts);
    await s.#feed.start();
    await s.#r.room.start();
    s.#timer = setInterval(() => s.#poll(), s.#pollMs);
    s.#timer.unref();
    s.#poll();
    return s;
  }

  get onPush(): (owner: string, push: Push) => void {
    return this.#subs.push;
  }

  set onPush(f: (owner: string, push: Push) => void) {
    this.#subs.push = f;
  }

  async handle(owner: string, req: StateRequest, key?: ReplayKey): Promise<unknown> {
    if (this.#closing !== undefined) throw new ShuttingDownError('the daemon is stopping');
    if (req.op === 'state.list') return this.list(req.limit ?? 100, req.cursor);
    const name = checkRequest(req, this.#max);
    checkWellFormed(name, 'a name');
    // The delta counts too: an add of a large bigint to a small or new value is as costly as one to a large value.
    const deltaBytes = req.op === 'value.add' && req.a instanceof Uint8Array ? req.a.byteLength : 0;
    // An add to a value whose size is not known here is measured first (costly-scripts.ts).
    const cost = req.op === 'value.add' ? (this.#sizes.addMs(name, deltaBytes) ?? this.#sizing(name, deltaBytes, req.a)) : 0;
    // What it may leave the value holding counts for the adds sent behind it, until it is answered.
    const written = writtenBytes(req);
    const done = written === 0 ? undefined : this.#sizes.writing(name, written);
    const reply = this.#costly.enter(owner, req.op, cost, () => this.#handle(owner, name, req, key));
    return done === undefined ? reply : reply.finally(done);
  }

  /** A measure of an add to `name`, its read sent now, not when its turn comes: an owner's adds to many values not seen go out together. */
  #sizing(name: string, deltaBytes: number, operand: Uint8Array | undefined): Measure {
    // A malformed operand is refused before it costs Redis a read, or a remembered size its place.
    delta(operand, 'value.add');
    const known = this.#measureAdd(name, deltaBytes);
    known.catch(() => {}); // the request's, once its turn comes
    // A size the feed brought while it waited in its owner's line is newer than the read.
    return () => known.then((ms) => this.#sizes.addMs(name, deltaBytes) ?? ms);
  }

  /**
   * The cost of an add to a value this daemon has not seen, from the value's stored length (one O(1) read;
   * none stored: 0, the add makes it from its delta). Failing, the add was never sent: its resend runs afresh.
   */
  async #measureAdd(name: string, deltaBytes: number): Promise<number> {
    let bytes: number;
    try {
      bytes = (await this.#r.call('HSTRLEN', this.#r.keys.value(name), 'val')) as number;
    } catch (e) {
      throw notApplied(e instanceof Error ? e : new Error(String(e)));
    }
    // A size the feed or a reply brought meanwhile is newer than what this read saw.
    if (this.#sizes.addMs(name, deltaBytes) === undefined) this.#sizes.seen(name, bytes);
    return this.#sizes.addMs(name, deltaBytes)!;
  }

  async #handle(owner: string, name: string, req: StateRequest, key: ReplayKey | undefined): Promise<unknown> {
    const op = req.op;
    const r = this.#r;
    const k = r.keys;
    switch (op) {
      case 'value.get': {
        const [ver, val] = (await r.call('HMGET', k.value(name), 'ver', 'val')) as [Buffer | null, Buffer | null];
        if (ver === null || val === null) throw new NoSuchValueError(`no value named "${name}"`);
        this.#sizes.seen(name, val.length);
        return { version: decimal(ver), value: bytes(val) };
      }
      case 'value.init': {
        const a = await r.run(S.valueInit, key, [k.value(name)], [checked(req.a, 'a', op), name]);
        const v = versionAndValue(a.rest[0]);
        this.#sizes.seen(name, v.value.byteLength);
        return v;
      }
      case 'value.set': {
        const val = checked(req.a, 'a', op);
        const a = await r.run(S.valueSet, key, [k.value(name)], [val, name]);
        this.#sizes.seen(name, val.byteLength);
        return { version: decimal(a.rest[0]) };
      }
      case 'value.add': {
        // Canonical bytes, so the script reads only the forms msgpackr writes.
        const a = await r.run(S.valueAdd, key, [k.value(name)], [encodeCheckedData(delta(req.a, op)), name]);
        const v = versionAndValue(a.rest[0]);
        this.#sizes.seen(name, v.value.byteLength);
        return v;
      }
      case 'value.cas':
        return this.#cas(name, req, key);
      case 'value.subscribe': {
        const fresh = this.#subs.values.add(owner, name);
        // Not fenced by the lease: a subscriber told to resync after Redis came back empty
        // subscribes again before this daemon is a member again, and a read needs no lease.
        const read = r.read('HMGET', k.value(name), 'ver', 'val') as Promise<[Buffer | null, Buffer | null]>;
        // Its caller is told it failed and keeps nothing: the entry, its quota and pushes go too.
        const [ver, val] = await read.catch((err: unknown) => {
          if (fresh) this.#subs.values.delete(owner, name);
          throw err;
        });
        if (val !== null) this.#sizes.seen(name, val.length);
        return ver === null || val === null ? { version: 0 } : { version: decimal(ver), value: bytes(val) };
      }
      case 'value.unsubscribe':
        this.#subs.values.delete(owner, name);
        return true;

      case 'queue.put': {
        const a = await r.run(S.queuePut, key, [k.queue(name)], [checked(req.a, 'a', op), name]);
        return { size: decimal(a.rest[0]) };
      }
      case 'queue.get':
        return this.#gets.get(owner, name, req.timeoutMs, key);
      case 'queue.size':
        return r.call('LLEN', k.queue(name));

      case 'dict.get': {
        const got = await r.call('HGET', k.dict(name), this.#dictKey(req));
        return got === null ? null : bytes(got);
      }
      case 'dict.set': {
        const a = await r.run(S.dictSet, key, k.dictKeys(name), [this.#dictKey(req), checked(req.a, 'a', op), name]);
        return { version: decimal(a.rest[0]) };
      }
      case 'dict.delete': {
        const a = await r.run(S.dictDelete, key, k.dictKeys(name), [this.#dictKey(req), name]);
        return String(a.rest[0]) === '1';
      }
      case 'dict.has':
        return (await r.call('HEXISTS', k.dict(name), this.#dictKey(req))) === 1;
      case 'dict.keys':
      case 'dict.entries':
        r.ready();
        return op === 'dict.keys' ? this.#walks.keys(owner, name) : this.#walks.entries(owner, name);
      case 'dict.size':
        return r.call('HLEN', k.dict(name));
      case 'dict.subscribe':
        this.#subs.dicts.add(owner, name);
        return true;
      case 'dict.unsubscribe':
        this.#subs.dicts.delete(owner, name);
        return true;

      case 'value.remove': {
        const a = await r.run(S.valueRemove, key, [k.value(name)], [name]);
        this.#sizes.gone(name);
        return String(a.rest[0]) === '1';
      }
      case 'queue.remove': {
        const a = await r.run(S.queueRemove, key, [k.queue(name)], []);
        return String(a.rest[0]) === '1';
      }
      case 'dict.remove': {
        const a = await r.run(S.dictRemove, key, k.dictKeys(name), [name]);
        return String(a.rest[0]) === '1';
      }

      case 'lock.acquire':
        return { token: await this.#locks.acquire(owner, name, req.timeoutMs) };
      case 'lock.release':
        if (req.token === undefined) throw new BadMessageError('lock.release needs the token of the grant');
        await this.#locks.release(owner, name, req.token, key);
        return true;
      default:
        throw new BadMessageError(`unknown state operation ${String((req as { op: unknown }).op)}`);
    }
  }

  undelivered(req: StateRequest, value: unknown, key?: ReplayKey): void {
    if (req.op === 'queue.get' && value instanceof Uint8Array) this.#gets.putBack(req.name, value, key);
  }

  undeliveredItems(name: string, items: readonly UndeliveredItem[]): void {
    // Each goes to the front, the newest first, so they stand as they were taken. Their scripts go down one
    // connection in this order, before the get that a put-back wakes on this daemon (Redis runs them in turn).
    for (let i = items.length - 1; i >= 0; i--) this.#gets.putBack(name, items[i]!.value, items[i]!.key);
  }

  releaseOwner(owner: string): void {
    this.#subs.dropOwner(owner);
    const err = new CancelledError('the requester went away');
    // Waiting for their turn, never sent: they go with the owner, the writes marked never applied so that the
    // replay table forgets them and their resends run afresh, once, on whichever daemon they reach.
    this.#costly.drop(owner, notApplied(new CancelledError('the requester went away before its request was sent')));
    this.#gets.dropOwner(owner, err);
    this.#locks.dropOwner(owner, err);
    this.#walks.dropOwner(owner, err);
  }

  cancelGets(owner: string): void {
    const err = new CancelledError('the task waiting for an item was cancelled');
    // One still waiting for its turn here too: sent later, it would wait (or take an item) for no task.
    this.#costly.drop(owner, err, (op) => op === 'queue.get');
    this.#gets.cancel(owner, err);
  }

  cancelAcquires(owner: string): void {
    const err = new CancelledError('the task waiting for this lock has ended or was cancelled');
    this.#costly.drop(owner, err, (op) => op === 'lock.acquire');
    this.#locks.cancelAcquires(owner, err);
  }

  /** None: a resend reaching any daemon is answered by the scripts from `rep:`. */
  keptReplies(): Map<string, Map<number, unknown>> {
    return new Map();
  }

  /** Redis's own `maxmemory` bounds the cluster's state: the primary's kept replies are bounded per instance alone (replay.ts). */
  holdItems(_bytes: number): void {}

  /** As holdItems: nothing counted here. */
  holdReplies(_bytes: number): void {}

  /** Kept replies are Redis's in cluster mode (`rep:<instance>`): the primary's watermark is not kept apart. */
  markTooOld(_instance: string, _mark: number | number[]): void {}

  /** Deletes a kept reply, unless another daemon answered a resend of its queue.get since (its reply, now). */
  dropReply(key: ReplayKey): void {
    const [instance, rid] = key;
    let rids = this.#drops.get(instance);
    if (rids === undefined) this.#drops.set(instance, (rids = []));
    rids.push(rid);
    if (rids.length >= DROP_BATCH) {
      this.#drops.delete(instance);
      this.#dropNow(instance, rids);
    } else if (!this.#dropsScheduled) {
      this.#dropsScheduled = true;
      setImmediate(this.#flushDrops);
    }
  }

  readonly #flushDrops = (): void => {
    this.#dropsScheduled = false;
    for (const [instance, rids] of this.#drops) this.#dropNow(instance, rids);
    this.#drops.clear();
  };

  #dropNow(instance: string, rids: number[]): void {
    this.#r.track(this.#r.script(S.dropReplies, [instance, rids[0]!], [this.#r.keys.held(this.#r.node.id)], [this.#r.holder(''), ...rids]));
  }

  /** Values, queues with items, dicts with entries and locks held in the cluster (refreshed on the poll); this daemon's parked calls. */
  counts(): StateCounts {
    return { ...this.#counts, blockedGets: this.#gets.size, lockWaiters: this.#locks.waiting };
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#r.closed = true;
      clearInterval(this.#timer);
      this.#r.room.stop();
      const err = new ShuttingDownError('the daemon is stopping');
      this.#costly.dropAll(err);
      this.#gets.dropAll(err);
      this.#locks.dropAll(err);
      this.#walks.dropAll(err);
      this.#flushDrops();
      this.#closing = (async () => {
        await this.#feed.stop();
        let wait: NodeJS.Timeout | undefined;
        await Promise.race([this.#r.settled(), new Promise((r) => (wait = setTimeout(r, CLOSE_WAIT_MS)))]);
        clearTimeout(wait);
      })();
    }
    return this.#closing;
  }

  #dictKey(req: StateRequest): string {
    const key = dictKey(req);
    checkWellFormed(key, 'a dict key');
    return key;
  }

  /**
   * compareAndSet: the script sets at once when the bytes are equal. When they differ and
   * the expected value is within dataEqual's budget, the values are compared here (the
   * LMDB store's equality, exactly), and the write is made only if the version is still
   * the one compared; otherwise the compare starts over.
   */
  async #cas(name: string, req: StateRequest, key: ReplayKey | undefined): Promise<unknown> {
    const r = this.#r;
    const expected = operand(req.a, 'a', req.op);
    const next = checked(req.b, 'b', req.op);
    const structural = decodeCost(expected, MAX_COST) <= MAX_COST ? '1' : '0';
    const vk = [r.keys.value(name)];
    let a = await r.run(S.valueCas, key, vk, [expected, next, name, structural]);
    for (let round = 0; a.word === 'cmp' || a.word === 'again'; round++) {
      if (round >= CAS_ROUNDS) throw new UnavailableError(`value "${name}" changed under compareAndSet ${CAS_ROUNDS} times in a row`);
      if (a.word === 'again') {
        a = await r.run(S.valueCas, key, vk, [expected, next, name, structural]);
        continue;
      }
      const version = String(decimal(a.rest[0]));
      if (!dataEqual(bytes(a.rest[1]), expected)) a = await r.run(S.keepReply, key, [], [`0:${version}`]);
      else a = await r.run(S.valueCasAt, key, vk, [version, next, name]);
    }
    return casReply(a.rest[0]);
  }

  /** The backstop: parked calls retried, failed releases and put-backs tried again, dead daemons' held items put back, counts refreshed. */
  #poll(): void {
    if (this.#closing !== undefined) return;
    this.#gets.poll();
    this.#locks.poll();
    this.#orphans.run();
    this.#r.read('HMGET', this.#r.keys.stat, 'v', 'q', 'd', 'l').then(
      (got) => {
        const [v, q, d, l] = (got as (Buffer | null)[]).map((b) => Math.max(0, b === null ? 0 : decimal(b)));
        this.#counts = { values: v!, queues: q!, dicts: d!, locks: l! };
      },
      () => {},
    );
  }

  /** One committed change from the feed, in commit order (with a big one's bytes, if read). */
  #onChange(e: ChangeEntry, big: Uint8Array | undefined): void {
    switch (e.kind) {
      case 'v':
        if (e.deleted) this.#sizes.gone(e.name);
        else if (e.value !== undefined || e.bigBytes !== undefined) this.#sizes.seen(e.name, e.value?.byteLength ?? e.bigBytes!);
        return this.#subs.value(e, big);
      case 'd':
        return this.#subs.dict(e, big);
      case 'q':
        return this.#gets.wake(e.name);
      case 'l':
        return this.#locks.wake(e.name);
    }
  }
}

/**
 * The most bytes a value write `req` may leave its value holding (0 for any other request): a set's or
 * an init's bytes, a compare-and-set's next bytes, an add's delta (the sum is as long as the longer of
 * the two, and the value's own size is counted apart).
 */
function writtenBytes(req: StateRequest): number {
  const of = (x: unknown): number => (x instanceof Uint8Array ? x.byteLength : 0);
  switch (req.op) {
    case 'value.set':
    case 'value.init':
    case 'value.add':
      return of(req.a);
    case 'value.cas':
      return of(req.b);
    default:
      return 0;
  }
}
