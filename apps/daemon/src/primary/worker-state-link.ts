/**
 * The shared-state traffic of workers, beside the chunk traffic of the pool
 * seam (worker-pool.ts): a task's state requests go to the store under its
 * worker's owner name, their replies and the pushes for that owner go back to
 * the worker, and the owner is released when the worker is gone (its locks,
 * subscriptions and blocked gets). The daemon wires one link to its pool;
 * workers of another daemon would need a link of their own, with owner names
 * that pool gives.
 *
 * A task's requests are the work of the client whose chunk runs (turn-share.ts):
 * their handling, their bytes, their replies and the pushes their writes make
 * are charged to that client's connection, and while its share of the turn is
 * spent the worker's messages wait, unread, for a later turn, as the
 * connection's own do. Otherwise a task's requests took the primary from every
 * other app, its client paying nothing: beside two tasks each keeping 2,000
 * adds in flight a neighbour's awaited adds were 873-7,274 in 8 s (p99 28-41
 * ms); charged and held, 4,200-15,383 (p99 11.5-13 ms).
 *
 * Pushes for a worker that does not read its channel (a task subscribed, then
 * stuck in an endless item without `timeoutMs`, which holds its worker for
 * good) wait here once its channel holds more than the send high-water mark,
 * coalesced and bounded as a slow client's are (coalesced-pushes.ts). Before,
 * they all went to the channel's socket: a task subscribed to a 64 KiB value
 * written in a loop by another app, then spinning, grew the primary by ~20 MB
 * a second (100 -> 700 MB in 30 s) for as long as the item ran. Its replies
 * cannot be coalesced: its requests wait instead, unread, while its replies
 * wait unsent past that mark, and past a burst a turn (BURST below).
 *
 * A queue item handed to a worker's get is the worker's once it has read it (it
 * acknowledges the reply as it does): a worker that dies first, by itself (a task
 * that spins, then crashes or runs out of memory) or killed, has its unread items
 * put back at the front of their queues, in their order. Before, the item was
 * taken from its queue as the reply was written to a channel nobody would read.
 * At least once: an acknowledgement that never left a dying worker (queued behind
 * a task's flood of requests, the task then spinning) leaves its item unread here.
 */
import { checkName, EncodedValue, ErrorCode, LARGEST_MAX_PAYLOAD, type Push, type WireError } from '@corepool/protocol/internal';
import type { PushMessage, StateMessage, StateReplyMessage, StateReturnMessage } from '../ipc.js';
import { byQueue, type StateStore as Store } from '../state/state-store.js';
import { RECEIVED_BYTE_MS, type TurnPayer } from './turn-share.js';
import { CoalescedPushes } from '../state/coalesced-pushes.js';

/** The store as a worker's requests reach it (SharedState or RedisState). */
export type StateStore = Pick<Store, 'handle' | 'undelivered' | 'undeliveredItems' | 'releaseOwner' | 'cancelGets' | 'cancelAcquires'>;

/** How the link reaches the workers. */
export interface StateLinkHost<W> {
  /** The worker's owner name in the store: unique among all owners, and starting with `ownerPrefix`. */
  owner(w: W): string;
  /** Sends to the worker; false if it cannot take it. */
  send(w: W, m: StateReplyMessage | PushMessage): boolean;
  /** True once the worker has been killed or has exited: it takes no more requests. */
  dead(w: W): boolean;
  /** True once the worker has exited and every message it sent has been handed on. */
  exited(w: W): boolean;
  /** The connection whose chunk the worker runs now (its tasks' requests are its work); undefined: nobody's. */
  payer(w: W): TurnPayer | undefined;
  /** Hands on none of the worker's messages, of any kind, until resume (they keep their order). */
  pause(w: W): void;
  resume(w: W): void;
  /** Bytes sent to the worker that it has not taken yet. */
  unsent(w: W): number;
  /** Calls `fn` once the worker has taken what was sent to it (never if it dies first). */
  whenSent(w: W, fn: () => void): void;
}

/** What a request brings besides its handling, as a frame's bytes are counted (turn-share.ts). */
function requestBytes(req: StateMessage['req']): number {
  return req.name.length + (req.key?.length ?? 0) + (req.a?.length ?? 0) + (req.b?.length ?? 0);
}

/**
 * Requests a worker may have handled in one turn. Their replies are written a microtask or more
 * later, so the bytes unsent cannot stop a burst read at once: 30,000 gets of a 512 KiB value
 * from a task that then spins took the primary to 1.8 GB in 12 s. Past this many, or with
 * replies unsent past the high-water mark, its requests wait (unread) until it takes them.
 */
const BURST = 64;

export class WorkerStateLink<W> {
  readonly #store: StateStore;
  readonly #host: StateLinkHost<W>;
  readonly #prefix: string;
  /** The live workers that may hold state, by owner name. */
  readonly #byOwner = new Map<string, W>();
  /** Workers paused until their payer's share of a turn frees (resumed a turn later at the soonest). */
  #paused = new Set<W>();
  #resumeArmed = false;
  /** Bytes unsent to a worker past which its pushes wait in #waiting, coalesced. */
  readonly #highWater: number;
  /** Pushes waiting for workers that stopped reading, latest per kind, name and key. */
  readonly #waiting = new Map<W, CoalescedPushes>();
  /** Requests of workers whose replies lag or that sent a burst this turn, in order; their channels paused meanwhile. */
  readonly #deferred = new Map<W, StateMessage[]>();
  /** Requests handled this turn, per worker (cleared each turn). */
  readonly #burst = new Map<W, number>();
  #burstArmed = false;
  /** Queue items sent to each worker's gets that it has not acknowledged reading, by request id, in the order sent. */
  readonly #unread = new Map<W, Map<number, { name: string; item: Uint8Array }>>();

  /**
   * `ownerPrefix` starts every worker owner name, and no other owner's. `highWater`: the bytes
   * a worker may have unsent before its pushes wait, coalesced (the daemon's `--send-high-water`).
   */
  constructor(store: StateStore, host: StateLinkHost<W>, ownerPrefix: string, highWater: number) {
    this.#store = store;
    this.#host = host;
    this.#prefix = ownerPrefix;
    this.#highWater = highWater;
  }

  /** The worker is ready: pushes for its owner reach it from now on. */
  ready(w: W): void {
    this.#byOwner.set(this.#host.owner(w), w);
  }

  /** A task's state request: answered to the worker, whatever the outcome. */
  request(w: W, m: StateMessage): void {
    // A dead worker's last requests must not take a lock for an owner that is already gone.
    if (this.#host.dead(w)) return;
    const deferred = this.#deferred.get(w);
    if (deferred !== undefined) {
      deferred.push(m);
      return;
    }
    const burst = (this.#burst.get(w) ?? 0) + 1;
    if (burst > BURST || this.#host.unsent(w) > this.#highWater) {
      // Its replies would wait in the primary: the request waits (as what follows it, unread).
      this.#deferred.set(w, [m]);
      this.#host.pause(w);
      this.#armDeferred(w);
      return;
    }
    this.#burst.set(w, burst);
    if (!this.#burstArmed) {
      this.#burstArmed = true;
      setImmediate(() => {
        this.#burstArmed = false;
        this.#burst.clear();
      });
    }
    this.#handle(w, m);
  }

  /** The worker's deferred requests are handled once it has taken its replies, or next turn if it has. */
  #armDeferred(w: W): void {
    if (this.#host.unsent(w) > this.#highWater) this.#host.whenSent(w, () => this.#handleDeferred(w));
    else setImmediate(() => this.#handleDeferred(w));
  }

  /** Up to a burst of the worker's deferred requests, in order, while its replies unsent stay under the mark. */
  #handleDeferred(w: W): void {
    const deferred = this.#deferred.get(w);
    if (deferred === undefined) return;
    if (this.#host.dead(w)) {
      this.#deferred.delete(w);
      return;
    }
    for (let n = 0; n < BURST && deferred.length > 0 && this.#host.unsent(w) <= this.#highWater; n++) this.#handle(w, deferred.shift()!);
    if (deferred.length > 0) {
      this.#armDeferred(w);
      return;
    }
    this.#deferred.delete(w);
    // Read again, unless its payer's share of the turn is spent (#resume reads it then).
    if (!this.#paused.has(w)) this.#host.resume(w);
  }

  #handle(w: W, m: StateMessage): void {
    const payer = this.#host.payer(w);
    const from = performance.now();
    this.#store.handle(this.#host.owner(w), m.req).then(
      (value: unknown) => {
        const sending = performance.now();
        // A value encoded already (a large listing) goes as its bytes, decoded by the worker: as the payload, written
        // as it is. Packed into the message as a field, a 300,000-key listing (4 MB) was copied into a fresh buffer,
        // ~10 ms of the primary in one go for each.
        const item = m.req.op === 'queue.get' && value instanceof Uint8Array ? value : undefined;
        const reply: StateReplyMessage =
          value instanceof EncodedValue
            ? { t: 'state.reply', rid: m.rid, ok: true, payload: value.bytes }
            : item !== undefined
              ? { t: 'state.reply', rid: m.rid, ok: true, ack: true, value }
              : { t: 'state.reply', rid: m.rid, ok: true, value };
        if (!this.#host.send(w, reply)) this.#store.undelivered(m.req, value);
        else if (item !== undefined) this.#unreadOf(w).set(m.rid, { name: m.req.name, item });
        payer?.charge(performance.now() - sending);
      },
      (err: { toWire?: () => WireError; message?: string }) =>
        this.#host.send(w, {
          t: 'state.reply',
          rid: m.rid,
          ok: false,
          error: typeof err.toWire === 'function' ? err.toWire() : { code: ErrorCode.E_INTERNAL, message: String(err.message) },
        }),
    );
    if (payer !== undefined) this.#charge(w, payer, performance.now() - from + requestBytes(m.req) * RECEIVED_BYTE_MS, 1);
  }

  /** Work for `owner`'s writes (their pushes): true if the owner is a worker's, charged to its payer if it has one. */
  charge(owner: string, ms: number): boolean {
    if (!owner.startsWith(this.#prefix)) return false;
    const w = this.#byOwner.get(owner);
    const payer = w === undefined ? undefined : this.#host.payer(w);
    if (w !== undefined && payer !== undefined) this.#charge(w, payer, ms);
    return true;
  }

  #charge(w: W, payer: TurnPayer, ms: number, messages = 0): void {
    payer.charge(ms, messages);
    if (!payer.spent() || this.#paused.has(w)) return;
    this.#paused.add(w);
    this.#host.pause(w);
    this.#armResume();
  }

  #armResume(): void {
    if (this.#resumeArmed) return;
    this.#resumeArmed = true;
    setImmediate(this.#resume);
  }

  /** Once a turn: each paused worker whose payer has a share again (or none now) is read again. */
  readonly #resume = (): void => {
    this.#resumeArmed = false;
    const paused = this.#paused;
    this.#paused = new Set();
    for (const w of paused) {
      if (this.#host.dead(w)) continue;
      if (this.#host.payer(w)?.spent() === true) this.#paused.add(w);
      else if (!this.#deferred.has(w)) this.#host.resume(w);
    }
    if (this.#paused.size > 0) this.#armResume();
  };

  /**
   * The worker's running chunk was aborted, or a task ended with calls blocked: its blocked queue
   * gets fail with E_CANCELLED now, and with `locks` its blocked lock acquires (every one of them
   * is of a task that ended or is aborted: a worker runs one task at a time).
   */
  cancelBlocked(w: W, locks = false): void {
    if (this.#host.dead(w)) return;
    this.#store.cancelGets(this.#host.owner(w));
    if (locks) this.#store.cancelAcquires(this.#host.owner(w));
  }

  /**
   * An item a get took for a task cancelled meanwhile goes back to the front of its queue. What a
   * task could send as well as a put (its own bytes, to any queue): only a frame's worth is refused.
   */
  giveBack(w: W, m: StateReturnMessage): void {
    // From a killed worker too, until it has exited: its acknowledgement of the item may have been read already.
    if (this.#host.exited(w) || checkName(m.name) !== undefined) return;
    if (!(m.value instanceof Uint8Array) || m.value.length === 0 || m.value.length > LARGEST_MAX_PAYLOAD) return;
    this.#store.undelivered({ op: 'queue.get', name: m.name }, m.value);
  }

  /** The worker read reply `rid`: a queue item it held is its task's now. */
  acked(w: W, rid: number): void {
    this.#unread.get(w)?.delete(rid);
  }

  #unreadOf(w: W): Map<number, { name: string; item: Uint8Array }> {
    let m = this.#unread.get(w);
    if (m === undefined) this.#unread.set(w, (m = new Map()));
    return m;
  }

  /** A push for `owner`: true if the owner is a worker's (delivered if that worker still lives), false if not. */
  push(owner: string, push: Push): boolean {
    if (!owner.startsWith(this.#prefix)) return false;
    const w = this.#byOwner.get(owner);
    if (w === undefined) return true;
    // Behind pushes already waiting, in their order; or the first to wait once the worker lags.
    const waiting = this.#waiting.get(w);
    if (waiting !== undefined) waiting.add(push);
    else if (this.#host.unsent(w) <= this.#highWater) this.#host.send(w, { t: 'push', push });
    else {
      const held = new CoalescedPushes(this.#highWater);
      held.add(push);
      this.#waiting.set(w, held);
      this.#host.whenSent(w, () => this.#flush(w));
    }
    return true;
  }

  /** The worker took what was sent: its waiting pushes go, as many as the high-water mark lets. */
  #flush(w: W): void {
    const waiting = this.#waiting.get(w);
    if (waiting === undefined) return;
    if (this.#host.dead(w)) {
      this.#waiting.delete(w);
      return;
    }
    while (this.#host.unsent(w) <= this.#highWater) {
      const push = waiting.shift();
      if (push === undefined) {
        this.#waiting.delete(w);
        return;
      }
      this.#host.send(w, { t: 'push', push });
    }
    this.#host.whenSent(w, () => this.#flush(w));
  }

  /**
   * The worker was killed: its owner is released now (a put from here on stays in its queue). The
   * items it never read wait for its exit (gone): acknowledgements it sent before the kill may
   * still be in its channel, unread, and an item it read must not be handed out again.
   */
  killed(w: W): void {
    this.#paused.delete(w);
    this.#waiting.delete(w);
    this.#deferred.delete(w);
    this.#burst.delete(w);
    const owner = this.#host.owner(w);
    this.#byOwner.delete(owner);
    this.#store.releaseOwner(owner);
  }

  /**
   * The worker exited, every message it sent handed on (channel.ts finish): its owner is released,
   * then the queue items it never read go back to the front of their queues, in their order. Released
   * first, so that none of them goes to a get of its own still waiting.
   */
  gone(w: W): void {
    this.killed(w);
    const unread = this.#unread.get(w);
    if (unread === undefined) return;
    this.#unread.delete(w);
    // Each queue's items together, in the order they were handed: put back one at a time, a get blocked
    // on an emptied queue took the first of them to go back, the newest (a reviewer's case).
    for (const [name, items] of byQueue(unread.values(), (u) => ({ value: u.item }))) this.#store.undeliveredItems(name, items);
  }
}
