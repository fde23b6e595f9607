/**
 * cluster-node.ts - what a daemon in cluster mode knows about its own
 * membership, as the parts built on it (the Redis state store, the worker
 * lending, `daemon status`) use it. membership.ts implements it; this file is
 * the seam, so each of those parts depends on the promise, not on how the
 * lease is kept.
 *
 * The promise:
 *  - `id` names this daemon's current incarnation (`host:pid:random`). A
 *    daemon that lost its lease (paused, cut off from Redis past its lease)
 *    never takes it back: it becomes a new incarnation with a new id, and
 *    `joined` is emitted with it. Anything keyed by the old id (a lent
 *    worker, a lock, a kept reply's owner) is the old incarnation's, and the
 *    others treat it as gone.
 *  - `held()` is true while this incarnation's lease key exists in Redis as
 *    far as this daemon can tell (its last renewal succeeded within the
 *    lease's time) and its command connection is up. A part that must not act
 *    on stale membership (ack a write, lend a worker) checks it first and
 *    refuses with E_UNAVAILABLE when it is false.
 *  - `lost` is emitted once per incarnation, when its lease is found gone or
 *    unrenewable in time; `joined` follows when a new incarnation holds a
 *    lease again.
 *  - `leaseKey(id)` is the key whose existence says member `id` is alive
 *    (a PX key on Redis time); Lua scripts check it to fence a dead member.
 *  - Every key of the cluster starts with `prefix` (`cp:{NAME}:`): one hash
 *    tag, so every script's keys share one Redis Cluster slot.
 *  - `redis` is the command connection: no offline queue and no retries per
 *    request, so a command fails at once when Redis is unreachable rather than
 *    being queued and acknowledged later. `connection(role)` opens another
 *    connection with the same settings for blocking reads (XREAD BLOCK), which
 *    would otherwise hold up every command behind them; its owner closes it.
 */
import type { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

/** One member as `daemon status` shows it. */
export interface MemberRecord {
  id: string;
  /** Its last heartbeat, ms since the epoch (Redis time). */
  lastHeartbeat: number;
  /** Its lease exists. */
  alive: boolean;
  /** What it published (url, pid, host, workers, busy, idle, clients...). */
  info: Record<string, string>;
}

/** Events of a ClusterNode. */
export interface ClusterNodeEvents {
  /** This incarnation's lease is gone: stop acting for it. */
  lost: [id: string];
  /** A new incarnation holds a lease. */
  joined: [id: string];
}

/** A daemon's view of its own cluster membership. */
export interface ClusterNode extends EventEmitter<ClusterNodeEvents> {
  /** The cluster's name (`--cluster-name`, default `default`). */
  readonly name: string;
  /** Prefix of every key of this cluster: `cp:{NAME}:`. */
  readonly prefix: string;
  /** This daemon's current incarnation. */
  readonly id: string;
  /** The command connection (fails fast while Redis is unreachable). */
  readonly redis: Redis;
  /** True while this incarnation's lease is held and Redis answers. */
  held(): boolean;
  /** The key whose existence says member `id` is alive. */
  leaseKey(id: string): string;
  /** The members as of the last heartbeat (at most a renewal old), this one included. */
  known(): readonly MemberRecord[];
  /** A new connection with the command connection's settings, for blocking reads; the caller quits it. */
  connection(role: string): Redis;
}
