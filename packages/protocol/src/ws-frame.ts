/**
 * A small WebSocket data frame as one buffer: its header and its payload
 * together, so that the socket takes a plain write. ws writes a frame as two
 * buffers, header and payload, corked; Node's stream then takes its gather
 * path for every frame (both chunks queued, an array and a callback made at
 * uncork, a writev). The daemon writes its replies this way and the SDK its
 * messages to a daemon on this machine; each writes larger frames, and
 * anything once its socket is no longer open, through ws.
 *
 * Both ends write to the socket ws uses, beside ws itself: frames stay whole
 * and in order because ws writes each of its own frames at once when it
 * neither compresses (perMessageDeflate is off at both ends) nor sends a Blob.
 */

/** Payloads under this are copied behind their header; larger ones are not worth the copy. */
export const FRAME_COPY_LIMIT = 16 * 1024;
/** FIN set, opcode 2 (binary): every frame either end sends is one whole binary message. */
const FIN_BINARY = 0x82;
/** A payload length under this fits the header's 7-bit field; above, the 16-bit one follows (RFC 6455 5.2). */
const SHORT_LENGTH = 126;
/** The MASK bit of the second byte: a client's frames carry a masking key (RFC 6455 5.3). */
const MASKED = 0x80;

/** The 16-bit length field holds lengths up to this; above, the 64-bit one follows (RFC 6455 5.2). */
const MEDIUM_LENGTH = 0xffff;
/** The second byte's length value that announces a 64-bit length. */
const LONG_LENGTH = 127;

/**
 * `payload` (under FRAME_COPY_LIMIT bytes) as one binary frame. `zeroMask`: a client's frame,
 * masked with the all-zero key (the payload then goes as it is; see the SDK's frame-mask.ts);
 * otherwise a server's, unmasked.
 */
export function wsFrame(payload: Uint8Array, zeroMask: boolean): Buffer {
  return wsFrameHead(payload.length, payload, zeroMask);
}

/**
 * The header of a binary frame of `n` payload bytes whose first bytes are `lead`, and `lead`, in
 * one buffer: the rest of the payload follows it in a gathered write (a split message, whose
 * payload's bytes are not copied). `zeroMask` as for wsFrame.
 */
export function wsFrameHead(n: number, lead: Uint8Array, zeroMask: boolean): Buffer {
  const length = n < SHORT_LENGTH ? 2 : n <= MEDIUM_LENGTH ? 4 : 10;
  const head = zeroMask ? length + 4 : length;
  const buf = Buffer.allocUnsafe(head + lead.length);
  buf[0] = FIN_BINARY;
  const bit = zeroMask ? MASKED : 0;
  if (n < SHORT_LENGTH) buf[1] = bit | n;
  else if (n <= MEDIUM_LENGTH) {
    buf[1] = bit | SHORT_LENGTH;
    buf.writeUInt16BE(n, 2);
  } else {
    buf[1] = bit | LONG_LENGTH;
    buf.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    buf.writeUInt32BE(n >>> 0, 6);
  }
  if (zeroMask) buf.writeUInt32BE(0, length);
  buf.set(lead, head);
  return buf;
}
