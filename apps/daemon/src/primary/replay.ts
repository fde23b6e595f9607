/**
 * Replies a client may ask for again. A write's reply can be lost with its
 * socket (written, never read) or with the daemon (kill -9 after the commit);
 * the client then cannot tell whether the write happened. So the SDK names
 * itself (`hello.instance`) and, after reconnecting, sends its unanswered
 * writes and queue.gets again with the same request ids; the daemon answers
 * each from here (the first outcome, whatever it was), so a write is applied
 * once and acknowledged once. A queue.get has one more rule (`outcome`): its
 * item belongs to the last connection that carried the request and could
 * still answer. Every reply is also kept in LMDB, committed with the write
 * itself (SharedState.handle's replay key; for a queue.get, with the item's
 * removal), so a daemon restarted after kill -9 starts with the replies of
 * everything it had committed and not seen acknowledged: a resent request is
 * answered, not applied again, and one that was never committed is applied now.
 * Entries go when the client acknowledges them (`ack` on its next request),
 * and an instance's go a while after its last connection closed (the table of
 * instances: replay-table.ts).
 *
 * An item a get took whose reply was never acknowledged is not dropped with
 * its instance: it goes back to the front of its queue (PutBack) when the
 * instance ends, since its client may never have had it (a get close()
 * cancelled as the item came, a consumer killed with its reply in flight).
 * By then nothing can be given the kept reply: an instance that expired is
 * forgotten (a resend runs afresh) and one closed for good refuses resends.
 * So delivery is at least once for a consumer that dies after taking an item
 * and before acknowledging it; the SDK's close() says which replies it had
 * (`ack.closing`), so a clean close hands back only the items it never took.
 *
 * The file passes 400 lines because one instance's replies and every bound on
 * them (per instance, and the walk the daemon-wide shedding makes through them)
 * keep one set of books (what is held, the watermark, the spared requests):
 * split, each half would reach into the other's.
 */
import {
  BadMessageError,
  MAX_CLOSING_IDS,
  RESEND_POLICY,
  ReplyDroppedError,
  fromWire,
  replyDataBytes,
  toCorepoolError,
  type StateRequest,
  type WireError,
} from '@corepool/protocol/internal';
import { byQueue, NOT_APPLIED, TOO_OLD_MARK, type ReplayKey, type UndeliveredItem } from '../state/state-store.js';
import { takenItem } from '../state/replay-log.js';
import { ignore } from '../ignore.js';
import { RidTable } from './rid-table.js';

/**
 * Replays kept per instance at most; past this the oldest go (a client that never acks). The
 * protocol's MAX_CLOSING_IDS, one number: a client's closing list names no more than it may keep.
 */
const MAX_PER_INSTANCE = MAX_CLOSING_IDS;
/**
 * Pending requests spared from an instance's watermark at most (shed): each is in the store's mark,
 * written again with every change. A client that never acknowledges, its gets spared and cut again
 * and again, grew the set by ~9,000 a cut, every acknowledgement walking it (540,000: 1 ms each).
 */
const MAX_SPARED = 1024;
/** Kept replies looked at, oldest first, for one that may go past MAX_PER_INSTANCE (#dropOldest). */
const SCAN_FOR_OLDEST = 1024;
/**
 * Bytes of data (queue items, values) kept per instance at most; past this the oldest go too.
 * Acknowledgements are a watermark, so a client that never acks, or one with a get waiting while
 * later ones are answered, kept every reply: a raw client taking 1 MB items held 477 MB in 4 s.
 * The oldest go first: they are the likeliest to have reached their client.
 */
export const MAX_BYTES_PER_INSTANCE = 64 * 1024 * 1024;

/** Deletes a reply the store holds. */
export type DropStoredReply = (instance: string, rid: number) => void;

/**
 * Puts back at the front of `queue`, in their order, items gets took (each under its key) whose replies
 * their client never acknowledged.
 */
export type PutBack = (queue: string, items: readonly UndeliveredItem[]) => void;

/**
 * Told before an instance keeps request `rid`'s outcome (and the store its reply): an earlier
 * instance of the same name still being cleared (ReplayTable) lets its own go first, so that its
 * clear never deletes the new one's, which the store keeps under the same key.
 */
export type ClaimRid = (instance: string, rid: number) => void;

/**
 * Keeps an instance's too-old mark in the store, with its replies (state-store.ts TOO_OLD_MARK): the
 * watermark (resends up to it are refused), or [watermark, ...spared] (requests still pending when
 * their neighbours' replies were shed: they may be run afresh). Written and read here alone.
 */
export type MarkTooOld = (instance: string, mark: number | number[]) => void;

/** An instance's too-old mark, as an evicted instance leaves it (InstanceReplays.evict); null: nothing to refuse. */
export type EvictedMark = number | number[] | null;

/**
 * Where what kept replies hold is counted (the state's memory, state-memory.ts). Items that gets
 * took stay the state's own until their replies go, with all their replies hold: an item moved
 * out of its queue by a get never acknowledged makes no room for another. The rest (each reply's
 * own cost, sums) is counted apart, so that replies waiting for acknowledgements never refuse a
 * counter's add.
 */
export interface ReplyMemory {
  /** Items kept in gets' replies grew by `bytes` (shrank, when negative). */
  items(bytes: number): void;
  /** What else kept replies hold grew by `bytes` (shrank, when negative). */
  replies(bytes: number): void;
}

/**
 * What one kept reply holds of the primary's heap besides any data: its table slot and its entry
 * in the store's segment (measured: 61 bytes a set's, 200,000 kept after a full GC).
 */
export const REPLY_COST = 64;
/** What a reply carrying data holds besides: its own Uint8Array and buffer (measured: 287 bytes an add's sum of 1-3 bytes, in all). */
export const DATA_REPLY_COST = 224;

/** The connection that carries replayed requests (one object per connection: no closures per request). */
export interface ReplayHost {
  /** Runs the request; the store commits its reply under `key` with the write (or the item's removal). */
  run(req: StateRequest, key: ReplayKey): Promise<unknown>;
  /** False once the connection has closed. */
  readonly open: boolean;
  /** A queue.get's item its connection could no longer take: back to the queue (`key`: the replay key it was taken under). */
  handBack(req: StateRequest, value: unknown, key: ReplayKey): void;
}

/** What a connection uses of its client instance's replays. */
export interface Replays {
  /** Forgets every reply below `ack` (the client has them). */
  acknowledge(ack: number): void;
  /** The client closes for good: it has every reply below `ack` but those of `open` (AckMessage.closing). */
  closing(ack: number, open: readonly number[]): void;
  /**
   * The outcome of a replayed request (a write or a queue.get): its first
   * run's if it was sent before, else a new run's; undefined for a request
   * that is not replayed (the connection runs it as usual). Throws when the
   * first run is too old to know. A replayed request's reply that its
   * connection cannot deliver is answered again on the resend: nothing to undo.
   * The caller handles the outcome's rejection, in the turn it gets it (the
   * outcome is kept without a reaction of its own: one per request in flight).
   */
  outcome(rid: number, req: StateRequest, host: ReplayHost): Promise<unknown> | undefined;
  /**
   * `outcome` (what `outcome` returned for `rid`) resolved to `reply`: kept from now on as the
   * reply itself, not the promise (a kept reply is held until the client acknowledges it, up to
   * 100,000 per client, and the promise was ~40 of its ~220 bytes).
   */
  settled(rid: number, outcome: Promise<unknown>, reply: unknown): void;
  /** `outcome` rejected with `error`: kept from now on as its wire form (see KeptFailure), unless another outcome is kept for `rid`. */
  failed(rid: number, outcome: Promise<unknown>, error: unknown): void;
}

/**
 * A kept outcome that failed, as its wire error: the rejected promise held its error, stack and
 * all, ~880 bytes a request (a client posting writes that fail, never acknowledging them, held
 * 530 MiB with 600,000 of them).
 */
class KeptFailure {
  readonly error: WireError;

  constructor(error: WireError) {
    this.error = error;
  }

  /** What it holds besides its reply's own cost: itself, its wire error and message (600,000 of them, ~160 bytes each, measured). */
  get cost(): number {
    return 96 + this.error.message.length;
  }
}

/** What an instance's replies tell the table and the store, besides dropping a stored reply: each optional. */
export interface InstanceHooks {
  memory?: ReplyMemory | undefined;
  mark?: MarkTooOld | undefined;
  claim?: ClaimRid | undefined;
  putBack?: PutBack | undefined;
}

/**
 * One client instance's unacknowledged replies, in request order. Its table and
 * set are made when first needed: every connected client has an instance, and
 * an idle one never writes.
 */
export class InstanceReplays implements Replays {
  readonly instance: string;
  readonly #drop: DropStoredReply;
  readonly #memory: ReplyMemory | undefined;
  readonly #mark: MarkTooOld | undefined;
  readonly #claim: ClaimRid | undefined;
  /**
   * Its clear has begun (ReplayTable): nothing more is kept, nor any mark written, under its name,
   * which a new instance may have taken meanwhile; what is left goes a slice at a time.
   */
  #clearing = false;
  readonly #putBack: PutBack | undefined;
  /**
   * The queue of each queue.get kept, by request id: an item still kept when the instance ends goes
   * back there (#handBack). Undefined once its client closed for good without saying which replies
   * it had (an SDK older than `ack.closing`): its items count as delivered, as they did before.
   */
  #gets: Map<number, string> | undefined;
  /** Its client said which replies it had before closing (closing): its items not had go back, whatever ends it. */
  #closingSaid = false;
  /** The store holds a watermark of this instance's (dropped with the instance). */
  #marked = false;
  /** Each request's outcome: its promise until it settled, then its reply (settled) or its wire error (failed, KeptFailure). */
  #replies: RidTable<unknown> | undefined;
  /** Request ids whose reply the store does not hold (every write's does: the rare exception is listed, not the rule). */
  #unstored: Set<number> | undefined;
  /**
   * queue.gets still waiting for their item, with the connection that carries each: their reply
   * is kept when the item comes, so one forgotten before (an ack that lies, MAX_PER_INSTANCE)
   * has it dropped then (see forget).
   */
  #waiting: Map<number, ReplayHost> | undefined;
  /** Request ids of kept replies that carry data, oldest first from #heavyFrom (some forgotten since). */
  #heavy: number[] | undefined;
  #heavyFrom = 0;
  /** Highest request id dropped unacknowledged (over MAX_PER_INSTANCE). */
  #dropped = -1;
  /**
   * Requests below #dropped that were still pending when shedding passed them (shed): not refused.
   * A queue.get waiting for its item, its connection then cut, is forgotten with nothing taken
   * (redo): its resend takes an item afresh. Kept in the store with the watermark.
   */
  #spared: Set<number> | undefined;
  /** The lowest spared request id, or more: an acknowledgement below it has nothing spared to forget. */
  #sparedLow = Infinity;
  /**
   * The walk of the shedding under way (shed), resumed slice after slice past the items and pending
   * outcomes it passed already: an iterator, since segments are walked in the order they were made,
   * not by id (resuming from an id skipped the lower ids of segments made later: an instance that
   * kept high ids first escaped every shedding).
   */
  #walk: Iterator<number> | undefined;
  /** Highest request id kept so far. */
  #highest = -1;
  /**
   * No reply below this request id is kept: an acknowledgement up to it has nothing to forget.
   * Every request of a burst carries the same ack; without this each would walk the replies.
   */
  #clearBelow = 0;
  sessions = 0;
  expiry: NodeJS.Timeout | undefined;
  /** Bytes of data its kept replies carry (replyDataBytes). */
  bytes = 0;
  /** What its kept replies hold besides the items of gets (ReplyMemory.replies): what the daemon-wide bound sheds (ReplayTable). */
  held = 0;

  constructor(instance: string, drop: DropStoredReply, hooks: InstanceHooks = {}) {
    this.instance = instance;
    this.#drop = drop;
    this.#memory = hooks.memory;
    this.#mark = hooks.mark;
    this.#claim = hooks.claim;
    this.#putBack = hooks.putBack;
  }

  /** Replies (and outcomes pending) it keeps. */
  get size(): number {
    return this.#replies?.size ?? 0;
  }

  /** The outcome of an earlier request `rid`, if it is still kept; throws if it was dropped. */
  get(rid: number): Promise<unknown> | undefined {
    const kept = this.#replies?.get(rid);
    if (kept === undefined) {
      if (rid <= this.#dropped) {
        // A spared request runs afresh, once: the store's mark no longer spares it (dropped later, it is refused).
        if (this.#spared?.delete(rid) === true) {
          this.#markNow();
          return undefined;
        }
        throw new ReplyDroppedError(
          `request ${rid}'s reply was dropped before it was acknowledged: the request ran once when it first came and is not run again; what it returned is lost`,
        );
      }
      return undefined;
    }
    if (kept instanceof KeptFailure) return Promise.reject(fromWire(kept.error));
    return kept instanceof Promise ? kept : Promise.resolve(kept);
  }

  /** Keeps `outcome` for a resend of `rid`; `stored`: the store holds the reply too (a write's). */
  remember(rid: number, outcome: Promise<unknown>, stored = false): void {
    outcome.catch(ignore); // kept for a replay, not an unhandled rejection
    this.#claim?.(this.instance, rid);
    this.#keep(rid, outcome, stored);
  }

  /** A reply the store held at start (no replay ever rejects): kept as itself. `reply` is never undefined. */
  restore(rid: number, reply: unknown): void {
    if (rid === TOO_OLD_MARK) {
      // The watermark, or [watermark, ...spared requests].
      const [through, ...spared] = Array.isArray(reply) ? (reply as unknown[]) : [reply];
      if (typeof through === 'number') this.droppedThrough(through);
      for (const r of spared) if (typeof r === 'number') this.#spare(r);
      this.#marked = true;
      return;
    }
    // A get's item, with its queue: put back there if the instance ends without acknowledging it, as before the restart.
    const taken = takenItem(reply);
    if (taken !== undefined) {
      (this.#gets ??= new Map()).set(rid, taken.taken);
      reply = taken.item;
    }
    this.#keep(rid, reply, true);
    this.#grew(rid, reply);
  }

  failed(rid: number, outcome: Promise<unknown>, error: unknown): void {
    if (this.#clearing || this.#replies?.get(rid) !== outcome) return;
    // Never applied (state-store.ts): a resend runs it afresh rather than being answered this failure.
    if ((error as { [NOT_APPLIED]?: boolean } | null)?.[NOT_APPLIED] === true) {
      this.forget(rid);
      return;
    }
    const failure = new KeptFailure(toCorepoolError(error).toWire());
    this.#replies.set(rid, failure);
    this.#data(failure, 1);
  }

  settled(rid: number, outcome: Promise<unknown>, reply: unknown): void {
    // Unless a resend made the request another outcome meanwhile (a queue.get carried on).
    if (reply === undefined || this.#clearing || this.#replies?.get(rid) !== outcome) return;
    this.#replies.set(rid, reply);
    this.#grew(rid, reply);
  }

  /**
   * Kept reply `rid` is `reply`, which may carry data: past MAX_BYTES_PER_INSTANCE the oldest
   * replies carrying data go (this one last), whatever waits before them (a get still waiting,
   * the watermark stuck at it, is what keeps the rest).
   */
  #grew(rid: number, reply: unknown): void {
    if (!this.#data(reply, 1)) return;
    const heavy = (this.#heavy ??= []);
    // Acknowledgements forget from the front: those go from here as the next ones come.
    while (this.#heavyFrom < heavy.length && this.#replies?.get(heavy[this.#heavyFrom]!) === undefined) this.#heavyFrom++;
    heavy.push(rid);
    while (this.bytes > MAX_BYTES_PER_INSTANCE && this.#heavyFrom < heavy.length - 1) {
      const oldest = heavy[this.#heavyFrom++]!;
      if (replyDataBytes(this.#replies?.get(oldest)) === 0) continue;
      this.#dropOld(oldest);
    }
    if (this.#heavyFrom > 1024 && this.#heavyFrom * 2 > heavy.length) {
      this.#heavy = heavy.slice(this.#heavyFrom);
      this.#heavyFrom = 0;
    }
  }

  /** Counts the data `reply` carries, kept (`sign` 1) or gone (-1): false if it carries none (a failure is counted, not data). */
  #data(reply: unknown, sign: 1 | -1): boolean {
    if (reply instanceof KeptFailure) {
      this.#held(sign * reply.cost);
      return false;
    }
    const n = replyDataBytes(reply);
    if (n === 0) return false;
    this.bytes += sign * n;
    // A bare Uint8Array is a get's item: the state's still (ReplyMemory), with all its reply holds (the
    // item's cost in its queue was more than its bytes: counted as bytes alone, each get freed 264 bytes of
    // the bound for another put), and never shed; any other data, a sum, is the replies'.
    if (reply instanceof Uint8Array) {
      this.#memory?.items(sign * (n + DATA_REPLY_COST + REPLY_COST));
      this.#held(-sign * REPLY_COST);
    } else this.#held(sign * (DATA_REPLY_COST + n));
    return true;
  }

  /** What its kept replies hold besides items grew by `bytes` (shrank, when negative). */
  #held(bytes: number): void {
    this.held += bytes;
    this.#memory?.replies(bytes);
  }

  /**
   * Drops its oldest kept replies until what they hold besides items (`held`) is at most
   * `target`, looking at `max` of them at most (the daemon's kept replies are over their bound,
   * and ReplayTable sheds a slice a turn): a walk resumes where the last one stopped, past the
   * replies it kept. A get's item is never dropped here (it counts in the state's memory, whose
   * bound refuses puts instead), nor an outcome still pending (spared: it may run afresh); the rest
   * ran once, so their resends are answered E_REPLY_DROPPED and never run again, across a restart
   * too (#markNow). Returns how many went, and whether the walk is over (at the target, or at the end).
   */
  shed(target: number, max: number): { dropped: number; done: boolean } {
    const replies = this.#replies;
    if (replies === undefined) return { dropped: 0, done: true };
    const walk = (this.#walk ??= replies.keys());
    let dropped = 0;
    let seen = 0;
    let done = false;
    let changed = false;
    while (this.held > target && seen++ < max) {
      const next = walk.next();
      if (next.done === true) {
        done = true;
        break;
      }
      const rid = next.value;
      const kept = replies.get(rid);
      if (kept instanceof Promise) changed = this.#spare(rid) || changed;
      if (kept === undefined || kept instanceof Promise || kept instanceof Uint8Array) continue;
      changed = this.#letGo(rid) || changed;
      dropped++;
    }
    if (this.held <= target) done = true;
    if (done) this.#walk = undefined;
    // The store's mark follows every change of the watermark and of the spared set.
    if (changed) this.#markNow();
    return { dropped, done };
  }

  /** Spares pending request `rid` from the watermark; false if it was already. At most MAX_SPARED: past it the first spared goes. */
  #spare(rid: number): boolean {
    const spared = (this.#spared ??= new Set());
    if (spared.has(rid)) return false;
    spared.add(rid);
    if (rid < this.#sparedLow) this.#sparedLow = rid;
    // The first spared goes (the walk spares in id order): #sparedLow stays at or under the lowest left.
    if (spared.size > MAX_SPARED) spared.delete(spared.values().next().value!);
    return true;
  }

  /** remember() for an outcome whose rejection its caller handles (what `outcome` returns), or a reply: no reaction of its own. */
  #keep(rid: number, outcome: unknown, stored: boolean): void {
    const replies = (this.#replies ??= new RidTable());
    if (rid > this.#highest) this.#highest = rid;
    // A resend's new outcome takes the place of a reply kept before it: its bytes go with it.
    const before = replies.get(rid);
    if (before === undefined) this.#held(REPLY_COST);
    else this.#data(before, -1);
    replies.set(rid, outcome);
    if (rid < this.#clearBelow) this.#clearBelow = rid;
    if (!stored) (this.#unstored ??= new Set()).add(rid);
    if (replies.size > MAX_PER_INSTANCE) this.#dropOldest();
  }

  /**
   * Past MAX_PER_INSTANCE: the oldest reply goes, but never a get's, waiting (then spared from the
   * watermark, as shed() spares those it passes) or answered with its item (#handBack's to give back). Dropping the oldest whatever it was lost
   * items: a consumer's blocked get, the watermark stuck at it while 100,000 later replies
   * waited, had its outcome forgotten; the item that came for it was then kept nowhere (handed
   * to a client that had closed, gone) or its resend refused E_REPLY_DROPPED though it had taken
   * nothing (hostile review). The gets passed over are bounded by those a connection may have
   * waiting and the items the state's memory counts; past SCAN_FOR_OLDEST of them, nothing goes
   * this time (the daemon-wide bound still sheds).
   */
  #dropOldest(): void {
    const replies = this.#replies!;
    let seen = 0;
    let changed = false;
    for (const rid of replies.keys()) {
      if (seen++ >= SCAN_FOR_OLDEST) break;
      if (this.#gets?.has(rid) === true) {
        if (replies.get(rid) instanceof Promise) changed = this.#spare(rid) || changed;
        continue;
      }
      changed = this.#letGo(rid) || changed;
      break;
    }
    if (changed) this.#markNow();
  }

  /** Forgets one request's outcome (a resend runs it again), here and in the store. */
  forget(rid: number): void {
    const outcome = this.#replies?.get(rid);
    if (outcome === undefined) return;
    this.#replies!.delete(rid);
    this.#gets?.delete(rid);
    this.#data(outcome, -1);
    this.#held(-REPLY_COST);
    if (this.#unstored?.delete(rid) === true) return;
    this.#drop(this.instance, rid);
    if (this.#waiting?.delete(rid) !== true) return;
    // Its reply is not kept yet: dropped when it is, unless a resend has made it this request's again.
    const late = (): void => {
      if (this.#replies?.get(rid) === undefined) this.#drop(this.instance, rid);
    };
    Promise.resolve(outcome).then(late, late);
  }

  outcome(rid: number, req: StateRequest, host: ReplayHost): Promise<unknown> | undefined {
    if (RESEND_POLICY[req.op] !== 'replay') return undefined;
    const earlier = this.get(rid);
    // Before the run: the store keeps its reply under the key an earlier instance of the name may still hold.
    this.#claim?.(this.instance, rid);
    let outcome: Promise<unknown>;
    if (req.op !== 'queue.get') {
      if (earlier !== undefined) return earlier;
      outcome = host.run(req, [this.instance, rid]);
    } else {
      // The SDK resends a request only on a new connection. The same one again, while it waits, would chain
      // two more promises onto its outcome with every resend (a million resends held a gigabyte): refused.
      if (earlier !== undefined && this.#waiting?.get(rid) === host) {
        throw new BadMessageError(`request ${rid} (queue.get) is already waiting on this connection`);
      }
      // Not for a connection closed meanwhile (a resend's, carrying on once the first connection's outcome
      // failed): its owner's gets were dropped at its close, and one run now would wait for nobody.
      const run = (): Promise<unknown> => (host.open ? host.run(req, [this.instance, rid]) : Promise.reject(REDO));
      // A queue.get's item belongs to the connection that can still answer: if this one closed
      // first, the item goes back (and its stored reply goes, in the same commit) and a resend of the
      // request takes one afresh. The last connection to carry the request decides, so an item is
      // handed out once; a daemon restarted after the item was taken answers from the stored reply.
      const taken = earlier === undefined ? run() : earlier.catch((err: unknown) => (err === REDO ? run() : Promise.reject(err)));
      (this.#waiting ??= new Map()).set(rid, host);
      (this.#gets ??= new Map()).set(rid, req.name);
      // Only while this connection's outcome is still the request's: a resend on another connection
      // (this one half-open meanwhile) made its own, which carries on from the REDO. Forgetting that
      // one left the item it then took unkept: its connection cut too, the next resend took a second
      // item and the first was lost (review helper).
      const done = (): void => {
        if (this.#waiting?.get(rid) === host) this.#waiting.delete(rid);
      };
      const redo = (): never => {
        if (this.#replies?.get(rid) === outcome) this.forget(rid);
        throw REDO;
      };
      outcome = taken.then(
        (value) => {
          done();
          if (host.open) return value;
          host.handBack(req, value, [this.instance, rid]);
          return redo();
        },
        (err: unknown) => {
          done();
          return host.open ? Promise.reject(err) : redo();
        },
      );
    }
    this.#keep(rid, outcome, true);
    return outcome;
  }

  /** Forgets every reply below `ack` (the client has them). Request ids grow, so they are at the front. */
  acknowledge(ack: number): void {
    if (this.#replies === undefined || ack <= this.#clearBelow) return;
    this.#clearBelow = ack;
    // Acknowledged: never resent, so no longer spared (the store's mark keeps them: a resend that lies runs again).
    if (this.#spared !== undefined && ack > this.#sparedLow) {
      for (const rid of this.#spared) if (rid < ack) this.#spared.delete(rid);
      this.#sparedLow = this.#spared.size === 0 ? Infinity : Math.min(...this.#spared);
      if (this.#spared.size === 0) this.#spared = undefined;
    }
    // From the front each time: forget removes the id, and no iterator is made per request.
    const replies = this.#replies;
    for (let rid = replies.first(); rid !== undefined && rid < ack; rid = replies.first()) this.forget(rid);
  }

  /**
   * The client's last word before it closes for good (AckMessage.closing): every reply below `ack`
   * reached it but those of `open`, which stay so that their items go back when the instance ends.
   * Walks every kept reply once: sent once per client, by close().
   */
  closing(ack: number, open: readonly number[]): void {
    // Said once: a client sends it once, at close(); again, it only makes the daemon walk its replies again.
    if (this.#closingSaid) return;
    this.#closingSaid = true;
    const replies = this.#replies;
    if (replies === undefined) return;
    const unanswered = new Set(open);
    for (const rid of [...replies.keys()]) if (rid < ack && !unanswered.has(rid)) this.forget(rid);
  }

  /**
   * Its client closed a connection for good (a close frame with NORMAL). One that did not say first
   * which replies it had (an SDK older than `ack.closing`, a raw client) may have used every item it
   * did not acknowledge: they count as delivered and are dropped with the instance, as before.
   */
  closedByClient(): void {
    if (!this.#closingSaid) this.#gets = undefined;
  }

  /**
   * Nothing kept, nothing pending, nothing refused: forgetting the instance changes the answer to
   * no resend (an instance that only connected and went need not wait out its reconnect window).
   */
  get idle(): boolean {
    return (this.#replies?.size ?? 0) === 0 && this.#dropped < 0;
  }

  /**
   * Lets every kept reply go unacknowledged, as shedding does (refused E_REPLY_DROPPED from now on,
   * the store's mark written), so that the instance itself can be forgotten before its reconnect
   * window ends (ReplayTable, past the daemon-wide bound): returns the mark that a new instance of
   * the same name starts from (resumeFrom), and how many replies went. Undefined, with nothing
   * changed, if it keeps a get's item or an outcome still pending, which are never dropped.
   */
  evict(): { mark: EvictedMark; dropped: number } | undefined {
    const replies = this.#replies;
    let dropped = 0;
    if (replies !== undefined) {
      for (const rid of replies.keys()) {
        const kept = replies.get(rid);
        if (kept instanceof Promise || kept instanceof Uint8Array) return undefined;
      }
      let changed = false;
      for (let rid = replies.first(); rid !== undefined; rid = replies.first(), dropped++) changed = this.#letGo(rid) || changed;
      if (changed) this.#markNow();
    }
    return { mark: this.#markValue() ?? null, dropped };
  }

  /** Starts from the mark an evicted instance of the same name left (its replies and mark are in the store's keeping still). */
  resumeFrom(mark: EvictedMark): void {
    if (mark !== null) this.restore(TOO_OLD_MARK, mark);
  }

  /** The highest request id it has kept a reply for: an instance ended refuses resends up to it. */
  get highest(): number {
    return this.#highest;
  }

  /** Resends up to `rid` are too old to replay (the instance was ended with them). */
  droppedThrough(rid: number): void {
    this.#dropped = Math.max(this.#dropped, rid);
  }

  /** Drops `rid`'s reply unacknowledged (past a bound): refused from now on, even if spared before. */
  #dropOld(rid: number): void {
    if (this.#letGo(rid)) this.#markNow();
  }

  /** Forgets `rid`'s reply unacknowledged, under the watermark and spared no more: true if the store's mark must change. */
  #letGo(rid: number): boolean {
    this.forget(rid);
    const wasSpared = this.#spared?.delete(rid) === true;
    if (rid <= this.#dropped) return wasSpared;
    this.droppedThrough(rid);
    return true;
  }

  /**
   * Keeps the watermark and the spared requests in the store, with the replies: a daemon restarted
   * before the resends refuses those up to the watermark (their replies are gone from the store:
   * without it the resend would be applied again) but the spared ones. Written again whenever
   * either changes: a spared write dropped since, left spared in the store, ran twice after a restart.
   */
  #markNow(): void {
    const mark = this.#markValue();
    if (this.#mark === undefined || mark === undefined || this.#clearing) return;
    this.#mark(this.instance, mark);
    this.#marked = true;
  }

  /** The too-old mark's form: the watermark, or [watermark, ...spared]; undefined before any reply was dropped. */
  #markValue(): number | number[] | undefined {
    if (this.#dropped < 0) return undefined;
    const spared = this.#spared;
    return spared === undefined || spared.size === 0 ? this.#dropped : [this.#dropped, ...spared];
  }

  /**
   * Items of gets still kept, never acknowledged, back to the front of their queues, each with its
   * stored reply dropped in the same batch (the store then holds one or the other). Pending gets
   * need nothing here: their connections closed, so their items go back as they come (outcome).
   */
  #handBack(): void {
    const gets = this.#gets;
    this.#gets = undefined;
    if (gets === undefined || this.#putBack === undefined) return;
    // Each queue's together, in the order they were taken: one at a time, a-b-c came back c-b-a (hostile
    // review), or, put back newest first, a get blocked on the emptied queue took c (a reviewer's case).
    const taken: { name: string; value: Uint8Array; rid: number }[] = [];
    for (const [rid, name] of gets) {
      const value = this.#replies?.get(rid);
      if (value instanceof Uint8Array) taken.push({ name, value, rid });
    }
    const instance = this.instance;
    for (const [queue, items] of byQueue(taken, (t) => ({ value: t.value, key: [instance, t.rid] }))) this.#putBack(queue, items);
    for (const t of taken) this.forget(t.rid);
  }

  /** Forgets everything (the client is gone for good). */
  clear(): void {
    this.startClear();
    this.clearSome(Infinity);
  }

  /**
   * Begins its clear: the items of gets it kept and was never acknowledged for go back to their
   * queues now (#handBack), its mark goes (a new instance of the name may keep its own), and
   * nothing is kept or marked from now on; its replies go with clearSome.
   */
  startClear(): void {
    this.#handBack();
    this.#clearing = true;
    if (!this.#marked) return;
    this.#marked = false;
    this.#drop(this.instance, TOO_OLD_MARK);
  }

  /** Forgets up to `max` of its replies, oldest first, here and in the store: true once none is left. */
  clearSome(max: number): boolean {
    const replies = this.#replies;
    if (replies === undefined) return true;
    for (let n = 0, rid = replies.first(); rid !== undefined; rid = replies.first()) {
      if (n++ >= max) return false;
      this.forget(rid);
    }
    return true;
  }
}

/** A queue.get that did not hand its item to its connection: not an outcome to replay. */
const REDO = Symbol('redo');
