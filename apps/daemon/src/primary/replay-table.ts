/**
 * replay-table.ts - every client instance's replays (replay.ts), by the
 * instance's name: kept while it is connected, two minutes after its last
 * connection closed (the SDK's reconnect window), and dropped at once when its
 * client closes it for good; the names of instances closed for good are
 * remembered a while, so that one coming back anyway is refused its resends.
 *
 * What kept replies hold besides the items of gets is bounded for the daemon
 * as a whole (ReplyBound): past it the instances keeping the most have their
 * oldest replies dropped, down to one level for all (water-filling), so an
 * app that never acknowledges, or makes a new instance and cuts it again and
 * again, loses its own replies first; no instance is cut below KEEP_AT_LEAST,
 * about what a client acknowledging as the SDK does keeps; a request still
 * pending is passed over and spared (replay.ts). A dropped reply's resend is
 * E_REPLY_DROPPED: the request ran once, and is not run again. Before, 12 raw
 * connections with 100,000 unacknowledged adds each took the primary to 1.47 GB.
 *
 * The instances themselves count under the same bound (INSTANCE_COST), and one
 * that kept nothing goes with its last session. With more instances than can
 * each keep the floor, past the bound those cut off longest are evicted whole,
 * only their name and mark kept until their window ends: a client making a new
 * instance for each write and cutting it held ~2 KB each, uncounted, for two minutes.
 *
 * An instance that goes with many replies kept is cleared a slice at a time
 * (state/leftover-clears.ts), not in the turn it goes: 100,000 of them held the
 * primary 20-120 ms, charged to nobody. Until its clear ends it still counts
 * here, and a new instance of its name is kept apart from it (claim).
 *
 * The file passes 400 lines because the clears, the shedding and the evictions
 * keep one set of books (what is held, by whom, and when to shed).
 */
import { TOO_OLD_MARK } from '../state/state-store.js';
import { overTurns, type Sliced } from '../state/leftover-clears.js';
import { InstanceReplays, type DropStoredReply, type EvictedMark, type MarkTooOld, type PutBack, type ReplyMemory } from './replay.js';

/** Share of `--max-state-mb` that kept replies may hold besides items, for the daemon as a whole (like connections' entries, ENTRY_SHARE). */
export const REPLY_SHARE = 0.25;
/** Shedding takes the kept replies down to this share of their bound, so that it runs once per quarter of the bound grown, not once a turn. */
const SHED_TO = 0.75;
/** Time a turn spent shedding, at most, so that other clients are served in between. */
const SHED_SLICE_MS = 2;
/** Kept replies looked at between looks at the clock (about 0.25 us each dropped). */
const SHED_BATCH = 256;
/**
 * What no instance is cut below: about 1,000 replies without data, 220 with a sum, what a client
 * acknowledging as the SDK does (every 1,024 replies) keeps. Without a floor, tens of thousands
 * of small instances brought the level under one reply and every one was cut to nothing (review
 * helper); and only instances over it are sorted (all of them took 37-68 ms for 60,000-400,000).
 */
export const KEEP_AT_LEAST = 64 * 1024;

/**
 * What an instance in the table holds of the primary's heap besides its replies, counted with them
 * (measured after a full GC, 40,862 instances of a raw client each keeping one add's reply, each
 * connection cut: 2.3 KB an instance, 290 bytes of it the reply; its table, its segment, its timer).
 * Uncounted, a client making ~2,500 instances a second and cutting each took the primary's heap to
 * 466 MB and its RSS to 1.9 GB within their two-minute window.
 */
export const INSTANCE_COST = 2048;
/**
 * What an evicted instance's name and mark hold until its window ends: its entry here, and its
 * mark's in the store (measured after a full GC: ~400 bytes each, 76,922 evicted beside 18,422
 * instances; 840 while the store kept each mark in a segment of its own).
 */
export const EVICTED_COST = 512;

/** The daemon-wide bound on what kept replies hold besides items. */
export interface ReplyBound {
  /** Bytes (as ReplyMemory.replies counts them); Infinity for none. */
  bytes: number;
  /** What no instance is cut below (KEEP_AT_LEAST unless given). */
  floor?: number;
  /** What each instance counts besides its replies (INSTANCE_COST unless given). */
  instanceCost?: number;
  /** How long an instance outlives its last connection (KEEP_AFTER_CLOSE_MS unless given: `--replay-window-ms`, for tests). */
  keepMs?: number;
  /**
   * Told after each shedding: how many replies went, from how many instances, how many instances
   * cut off were evicted whole, what is held after it, and the time it took (in slices of 2 ms a turn).
   */
  shed?(replies: number, instances: number, evicted: number, heldAfter: number, ms: number): void;
  /**
   * Told once the clears under way are all done, when they took more than one slice: how many
   * instances and replies went, in how many slices (one a turn), how long in all and the longest slice.
   */
  cleared?(instances: number, replies: number, sliced: Sliced): void;
}

/** Replies an instance may keep and still be cleared in the turn it goes (~0.3-1 us each). */
export const CLEAR_AT_ONCE = 1024;
/** Replies cleared between looks at the clock. */
const CLEAR_BATCH = 256;
/**
 * Replies waiting to be cleared, at most: past it the oldest clears are finished at once, as they
 * all were before. Only a client making replies much faster than 2 ms a turn clears them (a hundred
 * thousand take 20-120 ms: ~25 turns) reaches it, and it keeps the backlog's memory bounded.
 */
export const MAX_CLEARING = 400_000;

/** Instances closed for good remembered, the newest (see ReplayTable.end). */
const MAX_ENDED = 10_000;
/** How long an instance's replays outlive its last connection (longer than the SDK's reconnect window). */
const KEEP_AFTER_CLOSE_MS = 120_000;

/** Every instance's replays, held while it is connected and a while after. */
export class ReplayTable {
  readonly #instances = new Map<string, InstanceReplays>();
  readonly #drop: DropStoredReply;
  readonly #memory: ReplyMemory | undefined;
  readonly #mark: MarkTooOld | undefined;
  readonly #putBack: PutBack | undefined;
  readonly #keepMs: number;
  /**
   * Instances their clients closed for good, with the highest request id each had kept, the
   * newest MAX_ENDED, while the daemon runs: one that comes back anyway (a raw client, not the
   * SDK) has its resends refused as too old to replay, not applied a second time.
   */
  readonly #ended = new Map<string, number>();
  readonly #bound: ReplyBound;
  readonly #instanceCost: number;
  /** Instances with no session left, waiting out their window, by when it ends: the first cut off first. */
  readonly #lingering = new Map<InstanceReplays, number>();
  /**
   * Instances evicted before their window ended (#evict): the mark each left, by name, until its
   * window ends (their first): a resend within it is refused E_REPLY_DROPPED, not run again.
   */
  readonly #evicted = new Map<string, { mark: EvictedMark; until: number }>();
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Instances gone whose replies are being cleared, first gone first (state/leftover-clears.ts); each still counts in #held until done. */
  #clearing: InstanceReplays[] = [];
  /** The same, by name: a new instance of a name claims its request ids from these (#claim). */
  readonly #clearingByName = new Map<string, InstanceReplays[]>();
  /** What the clears under way have let go so far (told to bound.cleared once they all end). */
  #cleared = { instances: 0, replies: 0, slices: 0, ms: 0, longestMs: 0 };
  /** A shedding waits for the clears under way: what they free is the cheapest, and nobody needs it. */
  #shedAfterClears = false;
  /** What every instance's kept replies hold besides items (the sum of their `held`), the instances themselves and the evicted ones' marks. */
  #held = 0;
  /** Shed once #held passes this: the bound, or above it after a shedding that could not get under it (only items and pending outcomes left). */
  #shedAbove: number;
  #shedding = false;
  /** The shedding under way: the instances still to cut to `level`, and what it has dropped and evicted in how much time. */
  #cutting:
    | { instances: InstanceReplays[]; count: number; level: number; replies: number; evicted: number; ms: number; toLook?: number }
    | undefined;
  /** The memory every instance counts into: the daemon's, through this table's total. */
  readonly #counted: ReplyMemory = {
    items: (bytes) => this.#memory?.items(bytes),
    replies: (bytes) => {
      this.#held += bytes;
      this.#memory?.replies(bytes);
      if (this.#held <= this.#bound.bytes) this.#shedAbove = this.#bound.bytes;
      else if (this.#held > this.#shedAbove && !this.#shedding) {
        // After the turn: not from inside the instance whose reply is being kept.
        this.#shedding = true;
        setImmediate(() => this.#shed());
      }
    },
  };

  /**
   * `stored`: the replies the store held at start, by instance and request id; they wait for their
   * clients like a closed session's. `memory` counts what kept replies hold, as it changes; `mark`
   * keeps an instance's too-old watermark in the store when a reply is dropped unacknowledged;
   * `putBack` takes back the items of gets an instance never acknowledged when it ends (replay.ts).
   */
  constructor(
    drop: DropStoredReply = () => {},
    stored?: Map<string, Map<number, unknown>>,
    memory?: ReplyMemory,
    mark?: MarkTooOld,
    bound: ReplyBound = { bytes: Infinity },
    putBack?: PutBack,
  ) {
    this.#drop = drop;
    this.#memory = memory;
    this.#mark = mark;
    this.#putBack = putBack;
    this.#keepMs = bound.keepMs ?? KEEP_AFTER_CLOSE_MS;
    this.#bound = bound;
    this.#instanceCost = bound.instanceCost ?? INSTANCE_COST;
    this.#shedAbove = bound.bytes;
    for (const [instance, replies] of stored ?? []) {
      // Only its mark (one evicted before the stop, most often): kept as an evicted one's, not made an
      // instance again (2 KiB, and first in line for an eviction at start, ahead of those keeping replies).
      if (replies.size === 1 && replies.has(TOO_OLD_MARK)) {
        this.#addEvicted(instance, replies.get(TOO_OLD_MARK) as EvictedMark, Date.now() + this.#keepMs);
        continue;
      }
      const r = this.#create(instance);
      for (const [rid, reply] of replies) r.restore(rid, reply ?? null);
      this.#expire(r);
    }
  }

  /** A session of `instance` opened. */
  attach(instance: string): InstanceReplays {
    const r = this.#instances.get(instance) ?? this.#create(instance);
    clearTimeout(r.expiry);
    r.expiry = undefined;
    this.#lingering.delete(r);
    r.sessions++;
    return r;
  }

  /** A session of the instance closed: its replays stay for the client's reconnect window (none kept: it goes now). */
  detach(r: InstanceReplays): void {
    if (--r.sessions > 0) return;
    if (r.idle) this.#forget(r);
    else this.#expire(r);
  }

  /**
   * A session of the instance closed because its client closed it for good (a close frame
   * with NORMAL: the SDK sends it from close() alone, and resends nothing after it): with no
   * other session of the instance, its replays go now rather than after the reconnect window.
   * An app that makes a client per job and closes it left each one's unacknowledged replies
   * (up to 64 MiB of data) for two minutes.
   */
  end(r: InstanceReplays): void {
    if (--r.sessions > 0 || this.#instances.get(r.instance) !== r) return;
    this.#forget(r);
    if (r.highest < 0) return;
    this.#ended.delete(r.instance);
    this.#ended.set(r.instance, r.highest);
    if (this.#ended.size > MAX_ENDED) this.#ended.delete(this.#ended.keys().next().value!);
  }

  #create(instance: string): InstanceReplays {
    const r = new InstanceReplays(instance, this.#drop, {
      memory: this.#counted,
      mark: this.#mark,
      claim: this.#claimRid,
      putBack: this.#putBack,
    });
    this.#counted.replies(this.#instanceCost);
    const ended = this.#ended.get(instance);
    if (ended !== undefined) {
      this.#ended.delete(instance);
      r.droppedThrough(ended);
    }
    const evicted = this.#evicted.get(instance);
    // Its window over but not swept yet: forgotten as the sweep would have.
    if (evicted !== undefined && evicted.until <= Date.now()) this.#forgetEvicted(instance);
    else if (evicted !== undefined) {
      this.#evicted.delete(instance);
      this.#counted.replies(-EVICTED_COST);
      r.resumeFrom(evicted.mark);
    }
    this.#instances.set(instance, r);
    return r;
  }

  /** Drops the instance and its replays, here and in the store: at once if it keeps few, else over turns (#clearSlices). */
  #forget(r: InstanceReplays): void {
    if (r.size <= CLEAR_AT_ONCE) {
      this.#remove(r);
      r.clear();
      return;
    }
    // Out of the table now (a new instance of the name is a new one), its cost counted until its clear ends.
    clearTimeout(r.expiry);
    this.#lingering.delete(r);
    this.#instances.delete(r.instance);
    r.startClear();
    this.#clearing.push(r);
    const same = this.#clearingByName.get(r.instance);
    if (same === undefined) this.#clearingByName.set(r.instance, [r]);
    else same.push(r);
    // Bounded: past MAX_CLEARING the oldest are finished now (and dropped from the list as the slices reach them).
    let backlog = 0;
    for (const c of this.#clearing) backlog += c.size;
    for (let i = 0; backlog > MAX_CLEARING && i < this.#clearing.length - 1; i++) {
      const c = this.#clearing[i]!;
      backlog -= c.size;
      this.#cleared.replies += c.size;
      c.clearSome(Infinity);
    }
    if (this.#clearing.length === 1) void this.#clearSlices();
  }

  /** A new instance of `instance` is to keep `rid`: instances of the name still being cleared let theirs go first. */
  readonly #claimRid = (instance: string, rid: number): void => {
    if (this.#clearingByName.size === 0) return;
    const same = this.#clearingByName.get(instance);
    if (same === undefined) return;
    for (const c of same) {
      const before = c.size;
      c.forget(rid);
      this.#cleared.replies += before - c.size;
    }
  };

  /** Clears the instances gone, first gone first, within the leftovers' budget (state/leftover-clears.ts). */
  async #clearSlices(): Promise<void> {
    while (this.#clearing.length > 0) {
      const r = this.#clearing[0]!;
      const sliced = await overTurns(() => {
        const before = r.size;
        const done = r.clearSome(CLEAR_BATCH);
        this.#cleared.replies += before - r.size;
        return done;
      });
      this.#clearing.shift();
      const same = this.#clearingByName.get(r.instance)!;
      same.splice(same.indexOf(r), 1);
      if (same.length === 0) this.#clearingByName.delete(r.instance);
      this.#counted.replies(-this.#instanceCost);
      const c = this.#cleared;
      c.instances++;
      // The first slice of the next clear runs in the same turn as the last of this one.
      c.slices += sliced.slices - (c.instances > 1 ? 1 : 0);
      c.ms += sliced.ms;
      c.longestMs = Math.max(c.longestMs, sliced.longestMs);
    }
    const { instances, replies, slices, ms, longestMs } = this.#cleared;
    this.#cleared = { instances: 0, replies: 0, slices: 0, ms: 0, longestMs: 0 };
    if (slices > 1) this.#bound.cleared?.(instances, replies, { slices, ms, longestMs });
    if (this.#shedAfterClears) {
      this.#shedAfterClears = false;
      this.#shed();
    }
  }

  /** Replies still to be cleared, of instances gone. */
  get clearing(): number {
    let n = 0;
    for (const c of this.#clearing) n += c.size;
    return n;
  }

  /** Drops the instance from the table. */
  #remove(r: InstanceReplays): void {
    clearTimeout(r.expiry);
    this.#lingering.delete(r);
    this.#instances.delete(r.instance);
    this.#counted.replies(-this.#instanceCost);
  }

  #expire(r: InstanceReplays): void {
    this.#lingering.set(r, Date.now() + this.#keepMs);
    r.expiry = setTimeout(() => {
      if (r.sessions > 0 || this.#instances.get(r.instance) !== r) return;
      this.#forget(r);
    }, this.#keepMs);
    r.expiry.unref();
  }

  #addEvicted(instance: string, mark: EvictedMark, until: number): void {
    this.#evicted.set(instance, { mark, until });
    this.#counted.replies(EVICTED_COST);
    this.#armSweep();
  }

  /** The sweep wakes when the first evicted instance's window ends (none armed while none is evicted). */
  #armSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const first = this.#evicted.values().next();
    if (first.done === true) return;
    this.#sweepTimer = setTimeout(
      () => {
        this.#sweepTimer = undefined;
        this.#sweepEvicted();
      },
      Math.max(0, first.value.until - Date.now()),
    );
    this.#sweepTimer.unref();
  }

  /**
   * Evicted instances whose window has ended are forgotten, their marks too, SHED_SLICE_MS a turn.
   * They are in the order they were evicted, near enough the order their windows end (one passed
   * over by an eviction and taken by a later one is later here than its window: it goes late).
   */
  #sweepEvicted(): void {
    const now = Date.now();
    const end = performance.now() + SHED_SLICE_MS;
    let n = 0;
    for (const [instance, e] of this.#evicted) {
      if (e.until > now) break;
      this.#forgetEvicted(instance);
      if (++n % SHED_BATCH === 0 && performance.now() >= end) {
        this.#sweepTimer ??= setTimeout(() => {
          this.#sweepTimer = undefined;
          this.#sweepEvicted();
        }, 0);
        return;
      }
    }
    this.#armSweep();
  }

  #forgetEvicted(instance: string): void {
    const e = this.#evicted.get(instance)!;
    this.#evicted.delete(instance);
    this.#counted.replies(-EVICTED_COST);
    if (e.mark !== null) this.#drop(instance, TOO_OLD_MARK);
  }

  /**
   * Kept replies are over their bound: the instances keeping the most are cut to one level, the
   * highest that brings the total to SHED_TO of the bound (instances under it keep everything).
   */
  #shed(): void {
    const bound = this.#bound.bytes;
    if (this.#held <= bound) {
      this.#shedding = false;
      return;
    }
    if (this.#clearing.length > 0) {
      this.#shedAfterClears = true;
      return;
    }
    const target = bound * SHED_TO;
    const floor = this.#bound.floor ?? KEEP_AT_LEAST;
    // Only instances over the floor are cut, and sorted: at most the bound / the floor of them.
    const holders: InstanceReplays[] = [];
    let others = this.#held;
    for (const r of this.#instances.values()) {
      if (r.held <= floor) continue;
      holders.push(r);
      others -= r.held;
    }
    holders.sort((a, b) => b.held - a.held);
    // Cutting the k largest to `level` leaves k * level + what the other holders and the rest hold.
    let uncut = this.#held - others;
    let k = 0;
    let level = 0;
    while (k < holders.length) {
      uncut -= holders[k]!.held;
      k++;
      level = (target - others - uncut) / k;
      if (level >= (holders[k]?.held ?? 0)) break;
    }
    this.#cutting = { instances: holders.slice(0, k), count: k, level: Math.max(floor, Math.floor(level)), replies: 0, evicted: 0, ms: 0 };
    this.#cut();
  }

  /**
   * Cuts the instances of the shedding under way to its level, SHED_SLICE_MS a turn: 136,000
   * replies took 31-53 ms in one go, a pause for every client, every few seconds of such a flood.
   */
  #cut(): void {
    const cutting = this.#cutting!;
    const started = performance.now();
    const end = started + SHED_SLICE_MS;
    const { instances, level } = cutting;
    while (instances.length > 0) {
      const r = instances[instances.length - 1]!;
      const { dropped, done } = r.shed(level, SHED_BATCH);
      cutting.replies += dropped;
      // Down to its level, or nothing more it may drop (items, pending outcomes), or gone meanwhile.
      if (done) instances.pop();
      if (performance.now() >= end && instances.length > 0) {
        cutting.ms += performance.now() - started;
        setImmediate(() => this.#cut());
        return;
      }
    }
    cutting.ms += performance.now() - started;
    this.#evict(this.#bound.bytes * SHED_TO);
  }

  /**
   * Still over the target once the largest are cut to their level (or the floor), with more
   * instances than can each keep the floor: the instances cut off longest are evicted whole, their
   * replies let go (their resends E_REPLY_DROPPED until their window ends) and only their name and
   * mark kept. What they held was mostly the instance itself: a client making instances and cutting
   * each again and again, none over the floor, held ~2 KB each for two minutes. Connected instances,
   * and those keeping an item or a pending outcome, stay; so does every instance while they are
   * few enough to each keep the floor (a client's burst of pending outcomes, which cannot be shed,
   * evicted an honest instance cut off before it). SHED_SLICE_MS a turn, as the cut.
   */
  #evict(target: number): void {
    const cutting = this.#cutting!;
    const started = performance.now();
    const end = started + SHED_SLICE_MS;
    const crowded = this.#instances.size * (this.#bound.floor ?? KEEP_AT_LEAST) > target;
    // Each instance cut off when the eviction began is looked at once at most (those passed over go to the back).
    cutting.toLook ??= crowded ? this.#lingering.size : 0;
    // An instance evicted lets go of up to ~1,000 replies (the floor): the clock is read after each.
    const sliced = (): boolean => {
      if (performance.now() < end) return false;
      cutting.ms += performance.now() - started;
      setImmediate(() => this.#evict(target));
      return true;
    };
    for (const [r, until] of this.#lingering) {
      if (this.#held <= target || cutting.toLook <= 0) break;
      if (sliced()) return;
      cutting.toLook--;
      this.#lingering.delete(r);
      const evicted = r.evict();
      if (evicted === undefined) {
        this.#lingering.set(r, until);
        continue;
      }
      // Not cleared: its mark stays in the store until its window ends (#sweepEvicted), for a restart.
      this.#remove(r);
      this.#addEvicted(r.instance, evicted.mark, until);
      cutting.replies += evicted.dropped;
      cutting.evicted++;
    }
    // The evicted instances' marks alone over the target: the first evicted's go before their window
    // ends (their resends would run again). Only past ~target / EVICTED_COST instances cut off in two
    // minutes: with 512 MiB, ~6,500 a second; one client made ~2,500 here. Never for what connected
    // instances hold (a neighbour keeping its replies made an honest write run twice).
    for (const instance of this.#evicted.keys()) {
      if (this.#held <= target || this.#evicted.size * EVICTED_COST <= target) break;
      if (sliced()) return;
      this.#forgetEvicted(instance);
    }
    cutting.ms += performance.now() - started;
    this.#cutting = undefined;
    this.#shedding = false;
    // Only items and pending outcomes left over the bound: shed again once a quarter of it more is held.
    this.#shedAbove = Math.max(this.#bound.bytes, this.#held + this.#bound.bytes * (1 - SHED_TO));
    this.#bound.shed?.(cutting.replies, cutting.count, cutting.evicted, this.#held, cutting.ms);
  }

  /** What every instance's kept replies hold besides items, as ReplyMemory.replies counts it. */
  get held(): number {
    return this.#held;
  }

  get size(): number {
    return this.#instances.size;
  }
}
