/**
 * The one interface the shared-state handles (Value, Queue, Dict, Lock) talk
 * through. The client SDK implements it over its WebSocket, the worker over
 * its IPC channel to the primary, so a task and an app share one counter.
 */
import { BadArgumentError, BadNameError } from '../errors.js';
import type { Push, StateRequest } from '../messages.js';
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
   * Returns the function that removes the listener.
   */
  listen(kind: 'value' | 'dict', name: string, cb: (push: Push) => void): () => void;
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

/** The wire timeout: undefined for none; throws BadArgumentError on a bad option. */
export function wireTimeout(options: TimeoutOptions | undefined): number | undefined {
  const t = options?.timeoutMs;
  if (t === undefined || t === Infinity) return undefined;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) {
    throw new BadArgumentError('options.timeoutMs must be a non-negative number');
  }
  return Math.ceil(t);
}
