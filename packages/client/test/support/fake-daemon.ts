/**
 * A stand-in for the daemon's end of the WebSocket, for unit tests of the
 * SDK's Connection and Client (no daemon, no socket), as ws tests its
 * Receiver: each socket the SDK opens is a FakeSocket; what the SDK sends is
 * decoded into `received`, and the test answers with `deliver` or
 * drops the socket. Every wait is on an event, never on a timer.
 */
import { EventEmitter } from 'node:events';
import { decodeMessage, encodeMessage, type ClientMessage, type ServerMessage, type Welcome } from '@corepool/protocol';
import type WebSocket from 'ws';
import type { OpenSocket, Socket } from '../../src/connection.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** One socket the SDK opened. */
export class FakeSocket extends EventEmitter implements Socket {
  readyState = CONNECTING;
  binaryType: 'nodebuffer' | 'arraybuffer' | 'fragments' = 'nodebuffer';
  /** Every message the SDK sent on this socket, in order (coalesced frames taken apart). */
  readonly received: ClientMessage[] = [];
  /** The code the SDK closed this socket with, if it did. */
  closedWith: number | undefined;
  readonly #daemon: FakeDaemon;

  constructor(daemon: FakeDaemon) {
    super();
    this.#daemon = daemon;
  }

  /** Every event the SDK hears may be what a test waits for. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const heard = super.emit(event, ...args);
    this.#daemon.check();
    return heard;
  }

  send(data: Uint8Array): void {
    const decoded = decodeMessage(data);
    for (const m of (Array.isArray(decoded) ? decoded : [decoded]) as ClientMessage[]) {
      this.received.push(m);
      this.#daemon.onMessage(this, m);
    }
  }

  close(code = 1000): void {
    this.closedWith = code;
    this.drop(code, code === 1000 ? 'client closed' : '');
  }

  terminate(): void {
    this.drop(1006, '');
  }

  /** Pings the SDK sent, and whether the daemon's side answers them (a pong, in a microtask). */
  pings = 0;
  answersPings = true;

  ping(): void {
    this.pings++;
    if (this.answersPings) queueMicrotask(() => this.emit('pong'));
  }

  /** The daemon's side sends `m` (several: one coalesced frame). */
  deliver(...messages: ServerMessage[]): void {
    const frame = encodeMessage(messages.length === 1 ? messages[0] : messages);
    this.emit('message', Buffer.from(frame));
  }

  /** The connection ends with `code` and `reason`, as a daemon's close or a lost network. */
  drop(code: number, reason = ''): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    queueMicrotask(() => this.emit('close', code, Buffer.from(reason)));
  }
}

/** The sockets the SDK opened, and a scripted daemon behind them. */
export class FakeDaemon {
  readonly sockets: FakeSocket[] = [];
  /** The ws options each socket was opened with. */
  readonly options: WebSocket.ClientOptions[] = [];
  /** The URL each socket was opened to. */
  readonly urls: string[] = [];
  /** Accept sockets (false: each attempt fails as a refused connection does). */
  accepting = true;
  /** URLs where nothing answers (each attempt there fails as a refused connection does). */
  readonly down = new Set<string>();
  welcome: Omit<Welcome, 'type'> = { v: 1, clientId: 1, workers: 1, pid: 4242 };
  /** Set: `hello` is answered by closing with this code and reason (a refused token, a wrong version). */
  refuseHello: { code: number; reason: string } | undefined;
  readonly #waiters: { test: () => boolean; resolve: () => void }[] = [];

  readonly openSocket: OpenSocket = (url, options) => {
    this.options.push(options);
    this.urls.push(url);
    const socket = new FakeSocket(this);
    this.sockets.push(socket);
    queueMicrotask(() => {
      if (!this.accepting || this.down.has(url)) {
        socket.emit('error', new Error('connect ECONNREFUSED'));
        socket.drop(1006);
      } else {
        socket.readyState = OPEN;
        socket.emit('open');
      }
    });
    return socket;
  };

  /** The socket in use (the last opened). */
  get socket(): FakeSocket {
    const s = this.sockets.at(-1);
    if (s === undefined) throw new Error('no socket was opened');
    return s;
  }

  onMessage(socket: FakeSocket, m: ClientMessage): void {
    if (m.type === 'hello' && this.refuseHello !== undefined) socket.drop(this.refuseHello.code, this.refuseHello.reason);
    else if (m.type === 'hello') socket.deliver({ type: 'welcome', ...this.welcome });
    this.check();
  }

  /** Resolves once `test()` holds (checked after every socket event and message). */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  /** Resolves the waits whose condition now holds. */
  check(): void {
    for (const w of [...this.#waiters]) {
      if (!w.test()) continue;
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}
