/**
 * One client connection, as the coordinator of its parts: frames become
 * messages in framing.ts, the first one authenticates the client
 * (authentication.ts), the rest go to dispatch.ts, and everything sent leaves
 * through the send buffer (outflow.ts). Reading has backpressure: while
 * replies wait for the client to take earlier ones, or while it has too many
 * state requests unanswered (state-flow.ts), its socket is not read, so it
 * cannot queue more requests; messages ws had already received wait here
 * (parked) until reading resumes. Reading also pauses until a later turn once
 * the connection's messages have taken its share of this one (turn-share.ts),
 * so that one client's frame of thousands of requests does not make every
 * other client wait for all of them.
 *
 * A daemon holds thousands of idle connections, so the session is itself the
 * host its parts call back (OutflowHost, AuthenticationHost, FramingHost),
 * through methods shared by every session rather than closures and host
 * objects bound per connection, and what only a busy connection needs is
 * made when it is first needed. That is why the file passes 400 lines: each
 * part's host methods (and the receive budget's, receive-budget.ts) are here,
 * not in per-connection objects of their own.
 */
import type { Logger } from '../logger.js';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import {
  BadMessageError,
  CloseCode,
  ErrorCode,
  LimitError,
  PROTOCOL_VERSION,
  type CorepoolError,
  type Push,
  type ServerMessage,
  type ReplyValue,
} from '@corepool/protocol/internal';
import { Authentication, type AuthenticationHost } from './authentication.js';
import { steer, type SteeringPolicy } from './client-steering.js';
import type { LogThrottle } from './log-throttle.js';
import { Dispatch, type DispatchContext, type DispatchScheduler, type StateService } from './dispatch.js';
import { Framing, REFUSED, type Addressee, type FramingHost } from './framing.js';
import { StateFlow, type StateFlowHost } from './state-flow.js';
import { RECEIVED_BYTE_MS, TurnBudgets, TurnShare, type TurnPayer } from './turn-share.js';
import { ignore } from '../ignore.js';
import { frameWriter } from './frame-writer.js';
import { Outflow, type OutflowHost, type OutflowLimits } from './outflow.js';
import type { InstanceReplays } from './replay.js';
import type { ReplayTable } from './replay-table.js';
import type { Scheduler, SchedulerClient } from './scheduler.js';
import type { ReceiveBudget, Receiver } from './receive-budget.js';
import { onRefusedFrame, receivedFragments, receivingBytes, setFrameLimit } from './ws-receiver.js';

export type { StateService } from './dispatch.js';

/** The scheduler as a session uses it. */
export type SessionScheduler = DispatchScheduler & Pick<Scheduler, 'dropClient' | 'workerCount' | 'soloChunkMs'>;

/** What a session needs from the daemon. */
export interface SessionContext {
  token: string;
  scheduler: SessionScheduler;
  state: StateService;
  /** Most state requests a client has unanswered before its socket is not read (state-flow.ts). */
  stateWindow: number;
  allowSource: boolean;
  maxPayload: number;
  preAuthMaxPayload: number;
  authDeadlineMs: number;
  /** Ping interval: told to clients so they can tell a frozen daemon from a quiet one. */
  heartbeatMs: number;
  /** What all connections' unfinished incoming messages may hold together (receive-budget.ts). */
  receiving: ReceiveBudget;
  /** Send-buffer limits: above highWater messages wait and pushes coalesce; cut off a client that reads nothing for softCapMs, or past hardCap; frames up to maxPayload. */
  send: OutflowLimits;
  statusReply: DispatchContext['statusReply'];
  stop(): void;
  reload: DispatchContext['reload'];
  /** The daemon's log (one JSON line per event). */
  log: Logger;
  /** The operator's weights and worker caps (client-steering.ts). */
  steering: SteeringPolicy;
  /** Bounds the `client-steering` lines a client reconnecting in a loop can write (log-throttle.ts), keyed by the warning less its numbers. */
  steeringLog: LogThrottle;
  /** Replies to writes that a reconnecting client may ask for again. */
  replays: Pick<ReplayTable, 'attach' | 'detach' | 'end'>;
  /** Called once when the session ends. */
  onClose(s: Session): void;
  onAuth(s: Session): void;
  /** The session's `canReceive()` said false and is true again: results may flow to it. */
  onDrain(s: Session): void;
  /** Told of every request or connection refused (for status and metrics); `client` once it has authenticated. */
  onRefused?(client: { readonly name?: string } | undefined, e: CorepoolError): void;
}

/** Fragments one message may come in: the SDK sends one frame a message, and each fragment costs ws a Buffer object. */
const MAX_FRAGMENTS = 1024;

/** The session a socket was handed to (what the one 'data' listener shared by every socket reads). */
const SESSION = Symbol('corepool.session');

/** Why reading is paused: replies wait to be sent, too many state requests to be answered, or its turn is used. */
const HELD_BY_OUTFLOW = 1;
const HELD_BY_STATE = 2;
const HELD_BY_TURN = 4;

/**
 * The turn as sessions count it: from the first message any session handles
 * to the immediate that ends it (one for all sessions, made by that first
 * message). Only the time spent handling a connection's messages is charged
 * to it, so the turn's length does not matter (it may take in a poll phase).
 */
let turn = 0;
let turnEnding = false;
function endTurn(): void {
  turn++;
  turnEnding = false;
}

let nextSessionId = 1;

/** Every session's turn budget, shorter while a light connection is about (turn-share.ts). */
const budgets = new TurnBudgets();

/** The first charge of a turn, of any session or payer, arms the turn's end. */
function turnStarts(): void {
  if (!turnEnding) {
    turnEnding = true;
    setImmediate(endTurn);
  }
}

/**
 * A share of the primary's turns for work that is no connection's: a worker lent to another daemon,
 * whose tasks' state requests are its owner's app's, a client of that daemon (cluster mode). It pays
 * as a connection does, in the same turns; without it they were charged to nobody and never paused.
 */
export function turnPayer(): TurnPayer {
  const share = new TurnShare(budgets, nextSessionId++);
  return {
    charge(ms: number, messages = 0): void {
      turnStarts();
      share.charge(turn, ms, messages);
    },
    spent(): boolean {
      turnStarts();
      return share.spent(turn);
    },
  };
}

/** A client connection. */
export class Session implements SchedulerClient, OutflowHost, AuthenticationHost, FramingHost, StateFlowHost, Receiver, TurnPayer {
  readonly id = nextSessionId++;
  /** What its unfinished incoming message holds, as the receive budget counts it. */
  held = 0;
  name = '';
  /** Granted at hello (client-steering.ts); the scheduler reads them when the client opens its first batch. */
  weight = 1;
  maxWorkers: number | undefined;
  nameMaxWorkers: number | undefined;
  alive = true;
  readonly #ws: WebSocket;
  readonly #ctx: SessionContext;
  #closed = false;
  /** The replayable replies of the client object behind this connection (the same across its reconnects). */
  #replays: InstanceReplays | undefined;
  readonly #out: Outflow;
  readonly #auth: Authentication;
  readonly #framing: Framing;
  readonly #dispatch: Dispatch;
  /** False while replies wait to be sent or state requests to be answered: the client's socket is not read. */
  #reading = true;
  /** HELD_BY_* bits: reading resumes once none is set. */
  #holds = 0;
  /** Reading was held since the last heartbeat: a pong may have waited unread in the socket. */
  #heldSinceBeat = false;
  /** Messages that arrived after reading paused (already in ws's buffers), handled when it resumes; made at the first one. */
  #parked: unknown[] | undefined;
  /** Where the parked messages not yet handled start. */
  #parkedFrom = 0;
  /** Its share of the turn: what its messages (and the work charged to it) took (turn-share.ts). */
  readonly #share = new TurnShare(budgets, this.id);

  /** Sessions whose turn's budget ran out, read again next turn (one immediate for all, no closure per session). */
  static #yielded: Session[] = [];
  static readonly #resumeYielded = (): void => {
    const yielded = Session.#yielded;
    Session.#yielded = [];
    for (const s of yielded) s.#release(HELD_BY_TURN);
  };

  /** After ws's own listener has parsed what was read: what its parser holds now is counted. One function for every socket. */
  static readonly #onSocketData = function (this: Duplex & { [SESSION]?: Session }): void {
    const s = this[SESSION];
    if (s !== undefined) s.#received();
  };

  /** `ctx` is shared by every session of a server (nothing in it is per connection); `socket` is the one `ws` took at its upgrade. */
  constructor(ws: WebSocket, ctx: SessionContext, socket: Duplex) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#out = new Outflow(frameWriter(ws, socket), ctx.send, this);
    this.#auth = new Authentication(ctx, this);
    this.#framing = new Framing(this);
    this.#dispatch = new Dispatch(this, ctx, new StateFlow(this, ctx.stateWindow));
    ws.on('message', (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    // Mandatory: without an 'error' listener one oversized frame kills the daemon.
    ws.on('error', ignore);
    // ws closes a bad frame with a bare close code; answer it with a coded error and the code as the reason first.
    onRefusedFrame(ws, (err) => {
      if (!this.#closed) this.#framing.refused(err);
    });
    ws.on('close', (code) => this.#onClose(code));
    (socket as Duplex & { [SESSION]?: Session })[SESSION] = this;
    socket.on('data', Session.#onSocketData);
  }

  #received(): void {
    if (this.#closed) return;
    const bytes = receivingBytes(this.#ws);
    if (bytes !== this.held) this.#ctx.receiving.update(this, bytes);
    if (bytes > 0 && receivedFragments(this.#ws) > MAX_FRAGMENTS) {
      this.refuse(new BadMessageError(`a message came in more than ${MAX_FRAGMENTS} fragments`), CloseCode.POLICY);
    }
  }

  /** Unfinished messages hold the receive budget, and this one has held part of it the longest (Receiver). */
  evict(budgetBytes: number): void {
    this.#ctx.log.warn({ event: 'receive-budget', client: this.id, budgetBytes });
    this.refuse(
      new LimitError(
        `the daemon holds ${Math.round(budgetBytes / 2 ** 20)} MiB of unfinished messages from its clients, its most: ` +
          "this connection's, unfinished the longest, is dropped",
      ),
      CloseCode.TRY_AGAIN_LATER,
    );
  }

  /** True once the client has authenticated. */
  get authed(): boolean {
    return this.#auth.authed;
  }

  /** False once the connection has closed. */
  get open(): boolean {
    return !this.#closed;
  }

  /** The state owner key for this connection's locks and subscriptions. */
  get owner(): string {
    return `c:${this.id}`;
  }

  /** Bytes queued on the socket and not yet written, and its results waiting to be (results.ts). */
  get sendBuffered(): number {
    return this.#out.buffered;
  }

  /** Most bytes ever queued on this socket (reported by `status`). */
  get maxSendBuffered(): number {
    return this.#out.maxSendBuffered;
  }

  /** Sends a message now, or once the client has taken what waits before it; `op` names the state operation a reply answers. */
  send(m: ServerMessage, op?: string): void {
    this.#out.send(m, op);
  }

  /** A successful reply carrying data: the same as send({ type: 'reply', rid, ok: true, value }, op), cheaper. */
  reply(rid: number, value: ReplyValue, op?: string): void {
    this.#out.reply(rid, value, op);
  }

  /** A shared-state push; coalesced per (kind, name, key) while the client reads slowly. */
  push(p: Push): void {
    this.#out.push(p);
  }

  /** False while results should wait for the client to read; the context's onDrain follows when it turns true. */
  canReceive(): boolean {
    return this.#out.canReceive();
  }

  /** Its results waiting in the scheduler: counted with its socket's bytes by the send budget. */
  resultsWaiting(bytes: number): void {
    this.#out.resultsHeld(bytes);
  }

  /** Pings the client; a client that neither answered the previous ping nor took bytes its pong may wait behind since is terminated. */
  heartbeat(): void {
    // Taking bytes shows it is alive too where its pong may be late: behind megabytes of replies
    // (Outflow.progressedSinceBeat), or unread while its socket was not read.
    const progressed = this.#out.progressedSinceBeat(this.#heldSinceBeat);
    if (!this.alive && !progressed) {
      if (this.authed) this.#ctx.log.info({ event: 'heartbeat-timeout', client: this.id });
      this.#ws.terminate();
      return;
    }
    this.#heldSinceBeat = !this.#reading;
    this.alive = false;
    try {
      this.#ws.ping();
    } catch {
      /* closing */
    }
  }

  /** Closes the connection with a close code and an error code as the reason. */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#out.flush(); // the error that explains the close goes first
    this.#ws.close(code, reason);
    // A peer that never answers the close frame must not hold the socket.
    setTimeout(() => this.#ws.terminate(), 1000).unref();
    this.#onClose();
  }

  /** Sends `e`, then closes with `code` and e's code as the reason (AuthenticationHost, FramingHost). */
  refuse(e: CorepoolError, code: number): void {
    if (this.#closed) return;
    this.#ctx.onRefused?.(this.authed ? this : undefined, e);
    this.send({ type: 'error', error: e.toWire() });
    this.close(code, e.code);
  }

  /** The largest frame payload the client may send from now on (AuthenticationHost). */
  setFrameLimit(bytes: number): void {
    setFrameLimit(this.#ws, bytes);
  }

  /** The first message did not parse, so it is no hello (FramingHost). */
  notHello(e: CorepoolError): void {
    this.#auth.notHello(e);
  }

  /** Answers `e` to the request or batch `to` names, or to the connection (FramingHost). */
  answer(to: Addressee | undefined, e: CorepoolError): void {
    this.#dispatch.answer(to, e);
  }

  /** The client does not read: closed with E_SLOW_CONSUMER (OutflowHost). */
  cutOff(why: string, facts: Record<string, number>): void {
    this.#ctx.log.warn({ event: 'slow-consumer', client: this.id, why, ...facts });
    this.close(CloseCode.POLICY, ErrorCode.E_SLOW_CONSUMER);
  }

  /** Results may flow to this client again (OutflowHost). */
  drained(): void {
    this.#ctx.onDrain(this);
  }

  /** Replies wait: the client's socket is not read (OutflowHost). */
  pauseReading(): void {
    this.#hold(HELD_BY_OUTFLOW);
  }

  /** Nothing waits: the socket is read again, parked messages first, unless its state requests hold it too (OutflowHost). */
  resumeReading(): void {
    this.#release(HELD_BY_OUTFLOW);
  }

  /** Too many state requests unanswered: the client's socket is not read (StateFlowHost). */
  hold(): void {
    this.#hold(HELD_BY_STATE);
  }

  /** Few enough again (StateFlowHost). */
  release(): void {
    this.#release(HELD_BY_STATE);
  }

  #hold(by: number): void {
    this.#holds |= by;
    this.#heldSinceBeat = true;
    this.#reading = false;
    this.#ws.pause();
  }

  #release(by: number): void {
    this.#holds &= ~by;
    if (this.#holds !== 0 || this.#closed) return;
    this.#reading = true;
    this.#ws.resume();
    const parked = this.#parked;
    if (parked === undefined) return;
    // What parks meanwhile goes after the rest, in the same array. Paused again, the rest stays
    // where it is (a frame of 4,096 handled a turn's budget at a time was copied at every yield);
    // the array is let go once drained, and nothing is read into it until then.
    for (let i = this.#parkedFrom; i < parked.length; i++) {
      if (this.#closed) return;
      if (!this.#ready()) {
        this.#parkedFrom = i;
        return;
      }
      this.#handle(parked[i]);
    }
    this.#parked = undefined;
    this.#parkedFrom = 0;
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    // Closed by the daemon (the client's close frame not read yet): what still arrives is not handled.
    if (this.#closed) return;
    const from = performance.now();
    const decoded = this.#framing.decode(data, isBinary);
    // Reading and decoding the frame are this connection's work too (turn-share.ts).
    this.charge(performance.now() - from + data.length * RECEIVED_BYTE_MS);
    if (decoded === REFUSED) return;
    if (!Array.isArray(decoded)) {
      if (this.#ready()) this.#handle(decoded);
      else (this.#parked ??= []).push(decoded);
      return;
    }
    for (let i = 0; i < decoded.length; i++) {
      if (this.#closed) return;
      if (!this.#ready()) {
        const parked = (this.#parked ??= []);
        for (let j = i; j < decoded.length; j++) parked.push(decoded[j]);
        return;
      }
      this.#handle(decoded[i]);
    }
  }

  /** One message handled, its time charged to this connection's turn. */
  #handle(decoded: unknown): void {
    turnStarts();
    const from = performance.now();
    this.#onMessage(decoded);
    this.#share.charge(turn, performance.now() - from, 1);
  }

  /** Work done for this connection outside its messages (a blocked call timing out), counted as if it had handled one (Connection). */
  charge(ms: number, messages = 0): void {
    turnStarts();
    this.#share.charge(turn, ms, messages);
  }

  /** The primary's time spent and charged for it since it connected (turn-share.ts), in ms. */
  get primaryMs(): number {
    return this.#share.total;
  }

  /** Its share of the turns, as its tasks' state requests are charged to it (SchedulerClient). */
  get turns(): TurnPayer {
    return this;
  }

  /** True while this turn's share is spent: its tasks' state requests wait for a later turn too (TurnPayer). */
  spent(): boolean {
    if (this.#closed) return false;
    turnStarts();
    return this.#share.spent(turn);
  }

  /**
   * Whether the next message may be handled now: not while reading is held,
   * nor once this connection's messages have taken their share of this
   * turn (then reading is held until a later turn, the rest parked as under
   * any other hold). Never held for a socket that closes: paused, the client's
   * close frame would not be read, and it would wait for the terminate timer.
   */
  #ready(): boolean {
    if (this.#reading && this.#share.spent(turn) && this.#ws.readyState === this.#ws.OPEN) {
      // The turn must end for a later one to pay the debt: with no message handled in it (a
      // connection held by its debt alone, the daemon otherwise idle), nothing else ends it,
      // and the connection would never be read again (its pings unanswered, its client gone).
      turnStarts();
      this.#hold(HELD_BY_TURN);
      if (Session.#yielded.push(this) === 1) setImmediate(Session.#resumeYielded);
    }
    return this.#reading;
  }

  #onMessage(decoded: unknown): void {
    const msg = this.#framing.parse(decoded);
    if (msg === undefined) return;
    if (this.authed) {
      this.#dispatch.message(msg);
      return;
    }
    const hello = this.#auth.hello(msg);
    if (hello === undefined) return;
    this.name = hello.name ?? '';
    const steering = steer(hello, this.#ctx.steering);
    this.weight = steering.weight;
    this.maxWorkers = steering.maxWorkers;
    this.nameMaxWorkers = steering.nameMaxWorkers;
    const suppressed = steering.warning === undefined ? undefined : this.#ctx.steeringLog.admit(steering.warning.replace(/\d+/g, '#'));
    if (steering.warning !== undefined && suppressed !== undefined)
      this.#ctx.log.warn(
        {
          event: 'client-steering',
          client: this.id,
          name: this.name,
          warning: steering.warning,
          ...(suppressed > 0 ? { suppressed } : {}),
        },
        steering.warning,
      );
    if (hello.instance !== undefined) {
      this.#replays = this.#ctx.replays.attach(hello.instance);
      this.#dispatch.replays = this.#replays;
    }
    this.#ctx.onAuth(this);
    this.send({
      type: 'welcome',
      v: PROTOCOL_VERSION,
      clientId: this.id,
      workers: this.#ctx.scheduler.workerCount(),
      pid: process.pid,
      maxPayload: this.#ctx.maxPayload,
      heartbeatMs: this.#ctx.heartbeatMs,
      acks: true,
      closingAcks: true,
      soloChunkMs: this.#ctx.scheduler.soloChunkMs(),
      ...(this.#ctx.allowSource ? { sourcesByHash: true as const } : {}),
      weight: steering.weight,
      ...(steering.maxWorkers === undefined ? {} : { maxWorkers: steering.maxWorkers }),
      ...(steering.warning === undefined ? {} : { warning: steering.warning }),
    });
  }

  /** `code`: the close code the client sent, when the close is its own (the daemon's close() comes here first, without one). */
  #onClose(code?: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#auth.end();
    this.#out.close();
    this.#ctx.receiving.drop(this);
    this.#parked = undefined;
    this.#parkedFrom = 0;
    this.#ctx.scheduler.dropClient(this);
    this.#ctx.state.releaseOwner(this.owner);
    if (this.#replays !== undefined) {
      if (code === CloseCode.NORMAL) {
        this.#replays.closedByClient();
        this.#ctx.replays.end(this.#replays);
      } else this.#ctx.replays.detach(this.#replays);
    }
    this.#ctx.onClose(this);
  }
}
