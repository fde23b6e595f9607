/**
 * replay-table.ts - every client instance's replays (replay.ts), by the
 * instance's name: kept while it is connected, two minutes after its last
 * connection closed (the SDK's reconnect window), and dropped at once when its
 * client closes it for good; the names of instances closed for good are
 * remembered a while, so that one coming back anyway is refused its resends.
 */
import { InstanceReplays, type DropStoredReply, type MarkTooOld, type ReplyMemory } from './replay.js';

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

  /**
   * `stored`: the replies the store held at start, by instance and request id; they wait for their
   * clients like a closed session's. `memory` counts what kept replies hold, as it changes; `mark`
   * keeps an instance's too-old watermark in the store when a reply is dropped unacknowledged.
   */
  constructor(drop: DropStoredReply = () => {}, stored?: Map<string, Map<number, unknown>>, memory?: ReplyMemory, mark?: MarkTooOld) {
    this.#drop = drop;
    this.#memory = memory;
    this.#mark = mark;
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
    const r = new InstanceReplays(instance, this.#drop, this.#memory, this.#mark);
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

  get size(): number {
    return this.#instances.size;
  }
}
