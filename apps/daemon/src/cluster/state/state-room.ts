/**
 * state-room.ts - whether the cluster's Redis has room for the shared state to
 * grow: the bound a single daemon keeps with `--max-state-mb` (state-memory.ts),
 * kept here below Redis's own `maxmemory`. Past it, a state write that would
 * grow the state (a put, a new name or key, a larger value) is refused with
 * E_LIMIT by its script (lua-prelude.ts, `grows`), nothing changed; adds,
 * gets, deletes and writes no larger go on, as on a single daemon.
 *
 * Why: with nothing short of maxmemory, one app's puts filled Redis and then
 * every app's writes failed E_NO_SPACE, on every daemon, counters included
 * (each write keeps its reply and records its change). The room left above the
 * bound (a tenth of maxmemory) is for those writes, the kept replies, the
 * change stream and the lending messages, which are never refused for it.
 * What is compared is all of Redis's memory, those included: a burst of
 * lending messages can hold new state back for a moment (erring on the side of
 * refusing early, as the count of this daemon's own scripts does).
 *
 * How, without a round trip per write: `INFO memory` every POLL_MS, plus what
 * this daemon's own scripts carried since that reading was asked for (an upper
 * bound of what they added), so a daemon's own flood is refused on time; other
 * daemons' writes are seen at the next reading. The flag rides in every state
 * script's fixed arguments. Without a maxmemory (0), there is no bound here.
 */
import type { Redis } from 'ioredis';
import type { ClusterNode } from '../cluster-node.js';

/** Share of maxmemory the shared state may grow to. */
export const ROOM_SHARE = 0.9;
/** How often Redis's memory is read. */
const POLL_MS = 200;
/**
 * A script's arguments are counted this many times over: Redis took ~94 KB of memory for each
 * 64 KB queue item put (the list node, the client's query buffer), so counted once, a burst of
 * puts between two readings reached maxmemory before the bound.
 */
const ARG_FACTOR = 2;
/** What a script adds besides its arguments (its kept reply, its change record), counted generously. */
const SCRIPT_OVERHEAD = 256;

export class StateRoom {
  /** The command connection (membership.ts remakes it after a silent link, so asked for each time). */
  readonly #redis: () => Redis;
  #used = 0;
  #max = 0;
  /** Bytes this daemon's scripts carried since the last reading was asked for, and up to then. */
  #since = 0;
  #timer: NodeJS.Timeout | undefined;
  #reading = false;

  constructor(node: ClusterNode) {
    this.#redis = () => node.redis;
  }

  /** Resolves once the first reading is in (or failed): a burst of writes at once would otherwise all pass unbounded. */
  async start(): Promise<void> {
    this.#timer = setInterval(() => void this.#read(), POLL_MS);
    this.#timer.unref();
    await this.#read();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The flag for a script carrying `bytes`: '1' room to grow, '0' full. */
  flag(bytes: number): '0' | '1' {
    this.#since += ARG_FACTOR * bytes + SCRIPT_OVERHEAD;
    return this.#max > 0 && this.#used + this.#since > this.#max * ROOM_SHARE ? '0' : '1';
  }

  async #read(): Promise<void> {
    const redis = this.#redis();
    if (this.#reading || redis.status !== 'ready') return;
    this.#reading = true;
    const counted = this.#since;
    await redis
      .info('memory')
      .then((info) => {
        this.#used = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0);
        this.#max = Number(/^maxmemory:(\d+)/m.exec(info)?.[1] ?? 0);
        // What was sent before the reading was asked for is in it (one connection, in order).
        this.#since = Math.max(0, this.#since - counted);
      })
      .catch(() => {})
      .finally(() => (this.#reading = false));
  }
}
