/**
 * One client connection: authentication, message dispatch, and reading with
 * backpressure: while replies wait for the client to take earlier ones (see
 * outflow.ts), its socket is not read, so it cannot queue more requests.
 * Over 400 lines: the dispatch of every message type and the replay of state
 * requests after a reconnect belong to the connection they arrive on.
 */
import type { WebSocket } from 'ws';
import {
  AuthError,
  BadMessageError,
  CloseCode,
  CorepoolError,
  ErrorCode,
  PROTOCOL_VERSION,
  ProtocolVersionError,
  SourceDisabledError,
  TooLargeError,
  MAX_BATCH_MESSAGES,
  decodeMessage,
  parseClientMessage,
  toCorepoolError,
  RESEND_POLICY,
  type BatchChunk,
  type ClientMessage,
  type DaemonStatus,
  type Push,
  type ServerMessage,
  type StateRequest,
  type WireError,
} from '@corepool/protocol/internal';
import type { ReplayKey } from '../state/shared-state.js';
import { Outflow } from './outflow.js';
import type { InstanceReplays, ReplayTable } from './replay.js';
import type { Scheduler, SchedulerClient } from './scheduler.js';
import { tokenMatches } from './token.js';

/** The shared-state service as sessions use it. */
export interface StateService {
  /** `replayKey`: keep a write's reply in the store with the write, for a replay after a restart. */
  handle(owner: string, req: StateRequest, replayKey?: ReplayKey): Promise<unknown>;
  undelivered(req: StateRequest, value: unknown): void;
  releaseOwner(owner: string): void;
}

/** What a session needs from the daemon. */
export interface SessionContext {
  token: string;
  scheduler: Scheduler;
  state: StateService;
  allowSource: boolean;
  maxPayload: number;
  preAuthMaxPayload: number;
  authDeadlineMs: number;
  /** Ping interval: told to clients so they can tell a frozen daemon from a quiet one. */
  heartbeatMs: number;
  /** Send-buffer limits: above highWater messages wait and pushes coalesce; cut off a client that reads nothing for softCapMs, or past hardCap. */
  send: { highWater: number; hardCap: number; softCapMs: number };
  status(): DaemonStatus;
  stop(): void;
  /** The daemon's log (one JSON line per event). */
  log(line: string): void;
  /** Replies to writes that a reconnecting client may ask for again. */
  replays: ReplayTable;
  /** Called once when the session ends. */
  onClose(s: Session): void;
  onAuth(s: Session): void;
}

/** Bad frames tolerated from an authenticated client before it is disconnected. */
const MAX_BAD_FRAMES = 16;

let nextSessionId = 1;

/** A client connection. */
export class Session implements SchedulerClient {
  readonly id = nextSessionId++;
  name = '';
  authed = false;
  alive = true;
  readonly #ws: WebSocket;
  readonly #ctx: SessionContext;
  #closed = false;
  #badFrames = 0;
  /** The replayable replies of the client object behind this connection (the same across its reconnects). */
  #replays: InstanceReplays | undefined;
  #authTimer: NodeJS.Timeout | undefined;
  readonly #out: Outflow;
  /** False while replies wait to be sent: the client's socket is not read. */
  #reading = true;
  /** Messages that arrived after reading paused (already in ws's buffers), handled when it resumes. */
  #parked: unknown[] = [];

  constructor(ws: WebSocket, ctx: SessionContext) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#out = new Outflow(ws, { ...ctx.send, maxPayload: ctx.maxPayload }, {
      pauseReading: () => this.#pauseReading(),
      resumeReading: () => this.#resumeReading(),
      cutOff: (why, facts) => this.#cutOff(why, facts),
    });
    setMaxPayload(ws, ctx.preAuthMaxPayload);
    this.#authTimer = setTimeout(() => this.#reject(new AuthError('no hello within the authentication deadline')), ctx.authDeadlineMs);
    ws.on('message', (data, isBinary) => this.#onFrame(data as Buffer, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    // Mandatory: without an 'error' listener one oversized frame kills the daemon.
    ws.on('error', () => {});
    // ws closes a bad frame with a bare close code; answer it with a coded error and the code as the reason first.
    const receiver = (ws as unknown as { _receiver?: NodeJS.EventEmitter })._receiver;
    receiver?.prependListener('error', (err: Error & { code?: string }) => this.#onReceiverError(err));
    ws.on('close', () => this.#onClose());
  }

  /** The state owner key for this connection's locks and subscriptions. */
  get owner(): string {
    return `c:${this.id}`;
  }

  /** Bytes queued on the socket and not yet written. */
  get sendBuffered(): number {
    return this.#out.buffered;
  }

  /** Most bytes ever queued on this socket (reported by `status`). */
  get maxSendBuffered(): number {
    return this.#out.maxSendBuffered;
  }

  /** Sends a message now, or once the client has taken what waits before it. */
  send(m: ServerMessage): void {
    this.#out.send(m);
  }

  /** A shared-state push; coalesced per (kind, name, key) while the client reads slowly. */
  push(p: Push): void {
    this.#out.push(p);
  }

  /** False while results should wait for the client to read. */
  canReceive(): boolean {
    return this.#out.canReceive();
  }

  /** Pings the client; a client that neither answered the previous ping nor took any bytes since is terminated. */
  heartbeat(): void {
    // Taking bytes shows it is alive too: its pong may wait behind megabytes of replies, or
    // go unread while its socket is not read.
    const progressed = this.#out.progressedSinceBeat();
    if (!this.alive && !progressed) {
      if (this.authed) this.#ctx.log(JSON.stringify({ event: 'heartbeat-timeout', client: this.id }));
      this.#ws.terminate();
      return;
    }
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

  #cutOff(why: string, facts: Record<string, number>): void {
    this.#ctx.log(JSON.stringify({ event: 'slow-consumer', client: this.id, why, ...facts }));
    this.close(CloseCode.POLICY, ErrorCode.E_SLOW_CONSUMER);
  }

  #pauseReading(): void {
    this.#reading = false;
    this.#ws.pause();
  }

  #resumeReading(): void {
    if (this.#closed) return;
    this.#reading = true;
    this.#ws.resume();
    const parked = this.#parked;
    this.#parked = [];
    for (let i = 0; i < parked.length; i++) {
      if (this.#closed) return;
      if (!this.#reading) {
        // Paused again: the rest keeps its order ahead of anything that arrives meanwhile.
        this.#parked = parked.slice(i).concat(this.#parked);
        return;
      }
      this.#onMessage(parked[i]);
    }
  }

  /** A frame ws refused (too big, bad UTF-8, bad opcode, fragment flood): coded error, then the matching close. */
  #onReceiverError(err: Error & { code?: string }): void {
    if (this.#closed) return;
    const tooBig = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || err.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH' ||
      err.code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS';
    const e = tooBig ? new TooLargeError(`frame refused: ${err.message}`) : new BadMessageError(`frame refused: ${err.message}`);
    const code = tooBig ? CloseCode.TOO_BIG : err.code === 'WS_ERR_INVALID_UTF8' ? CloseCode.BAD_DATA : CloseCode.PROTOCOL_ERROR;
    this.send({ type: 'error', error: e.toWire() });
    this.close(code, e.code);
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    let decoded: unknown;
    try {
      if (!isBinary) throw new BadMessageError('text frames are not accepted: send msgpack in binary frames');
      decoded = decodeMessage(data);
    } catch (err) {
      this.#badMessage(err);
      return;
    }
    if (!Array.isArray(decoded)) {
      if (this.#reading) this.#onMessage(decoded);
      else this.#parked.push(decoded);
      return;
    }
    // Several messages coalesced into one frame (never before authentication).
    if (!this.authed || decoded.length === 0 || decoded.length > MAX_BATCH_MESSAGES) {
      this.#badMessage(new BadMessageError(`a frame may hold 1 to ${MAX_BATCH_MESSAGES} messages, after hello`));
      return;
    }
    for (let i = 0; i < decoded.length; i++) {
      if (this.#closed) return;
      if (!this.#reading) {
        for (let j = i; j < decoded.length; j++) this.#parked.push(decoded[j]);
        return;
      }
      this.#onMessage(decoded[i]);
    }
  }

  /** Answers a message that does not parse: to its request or batch when it names one (its caller would wait forever otherwise). */
  #badMessage(err: unknown, decoded?: unknown): void {
    const e = toCorepoolError(err, ErrorCode.E_BAD_MESSAGE);
    if (!this.authed) {
      this.#reject(new AuthError(`the first message must be hello with a token (${e.message})`));
      return;
    }
    const to = addressee(decoded);
    if (to?.rid !== undefined) this.#replyError(to.rid, e.toWire());
    else if (to?.id !== undefined) {
      // As for a chunk refused after parsing: the batch ends here, with nothing left queued.
      this.#ctx.scheduler.cancel(this, to.id);
      this.send({ type: 'batch.error', id: to.id, error: e.toWire() });
    }
    else this.send({ type: 'error', error: e.toWire() });
    if (++this.#badFrames > MAX_BAD_FRAMES) this.close(CloseCode.BAD_DATA, ErrorCode.E_BAD_MESSAGE);
  }

  #onMessage(decoded: unknown): void {
    let msg: ClientMessage;
    try {
      msg = parseClientMessage(decoded);
    } catch (err) {
      this.#badMessage(err, decoded);
      return;
    }
    if (!this.authed) {
      this.#hello(msg);
      return;
    }
    try {
      this.#dispatch(msg);
    } catch (err) {
      // Handlers trust parsed types; anything thrown here is a bug, never a crash.
      this.send({ type: 'error', error: toCorepoolError(err).toWire() });
    }
  }

  #hello(msg: ClientMessage): void {
    if (msg.type !== 'hello') {
      this.#reject(new AuthError(`the first message must be hello, not ${msg.type}`));
      return;
    }
    if (!tokenMatches(this.#ctx.token, msg.token)) {
      this.#reject(new AuthError('wrong token'));
      return;
    }
    if (msg.v !== PROTOCOL_VERSION) {
      this.send({ type: 'error', error: new ProtocolVersionError(`daemon speaks protocol ${PROTOCOL_VERSION}, client ${msg.v}`).toWire() });
      this.close(CloseCode.PROTOCOL_ERROR, ErrorCode.E_PROTOCOL_VERSION);
      return;
    }
    clearTimeout(this.#authTimer);
    this.authed = true;
    this.name = msg.name ?? '';
    if (msg.instance !== undefined) this.#replays = this.#ctx.replays.attach(msg.instance);
    setMaxPayload(this.#ws, this.#ctx.maxPayload);
    this.#ctx.onAuth(this);
    this.send({ type: 'welcome', v: PROTOCOL_VERSION, clientId: this.id, workers: this.#ctx.scheduler.workerCount(), pid: process.pid, maxPayload: this.#ctx.maxPayload, heartbeatMs: this.#ctx.heartbeatMs });
  }

  #reject(err: CorepoolError): void {
    clearTimeout(this.#authTimer);
    if (this.#closed) return;
    this.send({ type: 'error', error: err.toWire() });
    this.close(CloseCode.POLICY, err.code);
  }

  #dispatch(msg: ClientMessage): void {
    const sched = this.#ctx.scheduler;
    switch (msg.type) {
      case 'hello':
        this.send({ type: 'error', error: new BadMessageError('already authenticated').toWire() });
        return;
      case 'batch.open': {
        let err: CorepoolError | undefined;
        if (msg.task.kind === 'source' && !this.#ctx.allowSource) {
          err = new SourceDisabledError('this daemon runs with --no-source: use task(moduleUrl, exportName)');
        } else {
          err = sched.open(this, msg);
        }
        if (err !== undefined) this.send({ type: 'batch.error', id: msg.id, error: err.toWire() });
        else if (msg.first !== undefined) this.#chunk(msg.first);
        return;
      }
      case 'batch.chunk':
        this.#chunk(msg);
        return;
      case 'batch.cancel':
        sched.cancel(this, msg.id);
        return;
      case 'batch.close':
        sched.close(this, msg.id);
        return;
      case 'state': {
        const { rid, type: _t, ack, ...req } = msg;
        if (ack !== undefined) this.#replays?.acknowledge(ack);
        let outcome: Promise<unknown>;
        try {
          outcome = this.#stateOutcome(rid, req);
        } catch (err) {
          this.#replyError(rid, toCorepoolError(err).toWire());
          return;
        }
        const decided = this.#replays !== undefined && req.op === 'queue.get';
        outcome.then(
          (value) => {
            if (!this.#closed) this.#out.send({ type: 'reply', rid, ok: true, value }, req.op);
            else if (!decided) this.#ctx.state.undelivered(req, value);
          },
          (err) => {
            if (err !== REDO) this.#replyError(rid, toCorepoolError(err).toWire());
          },
        );
        return;
      }
      case 'status':
        this.send({ type: 'reply', rid: msg.rid, ok: true, value: this.#ctx.status() });
        return;
      case 'stop':
        this.send({ type: 'reply', rid: msg.rid, ok: true, value: true });
        this.#ctx.stop();
        return;
    }
  }

  /**
   * The outcome of a state request: run now, or, for a write or a queue.get
   * sent again after a reconnect, the outcome of its first run (throws when
   * that is too old to know).
   */
  #stateOutcome(rid: number, req: StateRequest): Promise<unknown> {
    const replays = this.#replays;
    if (replays === undefined || RESEND_POLICY[req.op] !== 'replay') return this.#ctx.state.handle(this.owner, req);
    const earlier = replays.get(rid);
    const run = (): Promise<unknown> => this.#ctx.state.handle(this.owner, req, [replays.instance, rid]);
    let outcome: Promise<unknown>;
    if (req.op !== 'queue.get') {
      if (earlier !== undefined) return earlier;
      outcome = run();
    } else {
      // A queue.get's item belongs to the connection that can still answer: if this one closed
      // first, the item goes back (and its kept reply goes, in the same commit) and a resend of the
      // request takes one afresh. The last connection to carry the request decides, so an item is
      // handed out once; a daemon restarted after the item was taken answers from the kept reply.
      const taken = earlier === undefined ? run() : earlier.catch((err: unknown) => (err === REDO ? run() : Promise.reject(err)));
      const redo = (): never => {
        replays.forget(rid);
        throw REDO;
      };
      outcome = taken.then(
        (value) => {
          if (!this.#closed) return value;
          this.#ctx.state.undelivered(req, value);
          return redo();
        },
        (err: unknown) => (this.#closed ? redo() : Promise.reject(err)),
      );
    }
    replays.remember(rid, outcome, true);
    return outcome;
  }

  #chunk(msg: BatchChunk): void {
    const sched = this.#ctx.scheduler;
    const err = msg.payload.length > this.#ctx.maxPayload ? new TooLargeError('chunk is larger than maxPayload') : sched.add(this, msg);
    if (err !== undefined) {
      sched.cancel(this, msg.id);
      this.send({ type: 'batch.error', id: msg.id, error: err.toWire() });
    }
  }

  #replyError(rid: number, error: WireError): void {
    this.send({ type: 'reply', rid, ok: false, error });
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#authTimer);
    this.#out.close();
    this.#parked = [];
    this.#ctx.scheduler.dropClient(this);
    this.#ctx.state.releaseOwner(this.owner);
    if (this.#replays !== undefined) this.#ctx.replays.detach(this.#replays);
    this.#ctx.onClose(this);
  }
}

/**
 * ws fixes maxPayload per server; a connection gets a tiny limit until it
 * authenticates, so unauthenticated peers cannot make the daemon buffer 8 MiB each.
 */
function setMaxPayload(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (receiver !== undefined && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

/** The request id (state, status, stop) or batch id (batch.*) a malformed message carries, if any. */
function addressee(decoded: unknown): { rid?: number; id?: number } | undefined {
  if (typeof decoded !== 'object' || decoded === null) return undefined;
  const { type, rid, id } = decoded as { type?: unknown; rid?: unknown; id?: unknown };
  const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if ((type === 'state' || type === 'status' || type === 'stop') && isId(rid)) return { rid };
  if (typeof type === 'string' && type.startsWith('batch.') && isId(id)) return { id };
  return undefined;
}

/** A queue.get that did not hand its item to its connection: not an outcome to replay. */
const REDO = Symbol('redo');
