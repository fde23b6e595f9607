/**
 * Coalesces the small messages a peer sends within one tick into one
 * WebSocket frame: a msgpack array of the already-encoded messages (no
 * re-encoding). Ten thousand pipelined `add`s then cost a few socket writes,
 * not ten thousand. Large messages (chunks of items, results) go out at once,
 * after whatever is pending, so order is kept.
 */

/** Messages at least this large are written on their own. */
const SMALL = 16 * 1024;
/** A coalesced frame is flushed once it reaches this size (or the peer's frame limit, if lower). */
const MAX_BATCH_BYTES = 256 * 1024;
/** An array frame's header: at most 5 bytes. */
const ARRAY_HEADER_BYTES = 5;
/** Most messages in one coalesced frame (the receiver's limit too). */
export const MAX_BATCH_MESSAGES = 4096;

import { rethrowLater } from './user-callback.js';

const RESOLVED: Promise<void> = Promise.resolve();

/** Per-connection send queue, flushed at the end of the current tick. */
export class Outbox {
  readonly #write: (frame: Uint8Array) => void;
  #parts: Uint8Array[] = [];
  #bytes = 0;
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
      this.flush();
      this.#write(bytes);
      return;
    }
    if (this.#bytes + bytes.length > this.#maxBatchBytes) this.flush();
    this.#parts.push(bytes);
    this.#bytes += bytes.length;
    if (this.#bytes >= this.#maxBatchBytes || this.#parts.length >= MAX_BATCH_MESSAGES) {
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
    const parts = this.#parts;
    if (parts.length === 0) return;
    this.#parts = [];
    const bytes = this.#bytes;
    this.#bytes = 0;
    this.#write(parts.length === 1 ? parts[0]! : arrayFrame(parts, bytes));
  }

  /** Drops what is pending (the connection is gone). */
  clear(): void {
    this.#parts = [];
    this.#bytes = 0;
  }
}

/** A msgpack array whose elements are the given encoded values. */
function arrayFrame(parts: Uint8Array[], bytes: number): Uint8Array {
  const n = parts.length;
  const header = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
  const out = new Uint8Array(header + bytes);
  if (n < 16) out[0] = 0x90 | n;
  else if (n < 0x10000) {
    out[0] = 0xdc;
    out[1] = n >> 8;
    out[2] = n & 0xff;
  } else {
    out[0] = 0xdd;
    new DataView(out.buffer).setUint32(1, n);
  }
  let at = header;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
