/**
 * The send side of one client connection, with flow control. Messages go to
 * the socket while less than the high-water mark is buffered there; above
 * it, replies and results wait here in order (as objects, so a waiting reply
 * shares its value's bytes with the state store) and Value/Dict pushes
 * coalesce to the latest per key, within a bound (coalesced-pushes.ts), and
 * the session stops reading the client until nothing waits, so it cannot pile
 * up more requests. What waits moves
 * on when a write's callback finds the socket below the mark again; the
 * same moment is the drain event (`drained`) for whoever was told it could
 * not receive (the scheduler's results), so nobody polls. The daemon may
 * produce replies far faster than a prompt client takes them (ten gets of a
 * 7 MiB value in one tick): that alone never cuts a client off. A client is
 * cut off (E_SLOW_CONSUMER) when it takes nothing from its socket for
 * softCapMs while above the high-water mark (one timer, which the write
 * callbacks' progress puts off), or when one frame would take what is written
 * to its socket past the hard cap. A reply larger than one frame may carry is
 * answered with E_TOO_LARGE instead. What only a slow client needs (the map
 * of coalesced pushes, the soft cap's timer) is made when first needed: most
 * connections never fall behind, and a daemon holds thousands of them.
 *
 * Over 400 lines: the write path, the queue that waits above the mark and the
 * two caps are one state machine over the same counts of bytes written and
 * buffered; every message a client gets passes through it.
 */
import {
  ENVELOPE_BYTES,
  Outbox,
  TooLargeError,
  encodeMessage,
  type Push,
  EncodedValue,
  SplitMessage,
  encodeMessageSplit,
  encodeReply,
  type ReplyValue,
  type ServerMessage,
} from '@corepool/protocol/internal';
import { realClock, type Clock, type Timer } from './clock.js';
import { CoalescedPushes } from '../state/coalesced-pushes.js';
import type { HeldSend, SendBudget } from './send-budget.js';

/** The send limits of a connection. */
export interface OutflowLimits {
  /** Above this many buffered bytes, messages wait here and pushes coalesce. */
  highWater: number;
  /** What is written to the socket never goes past this. */
  hardCap: number;
  /** A client that takes nothing for this long while above highWater is cut off. */
  softCapMs: number;
  /** The largest frame the daemon sends (and the client accepts). */
  maxPayload: number;
  /** What the connections holding a megabyte or more unsent may hold together (send-budget.ts): one for the daemon. */
  shared?: SendBudget;
}

/** What the send side uses of its WebSocket (ws's; a fake in the unit tests). */
export interface OutflowSocket {
  /** Bytes handed to the socket and not yet passed on to the kernel. */
  readonly bufferedAmount: number;
  /**
   * Bytes of the writes under way the kernel has not taken yet, where the socket says (it falls as a large
   * frame goes out bit by bit, where bufferedAmount falls only once the frame is out).
   */
  readonly unsent?: number | undefined;
  /** `cb` runs once the frame has left for the kernel (or failed). A split message is one frame. */
  send(frame: Uint8Array | SplitMessage, cb: (err?: Error | null) => void): void;
}

/** What the send side asks of its session. */
export interface OutflowHost {
  /** Something waits: stop reading the client's requests. */
  pauseReading(): void;
  /** Nothing waits any more. */
  resumeReading(): void;
  /** The client does not read: close it with E_SLOW_CONSUMER (`facts` go to the log). */
  cutOff(why: string, facts: Record<string, number>): void;
  /** `canReceive()` said false since the last call, and is true again. */
  drained(): void;
  /** Work done for the client outside its messages: what waited, encoded and written once it read (turn-share.ts). */
  charge(ms: number): void;
}

/** From how many unsent bytes (or the high-water mark, if lower) a connection counts against the daemon's send budget. */
const BUDGET_FLOOR = 1024 * 1024;

/** Room for a reply's own fields (type, rid, ok, version and the field names) beside the data it carries. */
const REPLY_FIELDS_BYTES = 256;

/** What to ask for instead of a reply too large for one frame, per operation. */
const INSTEAD: Record<string, string> = {
  'dict.entries': 'read dict.keys() and then get() each key',
  'dict.keys': 'keep fewer keys in one dict (spread them over several dicts)',
  'dict.get': 'store smaller values (spread a large one over several keys)',
  'value.get': 'store a smaller value (spread a large one over several values or dict keys)',
  'queue.get': 'put smaller items',
};

interface Waiting {
  m: ServerMessage;
  /** The state operation a reply answers (named in an E_TOO_LARGE). */
  op: string | undefined;
}

/** From this many bytes of value a push is encoded once for all its subscribers (smaller ones are cheaper to encode again). */
const SHARED_PUSH_BYTES = 1024;
const encodedPushes = new WeakMap<Push, Uint8Array>();

/**
 * A push's bytes. One change's push is one object for all its subscribers: a large one is
 * encoded for the first and the same bytes go to the rest (ws writes them without copying),
 * instead of 50 encodings of a 64 KiB value for 50 subscribers.
 */
function encodePush(p: Push): Uint8Array {
  if (p.value === undefined || p.value.length < SHARED_PUSH_BYTES) return encodeMessage(p);
  let bytes = encodedPushes.get(p);
  if (bytes === undefined) encodedPushes.set(p, (bytes = encodeMessage(p)));
  return bytes;
}

/** The send side of a client connection. */
export class Outflow implements HeldSend {
  readonly #ws: OutflowSocket;
  readonly #limits: OutflowLimits;
  readonly #host: OutflowHost;
  /** Replies and pushes of one tick leave in one frame. */
  readonly #outbox = new Outbox((frame) => this.#write(frame));
  /** The data a reply may carry: as for results, one frame less room for the envelope, and within the hard cap. */
  readonly #replyLimit: number;
  /** Messages waiting for the socket to fall below the high-water mark, oldest first from #head. */
  #waiting: (Waiting | undefined)[] = [];
  #head = 0;
  /** Value/dict pushes waiting, coalesced (latest wins per kind, name and key) and bounded (coalesced-pushes.ts); made at the first. */
  #coalesced: CoalescedPushes | undefined;
  readonly #clock: Clock;
  /** Runs out softCapMs after the client last took bytes while above the high-water mark; unset below it. */
  #stallTimer: Timer | undefined;
  /** When the client last took bytes while above the high-water mark (or went above it); unset below it. */
  #aboveSince: number | undefined;
  /** Bytes handed to the socket, ever. */
  #written = 0;
  /**
   * Set while the socket holds BUDGET_FLOOR or more that the client has not taken (the send budget counts this
   * connection then): when the client last took bytes (a write's callback: its frame left for the kernel).
   */
  #heldSince: number | undefined;
  /** The socket's `unsent` when the send budget last looked (takenSince). */
  #unsentSeen: number | undefined;
  /** Bytes the socket had passed on at the last progress above the mark and at the last heartbeat. */
  #passedAbove = 0;
  #passedAtBeat = 0;
  /** The socket held bytes the kernel had not taken at the last heartbeat: its buffers were full, the ping went behind them. */
  #fullAtBeat = false;
  #closed = false;
  /** Bytes of its results waiting in the scheduler (resultsHeld). */
  #resultsHeld = 0;
  /** `canReceive()` said false: a drained() is owed once it is true again. */
  #drainOwed = false;
  /** Most bytes ever queued on this socket (reported by `status`). */
  maxSendBuffered = 0;

  /** `clock` times the soft cap (a unit test moves a fake one by hand). */
  constructor(ws: OutflowSocket, limits: OutflowLimits, host: OutflowHost, clock: Clock = realClock) {
    this.#ws = ws;
    this.#limits = limits;
    this.#host = host;
    this.#clock = clock;
    this.#replyLimit = Math.min(limits.maxPayload, limits.hardCap - limits.highWater) - ENVELOPE_BYTES;
    // The client accepts frames up to maxPayload (told in the welcome): coalesced ones stay within it.
    this.#outbox.maxFrame = limits.maxPayload;
  }

  /** Bytes queued on the socket and not yet taken by the client, and its results waiting in the scheduler for it. */
  get buffered(): number {
    return this.#ws.bufferedAmount + this.#resultsHeld;
  }

  /**
   * Its results waiting in the scheduler are `bytes` now (results.ts): the send budget counts them with the
   * socket's bytes, so a client that takes a frame now and then cannot keep gigabytes of results there.
   */
  resultsHeld(bytes: number): void {
    const more = bytes > this.#resultsHeld;
    this.#resultsHeld = bytes;
    if (this.#closed) return;
    if (more) this.#countHeld();
    else if (this.#heldSince !== undefined) this.#uncountBelowFloor();
  }

  /**
   * When the client last took bytes while it held BUDGET_FLOOR or more (the send budget cuts the stalest first).
   * A client reading a large frame slowly completes no write for a long time: the kernel taking part of the
   * frame since the last look counts too.
   */
  takenSince(): number {
    if (this.#heldSince === undefined) return this.#clock.now();
    const unsent = this.#ws.unsent;
    if (unsent !== undefined) {
      if (this.#unsentSeen !== undefined && unsent < this.#unsentSeen) this.#heldSince = this.#clock.now();
      this.#unsentSeen = unsent;
    }
    return this.#heldSince;
  }

  /** The daemon's send budget is spent, and this client has taken nothing for longest (send-budget.ts). */
  cutOffOverBudget(): void {
    this.#host.cutOff('send budget', this.#facts());
  }

  /** True while messages or pushes wait here. */
  get waiting(): boolean {
    return this.#head < this.#waiting.length || (this.#coalesced !== undefined && this.#coalesced.size > 0);
  }

  /** False while results should wait for the client to read; the host's drained() follows when it turns true. */
  canReceive(): boolean {
    if (!this.waiting && this.#room()) return true;
    this.#drainOwed = true;
    return false;
  }

  /** Sends a message now, or after what waits; `op` names the state operation a reply answers. */
  send(m: ServerMessage, op?: string): void {
    if (this.#closed) return;
    // A connection-level error is small and often explains the close that follows: it never waits.
    if (m.type === 'error' || this.#goesNow()) {
      this.#queue(this.#encode(m, op));
      return;
    }
    const first = !this.waiting;
    this.#waiting.push({ m, op });
    if (first) this.#startWaiting();
  }

  /**
   * A successful reply carrying data (`{ type: 'reply', rid, ok: true, value }`), as send() would send
   * it: encoded without making the object when it can go now and fits one reply, else through send().
   */
  reply(rid: number, value: ReplyValue, op?: string): void {
    if (this.#closed) return;
    const size = value instanceof Uint8Array || value instanceof EncodedValue ? value.length : (value.value?.length ?? 0);
    // A reply with no bytes is held to the same limit (a daemon configured with less room than a reply's fields fails them all alike).
    if (this.#goesNow() && size <= this.#replyLimit) {
      this.#outbox.reply(rid, value);
      return;
    }
    this.send({ type: 'reply', rid, ok: true, value }, op);
  }

  /** A shared-state push; coalesced per (kind, name, key) while the client reads slowly. */
  push(p: Push): void {
    if (this.#closed) return;
    if (!this.waiting && this.#room()) {
      this.#outbox.push(encodePush(p));
      return;
    }
    const first = !this.waiting;
    // What a dict's per-key pushes may hold here: as much as the socket holds before they wait.
    (this.#coalesced ??= new CoalescedPushes(this.#limits.highWater)).add(p);
    if (first) this.#startWaiting();
  }

  /**
   * At a heartbeat: true if the client took bytes since the last one while its pong could be late for a reason of
   * the daemon's side (it is alive, whatever became of that pong): the kernel's buffers for it were full at the last
   * beat, so the ping went behind what filled them, or `pongUnread` (the session stopped reading its socket since).
   * Bytes the kernel took into buffers with room are no sign of life: it takes megabytes for a client that reads
   * nothing (a process stopped with SIGSTOP, a frozen VM), and a trickle of pushes to one subscribed to a value
   * written every 20 ms passed for its reading for minutes, holding its locks that long past the heartbeat's
   * one to two intervals. Once the buffers are full, a stopped client takes nothing more.
   */
  progressedSinceBeat(pongUnread: boolean): boolean {
    const buffered = this.#ws.bufferedAmount;
    const passed = this.#written - buffered;
    const moved = passed > this.#passedAtBeat && (this.#fullAtBeat || pongUnread);
    this.#passedAtBeat = passed;
    // Node's socket hands a write to the kernel at once: bytes left over mean the kernel took no more then.
    this.#fullAtBeat = buffered > 0;
    return moved;
  }

  /** Writes what the outbox holds (before a close). */
  flush(): void {
    this.#outbox.flush();
  }

  /** The connection is gone: drop what waits. */
  close(): void {
    this.#closed = true;
    this.#limits.shared?.leave(this);
    this.#stallTimer?.cancel();
    this.#waiting = [];
    this.#head = 0;
    this.#coalesced?.clear();
    this.#outbox.clear();
  }

  /** A reply or result goes to the socket now: none waits before it (pushes may; a reply passes them), and there is room. */
  #goesNow(): boolean {
    return this.#head === this.#waiting.length && this.#room();
  }

  /** Below the high-water mark, counting what the outbox is about to write. */
  #room(): boolean {
    return this.#ws.bufferedAmount + this.#outbox.pending < this.#limits.highWater;
  }

  /**
   * Something waits (the socket is at the mark, or the outbox about to write
   * takes it there): a write's callback comes, and moves it on.
   */
  #startWaiting(): void {
    this.#host.pauseReading();
  }

  /**
   * A frame left for the kernel: room for what waits, maybe. Every frame is
   * written with this callback and has left bufferedAmount when it runs, so
   * the last callback finds the socket below the mark: what waits moves on
   * without a timer. The callbacks are also the client's progress that puts
   * the soft cap off.
   */
  readonly #afterWrite = (): void => {
    if (this.#closed) return;
    if (this.#stallTimer !== undefined) this.#progressAbove();
    if (this.#heldSince !== undefined) this.#progressHeld();
    if (!this.#room()) return;
    // What moves on now (its waiting replies encoded and written, its results sent) is the client's work, done
    // outside its messages: charged to it as they are (turn-share.ts). A client keeping large replies in flight
    // has most of them encoded here, once its socket has room.
    const from = performance.now();
    if (this.waiting) this.#drain();
    else this.#tellDrained();
    this.#host.charge(performance.now() - from);
  };

  #tellDrained(): void {
    if (!this.#drainOwed || this.#closed || this.waiting || !this.#room()) return;
    this.#drainOwed = false;
    this.#host.drained();
  }

  /** Moves waiting messages, then coalesced pushes, to the socket while it is below the mark; the rest waits for the next write's callback. */
  #drain(): void {
    const waiting = this.#waiting;
    while (this.#head < waiting.length && this.#room()) {
      const w = waiting[this.#head]!;
      waiting[this.#head++] = undefined;
      this.#queue(this.#encode(w.m, w.op));
    }
    if (this.#head < waiting.length) {
      if (this.#head >= 1024 && this.#head * 2 >= waiting.length) {
        this.#waiting = waiting.slice(this.#head);
        this.#head = 0;
      }
      return;
    }
    this.#waiting = [];
    this.#head = 0;
    const coalesced = this.#coalesced;
    if (coalesced !== undefined) {
      while (coalesced.size > 0 && this.#room()) this.#outbox.push(encodePush(coalesced.shift()!));
      if (coalesced.size > 0) return;
    }
    this.#outbox.flush();
    this.#host.resumeReading();
    this.#tellDrained();
  }

  /** To the outbox; a split message (a chunk's results) after what it holds, as a large message goes. */
  #queue(bytes: Uint8Array | SplitMessage): void {
    if (bytes instanceof SplitMessage) {
      // Until nothing is pending: a message the write queued (re-entering) goes first, as Outbox.push does.
      while (this.#outbox.pending > 0) this.#outbox.flush();
      this.#write(bytes);
    } else this.#outbox.push(bytes);
  }

  /** Encodes a message; a reply carrying more than one frame may is answered with E_TOO_LARGE instead. */
  #encode(m: ServerMessage, op: string | undefined): Uint8Array | SplitMessage {
    const max = this.#replyLimit + REPLY_FIELDS_BYTES;
    // A reply surely too large is refused before it is encoded (42 MB took the only thread over a second).
    const least = m.type === 'reply' ? leastBytes(m.value, 0) : 0;
    const encoded = m.type === 'reply' && m.value instanceof EncodedValue ? m.value : undefined;
    const bytes =
      least > max ? undefined : encoded !== undefined ? encodeReply((m as { rid: number }).rid, encoded) : encodeMessageSplit(m);
    if (bytes !== undefined && (m.type !== 'reply' || bytes.length <= max)) return bytes;
    const size = bytes === undefined ? `at least ${least}` : String(bytes.length);
    const what = op ?? 'the request';
    const err = new TooLargeError(
      `the reply to ${what} is ${size} bytes encoded, over the ${this.#replyLimit} bytes one reply may carry ` +
        `(--max-payload less ${ENVELOPE_BYTES} bytes, within the send buffer's hard cap): ${INSTEAD[what] ?? 'ask for less at once'}`,
    );
    return encodeMessage({ type: 'reply', rid: (m as { rid: number }).rid, ok: false, error: err.toWire() });
  }

  #write(frame: Uint8Array | SplitMessage): void {
    if (this.#closed) return;
    const limits = this.#limits;
    if (this.#ws.bufferedAmount + frame.length > limits.hardCap) {
      this.#host.cutOff('hard cap', this.#facts());
      return;
    }
    this.#ws.send(frame, this.#afterWrite);
    this.#written += frame.length;
    const buffered = this.#ws.bufferedAmount;
    if (buffered > this.maxSendBuffered) this.maxSendBuffered = buffered;
    if (buffered >= limits.highWater && this.#stallTimer === undefined) {
      this.#aboveSince = this.#clock.now();
      this.#passedAbove = this.#written - buffered;
      this.#stallTimer = this.#clock.after(limits.softCapMs, () => this.#checkStall());
    }
    this.#countHeld();
  }

  /**
   * Counted by the daemon's send budget from BUDGET_FLOOR on, below the mark too: many clients that stop
   * reading each fill up to the mark first. Looked at again on every write while counted.
   */
  #countHeld(): void {
    const shared = this.#limits.shared;
    if (shared === undefined || this.buffered < this.#budgetFloor) return;
    if (this.#heldSince === undefined) {
      this.#heldSince = this.#clock.now();
      this.#unsentSeen = undefined;
    }
    shared.enter(this);
  }

  /** A write's callback while the send budget counts this connection: below the floor again, it does not; else a frame taken makes it fresh. */
  #progressHeld(): void {
    if (!this.#uncountBelowFloor()) this.#heldSince = this.#clock.now();
  }

  /** Below the send budget's floor again, the connection is counted no more (true); else false. */
  #uncountBelowFloor(): boolean {
    if (this.buffered >= this.#budgetFloor) return false;
    this.#heldSince = undefined;
    this.#limits.shared?.leave(this);
    return true;
  }

  /** From how many bytes held the send budget counts this connection (BUDGET_FLOOR, or its mark if lower). */
  get #budgetFloor(): number {
    return Math.min(BUDGET_FLOOR, this.#limits.highWater);
  }

  /** A write's callback while above the mark: below it again, the soft cap is off; bytes taken put it off. */
  #progressAbove(): void {
    const buffered = this.#ws.bufferedAmount;
    if (buffered < this.#limits.highWater) {
      this.#stallTimer?.cancel();
      this.#stallTimer = undefined;
      this.#aboveSince = undefined;
      return;
    }
    const passed = this.#written - buffered;
    if (passed > this.#passedAbove) {
      this.#passedAbove = passed;
      this.#aboveSince = this.#clock.now();
    }
  }

  /**
   * The soft cap's timer: a client that took nothing for softCapMs has stopped
   * reading; one that took bytes since it was set gets softCapMs from then
   * (the timer is set again once, not on every write).
   */
  #checkStall(): void {
    this.#stallTimer = undefined;
    if (this.#closed || this.#aboveSince === undefined) return;
    if (this.#ws.bufferedAmount < this.#limits.highWater) {
      this.#aboveSince = undefined;
      return;
    }
    const left = this.#aboveSince + this.#limits.softCapMs - this.#clock.now();
    if (left > 0) {
      this.#stallTimer = this.#clock.after(left, () => this.#checkStall());
      return;
    }
    this.#host.cutOff('time above high water', this.#facts());
  }

  #facts(): Record<string, number> {
    return {
      buffered: this.#ws.bufferedAmount,
      maxSendBuffered: this.maxSendBuffered,
      aboveMs: this.#aboveSince === undefined ? 0 : this.#clock.now() - this.#aboveSince,
      waiting: this.#waiting.length - this.#head + (this.#coalesced?.size ?? 0),
    };
  }
}

/**
 * A lower bound of a reply value's encoded size, without encoding it: the
 * bytes and string characters it holds (replies are arrays and records of
 * those, a few levels deep).
 */
function leastBytes(v: unknown, depth: number): number {
  if (v instanceof Uint8Array) return v.length;
  if (v instanceof EncodedValue) return v.length;
  if (typeof v === 'string') return v.length;
  if (depth >= 3 || typeof v !== 'object' || v === null) return 0;
  let n = 0;
  if (Array.isArray(v)) {
    for (const x of v) n += leastBytes(x, depth + 1);
  } else {
    for (const x of Object.values(v)) n += leastBytes(x, depth + 1);
  }
  return n;
}
