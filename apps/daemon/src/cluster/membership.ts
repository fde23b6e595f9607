/**
 * membership.ts - a daemon's place in a cluster: its incarnation, its lease,
 * its heartbeat with the figures `daemon status` shows for it, and the reaper
 * that declares members whose lease lapsed dead. Implements ClusterNode
 * (cluster-node.ts), the seam the Redis state store and the worker lending use.
 *
 * The lease is a key `lease:<id>` with a PX time-to-live on Redis's clock,
 * renewed by one Lua script that also stamps the heartbeat (`members` ZSET
 * scored with Redis TIME, `dm:<id>` hash), so nothing depends on the daemons'
 * clocks agreeing. This side only measures elapsed time, on its own monotonic
 * clock, from the moment it SENT the last renewal that succeeded: the lease
 * cannot have been extended later than that, so `held()` turns false no later
 * than the key can expire. A renewal that finds the key gone (paused past the
 * lease, cut off from Redis, Redis restarted empty) makes the incarnation lost
 * for good: `lost`, then a new id and lease (`joined`) once Redis answers.
 * The primary renews, and it never runs user code: a task cannot starve it.
 * Renewals, the members read and the lease's own writes go on a connection of
 * their own (`lease`): on the command connection a renewal would wait behind
 * every state script queued there (100,000 in flight from one client took
 * longer than the lease), and the watchdog below would take that wait for a
 * silent link. A renewal's latency is then Redis's, whatever the state load.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { BadArgumentError } from '@corepool/protocol';

import type { ClusterNode, ClusterNodeEvents, MemberRecord } from './cluster-node.js';

export type { MemberRecord } from './cluster-node.js';
import { ADOPT, LEAVE, RENEW } from './membership-scripts.js';
import { redactRedisUrl } from './redis-preflight.js';
import { CLUSTER_NAME } from '../options.js';

/** A lease lives this long after its last renewal. */
export const LEASE_MS = 3_000;
/** Renewals (and heartbeats) this often: two may fail before the lease lapses. */
export const RENEW_MS = 1_000;
/**
 * A renewal unanswered this long means a link that drops silently (no reset ever
 * comes): every connection is dropped and made again, which fails whatever waits
 * on it. Not ioredis's commandTimeout: a timed-out command stays in its reply
 * queue, so once the link heals every reply would answer the wrong command.
 */
const SILENT_LINK_MS = 1_000;
/** Status records of a member outlive its lease a while, so `status` can show it as late before it is reaped. */
const RECORD_TTL_MS = 30_000;

/** What a member publishes about itself with every heartbeat (strings and numbers only). */
export type MemberInfo = Record<string, string | number>;

export interface MembershipOptions {
  /** redis:// or rediss:// URL of the cluster's Redis. */
  redisUrl: string;
  /** Cluster name (`--cluster-name`). */
  name: string;
  /** The figures published with each heartbeat. */
  info: () => MemberInfo;
  log?: Logger;
  leaseMs?: number;
  renewMs?: number;
}

/** A daemon's membership of a cluster. */
export class Membership extends EventEmitter<ClusterNodeEvents> implements ClusterNode {
  readonly name: string;
  readonly prefix: string;
  readonly redis: Redis;
  /** Renewals, the members read, join and leave: never queued behind the state's commands. */
  readonly #lease: Redis;
  #id: string;
  readonly #url: string;
  readonly #opts: Required<Pick<MembershipOptions, 'leaseMs' | 'renewMs'>> & MembershipOptions;
  /** Monotonic time the last successful renewal was sent; the lease holds until leaseMs after it. */
  #renewedAt = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;
  /** When the command connection was first seen not ready (undefined while it is). */
  #unreadySince: number | undefined;
  #lost = false;
  #leaving = false;
  readonly #connections = new Set<Redis>();
  /** The members as last read (after each renewal): what `status` shows without waiting on Redis. */
  #known: MemberRecord[] = [];

  private constructor(opts: MembershipOptions) {
    super();
    this.#opts = { leaseMs: LEASE_MS, renewMs: RENEW_MS, ...opts };
    this.name = opts.name;
    this.prefix = `cp:{${opts.name}}:`;
    this.#url = opts.redisUrl;
    this.#id = newId();
    this.redis = this.#open('commands');
    this.#lease = this.#open('lease');
  }

  /** Joins the cluster `name` on the Redis at `redisUrl` (check it with checkRedis first). */
  static async join(opts: MembershipOptions): Promise<Membership> {
    if (!CLUSTER_NAME.test(opts.name))
      throw new BadArgumentError(`--cluster-name must be 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(opts.name)}`);
    const m = new Membership(opts);
    try {
      await Promise.all([m.redis.connect(), m.#lease.connect()]);
      await m.#take();
    } catch (err) {
      m.#quitAll();
      throw err;
    }
    m.#schedule();
    return m;
  }

  get id(): string {
    return this.#id;
  }

  held(): boolean {
    return !this.#lost && !this.#leaving && this.redis.status === 'ready' && performance.now() - this.#renewedAt < this.#opts.leaseMs;
  }

  leaseKey(id: string): string {
    return `${this.prefix}lease:${id}`;
  }

  /** Member `id`'s apps in `share` (share-ledger.ts; lending-scripts.ts has the same). */
  appsKey(id: string): string {
    return `${this.prefix}apps:${id}`;
  }

  connection(role: string): Redis {
    const r = this.#open(role);
    r.connect().catch(() => {});
    return r;
  }

  /** A connection with the cluster's settings, not yet connected; every reset drops it. */
  #open(role: string): Redis {
    const r = new Redis(this.#url, {
      lazyConnect: true,
      connectionName: `corepool:${role}`,
      // Fail fast, never queue: a command queued while Redis is away would be acknowledged too late to trust.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(50 * times, 1_000),
      keepAlive: 1_000,
    });
    // Errors surface per command; an 'error' event without a listener would crash the primary.
    r.on('error', () => {});
    this.#connections.add(r);
    r.once('end', () => this.#connections.delete(r));
    return r;
  }

  /** Every member with its last heartbeat and what it published, alive or late (not yet reaped). */
  async members(): Promise<MemberRecord[]> {
    const flat = await this.#lease.zrange(`${this.prefix}members`, '0', '-1', 'WITHSCORES');
    const out: MemberRecord[] = [];
    const pipe = this.#lease.pipeline();
    for (let i = 0; i < flat.length; i += 2) {
      pipe.hgetall(`${this.prefix}dm:${flat[i]!}`);
      pipe.exists(this.leaseKey(flat[i]!));
    }
    const replies = (await pipe.exec()) ?? [];
    for (let i = 0; i < flat.length; i += 2) {
      const info = (replies[i]?.[1] ?? {}) as Record<string, string>;
      const alive = replies[i + 1]?.[1] === 1;
      out.push({ id: flat[i]!, lastHeartbeat: Number(flat[i + 1]), alive, info });
    }
    return out;
  }

  /** Heartbeats now rather than at the next renewal (what it publishes changed: it started listening). */
  async beat(): Promise<void> {
    if (this.#lost || this.#leaving) return;
    await this.#renew().catch(() => {});
    this.#known = await this.members().catch(() => this.#known);
  }

  /** The members as read after the last renewal (at most one renewal old). */
  known(): readonly MemberRecord[] {
    return this.#known;
  }

  /** Leaves the cluster on a graceful stop: the lease goes at once, so nobody waits for it to lapse. */
  async leave(): Promise<void> {
    if (this.#leaving) return;
    this.#leaving = true;
    clearTimeout(this.#timer);
    const id = this.#id;
    await this.#lease
      .multi()
      .del(this.leaseKey(id))
      .zrem(`${this.prefix}members`, id)
      .del(`${this.prefix}dm:${id}`)
      .del(`${this.prefix}inbox:${id}`)
      // Its apps leave `share` now, as the reaper's would (the reaper never sees a member that left).
      .eval(LEAVE, 1, this.appsKey(id), this.prefix, id)
      .xadd(`${this.prefix}ctl`, 'MAXLEN', '~', '1000', '*', 'event', 'left', 'id', id)
      .exec()
      .catch(() => {});
    this.#quitAll();
  }

  /** Takes a lease for the current id (a fresh id never collides: SET NX guards it anyway). */
  async #take(): Promise<void> {
    const sent = performance.now();
    const ok = await this.#lease.set(this.leaseKey(this.#id), this.#id, 'PX', this.#opts.leaseMs, 'NX');
    if (ok !== 'OK') throw new Error(`cluster ${this.name}: member id ${this.#id} already taken`);
    this.#renewedAt = sent;
    await this.#renew();
  }

  #schedule(): void {
    if (this.#leaving) return;
    this.#timer = setTimeout(() => void this.#tick(), this.#opts.renewMs);
  }

  async #tick(): Promise<void> {
    if (this.#renewing || this.#leaving) return;
    this.#renewing = true;
    try {
      if (this.#lost) await this.#watched(() => this.#rejoin());
      else {
        // Past the lease without a renewal (paused, cut off): over, whatever Redis says next.
        if (performance.now() - this.#renewedAt >= this.#opts.leaseMs) this.#lose('its lease lapsed before it could renew it');
        else {
          await this.#watched(() => this.#renew());
          this.#known = await this.members().catch(() => this.#known);
        }
        if (!this.#lost && performance.now() - this.#renewedAt >= this.#opts.leaseMs) this.#lose('Redis did not answer within its lease');
      }
    } finally {
      this.#renewing = false;
      this.#schedule();
    }
  }

  /**
   * Runs a step against Redis and resets every connection when the link is silent:
   * the step unanswered for SILENT_LINK_MS, or the command or lease connection stuck
   * short of ready that long (its handshake dropped on a silent link never completes).
   */
  async #watched(step: () => Promise<void>): Promise<void> {
    const now = performance.now();
    if (this.redis.status === 'ready' && this.#lease.status === 'ready') this.#unreadySince = undefined;
    else if (this.#unreadySince === undefined) this.#unreadySince = now;
    else if (now - this.#unreadySince >= SILENT_LINK_MS) {
      this.#unreadySince = now;
      this.#reset();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<'silent'>((resolve) => (timer = setTimeout(() => resolve('silent'), SILENT_LINK_MS)));
    const done = step().then(
      () => 'answered' as const,
      () => 'failed' as const,
    );
    let outcome = await Promise.race([done, silent]);
    clearTimeout(timer);
    if (outcome === 'silent') {
      // The timer may fire first only because a long turn kept the answer unread in the
      // socket: give the I/O one turn before calling the link silent.
      await new Promise((resolve) => setImmediate(resolve));
      outcome = await Promise.race([done, Promise.resolve('silent' as const)]);
    }
    if (outcome === 'silent') {
      this.#reset();
      await done;
    }
  }

  /** Drops every connection and makes it again: whatever waits on them fails now rather than never. */
  #reset(): void {
    this.#opts.log?.warn({ event: 'cluster-redis-silent', id: this.#id, ms: SILENT_LINK_MS });
    for (const c of this.#connections) c.disconnect(true);
  }

  async #renew(): Promise<void> {
    const sent = performance.now();
    const id = this.#id;
    const p = this.prefix;
    const info = Object.entries(this.#opts.info()).flatMap(([k, v]) => [k, String(v)]);
    const r = await this.#lease.eval(
      RENEW,
      4,
      this.leaseKey(id),
      `${p}members`,
      `${p}dm:${id}`,
      `${p}reaper`,
      id,
      this.#opts.leaseMs,
      RECORD_TTL_MS,
      ...info,
    );
    if (id !== this.#id || this.#lost) return;
    if (r === 1) this.#renewedAt = sent;
    else this.#lose('its lease was gone from Redis (paused or cut off past it, or Redis lost its data)');
  }

  #lose(why: string): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#opts.log?.warn({ event: 'cluster-lease-lost', id: this.#id, reason: why });
    this.emit('lost', this.#id);
  }

  async #rejoin(): Promise<void> {
    if (this.redis.status !== 'ready' || this.#lease.status !== 'ready') return;
    const id = newId();
    const sent = performance.now();
    const ok = await this.#lease.set(this.leaseKey(id), id, 'PX', this.#opts.leaseMs, 'NX').catch(() => null);
    if (ok !== 'OK') return;
    const p = this.prefix;
    await this.#lease
      .eval(
        ADOPT,
        6,
        this.appsKey(this.#id),
        this.appsKey(id),
        `${p}held:${this.#id}`,
        `${p}orphan:${this.#id}`,
        `${p}orphans`,
        `${p}held:${id}`,
        this.#id,
        id,
      )
      .catch(() => {});
    this.#id = id;
    this.#renewedAt = sent;
    this.#lost = false;
    await this.#renew().catch(() => {});
    this.#opts.log?.info({ event: 'cluster-joined', id, cluster: this.name, redis: redactRedisUrl(this.#url) });
    this.emit('joined', id);
  }

  #quitAll(): void {
    for (const c of this.#connections) c.disconnect();
    this.#connections.clear();
  }
}

/** `host:pid:random`: says where a member runs; the random part makes every incarnation new. */
function newId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}
