/**
 * The data channel between the primary and a worker: length-prefixed msgpack
 * frames over a private socket pair (stdio fd 4 of the worker), beside the
 * node:cluster IPC channel that only keeps the process lifecycle. cluster's
 * 'advanced' serialization made every young-generation GC in both processes
 * take 2-7 ms (measured: 6 ms scavenges against 0.15 ms with JSON), which was
 * the whole p99 of a task round trip; 'json' would mangle the payload bytes.
 * Both ends are corepool's code, but a worker also runs tasks, and a task can
 * break its end (write to fd 4, replace Uint8Array.prototype.set or
 * Buffer.prototype.subarray): the primary's end therefore bounds the length a
 * frame announces and never lets a frame that does not decode escape; it
 * reports the channel as corrupt instead (the supervisor replaces the worker).
 */
import { Socket } from 'node:net';
import { decodeMessage } from '@corepool/protocol';
import { SplitMessage, encodeMessageSplit } from '@corepool/protocol/internal';

/** The worker's file descriptor for the channel. */
export const CHANNEL_FD = 4;

/**
 * The worker's file descriptor for the orphan guard's socket (worker/orphan-guard.ts): the
 * worker reads end-of-file exactly when the primary is gone. What travels on it both ways is
 * in guard-messages.ts.
 */
export const GUARD_FD = 5;

/**
 * A frame this short is sent as one buffer (header and body copied together):
 * one write costs less than a writev of two below a few KB; above, the copy
 * and its allocation (megabytes per batch of tiny items) cost more.
 */
const COPY_BELOW = 16 * 1024;

/** How the primary's end guards against a worker whose end a task broke. */
export interface ChannelGuard {
  /** Longest frame the peer may announce. */
  maxFrame: number;
  /** The peer sent what cannot be a frame of ours: nothing more is read from it. */
  onCorrupt(why: string): void;
  /** The peer's end closed: it is exiting, or a task closed the descriptor and nothing more can come from it. */
  onEnd?(): void;
}

/** One end of a primary <-> worker channel. */
export class Channel<In, Out> {
  readonly #socket: Socket;
  readonly #onMessage: (m: In) => void;
  readonly #guard: ChannelGuard | undefined;
  #corrupt = false;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the frame being read, once its header has arrived. */
  #need = -1;
  /** Frames are not handed on (nor the socket read) until resume(). */
  #paused = false;
  /** The peer is gone: what it sent is handed on whatever asks for a pause. */
  #finishing = false;
  /** Waiting for what a pause held to be handed on (whenFlowing). */
  #flowing: (() => void)[] = [];

  constructor(socket: Socket, onMessage: (m: In) => void, guard?: ChannelGuard) {
    this.#socket = socket;
    this.#onMessage = onMessage;
    this.#guard = guard;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    // The peer dying closes the socket; its exit is handled through cluster.
    socket.on('error', () => {});
    if (guard?.onEnd !== undefined) {
      // 'end' when the peer's end closed and was read to its end; 'close' also when a write to it failed first
      // (EPIPE, ECONNRESET) and destroyed the socket without an 'end': a task that sent a state call and closed
      // its descriptor before the reply was written (a reviewer's case) was never found out.
      let told = false;
      const ended = (): void => {
        if (told) return;
        told = true;
        guard.onEnd!();
      };
      socket.once('end', ended);
      socket.once('close', ended);
    }
  }

  /** Opens the worker's end. */
  static worker<In, Out>(onMessage: (m: In) => void): Channel<In, Out> {
    return new Channel<In, Out>(new Socket({ fd: CHANNEL_FD, readable: true, writable: true }), onMessage);
  }

  /** Sends one message; `done` runs once it is handed to the kernel. False if the channel is closed. */
  send(m: Out, done?: () => void): boolean {
    if (this.#socket.destroyed || !this.#socket.writable) return false;
    // A chunk's items or results (a payload, last): its bytes go out as they are, behind the rest of the message.
    const body = encodeMessageSplit(m as object);
    const cb = done === undefined ? undefined : (): void => done();
    if (body instanceof SplitMessage) {
      this.#socket.cork();
      this.#socket.write(prefixed(body.length, body.head));
      this.#socket.write(body.tail, cb);
      this.#socket.uncork();
      return true;
    }
    if (body.length < COPY_BELOW) {
      this.#socket.write(prefixed(body.length, body), cb);
      return true;
    }
    // Large without a payload (a listing's reply): the header and the body in one writev, the body not copied
    // again (msgpackr never writes over a buffer it has returned).
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32LE(body.length, 0);
    this.#socket.cork();
    this.#socket.write(header);
    this.#socket.write(body, cb);
    this.#socket.uncork();
    return true;
  }

  /** Bytes written to this end that the peer has not taken yet (worker-state-link.ts bounds its pushes by it). */
  get unsent(): number {
    return this.#socket.writableLength;
  }

  /**
   * Calls `fn` once what waits to be sent has gone (at once if nothing waits); never if the socket
   * closes first (the peer is gone). Asked only with more waiting than the socket's high-water
   * mark, so a write has returned false and 'drain' will come.
   */
  whenSent(fn: () => void): void {
    if (this.#socket.writableLength === 0) fn();
    else this.#socket.once('drain', fn);
  }

  /** Closes this end. */
  close(): void {
    this.#socket.destroy();
  }

  /**
   * Hands on no more frames, from the next one on (those of a read already made wait here), and
   * stops reading the socket: what the peer sends next waits in its own process.
   */
  pause(): void {
    if (this.#paused || this.#finishing) return;
    this.#paused = true;
    this.#socket.pause();
  }

  /** Hands on the frames that waited, in order (until a pause again), then reads the socket again. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#drain();
    if (this.#paused) return;
    this.#socket.resume();
    this.#flow();
  }

  /**
   * Calls `fn` once the frames a pause held have been handed on: at once if it is not paused,
   * else after a resume and a read of what the socket held meanwhile (the next immediate), and
   * again so if a frame handed on paused it anew.
   */
  whenFlowing(fn: () => void): void {
    if (!this.#paused) {
      fn();
      return;
    }
    this.#flowing.push(fn);
  }

  #flow(): void {
    if (this.#flowing.length === 0) return;
    const waiting = this.#flowing;
    this.#flowing = [];
    setImmediate(() => {
      for (const fn of waiting) this.whenFlowing(fn);
    });
  }

  /**
   * The peer's process has exited: hands on every frame it sent, those a pause held and those
   * still unread in the socket, then calls `done` once the socket has ended (or after `graceMs`,
   * should something else keep it open). Without it, a worker that died while paused took its
   * last results with it, and its chunk's recovery blamed an item that had succeeded.
   */
  finish(done: () => void, graceMs = 1000): void {
    this.#finishing = true;
    let called = false;
    const end = (): void => {
      if (called) return;
      called = true;
      clearTimeout(timer);
      done();
    };
    const timer = setTimeout(end, graceMs);
    this.#paused = false;
    this.#drain();
    this.#flow();
    if (this.#socket.destroyed || this.#socket.readableEnded) {
      end();
      return;
    }
    this.#socket.once('close', end);
    this.#socket.resume();
  }

  #read(chunk: Buffer): void {
    if (this.#corrupt) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#drain();
  }

  #drain(): void {
    while (!this.#paused && !this.#corrupt) {
      if (this.#need < 0) {
        if (this.#buffered < 4) return;
        this.#need = this.#peekLength();
        if (this.#guard !== undefined && this.#need > this.#guard.maxFrame) {
          this.#fail(`a frame of ${this.#need} bytes announced, over the ${this.#guard.maxFrame} a worker may send`);
          return;
        }
      }
      if (this.#buffered < 4 + this.#need) return;
      // Joined once per frame, not once per chunk: a 5 MB frame arrives in many pieces.
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
      const end = 4 + this.#need;
      const body = all.subarray(4, end);
      const rest = all.subarray(end);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
      this.#need = -1;
      let m: In;
      try {
        m = decodeMessage(body) as In;
      } catch (err) {
        if (this.#guard === undefined) throw err;
        this.#fail(`a frame that does not decode: ${(err as Error).message}`);
        return;
      }
      this.#onMessage(m);
    }
  }

  #fail(why: string): void {
    this.#corrupt = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#guard!.onCorrupt(why);
  }

  #peekLength(): number {
    const first = this.#chunks[0]!;
    if (first.length >= 4) return first.readUInt32LE(0);
    const head = Buffer.concat(this.#chunks, this.#buffered).subarray(0, 4);
    return head.readUInt32LE(0);
  }
}

/** `bytes` behind the frame's length prefix (`length`: the whole frame's body, `bytes` its start or all of it). */
function prefixed(length: number, bytes: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(4 + bytes.length);
  frame.writeUInt32LE(length, 0);
  frame.set(bytes, 4);
  return frame;
}
