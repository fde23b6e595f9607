/**
 * Frames to messages on a client connection. A binary frame holds one msgpack
 * message or, once the client has authenticated, an array of 1 to
 * MAX_BATCH_MESSAGES of them. What does not decode or parse is answered with
 * a coded error where its sender waits for one (the request or batch it
 * names), since its caller would otherwise wait forever; before
 * authentication it fails the authentication, and past MAX_BAD_FRAMES the
 * client is disconnected. A frame ws itself refused (too big, bad UTF-8, bad
 * opcode, a flood of fragments) gets a coded error, then the matching close.
 */
import {
  BadMessageError,
  CloseCode,
  ErrorCode,
  countsFit,
  MAX_BATCH_MESSAGES,
  TooLargeError,
  decodeMessage,
  parseClientMessage,
  toCorepoolError,
  type ClientMessage,
  type CorepoolError,
} from '@corepool/protocol/internal';
import type { RefusedFrame } from './ws-receiver.js';

/** Bad frames tolerated from an authenticated client before it is disconnected. */
const MAX_BAD_FRAMES = 16;

/** What `decode` returns for a frame it refused (and answered). */
export const REFUSED = Symbol('refused');

/** The request (`rid`) or batch (`id`) a malformed message names: its sender waits for an answer there. */
export type Addressee = { rid: number; id?: undefined } | { id: number; rid?: undefined };

/** What framing asks of its connection. */
export interface FramingHost {
  /** True once the client has authenticated. */
  readonly authed: boolean;
  /** The first message did not parse, so it is no hello: authentication fails with `e`. */
  notHello(e: CorepoolError): void;
  /** Answers `e` to the request or batch `to` names, or to the connection when it names neither. */
  answer(to: Addressee | undefined, e: CorepoolError): void;
  /** Sends `e`, then closes with `code` and e's code as the reason. */
  refuse(e: CorepoolError, code: number): void;
  close(code: number, reason: string): void;
}

/** The decoding side of a client connection. */
export class Framing {
  readonly #host: FramingHost;
  #badFrames = 0;

  constructor(host: FramingHost) {
    this.#host = host;
  }

  /**
   * One frame's content: a message, or an array of messages (a coalesced
   * frame, checked here), or REFUSED when the frame was answered as bad.
   */
  decode(data: Uint8Array, isBinary: boolean): unknown {
    let decoded: unknown;
    try {
      if (!isBinary) throw new BadMessageError('text frames are not accepted: send msgpack in binary frames');
      // Before the decoder allocates what a header declares (msgpack-counts.ts).
      if (!countsFit(data)) throw new BadMessageError('an array or map declares more elements than the frame holds');
      decoded = decodeMessage(data);
    } catch (err) {
      this.#bad(err);
      return REFUSED;
    }
    // Several messages coalesced into one frame (never before authentication).
    if (Array.isArray(decoded) && (!this.#host.authed || decoded.length === 0 || decoded.length > MAX_BATCH_MESSAGES)) {
      this.#bad(new BadMessageError(`a frame may hold 1 to ${MAX_BATCH_MESSAGES} messages, after hello`));
      return REFUSED;
    }
    return decoded;
  }

  /** A decoded message checked against the protocol; undefined (answered as bad) if it is not one. */
  parse(decoded: unknown): ClientMessage | undefined {
    try {
      return parseClientMessage(decoded);
    } catch (err) {
      this.#bad(err, decoded);
      return undefined;
    }
  }

  /** Answers a message that does not parse: to its request or batch when it names one. */
  #bad(err: unknown, decoded?: unknown): void {
    const e = toCorepoolError(err, ErrorCode.E_BAD_MESSAGE);
    if (!this.#host.authed) {
      this.#host.notHello(e);
      return;
    }
    this.#host.answer(addressee(decoded), e);
    if (++this.#badFrames > MAX_BAD_FRAMES) this.#host.close(CloseCode.BAD_DATA, ErrorCode.E_BAD_MESSAGE);
  }

  /** A frame ws refused: a coded error, then the close code that matches it. */
  refused(err: RefusedFrame): void {
    const tooBig =
      err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ||
      err.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH' ||
      err.code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS';
    const e = tooBig ? new TooLargeError(`frame refused: ${err.message}`) : new BadMessageError(`frame refused: ${err.message}`);
    const code = tooBig ? CloseCode.TOO_BIG : err.code === 'WS_ERR_INVALID_UTF8' ? CloseCode.BAD_DATA : CloseCode.PROTOCOL_ERROR;
    this.#host.refuse(e, code);
  }
}

/** The request id (state, status, stop) or batch id (batch.*) a malformed message carries, if any. */
function addressee(decoded: unknown): Addressee | undefined {
  if (typeof decoded !== 'object' || decoded === null) return undefined;
  const { type, rid, id } = decoded as { type?: unknown; rid?: unknown; id?: unknown };
  const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if ((type === 'state' || type === 'status' || type === 'stop') && isId(rid)) return { rid };
  if (typeof type === 'string' && type.startsWith('batch.') && isId(id)) return { id };
  return undefined;
}
