/**
 * The only place the daemon reaches into ws's private fields: its frame
 * parser, `ws._receiver`. ws fixes maxPayload per server and offers no public
 * way to change it on an open socket (a pull request adding one, websockets/ws
 * #1473, was declined in favour of authenticating in the HTTP upgrade). The
 * wire protocol authenticates with a `hello` message instead, so a connection
 * starts with a tiny limit and gets the large one once authenticated:
 * unauthenticated peers cannot make the daemon buffer a full frame each.
 * ws also closes a refused frame with a bare close code before it emits any
 * public event; the daemon answers with a coded error first, so it listens on
 * the parser itself. And the daemon counts what each parser holds of an
 * unfinished message, for a budget over all connections (receive-budget.ts).
 * ws is pinned to an exact version in package.json for this, and
 * ws-receiver.unit.test.ts fails when these fields change shape.
 */
import type { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';

/** A frame ws's parser refused: its `code` (WS_ERR_*) says why. */
export type RefusedFrame = Error & { code?: string };

interface Receiver extends EventEmitter {
  _maxPayload: number;
  /** Bytes read and not yet parsed into a frame (a frame's whole payload waits here until it is all in). */
  _bufferedBytes: number;
  /** Payload declared by the frames of the message being received, the current one's included once its length is read. */
  _totalPayloadLength: number;
  /** The message's fragments received so far. */
  _fragments: unknown[];
}

/** ws's frame parser of a connection; throws if ws no longer has the expected shape. */
function receiverOf(ws: WebSocket): Receiver {
  const receiver = (ws as unknown as { _receiver?: Partial<Receiver> | null })._receiver;
  if (
    receiver == null ||
    typeof receiver._maxPayload !== 'number' ||
    typeof receiver._bufferedBytes !== 'number' ||
    typeof receiver._totalPayloadLength !== 'number' ||
    !Array.isArray(receiver._fragments) ||
    typeof receiver.prependListener !== 'function'
  ) {
    // Silently keeping the server-wide limit would let unauthenticated peers send full-size frames.
    throw new Error('ws changed its private Receiver (_receiver._maxPayload and others): review ws-receiver.ts before upgrading ws');
  }
  return receiver as Receiver;
}

/** Sets the largest frame payload this connection's parser accepts from now on. */
export function setFrameLimit(ws: WebSocket, bytes: number): void {
  receiverOf(ws)._maxPayload = bytes;
}

/** What a fragment costs beyond its bytes: a Buffer object in ws's list (a message in 1-byte fragments would otherwise cost 100 times its size). */
const FRAGMENT_BYTES = 96;

/**
 * Bytes ws holds of the message this connection is receiving, and has been told are coming:
 * what it read and has not parsed, the fragments it keeps, and the declared payload of the
 * frame in progress (so a frame that declares 8 MiB counts from its header on).
 */
export function receivingBytes(ws: WebSocket): number {
  const r = receiverOf(ws);
  return r._bufferedBytes + r._totalPayloadLength + r._fragments.length * FRAGMENT_BYTES;
}

/** Fragments of the message this connection is receiving. */
export function receivedFragments(ws: WebSocket): number {
  return receiverOf(ws)._fragments.length;
}

/** Calls `listener` when ws refuses a frame, before ws sends its own close frame. */
export function onRefusedFrame(ws: WebSocket, listener: (err: RefusedFrame) => void): void {
  receiverOf(ws).prependListener('error', listener);
}
