/**
 * A message whose last field is a large `payload` (a chunk's items, its
 * results), encoded as two buffers for a gathered write: the message's bytes
 * up to the payload's own, then the payload as it is. encodeMessage copies
 * the payload into msgpackr's output, and that output is a fresh external
 * buffer per chunk: the primary copied and allocated every byte of a map's
 * items and results once more (about 10 MB per 1,000,000-item map), the client
 * every byte of its items. The bytes on the wire are msgpack either way: the
 * payload's header is a bin 32 here.
 */
import { encodeMessage } from './codec.js';

/** Payloads under this are copied into the message: a gathered write costs more than the copy below a few KB. */
export const SPLIT_PAYLOAD_BYTES = 16 * 1024;

/** The encoding of an empty bin (msgpack bin 8, length 0), as msgpackr writes an empty Uint8Array. */
const EMPTY_BIN = [0xc4, 0x00] as const;
/** The key `payload` as msgpack writes it (fixstr of 7). */
const PAYLOAD_KEY = Uint8Array.from([0xa7, ...Array.from('payload', (c) => c.charCodeAt(0))]);
/** msgpack bin 32: a 4-byte big-endian length follows. */
const BIN32 = 0xc6;
const EMPTY = new Uint8Array(0);

/** `head` then `tail`: one msgpack message. */
export class SplitMessage {
  readonly head: Uint8Array;
  readonly tail: Uint8Array;

  constructor(head: Uint8Array, tail: Uint8Array) {
    this.head = head;
    this.tail = tail;
  }

  get length(): number {
    return this.head.length + this.tail.length;
  }
}

/**
 * Encodes a control message as encodeMessage does, but split before its
 * payload's bytes when `payload` is its last field and SPLIT_PAYLOAD_BYTES or
 * more: a SplitMessage then, else one buffer (any other message too). The
 * message is read as it is: the caller puts `payload` last where it builds it.
 */
export function encodeMessageSplit(m: object): Uint8Array | SplitMessage {
  const payload = (m as { payload?: unknown }).payload;
  if (!(payload instanceof Uint8Array) || payload.length < SPLIT_PAYLOAD_BYTES || Object.keys(m).at(-1) !== 'payload')
    return encodeMessage(m);
  // The spread keeps the payload's place: last, where its bytes are the message's last.
  const head = encodeMessage({ ...m, payload: EMPTY });
  if (!endsWithEmptyPayload(head)) return encodeMessage(m); // a codec that writes otherwise: one buffer, as ever
  const at = head.length - EMPTY_BIN.length;
  const out = Buffer.allocUnsafe(at + 5);
  out.set(head.subarray(0, at), 0);
  out[at] = BIN32;
  out.writeUInt32BE(payload.length, at + 1);
  return new SplitMessage(out, payload);
}

/** True if `head` ends with the key `payload` and an empty bin: the last field of the map is the payload. */
function endsWithEmptyPayload(head: Uint8Array): boolean {
  const n = head.length;
  if (n < PAYLOAD_KEY.length + 2 || head[n - 2] !== EMPTY_BIN[0] || head[n - 1] !== EMPTY_BIN[1]) return false;
  const from = n - 2 - PAYLOAD_KEY.length;
  for (let i = 0; i < PAYLOAD_KEY.length; i++) if (head[from + i] !== PAYLOAD_KEY[i]) return false;
  return true;
}
