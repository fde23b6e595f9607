/**
 * Coalesces the small messages a peer sends within one tick into one
 * WebSocket frame: a msgpack array of the messages (no re-encoding). Ten
 * thousand pipelined `add`s then cost a few socket writes, not ten thousand.
 * Large messages (chunks of items, results) go out at once, after whatever is
 * pending, so order is kept.
 *
 * The frame is gathered in one buffer, made at the tick's first message and
 * handed to the socket as it is (with room kept at its front for the array's
 * header), never reused: a daemon's replies are written into it in place
 * (`reply`), so a reply costs no object of its own (a typed array per reply
 * was ~250 bytes, a tenth of what the primary allocated per add in flight).
 * Nothing is kept between frames but the last frame's size, the next one's
 * first guess: an idle connection holds no buffer, and no frame holds more
 * than twice its own bytes (a slow reader's frames wait in the socket).
 */

/** Messages at least this large are written on their own. */
const SMALL = 16 * 1024;
/** A coalesced frame is flushed once it reaches this size (or the peer's frame limit, if lower). */
const MAX_BATCH_BYTES = 256 * 1024;
/** An array frame's header: at most 5 bytes, kept free at the front of the frame's buffer. */
const ARRAY_HEADER_BYTES = 5;
/** Most messages in one coalesced frame (the receiver's limit too). */
export const MAX_BATCH_MESSAGES = 4096;
/** The smallest buffer a frame starts in, and the largest first guess (it doubles as it fills). */
const MIN_START_BYTES = 64;
const MAX_START_BYTES = 64 * 1024;

import { arrayHeaderBytes, encodeReply, putArrayHeader, replyBytes, writeReply, type ReplyValue } from './codec.js';
import { rethrowLater } from './user-callback.js';

const RESOLVED: Promise<void> = Promise.resolve();

/** Per-connection send queue, flushed at the end of the current tick. */
export class Outbox {
  readonly #write: (frame: Uint8Array) => void;
  /** The frame being gathered: ARRAY_HEADER_BYTES free, then #bytes of messages. */
  #buf: Uint8Array | undefined;
  #bytes = 0;
  #count = 0;
  /** Bytes of the last frame: what the next one's buffer starts with. */
  #lastBytes = 0;
  #scheduled = false;
  /** Most bytes of one coalesced frame. */
  #maxBatchBytes = MAX_BATCH_BYTES;

  constructor(write: (frame: Uint8Array) => void) {
    this.#write = write;
  }

  /**
   * The largest frame the peer accepts: a coalesced frame never grows past
   * it (a frame the peer refuses would cost the whole connection).
   */
  set maxFrame(bytes: number) {
    this.#maxBatchBytes = Math.max(SMALL, Math.min(MAX_BATCH_BYTES, bytes - ARRAY_HEADER_BYTES));
  }

  readonly #scheduledFlush = (): void => {
    try {
      this.flush();
    } catch (err) {
      // As queueMicrotask would: an uncaught exception, not a silent rejection.
      rethrowLater(err);
    }
  };

  /** Bytes waiting for the flush. */
  get pending(): number {
    return this.#bytes;
  }

  /** Queues one encoded message. */
  push(bytes: Uint8Array): void {
    if (bytes.length >= SMALL) {
      // Until nothing is pending: a message the write queued (re-entering) goes before this one, as it was queued first.
      while (this.#buf !== undefined) this.flush();
      this.#write(bytes);
      return;
    }
    const at = this.#claim(bytes.length); // before #buf is read: claiming may flush the frame and start another
    this.#buf!.set(bytes, at);
    this.#added();
  }

  /** Queues `{ type: 'reply', rid, ok: true, value }`, written into the frame in place (codec's writeReply). */
  reply(rid: number, value: ReplyValue): void {
    const n = replyBytes(rid, value);
    if (n < 0 || n >= SMALL) {
      this.push(encodeReply(rid, value));
      return;
    }
    const at = this.#claim(n);
    writeReply(this.#buf!, at, rid, value);
    this.#added();
  }

  /** Room for `n` more bytes in the frame (flushing it first if it would grow past its limit); returns where they go. */
  #claim(n: number): number {
    // A loop: the socket's write may queue a message itself (synchronously, from its callback), into the next frame.
    while (this.#bytes > 0 && this.#bytes + n > this.#maxBatchBytes) this.flush();
    const end = ARRAY_HEADER_BYTES + this.#bytes + n;
    const buf = this.#buf;
    if (buf === undefined) {
      const start = Math.min(Math.max(this.#lastBytes, MIN_START_BYTES), MAX_START_BYTES);
      this.#buf = new Uint8Array(Math.max(ARRAY_HEADER_BYTES + start, end));
    } else if (end > buf.length) {
      const grown = new Uint8Array(Math.max(Math.min(buf.length * 2, ARRAY_HEADER_BYTES + this.#maxBatchBytes), end));
      grown.set(buf.subarray(0, ARRAY_HEADER_BYTES + this.#bytes));
      this.#buf = grown;
    }
    const at = end - n;
    this.#bytes += n;
    return at;
  }

  /** One message more in the frame: flushed now if it is full, else at the end of the tick. */
  #added(): void {
    if (++this.#count >= MAX_BATCH_MESSAGES || this.#bytes >= this.#maxBatchBytes) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      // A resolved promise's then, not queueMicrotask: Node wraps each queueMicrotask
      // callback in a new AsyncResource, a cost paid on every request.
      void RESOLVED.then(this.#scheduledFlush);
    }
  }

  /** Writes what is pending: one message as itself, several as one array frame. */
  flush(): void {
    this.#scheduled = false;
    const buf = this.#buf;
    if (buf === undefined) return;
    const n = this.#count;
    const bytes = this.#bytes;
    this.#buf = undefined;
    this.#bytes = 0;
    this.#count = 0;
    this.#lastBytes = bytes;
    const from = n === 1 ? ARRAY_HEADER_BYTES : arrayHeader(buf, n);
    const end = ARRAY_HEADER_BYTES + bytes;
    // A frame waiting in a slow socket holds its whole buffer: one mostly empty (a guess from a larger
    // frame before) is copied out, so no frame holds more than twice its bytes (the hard cap counts bytes).
    this.#write(buf.length > 2 * end ? buf.slice(from, end) : buf.subarray(from, end));
  }

  /** Drops what is pending (the connection is gone). */
  clear(): void {
    this.#buf = undefined;
    this.#bytes = 0;
    this.#count = 0;
  }
}

/** Writes a msgpack array header for `n` elements so that it ends where the messages begin; returns where it starts. */
function arrayHeader(buf: Uint8Array, n: number): number {
  const from = ARRAY_HEADER_BYTES - arrayHeaderBytes(n);
  putArrayHeader(buf, from, n);
  return from;
}
