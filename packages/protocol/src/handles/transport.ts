/**
 * The one interface the shared-state handles (Value, Queue, Dict, Lock) talk
 * through. The client SDK implements it over its WebSocket, the worker over
 * its IPC channel to the primary, so a task and an app share one counter.
 */
import { encodeData } from '../codec.js';
import { BadArgumentError, BadNameError, TooLargeError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD, ENVELOPE_BYTES, MAX_TIMEOUT_MS } from '../limits.js';
import type { Push, StateRequest } from '../messages.js';
import { checkOptionKeys } from '../option-keys.js';
import { checkName } from '../parse.js';

/** Carries shared-state requests to the daemon's primary and pushes back from it. */
export interface StateTransport {
  /** Sends one state request; resolves with the reply value, rejects with a CorepoolError. */
  request(req: StateRequest): Promise<unknown>;
  /**
   * Registers a local listener for pushes of (kind, name). The transport
   * sends `<kind>.subscribe` when the first listener arrives (and again after
   * a reconnect) and `<kind>.unsubscribe` when the last leaves; it delivers
   * the subscribe reply's current value to new listeners as a first Push.
   * Returns the function that removes the listener. `end` is called once if
   * the transport closes for good (the client was closed or gave up reconnecting).
   * `resync` is called after a reconnect, once the subscription is back: the
   * listener may have missed changes and should read the current state.
   */
  listen(kind: 'value' | 'dict', name: string, cb: (push: Push) => void, end?: (err: Error) => void, resync?: () => void): () => void;
  /**
   * Calls `cb` once when the link this transport's locks are held on is lost
   * (the daemon releases them when it closes); returns the function that stops
   * watching. Absent where locks end only with their holder (a task's).
   */
  onLinkLost?(cb: (err: Error) => void): () => void;
}

/** Options of the blocking calls (Queue.get, Lock.acquire). */
export interface TimeoutOptions {
  /** Give up with E_TIMEOUT after this many milliseconds; 0 does not wait. @default no limit */
  timeoutMs?: number;
}

/** The error a handle with a bad name rejects every call with, or undefined. */
export function nameError(kind: string, name: unknown): BadNameError | undefined {
  const bad = checkName(name);
  return bad === undefined ? undefined : new BadNameError(`${kind} name: ${bad}`);
}

const TIMEOUT_OPTION_KEYS: readonly (keyof TimeoutOptions)[] = ['timeoutMs'];

/** The wire timeout of `call`'s options: undefined for none; throws BadArgumentError on a bad option. */
export function wireTimeout(options: TimeoutOptions | undefined, call: string): number | undefined {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    // get(5) must not quietly mean "wait forever".
    throw new BadArgumentError('options must be an object such as { timeoutMs: 1000 }');
  }
  // get({ timeout: 1000 }) neither.
  if (options !== undefined) checkOptionKeys(options, TIMEOUT_OPTION_KEYS, call);
  const t = options?.timeoutMs;
  if (t === undefined || t === Infinity) return undefined;
  // The same range as map's timeoutMs: a whole number of ms a Node timer can run (0 does not wait).
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_TIMEOUT_MS) {
    throw new BadArgumentError(`options.timeoutMs must be an integer from 0 to ${MAX_TIMEOUT_MS}, or Infinity for no limit`);
  }
  return t;
}

/**
 * Largest encoded operand (value, item, delta) a handle sends: what fits in
 * one frame under the daemon's default limit, with room for the envelope
 * (the client's batch chunks use the same bound).
 */
export const MAX_VALUE_BYTES = DEFAULT_MAX_PAYLOAD - ENVELOPE_BYTES;

/**
 * Encodes a value for the daemon (E_NOT_CLONEABLE for what structured clone
 * cannot copy), refusing with E_TOO_LARGE before anything is sent what the
 * daemon would not accept: an oversized frame would cost the whole connection.
 */
export function encodeOperand(value: unknown, what: string, budget: number = MAX_VALUE_BYTES): Uint8Array {
  const bytes = encodeData(value, what);
  if (bytes.length > budget) {
    throw new TooLargeError(`${what} is ${bytes.length} bytes encoded, over the limit of ${budget} bytes (MAX_VALUE_BYTES)`);
  }
  return bytes;
}
