/**
 * One logical connection to the daemon over as many sockets as it takes:
 * authenticates with `hello`, and after an unexpected close reconnects with
 * backoff and jitter until `reconnectTimeoutMs`, telling its owner when the
 * link is down and when it is back (so batches and subscriptions resume).
 * Given several daemon URLs it fails over along them: the first open takes
 * the first that answers; after a drop it tries the next URL at once, then
 * the rest of the list round to the one it lost, and only between rounds
 * waits the backoff. Where it is back does not matter to its owner: what
 * survives a reconnect (batches, subscriptions, unanswered writes) survives
 * a move to another daemon.
 *
 * Over 400 lines: opening, the liveness check, reconnecting and failing over
 * change the same socket and attempt state, and each must see the others'
 * (a close during an open, a silent daemon during a failover).
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import {
  AuthError,
  ClosedError,
  CloseCode,
  ConnectionError,
  type CorepoolError,
  DEFAULT_MAX_PAYLOAD,
  ErrorCode,
  LARGEST_MAX_PAYLOAD,
  PROTOCOL_VERSION,
  ShuttingDownError,
  TooManyClientsError,
  Outbox,
  SplitMessage,
  encodeMessageSplit,
  decodeMessage,
  encodeMessage,
  errorClass,
  fromWire,
  isErrorCode,
  parseServerMessage,
  callUser,
  type ClientMessage,
  type ServerMessage,
  type Welcome,
} from '@corepool/protocol/internal';
import { backoff } from './backoff.js';
import { maskFor } from './frame-mask.js';
import { frameSender } from './frame-writer.js';

/** What the connection tells its owner. */
export interface ConnectionEvents {
  message(m: ServerMessage): void;
  /** Authenticated (first time or after a reconnect). */
  up(welcome: Welcome, reconnected: boolean): void;
  /** The socket closed unexpectedly; reconnecting. */
  down(err: CorepoolError): void;
  /** Gave up for good (a refused token or protocol): nothing more will be delivered. */
  fatal(err: CorepoolError): void;
  /** No daemon answered within reconnectTimeoutMs: offline until `revive()`. */
  expired(err: CorepoolError): void;
}

/**
 * The part of a ws WebSocket the connection uses. A unit test hands in a fake
 * through `openSocket`, as ws tests its Receiver without a network.
 */
export interface Socket {
  readonly readyState: number;
  binaryType: 'nodebuffer' | 'arraybuffer' | 'fragments';
  send(data: Uint8Array): void;
  close(code?: number): void;
  terminate(): void;
  /** A ping of the client's own (while a lock is held: see ConnectionOptions.guarded); a fake may leave it out. */
  ping?(): void;
  on(event: 'open' | 'ping' | 'pong', listener: () => void): this;
  on(event: 'upgrade', listener: (res: IncomingMessage) => void): this;
  on(event: 'message', listener: (data: Buffer) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  once(event: 'close', listener: () => void): this;
}

/** Opens a socket to `url` (a ws WebSocket unless a test says otherwise). */
export type OpenSocket = (url: string, options: WebSocket.ClientOptions) => Socket;

const openWebSocket: OpenSocket = (url, options) => new WebSocket(url, options);

export interface ConnectionOptions {
  /** The daemons to try, in order (at least one). */
  urls: readonly string[];
  token: string;
  name: string;
  /** The client object's id, sent on every socket: the daemon keeps its writes' replies for a replay. */
  instance: string;
  reconnectTimeoutMs: number;
  openSocket?: OpenSocket | undefined;
  /** Asked of the daemon in every hello (it may grant less). */
  weight?: number | undefined;
  maxWorkers?: number | undefined;
  /**
   * True while something relies on the daemon still hearing this client (a lock grant): the
   * link is then checked with pings of the client's own, and given up on once none is answered
   * for half a ping interval, before the daemon (which drops a client it has not heard from for
   * one to two intervals) could release the lock and grant it to another.
   */
  guarded?: (() => boolean) | undefined;
  /**
   * Why the token must not go to `url` now (undefined: it may). Asked at every (re)connect, once the socket
   * is open and before the hello: a data dir's own token goes only to the daemon that data dir records,
   * while it runs (connect.ts), not to whatever took its port after it died.
   */
  refuseToken?: ((url: string) => string | undefined) | undefined;
}

/** The daemon link with reconnect. */
export class Connection {
  readonly #opts: ConnectionOptions;
  readonly #events: ConnectionEvents;
  #ws: Socket | undefined;
  #ready = false;
  #closing = false;
  #everUp = false;
  #downSince = 0;
  /** Reconnect attempts since the link was lost (a round is one attempt per URL). */
  #attempt = 0;
  /** Index in `urls` of the daemon in use or being tried. */
  #index = 0;
  /** The URL whose link was lost last (named by the error if no reconnect succeeds), and why it was lost. */
  #lostUrl: string | undefined;
  #lostBy: CorepoolError | undefined;
  /** The reconnect window ran out: no socket, none being tried, until `revive()`. */
  #offline = false;
  /** Why each URL failed the first open, for the error when none answered. */
  readonly #openFailures: CorepoolError[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Set by every frame and ping from the daemon; the heartbeat check clears it. */
  #heard = true;
  /** This socket's coalescing queue: messages of one tick leave in one frame. */
  #outbox: Outbox | undefined;
  /** How the socket's frames are written (the outbox's too); a split message goes through it directly. */
  #sendFrame: ((frame: Uint8Array | SplitMessage) => void) | undefined;

  constructor(opts: ConnectionOptions, events: ConnectionEvents) {
    if (opts.urls.length === 0) throw new RangeError('Connection needs at least one URL');
    this.#opts = opts;
    this.#events = events;
  }

  /** The URL of the daemon in use (while the link is down: the one being tried). */
  get url(): string {
    return this.#opts.urls[this.#index]!;
  }

  /** Opens the first socket; rejects if it cannot authenticate. */
  open(): Promise<Welcome> {
    return new Promise((resolve, reject) => this.#connect(resolve, reject));
  }

  /** True while a socket is open and past its hello: what is sent now may be answered. */
  get up(): boolean {
    return this.#ready;
  }

  /** True once the reconnect window ran out with no daemon back, until `revive()`. */
  get offline(): boolean {
    return this.#offline;
  }

  /**
   * Tries again after the reconnect window ran out, with a new window: a long-running service
   * must not need a restart because its daemon was away longer than the window once.
   */
  revive(): void {
    if (!this.#offline || this.#closing) return;
    this.#offline = false;
    this.#downSince = Date.now();
    this.#attempt = 0;
    this.#connect();
  }

  /** Sends a message; false if the link is down (the caller resends after `up`). */
  send(m: ClientMessage): boolean {
    if (!this.#ready || this.#outbox === undefined || this.#sendFrame === undefined) return false;
    const bytes = encodeMessageSplit(m);
    if (bytes instanceof SplitMessage) {
      // A chunk of items, its bytes not copied: after what the outbox holds, as a large message goes (Outbox.push).
      while (this.#outbox.pending > 0) this.#outbox.flush();
      this.#sendFrame(bytes);
    } else this.#outbox.push(bytes);
    return true;
  }

  /** Closes for good, after what was sent before (close()'s last ack goes ahead of the close frame). */
  close(): Promise<void> {
    if (this.#ready) while ((this.#outbox?.pending ?? 0) > 0) this.#outbox!.flush();
    this.#closing = true;
    this.#ready = false;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      ws.once('close', () => resolve());
      ws.close(CloseCode.NORMAL);
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000).unref();
    });
  }

  /**
   * A daemon that is frozen (SIGSTOP, a hung host) keeps the TCP connection open and says
   * nothing: without its pings for two intervals the socket is dropped, and the usual
   * reconnect (or, past reconnectTimeoutMs, E_CONNECTION) follows instead of waiting forever.
   */
  #watchHeartbeat(ws: Socket, heartbeatMs: number | undefined): void {
    if (heartbeatMs === undefined || heartbeatMs <= 0) return;
    // A flag per message and one timer per interval: re-arming a timer on every message costs more than the message.
    // The timer wakes the app's process, busy or idle, for as long as it is connected: an eighth of the ping
    // interval (3.75 s for the daemon's default 30 s) is precise enough, not four times a second.
    const every = Math.max(HEARTBEAT_CHECKS_MS, heartbeatMs / 8);
    this.#heard = true;
    let silent = 0;
    // While guarded: when the daemon last answered a ping of ours (or, at the start, a check before).
    let answered: number | undefined;
    let checked = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      // A check that comes late (this process was busy) runs before the socket is read: pongs may wait unread.
      const late = now - checked > 2 * every;
      checked = now;
      if (this.#heard) {
        this.#heard = false;
        silent = 0;
      } else if (++silent * every >= 2 * heartbeatMs + HEARTBEAT_GRACE_MS) {
        ws.terminate();
        return;
      }
      if (ws.ping === undefined || this.#opts.guarded?.() !== true) {
        answered = undefined;
        return;
      }
      // The daemon's pings show only that it can reach us; a lock is lost when it stops hearing us. It drops a
      // client no sooner than one interval after it last heard it (less the round trip): ours, answered, bound that.
      if (answered === undefined) answered = now - every;
      else if (!late && now - answered > heartbeatMs / 2) {
        ws.terminate();
        return;
      }
      try {
        ws.ping();
      } catch {
        /* closing */
      }
    }, every);
    timer.unref();
    ws.on('ping', () => {
      this.#heard = true;
    });
    ws.on('pong', () => {
      if (answered !== undefined) answered = Date.now();
    });
    ws.once('close', () => clearInterval(timer));
  }

  #connect(resolve?: (w: Welcome) => void, reject?: (e: CorepoolError) => void): void {
    // ws fixes a socket's receive limit when it opens and has no public way to change it: the
    // socket opens with the largest limit a daemon can announce, and the limit that applies (the
    // default until the welcome tells the daemon's) is enforced here, as ws would.
    const open = this.#opts.openSocket ?? openWebSocket;
    const url = this.url;
    const mask = maskFor(url);
    const ws = open(url, {
      perMessageDeflate: false,
      handshakeTimeout: 5000,
      maxPayload: LARGEST_MAX_PAYLOAD,
      ...(mask === undefined ? {} : { generateMask: mask }),
    });
    this.#ws = ws;
    let frameLimit = DEFAULT_MAX_PAYLOAD;
    let refused = false;
    let lastError: CorepoolError | undefined;
    let settled = false;
    // Refused: nothing listens there, which a newcomer meets first; said with what to do (a new user's case).
    const unreachable = (err: Error): ConnectionError =>
      new ConnectionError(
        `cannot reach the corepool daemon at ${url}: ${err.message}` +
          ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED'
            ? ' (nothing listens there: start a daemon with `npx corepool daemon start --detach`, pass { spawn: true }, or check the URL)'
            : ''),
        { cause: err },
      );
    ws.binaryType = 'nodebuffer';
    this.#outbox?.clear();
    const sendFrame = frameSender(ws, mask !== undefined);
    const outbox = new Outbox(sendFrame);
    this.#outbox = outbox;
    this.#sendFrame = sendFrame;
    ws.on('open', () => {
      const refusal = this.#opts.refuseToken?.(url);
      if (refusal !== undefined) {
        lastError = new ConnectionError(refusal);
        ws.terminate();
        return;
      }
      ws.send(
        encodeMessage({
          type: 'hello',
          v: PROTOCOL_VERSION,
          token: this.#opts.token,
          name: this.#opts.name,
          instance: this.#opts.instance,
          ...(this.#opts.weight === undefined ? {} : { weight: this.#opts.weight }),
          ...(this.#opts.maxWorkers === undefined ? {} : { maxWorkers: this.#opts.maxWorkers }),
        }),
      );
    });
    ws.on('message', (data: Buffer) => {
      if (refused) return;
      if (frameLimit > 0 && data.length > frameLimit) {
        // What ws does with a frame past its maxPayload: refuse it and what follows, close with 1009.
        refused = true;
        lastError ??= unreachable(new RangeError('Max payload size exceeded'));
        ws.close(CloseCode.TOO_BIG);
        return;
      }
      this.#heard = true;
      let decoded: unknown;
      try {
        decoded = decodeMessage(data);
      } catch {
        return; // a daemon bug must not crash the app
      }
      // The daemon coalesces the replies of one tick into one frame. One message whose
      // handling throws must not cost the others (their requests would hang).
      for (const one of Array.isArray(decoded) ? decoded : [decoded]) callUser(onMessage, one);
    });
    const onMessage = (decoded: unknown): void => {
      let m: ServerMessage;
      try {
        m = parseServerMessage(decoded);
      } catch {
        return;
      }
      if (m.type === 'welcome') {
        if (m.maxPayload !== undefined) {
          frameLimit = m.maxPayload;
          outbox.maxFrame = m.maxPayload;
        }
        this.#watchHeartbeat(ws, m.heartbeatMs);
        const reconnected = this.#everUp;
        this.#ready = true;
        this.#everUp = true;
        this.#attempt = 0;
        settled = true;
        resolve?.(m);
        this.#events.up(m, reconnected);
        return;
      }
      if (m.type === 'error' && !this.#ready) {
        lastError = fromWire(m.error);
        return;
      }
      this.#events.message(m);
    };
    ws.on('error', (err: Error) => {
      lastError ??= unreachable(err);
    });
    ws.on('close', (code: number, reasonBuf: Buffer) => {
      const wasReady = this.#ready;
      this.#ready = false;
      if (this.#closing) return;
      const reason = reasonBuf.toString();
      const err = closeError(code, reason, lastError, url);
      const urls = this.#opts.urls;
      if (!settled && reject !== undefined && !this.#everUp) {
        // The first open takes the first URL that answers; a refused token or protocol is not routed around.
        this.#openFailures.push(err);
        if (isFinal(err) || this.#index + 1 >= urls.length) {
          reject(openError(err, urls, this.#openFailures));
          return;
        }
        this.#index++;
        this.#connect(resolve, reject);
        return;
      }
      if (isFinal(err)) {
        this.#events.fatal(err);
        return;
      }
      if (wasReady) {
        this.#downSince = Date.now();
        this.#lostUrl = url;
        this.#lostBy = err;
        this.#events.down(err);
      }
      if (Date.now() - this.#downSince > this.#opts.reconnectTimeoutMs) {
        this.#offline = true;
        this.#events.expired(this.#expiredError(err));
        return;
      }
      this.#index = (this.#index + 1) % urls.length;
      this.#timer = setTimeout(() => this.#connect(), reconnectDelay(this.#attempt++, urls.length));
    });
  }

  /** Why the window ran out: a daemon that said it was shutting down is named as such (E_SHUTTING_DOWN), else E_CONNECTION. */
  #expiredError(last: CorepoolError): CorepoolError {
    const urls = this.#opts.urls;
    const where = urls.length === 1 ? '' : ` to any of ${urls.join(', ')}`;
    const lost = this.#lostUrl ?? this.url;
    const window = `within ${this.#opts.reconnectTimeoutMs} ms`;
    if (this.#lostBy?.code === ErrorCode.E_SHUTTING_DOWN) {
      return new ShuttingDownError(
        `the daemon at ${lost} shut down (daemon stop) and no daemon answered${where} ${window}: ${last.message}`,
        {
          cause: last,
        },
      );
    }
    return new ConnectionError(`lost the daemon at ${lost} and could not reconnect${where} ${window}: ${last.message}`, { cause: last });
  }
}

/** Refusals that no other attempt would change: they end the connection rather than move it. */
function isFinal(err: CorepoolError): boolean {
  return err.code === ErrorCode.E_AUTH || err.code === ErrorCode.E_PROTOCOL_VERSION;
}

/**
 * The wait before reconnect attempt `attempt` (0 = the first after the drop) over `n` URLs:
 * one daemon waits the backoff before every attempt, as ever; a list tries a whole round (the
 * next URL first, the lost one last) at once, since another daemon is likely up, and waits the
 * backoff only before each later round.
 */
export function reconnectDelay(attempt: number, n: number): number {
  if (n === 1) return backoff(attempt);
  if (attempt % n !== 0 || attempt === 0) return 0;
  return backoff(attempt / n - 1);
}

/** The first open failed at every URL: the error of the last one tried, or one naming them all. */
function openError(last: CorepoolError, urls: readonly string[], failures: readonly CorepoolError[]): CorepoolError {
  if (urls.length === 1 || last.code !== ErrorCode.E_CONNECTION) return last;
  const other = failures.find((f) => f.code !== ErrorCode.E_CONNECTION);
  if (other !== undefined) return other;
  return new ConnectionError(`cannot reach any corepool daemon of ${urls.join(', ')}: ${failures.map((f) => f.message).join('; ')}`, {
    cause: last,
  });
}

/** Extra time past a missed ping before a silent daemon is given up on (the ws README's advice). */
const HEARTBEAT_GRACE_MS = 1000;
/**
 * How often silence is checked, at least (an eighth of the ping interval): a silent daemon is dropped
 * within two checks past the deadline (its last message may have come just after a check).
 */
const HEARTBEAT_CHECKS_MS = 250;

function closeError(code: number, reason: string, last: CorepoolError | undefined, url: string): CorepoolError {
  if (last !== undefined && last.code !== ErrorCode.E_CONNECTION) return last;
  if (isErrorCode(reason)) {
    const Cls = errorClass(reason);
    return new Cls(`the daemon closed the connection (${code} ${reason})`);
  }
  if (code === CloseCode.POLICY) return new AuthError(`the daemon refused the connection (${code} ${reason})`);
  if (code === CloseCode.TRY_AGAIN_LATER) return new TooManyClientsError(`the daemon is full (${code})`);
  if (code === CloseCode.NORMAL && reason === 'client closed') return new ClosedError('client closed');
  return last ?? new ConnectionError(`connection to ${url} closed (${code}${reason ? ` ${reason}` : ''})`);
}
