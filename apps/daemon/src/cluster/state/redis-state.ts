/**
 * redis-state.ts - the shared-state store of cluster mode: Values, Queues,
 * Dicts and Locks in Redis, shared by every daemon of the cluster, behind
 * the same requests, replies and errors as SharedState (the reply table is in
 * shared-state.ts's header).
 *
 * - Every write is one Lua script (value-, queue-, dict-, lock-scripts.ts)
 *   that checks this daemon's lease, answers a resent request id from the
 *   kept reply (`rep:<instance>`), writes, bumps the version, records the
 *   change in `chg` and keeps the reply, atomically. A reply is given only
 *   once Redis answered the script: nothing is acknowledged that was not
 *   written (how durable it is then is Redis's persistence setting).
 * - Owners are qualified with the daemon's incarnation (`<id>/c:12`), so they
 *   are unique in the cluster.
 * - Queue gets and lock acquires that must wait park here (parked.ts) and are
 *   retried when the change feed says their queue gained an item or their
 *   lock was released, and on a slow poll (a lock whose daemon died is free
 *   once its lease key lapses, which records no change).
 * - Pushes come from the change feed (change-feed.ts), in stream order, which
 *   is commit order; when it cannot prove it saw every change, subscribers
 *   get a push with `resync: true`.
 * - The lease not held, or Redis unreachable: a request fails at once with
 *   E_UNAVAILABLE. Calls already parked go on waiting (their timeout holds).
 *
 * Differences from SharedState, all documented in docs/cluster.md: names and
 * dict keys must be well-formed Unicode; queue.put's size counts an item a
 * parked get is about to take; FIFO among blocked gets and acquires holds per
 * daemon; a dict push of a value past the inline size carries the key's
 * value when read, which may be newer than the pushed version.
 */
import {
  BadMessageError,
  CancelledError,
  encodeCheckedData,
  NoSuchValueError,
  ShuttingDownError,
  TimeoutError,
  UnavailableError,
  type Push,
  type StateRequest,
} from '@corepool/protocol/internal';

import { dataEqual, decodeCost, MAX_COST } from '../../state/data-equal.js';
import { checked, checkRequest, delta, dictKey, operand } from '../../state/operands.js';
import { OwnerQuota, Subscribers } from '../../state/owner-index.js';
import type { ReplayKey, StateCounts, StateStore } from '../../state/state-store.js';
import type { ClusterNode } from '../cluster-node.js';
import { ChangeFeed, type ChangeEntry } from './change-feed.js';
import { DICT_DELETE, DICT_ENTRIES, DICT_SET } from './dict-scripts.js';
import { LockHoldings, type Holding } from './lock-holdings.js';
import { LOCK_ACQUIRE, LOCK_RELEASE } from './lock-scripts.js';
import { ParkedCalls } from './parked.js';
import { DROP_REPLY, QUEUE_GET, QUEUE_PUT, QUEUE_PUT_BACK } from './queue-scripts.js';
import { redisCall } from './redis-call.js';
import { answer, bytes, casReply, decimal, scriptError, versionAndValue, type ScriptAnswer } from './replies.js';
import { Script, type ScriptArg } from './scripts.js';
import { checkWellFormed, StateKeys } from './state-keys.js';
import { KEEP_REPLY, VALUE_ADD, VALUE_CAS, VALUE_CAS_AT, VALUE_INIT, VALUE_SET } from './value-scripts.js';

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
  /** Parked calls are retried at least this often; the feed notices a Redis that lost its data within it. @default 1000 */
  pollMs?: number;
  log?: (line: string) => void;
}

/** A compareAndSet whose value keeps changing between its compare and its write gives up after this many rounds. */
const CAS_ROUNDS = 100;
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
  queueGet: new Script(QUEUE_GET),
  queuePutBack: new Script(QUEUE_PUT_BACK),
  dropReply: new Script(DROP_REPLY),
  dictSet: new Script(DICT_SET),
  dictDelete: new Script(DICT_DELETE),
  dictEntries: new Script(DICT_ENTRIES),
  lockAcquire: new Script(LOCK_ACQUIRE),
  lockRelease: new Script(LOCK_RELEASE),
};

/** An item to put back that Redis did not take yet. */
interface PutBack {
  name: string;
  item: Uint8Array;
  key: ReplayKey | undefined;
}

/** The shared state of a cluster, in Redis. */
export class RedisState implements StateStore {
  onPush: (owner: string, push: Push) => void = () => {};

  readonly #node: ClusterNode;
  readonly #keys: StateKeys;
  readonly #max: number;
  readonly #o: Required<Omit<RedisStateOptions, 'node' | 'maxValueBytes' | 'log'>>;
  readonly #log: (line: string) => void;
  readonly #leasePre: string;
  readonly #leasePost: string;
  readonly #feed: ChangeFeed;
  readonly #valueSubs = new Subscribers('value subscriptions');
  readonly #dictSubs = new Subscribers('dict subscriptions');
  readonly #blocked = new OwnerQuota('blocked queue gets');
  /** Locks held or awaited per owner: a grant turns an awaited entry into a held one. */
  readonly #lockQuota = new OwnerQuota('locks held or awaited');
  readonly #gets = new ParkedCalls<Uint8Array>((p) => this.#blocked.remove(p.owner));
  readonly #acquires = new ParkedCalls<number>((p, served) => {
    if (!served) this.#lockQuota.remove(p.owner);
  });
  readonly #holdings = new LockHoldings();
  /** Names being retried now (`q\0name`, `l\0name`), and whether a wake-up came meanwhile. */
  readonly #pumping = new Map<string, boolean>();
  readonly #putBacks: PutBack[] = [];
  readonly #background = new Set<Promise<unknown>>();
  #counts = { values: 0, queues: 0, dicts: 0, locks: 0 };
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(opts: RedisStateOptions) {
    this.#node = opts.node;
    this.#keys = new StateKeys(opts.node.prefix);
    this.#max = opts.maxValueBytes ?? Infinity;
    this.#o = {
      streamLength: opts.streamLength ?? 10_000,
      inlineBytes: opts.inlineBytes ?? 4096,
      replyTtlMs: opts.replyTtlMs ?? 600_000,
      pollMs: opts.pollMs ?? 1_000,
    };
    this.#log = opts.log ?? (() => {});
    // A daemon id sits between these two in its lease key; the acquire script rebuilds a holder's.
    const probe = opts.node.leaseKey('\u0000');
    this.#leasePre = probe.slice(0, probe.indexOf('\u0000'));
    this.#leasePost = probe.slice(probe.indexOf('\u0000') + 1);
    this.#feed = new ChangeFeed({
      node: opts.node,
      keys: this.#keys,
      pollMs: this.#o.pollMs,
      onEntry: (e) => this.#onChange(e),
      onResync: (why) => this.#resync(why),
    });
  }

  /** Opens the store on `node`'s Redis and starts following its changes. */
  static async open(opts: RedisStateOptions): Promise<RedisState> {
    const s = new RedisState(opts);
    await s.#feed.start();
    s.#timer = setInterval(() => s.#poll(), s.#o.pollMs);
    s.#timer.unref();
    s.#poll();
    return s;
  }

  async handle(owner: string, req: StateRequest, key?: ReplayKey): Promise<unknown> {
    if (this.#closing !== undefined) throw new ShuttingDownError('the daemon is stopping');
    const name = checkRequest(req, this.#max);
    checkWellFormed(name, 'a name');
    const op = req.op;
    const k = this.#keys;
    switch (op) {
      case 'value.get': {
        const [ver, val] = (await this.#call('HMGET', k.value(name), 'ver', 'val')) as [Buffer | null, Buffer | null];
        if (ver === null || val === null) throw new NoSuchValueError(`no value named "${name}"`);
        return { version: decimal(ver), value: bytes(val) };
      }
      case 'value.init': {
        const a = await this.#run(S.valueInit, undefined, [k.value(name)], [checked(req.a, 'a', op), name]);
        return versionAndValue(a.rest[0]);
      }
      case 'value.set': {
        const a = await this.#run(S.valueSet, key, [k.value(name)], [checked(req.a, 'a', op), name]);
        return { version: decimal(a.rest[0]) };
      }
      case 'value.add': {
        // Canonical bytes, so the script reads only the forms msgpackr writes.
        const a = await this.#run(S.valueAdd, key, [k.value(name)], [encodeCheckedData(delta(req.a, op)), name]);
        return versionAndValue(a.rest[0]);
      }
      case 'value.cas':
        return this.#cas(name, req, key);
      case 'value.subscribe': {
        this.#valueSubs.add(owner, name);
        // Not fenced by the lease: a subscriber told to resync after Redis came back empty
        // subscribes again before this daemon is a member again, and a read needs no lease.
        const [ver, val] = (await redisCall(this.#node.redis, 'HMGET', k.value(name), 'ver', 'val')) as [Buffer | null, Buffer | null];
        return ver === null || val === null ? { version: 0 } : { version: decimal(ver), value: bytes(val) };
      }
      case 'value.unsubscribe':
        this.#valueSubs.delete(owner, name);
        return true;

      case 'queue.put': {
        const a = await this.#run(S.queuePut, key, [k.queue(name)], [checked(req.a, 'a', op), name]);
        return { size: decimal(a.rest[0]) };
      }
      case 'queue.get':
        return this.#get(owner, name, req.timeoutMs, key);
      case 'queue.size':
        return this.#call('LLEN', k.queue(name));

      case 'dict.get': {
        const got = await this.#call('HGET', k.dict(name), this.#dictKey(req));
        return got === null ? null : bytes(got);
      }
      case 'dict.set': {
        const keys = [k.dict(name), k.dictOrder(name), k.dictMeta(name)];
        const a = await this.#run(S.dictSet, key, keys, [this.#dictKey(req), checked(req.a, 'a', op), name]);
        return { version: decimal(a.rest[0]) };
      }
      case 'dict.delete': {
        const keys = [k.dict(name), k.dictOrder(name), k.dictMeta(name)];
        const a = await this.#run(S.dictDelete, key, keys, [this.#dictKey(req), name]);
        return String(a.rest[0]) === '1';
      }
      case 'dict.has':
        return (await this.#call('HEXISTS', k.dict(name), this.#dictKey(req))) === 1;
      case 'dict.keys': {
        const keys = (await this.#call('ZRANGE', k.dictOrder(name), 0, -1)) as Buffer[];
        return keys.map((b) => b.toString());
      }
      case 'dict.entries': {
        const a = await this.#run(S.dictEntries, undefined, [k.dict(name), k.dictOrder(name)], []);
        const out: [string, Uint8Array][] = [];
        for (let i = 0; i + 1 < a.rest.length; i += 2) out.push([String(a.rest[i]), bytes(a.rest[i + 1])]);
        return out;
      }
      case 'dict.size':
        return this.#call('HLEN', k.dict(name));
      case 'dict.subscribe':
        this.#dictSubs.add(owner, name);
        return true;
      case 'dict.unsubscribe':
        this.#dictSubs.delete(owner, name);
        return true;

      case 'lock.acquire':
        return { token: await this.#acquire(owner, name, req.timeoutMs) };
      case 'lock.release': {
        if (req.token === undefined) throw new BadMessageError('lock.release needs the token of the grant');
        const held = this.#holdings.get(owner, name);
        const holder = held?.token === req.token ? held.holder : this.#holder(owner);
        await this.#run(S.lockRelease, key, [k.lock(name)], [holder, String(req.token), name]);
        if (held?.token === req.token) {
          this.#holdings.remove(owner, name);
          this.#lockQuota.remove(owner);
        }
        return true;
      }
      default:
        throw new BadMessageError(`unknown state operation ${String((req as { op: unknown }).op)}`);
    }
  }

  undelivered(req: StateRequest, value: unknown, key?: ReplayKey): void {
    if (req.op !== 'queue.get' || !(value instanceof Uint8Array)) return;
    this.#putBack({ name: req.name, item: value, key });
  }

  releaseOwner(owner: string): void {
    this.#valueSubs.dropOwner(owner);
    this.#dictSubs.dropOwner(owner);
    const err = new CancelledError('the requester went away');
    this.#gets.dropOwner(owner, err);
    this.#blocked.drop(owner);
    this.#acquires.dropOwner(owner, err);
    for (const h of this.#holdings.take(owner)) this.#release(h);
    this.#lockQuota.drop(owner);
  }

  /** None: a resend reaching any daemon is answered by the scripts from `rep:`. */
  keptReplies(): Map<string, Map<number, unknown>> {
    return new Map();
  }

  dropReply(key: ReplayKey): void {
    this.#track(this.#run(S.dropReply, key, [], [this.#holder('')]));
  }

  counts(): StateCounts {
    return { ...this.#counts, blockedGets: this.#gets.size, lockWaiters: this.#acquires.size };
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      clearInterval(this.#timer);
      const err = new ShuttingDownError('the daemon is stopping');
      this.#gets.dropAll(err);
      this.#acquires.dropAll(err);
      this.#closing = (async () => {
        await this.#feed.stop();
        let wait: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled([...this.#background]), new Promise((r) => (wait = setTimeout(r, CLOSE_WAIT_MS)))]);
        clearTimeout(wait);
      })();
    }
    return this.#closing;
  }

  /** `<daemon id>/<owner>`: the owner as Redis knows it, unique in the cluster. */
  #holder(owner: string): string {
    return `${this.#node.id}/${owner}`;
  }

  #dictKey(req: StateRequest): string {
    const key = dictKey(req);
    checkWellFormed(key, 'a dict key');
    return key;
  }

  #ready(): void {
    if (!this.#node.held()) {
      throw new UnavailableError("this daemon cannot reach the cluster's Redis or lost its lease: shared state is unavailable");
    }
  }

  /** Runs a state script for a request: E_UNAVAILABLE at once unless the lease is held; an error answer rejects. */
  async #run(script: Script, key: ReplayKey | undefined, keys: string[], args: ScriptArg[]): Promise<ScriptAnswer> {
    this.#ready();
    return this.#script(script, key, keys, args);
  }

  /** Runs a state script whatever the lease (releases, put-backs, dropping replies: they only give up). */
  async #script(script: Script, key: ReplayKey | undefined, keys: string[], args: ScriptArg[]): Promise<ScriptAnswer> {
    const k = this.#keys;
    const o = this.#o;
    const raw = await script.run(
      this.#node.redis,
      [this.#node.leaseKey(this.#node.id), k.chg, k.replies(key?.[0]), k.stat, ...keys],
      [key === undefined ? '' : String(key[1]), o.streamLength, o.replyTtlMs, o.inlineBytes, ...args],
    );
    const a = answer(raw);
    if (a.word === 'err') throw scriptError(a);
    return a;
  }

  /** A plain read for a request: E_UNAVAILABLE at once unless the lease is held. */
  #call(command: string, ...args: (string | number)[]): Promise<unknown> {
    this.#ready();
    return redisCall(this.#node.redis, command, ...args);
  }

  async #cas(name: string, req: StateRequest, key: ReplayKey | undefined): Promise<unknown> {
    const expected = operand(req.a, 'a', req.op);
    const next = checked(req.b, 'b', req.op);
    // Values too costly to decode compare by bytes only (as dataEqual does): the script decides those alone.
    const structural = decodeCost(expected, MAX_COST) <= MAX_COST ? '1' : '0';
    const vk = [this.#keys.value(name)];
    let a = await this.#run(S.valueCas, key, vk, [expected, next, name, structural]);
    for (let round = 0; a.word === 'cmp' || a.word === 'again'; round++) {
      if (round >= CAS_ROUNDS) throw new UnavailableError(`value "${name}" changed under compareAndSet ${CAS_ROUNDS} times in a row`);
      if (a.word === 'again') {
        a = await this.#run(S.valueCas, key, vk, [expected, next, name, structural]);
        continue;
      }
      // The bytes differ: compare the values here, then write only if the version is still the one compared.
      const version = String(decimal(a.rest[0]));
      if (!dataEqual(bytes(a.rest[1]), expected)) a = await this.#run(S.keepReply, key, [], [`0:${version}`]);
      else a = await this.#run(S.valueCasAt, key, vk, [version, next, name]);
    }
    return casReply(a.rest[0]);
  }

  async #get(owner: string, name: string, timeoutMs: number | undefined, key: ReplayKey | undefined): Promise<Uint8Array> {
    // Behind gets already parked here, a new one parks too: this daemon serves its own in arrival order.
    if (this.#gets.has(name)) this.#ready();
    else {
      const got = await this.#take(this.#holder(owner), name, key);
      if (got !== undefined) return got;
    }
    if (timeoutMs === 0) throw new TimeoutError(`queue "${name}" is empty`, { timeoutMs });
    this.#blocked.check(owner);
    this.#blocked.add(owner);
    const parked = this.#gets.park(
      owner,
      name,
      key,
      timeoutMs,
      () => new TimeoutError(`queue "${name}": no item within ${timeoutMs} ms`, { timeoutMs }),
    );
    // An item put between the take above and the park woke nobody here.
    void this.#pumpQueue(name);
    return parked;
  }

  /** Takes the queue's first item for `holder` (kept as the reply under `key`), or undefined when it is empty. */
  async #take(holder: string, name: string, key: ReplayKey | undefined): Promise<Uint8Array | undefined> {
    const a = await this.#run(S.queueGet, key, [this.#keys.queue(name)], [holder]);
    return a.word === 'empty' ? undefined : bytes(a.rest[0]);
  }

  /** Serves the gets parked on `name`, oldest first, while the queue has items. */
  async #pumpQueue(name: string): Promise<void> {
    await this.#pump(`q\0${name}`, async () => {
      const w = this.#gets.first(name);
      if (w === undefined) return 'done';
      const got = await this.#take(this.#holder(w.owner), name, w.key);
      if (got === undefined) return 'empty';
      // It left meanwhile (timed out, its owner went): the item goes back to the front.
      if (!this.#gets.resolve(w, got)) this.#putBack({ name, item: got, key: w.key });
      return 'again';
    });
  }

  /** Grants `name` to the oldest acquire parked on it, if the lock is free. */
  async #pumpLock(name: string): Promise<void> {
    await this.#pump(`l\0${name}`, async () => {
      const w = this.#acquires.first(name);
      if (w === undefined) return 'done';
      const token = await this.#tryLock(w.owner, name);
      if (token === undefined) return 'empty';
      if (!this.#acquires.resolve(w, token)) {
        // It timed out meanwhile: the grant is given up (its owner's quota entry went with the timeout).
        const h = this.#holdings.get(w.owner, name);
        this.#holdings.remove(w.owner, name);
        if (h !== undefined) this.#release(h);
      }
      return 'done';
    });
  }

  /**
   * Runs `step` for `tag` until it says done, one run at a time per tag; a wake-up that
   * comes while a step found nothing makes it look once more. Redis errors end the run:
   * the poll tries again.
   */
  async #pump(tag: string, step: () => Promise<'done' | 'empty' | 'again'>): Promise<void> {
    if (this.#pumping.has(tag)) {
      this.#pumping.set(tag, true);
      return;
    }
    this.#pumping.set(tag, false);
    try {
      for (;;) {
        if (this.#closing !== undefined || !this.#node.held()) return;
        const r = await step();
        if (r === 'done') return;
        if (r === 'empty') {
          if (this.#pumping.get(tag) !== true) return;
          this.#pumping.set(tag, false);
        }
      }
    } catch {
      // Redis unreachable or the lease lost: the poll retries.
    } finally {
      this.#pumping.delete(tag);
    }
  }

  async #acquire(owner: string, name: string, timeoutMs: number | undefined): Promise<number> {
    this.#lockQuota.check(owner);
    if (this.#acquires.has(name)) this.#ready();
    else {
      const token = await this.#tryLock(owner, name);
      if (token !== undefined) {
        this.#lockQuota.add(owner);
        return token;
      }
    }
    if (timeoutMs === 0) throw new TimeoutError(`lock "${name}" is held`, { timeoutMs });
    this.#lockQuota.check(owner);
    this.#lockQuota.add(owner);
    const parked = this.#acquires.park(
      owner,
      name,
      undefined,
      timeoutMs,
      () => new TimeoutError(`lock "${name}": not acquired within ${timeoutMs} ms`, { timeoutMs }),
    );
    void this.#pumpLock(name);
    return parked;
  }

  /** One acquire attempt for `owner`: its token (recorded as held), or undefined while another holds the lock. */
  async #tryLock(owner: string, name: string): Promise<number | undefined> {
    const holder = this.#holder(owner);
    this.#holdings.acquiring(owner);
    let a: ScriptAnswer | undefined;
    let failure: unknown;
    try {
      a = await this.#run(
        S.lockAcquire,
        undefined,
        [this.#keys.lock(name), this.#keys.fence],
        [holder, this.#node.id, this.#leasePre, this.#leasePost],
      );
    } catch (err) {
      failure = err;
    }
    const gone = this.#holdings.acquired(owner);
    if (a === undefined) throw failure;
    if (a.word === 'held') return undefined;
    const h: Holding = { name, holder, token: decimal(a.rest[0]) };
    if (gone) {
      this.#release(h);
      throw new CancelledError('the requester went away');
    }
    this.#holdings.add(owner, h);
    return h.token;
  }

  /** Releases a lock an owner that went held; retried on the poll while Redis does not answer. */
  #release(h: Holding): void {
    this.#track(
      this.#script(S.lockRelease, undefined, [this.#keys.lock(h.name)], [h.holder, String(h.token), h.name]).catch((err: unknown) => {
        if ((err as { code?: unknown }).code !== 'E_LOCK_NOT_HELD') this.#holdings.retryLater(h);
      }),
    );
  }

  /** Puts an undelivered item back in front; retried on the poll while Redis does not answer. */
  #putBack(p: PutBack): void {
    this.#track(
      this.#script(S.queuePutBack, p.key, [this.#keys.queue(p.name)], [p.item, p.name, this.#holder('')]).catch(() => {
        this.#putBacks.push(p);
      }),
    );
  }

  #track(p: Promise<unknown>): void {
    const t = p.catch(() => {}).finally(() => this.#background.delete(t));
    this.#background.add(t);
  }

  /** The backstop: parked calls retried, failed releases and put-backs tried again, counts refreshed. */
  #poll(): void {
    if (this.#closing !== undefined) return;
    for (const name of this.#gets.names()) void this.#pumpQueue(name);
    for (const name of this.#acquires.names()) void this.#pumpLock(name);
    for (const h of this.#holdings.retries()) this.#release(h);
    for (const p of this.#putBacks.splice(0)) this.#putBack(p);
    redisCall(this.#node.redis, 'HMGET', this.#keys.stat, 'v', 'q', 'd', 'l').then(
      (r) => {
        const [v, q, d, l] = (r as (Buffer | null)[]).map((b) => Math.max(0, b === null ? 0 : decimal(b)));
        this.#counts = { values: v!, queues: q!, dicts: d!, locks: l! };
      },
      () => {},
    );
  }

  /** One committed change from the feed, in commit order. */
  async #onChange(e: ChangeEntry): Promise<void> {
    switch (e.kind) {
      case 'v':
        return this.#pushValue(e);
      case 'd':
        return this.#pushDict(e);
      case 'q':
        if (this.#gets.has(e.name)) void this.#pumpQueue(e.name);
        return;
      case 'l':
        if (this.#acquires.has(e.name)) void this.#pumpLock(e.name);
        return;
    }
  }

  async #pushValue(e: ChangeEntry): Promise<void> {
    if (this.#valueSubs.of(e.name) === undefined) return;
    let value = e.value;
    if (value === undefined) {
      // Too large to record: pushed only if it is still this version (a later one has its own entry).
      const [ver, val] = (await redisCall(this.#node.redis, 'HMGET', this.#keys.value(e.name), 'ver', 'val')) as [
        Buffer | null,
        Buffer | null,
      ];
      if (ver === null || val === null || decimal(ver) !== e.version) return;
      value = bytes(val);
    }
    const push: Push = { type: 'push', kind: 'value', name: e.name, version: e.version, value };
    for (const owner of this.#valueSubs.of(e.name) ?? []) this.onPush(owner, push);
  }

  async #pushDict(e: ChangeEntry): Promise<void> {
    if (this.#dictSubs.of(e.name) === undefined || e.key === undefined) return;
    let push: Push;
    if (e.deleted) push = { type: 'push', kind: 'dict', name: e.name, version: e.version, key: e.key, deleted: true };
    else {
      let value = e.value;
      if (value === undefined) {
        // Too large to record: the key's value now (a later change of the key is pushed again, in order).
        const got = (await redisCall(this.#node.redis, 'HGET', this.#keys.dict(e.name), e.key)) as Buffer | null;
        if (got === null) return;
        value = bytes(got);
      }
      push = { type: 'push', kind: 'dict', name: e.name, version: e.version, key: e.key, value };
    }
    for (const owner of this.#dictSubs.of(e.name) ?? []) this.onPush(owner, push);
  }

  /** The feed lost continuity: every subscriber here must read the current state again. */
  #resync(why: string): void {
    this.#log(JSON.stringify({ event: 'state-resync', reason: why }));
    for (const [kind, subs] of [
      ['value', this.#valueSubs],
      ['dict', this.#dictSubs],
    ] as const) {
      for (const [name, owners] of subs.entries()) {
        const push: Push = { type: 'push', kind, name, version: 0, resync: true };
        for (const owner of owners) this.onPush(owner, push);
      }
    }
  }
}
