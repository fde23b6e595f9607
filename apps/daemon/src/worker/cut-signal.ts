/**
 * The primary's requests to cut the running chunk short, as the chunk's loop
 * sees them. A worker busy in a synchronous task reads no message until the
 * chunk ends, so a request travels on the guard socket (GUARD_FD, channel.ts)
 * to the orphan guard's thread (orphan-guard.ts), which no task blocks; the
 * thread counts it in memory shared with this thread, with the key of the
 * chunk it is made for (the newcomer's, never cut), and the runner looks
 * between items (two atomic loads).
 *
 * A request is for whatever chunk other than the newcomer's runs when the
 * runner sees it, not for a key: the chunk the primary saw running may have
 * ended, and the next one started, by the time it arrives (a race the primary
 * cannot see). Each request cuts one chunk at most; it is dropped once the
 * newcomer's chunk starts or ends, or the worker has nothing left to run.
 *
 * Best effort by design: a task that reads or closes fd 5 only keeps its own
 * worker's chunks whole, as they were before chunks could be cut.
 */
import { CHUNK_TARGET_MS } from '@corepool/protocol/internal';

/**
 * A chunk is cut no sooner than this after it started: as long as a chunk runs while
 * clients share the pool. An app that keeps arriving (one item at a time) cannot cut
 * another's chunks finer than sharing would, nor have their payloads sent again more often.
 */
export const CUT_NOT_BEFORE_MS = CHUNK_TARGET_MS;

/** [0]: cut requests heard so far; [1]: the chunk key the last one spares. */
export const cutRequests = new Int32Array(new SharedArrayBuffer(8));

/** Requests heard (cutRequests[0]) when the runner last acted on one or dropped it. */
let settled = 0;

/** True if a request is pending and does not spare chunk `key`. */
export function cutAsked(key: number): boolean {
  return Atomics.load(cutRequests, 0) !== settled && Atomics.load(cutRequests, 1) !== (key | 0);
}

/** The pending requests are done with: a chunk was cut, the newcomer's chunk starts, or nothing is left to run. */
export function cutSettled(): void {
  settled = Atomics.load(cutRequests, 0);
}

/**
 * Chunk `key` starts or ends: if it is the one the last request was made for (the newcomer's),
 * that request is done with; one that arrived while it ran must not cut the chunk after it.
 */
export function cutSpared(key: number): void {
  if (Atomics.load(cutRequests, 1) === (key | 0)) cutSettled();
}
