/**
 * Dispatch of an authenticated client's messages: batches go to the
 * scheduler, state requests to the state service (through the client
 * instance's replays when it named itself, see replay.ts), status and stop to
 * the daemon. Every request is answered, with a coded error if need be.
 */
import {
  BadMessageError,
  FlowControlError,
  SourceDisabledError,
  ErrorCode,
  TooLargeError,
  VersionReply,
  replyDataBytes,
  EncodedValue,
  type ReplyValue,
  toCorepoolError,
  type BatchChunk,
  type ClientMessage,
  type CorepoolError,
  type ReloadResult,
  type ServerMessage,
  type StateMessage,
  type StateRequest,
  type WireError,
} from '@corepool/protocol/internal';
import type { ReplayKey, StateStore } from '../state/state-store.js';
import { ConnectionSources } from './connection-sources.js';
import type { Addressee } from './framing.js';
import type { ReplayHost, Replays } from './replay.js';
import type { Scheduler, SchedulerClient } from './scheduler.js';
import type { StateFlow } from './state-flow.js';

/** A reply carrying fewer bytes than this costs too little to time (most replies: an add's version). */
const TIMED_REPLY_BYTES = 16 * 1024;

/** The shared-state store as connections use it. */
export type StateService = Pick<StateStore, 'handle' | 'undelivered' | 'releaseOwner'>;

/** The scheduler as dispatch uses it. */
export type DispatchScheduler = Pick<Scheduler, 'open' | 'add' | 'cancel' | 'close'>;

/** What dispatch needs from the daemon. */
export interface DispatchContext {
  scheduler: DispatchScheduler;
  state: StateService;
  allowSource: boolean;
  maxPayload: number;
  /** The daemon's status as a reply's value, made after the request, at most so often (status-snapshot.ts). */
  statusReply(): Promise<EncodedValue>;
  stop(): void;
  /** A rolling reload of the workers (reload.ts); rejects with a coded error. */
  reload(graceMs: number | undefined): Promise<ReloadResult>;
  /** Told of every batch refused (session.ts). */
  onRefused?(client: { readonly name?: string } | undefined, e: CorepoolError): void;
}

/** The connection messages arrive on. */
export interface Connection extends SchedulerClient {
  /** The state owner key for this connection's locks and subscriptions. */
  readonly owner: string;
  /** False once the connection has closed. */
  readonly open: boolean;
  /** `op`: the state operation a reply answers. */
  send(m: ServerMessage, op?: string): void;
  /** The same as send({ type: 'reply', rid, ok: true, value }, op), without the object. */
  reply(rid: number, value: ReplyValue, op?: string): void;
  /** Work done for it outside its messages, charged to its share of this turn (session.ts). */
  charge?(ms: number): void;
}

/**
 * What a blocked call that times out costs the primary besides its request: its timer, its
 * removal from its line, its error and its reply (~10 us measured). Charged to its connection's
 * turn, so that a client re-posting 10,000 gets of 1-200 ms (~70,000 timeouts a second) is read
 * at the pace of its own share: its neighbour's awaited adds fell to ~2,000 in 10 s beside it.
 */
const EXPIRED_WAIT_MS = 0.01;

/**
 * Status requests one connection may have waiting for the next status: a flood of them (4,096 a frame,
 * frame after frame while the status is paced) each held a waiter, then a reply. `top` and the
 * dashboard ask one at a time.
 */
const MAX_STATUSES_ASKED = 256;

/** Dispatch of one connection's messages. */
export class Dispatch implements ReplayHost {
  readonly #conn: Connection;
  readonly #ctx: DispatchContext;
  readonly #state: StateService;
  readonly #flow: StateFlow | undefined;
  /** The task sources this connection sent: its client names them by hash afterwards. */
  readonly #sources = new ConnectionSources();
  /** The client instance's replays, once its hello named the instance. */
  replays: Replays | undefined;
  /** Status requests waiting for the next status (paced.ts, up to a second): each holds a reply to come. */
  #statusesAsked = 0;

  /** `flow`: counts the connection's state requests in flight against its window (state-flow.ts). */
  constructor(conn: Connection, ctx: DispatchContext, flow?: StateFlow) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#state = ctx.state;
    this.#flow = flow;
  }

  /** Runs a replayed request (ReplayHost: the dispatch is this connection as the replays see it, no object or closures per connection or request). */
  run(req: StateRequest, key: ReplayKey): Promise<unknown> {
    return this.#state.handle(this.#conn.owner, req, key);
  }

  /** False once the connection has closed (ReplayHost). */
  get open(): boolean {
    return this.#conn.open;
  }

  /** A queue.get's item the connection could no longer take goes back (ReplayHost). */
  handBack(req: StateRequest, value: unknown, key: ReplayKey): void {
    this.#state.undelivered(req, value, key);
  }

  /** Handles one message of an authenticated client. */
  message(msg: ClientMessage): void {
    try {
      this.#dispatch(msg);
    } catch (err) {
      // Handlers trust parsed types; anything thrown here is a bug, never a crash.
      this.#conn.send({ type: 'error', error: toCorepoolError(err).toWire() });
    }
  }

  /** Answers `e` to the request or batch `to` names (the batch ends there), or to the connection when it names neither. */
  answer(to: Addressee | undefined, e: CorepoolError): void {
    if (to?.rid !== undefined) this.#replyError(to.rid, e.toWire());
    else if (to?.id !== undefined) this.#failBatch(to.id, e);
    else this.#conn.send({ type: 'error', error: e.toWire() });
  }

  #dispatch(msg: ClientMessage): void {
    const sched = this.#ctx.scheduler;
    switch (msg.type) {
      case 'hello':
        this.#conn.send({ type: 'error', error: new BadMessageError('already authenticated').toWire() });
        return;
      case 'batch.open': {
        let err: CorepoolError | undefined;
        if (msg.task.kind === 'source' && !this.#ctx.allowSource) {
          err = new SourceDisabledError('this daemon runs with --no-source: use task(moduleUrl, exportName)');
        } else {
          // Before anything can refuse the batch: the SDK counted this message as it sent it.
          msg.task = this.#sources.resolve(msg.task);
          err = sched.open(this.#conn, msg);
        }
        if (err !== undefined) this.#conn.send({ type: 'batch.error', id: msg.id, error: err.toWire() });
        else if (msg.first !== undefined) this.#chunk(msg.first);
        return;
      }
      case 'batch.chunk':
        this.#chunk(msg);
        return;
      case 'batch.cancel':
        sched.cancel(this.#conn, msg.id);
        return;
      case 'batch.close':
        sched.close(this.#conn, msg.id);
        return;
      case 'state':
        this.#onState(msg);
        return;
      case 'ack':
        if (msg.closing !== undefined) this.replays?.closing(msg.ack, msg.closing);
        else this.replays?.acknowledge(msg.ack);
        return;
      case 'status':
        if (this.#statusesAsked >= MAX_STATUSES_ASKED) {
          this.#replyError(
            msg.rid,
            new FlowControlError(
              `${this.#statusesAsked} status requests of this connection wait for the next status, the most one may have: await one first`,
            ).toWire(),
          );
          return;
        }
        this.#statusesAsked++;
        // Made later, and shared with other requests (paced.ts): a failure reaches this request as its reply.
        this.#ctx.statusReply().then(
          (value) => {
            this.#statusesAsked--;
            if (this.#conn.open) this.#conn.send({ type: 'reply', rid: msg.rid, ok: true, value });
          },
          (err) => {
            this.#statusesAsked--;
            if (this.#conn.open) this.#replyError(msg.rid, toCorepoolError(err).toWire());
          },
        );
        return;
      case 'stop':
        this.#conn.send({ type: 'reply', rid: msg.rid, ok: true, value: true });
        this.#ctx.stop();
        return;
      case 'reload':
        this.#ctx.reload(msg.graceMs).then(
          (value) => {
            if (this.#conn.open) this.#conn.send({ type: 'reply', rid: msg.rid, ok: true, value });
          },
          (err) => {
            if (this.#conn.open) this.#replyError(msg.rid, toCorepoolError(err).toWire());
          },
        );
        return;
    }
  }

  #onState(msg: StateMessage): void {
    // The message is the request: the store reads its operation's fields, never type, rid or ack
    // (copying the rest out of it cost an object per request).
    const { rid, ack } = msg;
    const req: StateRequest = msg;
    const state = this.#state;
    const conn = this.#conn;
    const replays = this.replays;
    const flow = this.#flow;
    if (ack !== undefined) replays?.acknowledge(ack);
    let replayed: Promise<unknown> | undefined;
    let outcome: Promise<unknown>;
    try {
      replayed = replays?.outcome(rid, req, this);
      outcome = replayed ?? state.handle(conn.owner, req);
    } catch (err) {
      this.#replyError(rid, toCorepoolError(err).toWire());
      return;
    }
    flow?.sent(req);
    outcome.then(
      (value) => {
        flow?.answered(req);
        if (replayed !== undefined) replays!.settled(rid, replayed, value);
        if (!conn.open) {
          if (replayed === undefined) state.undelivered(req, value);
        } else {
          // The reply is made and written here, a turn or more after the request was handled: a large one (a
          // listing, a big value) is charged to its connection as its handling is (turn-share.ts). Uncharged, a
          // client's 20 `dict.entries()` of 8 MB were charged 6 ms of the ~650 they took (reply-charge.test.ts).
          const small = (value instanceof Uint8Array || value instanceof VersionReply) && replyDataBytes(value) < TIMED_REPLY_BYTES;
          const from = small ? 0 : performance.now();
          if (value instanceof Uint8Array || value instanceof VersionReply || value instanceof EncodedValue) conn.reply(rid, value, req.op);
          else conn.send({ type: 'reply', rid, ok: true, value }, req.op);
          if (!small) conn.charge?.(performance.now() - from);
        }
      },
      // A replayed queue.get whose connection closed first rejects with no reply to give: it goes nowhere.
      (err) => {
        flow?.answered(req);
        // The error is made only where it goes somewhere: a connection's blocked gets, carried on or gone with it, reject
        // here by the ten thousand, and an error (a stack) each for nobody was half of what a killed app's 300,000 cost.
        if (replayed !== undefined) replays!.failed(rid, replayed, err);
        if (!conn.open) return;
        const e = toCorepoolError(err);
        if (e.code === ErrorCode.E_TIMEOUT) conn.charge?.(EXPIRED_WAIT_MS);
        this.#replyError(rid, e.toWire());
      },
    );
  }

  #chunk(msg: BatchChunk): void {
    const err =
      msg.payload.length > this.#ctx.maxPayload
        ? new TooLargeError('chunk is larger than maxPayload')
        : this.#ctx.scheduler.add(this.#conn, msg);
    if (err !== undefined) this.#failBatch(msg.id, err);
  }

  /** The batch ends here, with nothing left queued. */
  #failBatch(id: number, err: CorepoolError): void {
    this.#ctx.scheduler.cancel(this.#conn, id);
    this.#ctx.onRefused?.(this.#conn, err);
    this.#conn.send({ type: 'batch.error', id, error: err.toWire() });
  }

  #replyError(rid: number, error: WireError): void {
    this.#conn.send({ type: 'reply', rid, ok: false, error });
  }
}
