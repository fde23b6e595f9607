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
 */
import { InstanceReplays, type DropStoredReply, type MarkTooOld, type ReplyMemory } from './replay.js';

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

/** The daemon-wide bound on what kept replies hold besides items. */
export interface ReplyBound {
  /** Bytes (as ReplyMemory.replies counts them); Infinity for none. */
  bytes: number;
  /** What no instance is cut below (KEEP_AT_LEAST unless given). */
  floor?: number;
  /** Told after each shedding: how many replies went, from how many instances, what is held after it, and the time it took (in slices of 2 ms a turn). */
  shed?(replies: number, instances: number, heldAfter: number, ms: number): void;
}

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
  /**
   * Instances their clients closed for good, with the highest request id each had kept, the
   * newest MAX_ENDED, while the daemon runs: one that comes back anyway (a raw client, not the
   * SDK) has its resends refused as too old to replay, not applied a second time.
   */
  readonly #ended = new Map<string, number>();
  readonly #bound: ReplyBound;
  /** What every instance's kept replies hold besides items (the sum of their `held`). */
  #held = 0;
  /** Shed once #held passes this: the bound, or above it after a shedding that could not get under it (only items and pending outcomes left). */
  #shedAbove: number;
  #shedding = false;
  /** The shedding under way: the instances still to cut to `level`, and what it has dropped in how much time. */
  #cutting: { instances: InstanceReplays[]; count: number; level: number; replies: number; ms: number } | undefined;
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
   * keeps an instance's too-old watermark in the store when a reply is dropped unacknowledged.
   */
  constructor(
    drop: DropStoredReply = () => {},
    stored?: Map<string, Map<number, unknown>>,
    memory?: ReplyMemory,
    mark?: MarkTooOld,
    bound: ReplyBound = { bytes: Infinity },
  ) {
    this.#drop = drop;
    this.#memory = memory;
    this.#mark = mark;
    this.#bound = bound;
    this.#shedAbove = bound.bytes;
    for (const [instance, replies] of stored ?? []) {
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
    r.sessions++;
    return r;
  }

  /** A session of the instance closed: its replays stay for the client's reconnect window. */
  detach(r: InstanceReplays): void {
    if (--r.sessions > 0) return;
    this.#expire(r);
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
    this.#instances.delete(r.instance);
    r.clear();
    if (r.highest < 0) return;
    this.#ended.delete(r.instance);
    this.#ended.set(r.instance, r.highest);
    if (this.#ended.size > MAX_ENDED) this.#ended.delete(this.#ended.keys().next().value!);
  }

  #create(instance: string): InstanceReplays {
    const r = new InstanceReplays(instance, this.#drop, this.#counted, this.#mark);
    const ended = this.#ended.get(instance);
    if (ended !== undefined) {
      this.#ended.delete(instance);
      r.droppedThrough(ended);
    }
    this.#instances.set(instance, r);
    return r;
  }

  #expire(r: InstanceReplays): void {
    r.expiry = setTimeout(() => {
      if (r.sessions > 0 || this.#instances.get(r.instance) !== r) return;
      this.#instances.delete(r.instance);
      r.clear();
    }, KEEP_AFTER_CLOSE_MS);
    r.expiry.unref();
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
    this.#cutting = { instances: holders.slice(0, k), count: k, level: Math.max(floor, Math.floor(level)), replies: 0, ms: 0 };
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
    this.#cutting = undefined;
    this.#shedding = false;
    // Only items and pending outcomes left over the bound: shed again once a quarter of it more is held.
    this.#shedAbove = Math.max(this.#bound.bytes, this.#held + this.#bound.bytes * (1 - SHED_TO));
    this.#bound.shed?.(cutting.replies, cutting.count, this.#held, cutting.ms);
  }

  /** What every instance's kept replies hold besides items, as ReplyMemory.replies counts it. */
  get held(): number {
    return this.#held;
  }

  get size(): number {
    return this.#instances.size;
  }
}
