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
 * newcomer's chunk starts or ends, or once acted on. It outlives a moment
 * with nothing to run: the primary asks for the chunk it just sent, which this
 * worker may read only after the request has come (it went from its last chunk
 * to no chunk without reading its socket); dropped then, such a request let
 * that chunk run whole, ~480 ms, while the newcomer's one item waited behind
 * it. A chunk that starts drops a request older than CUT_REQUEST_TTL_MS (never
 * one heard while a chunk runs: an item may take longer than that), and the
 * worker going idle drops one that spares none (it asked for a free worker:
 * this one is).
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

/** A request pending from before a chunk starts, and older than this, is not for that chunk (the primary's CUT_PENDING_MS). */
export const CUT_REQUEST_TTL_MS = 5 * CHUNK_TARGET_MS;

/** Date.now() as the guard thread stores it with a request: modulo 2^31, to fit an Int32Array. */
export const CLOCK_MOD = 2 ** 31;

/** [0]: cut requests heard so far; [1]: the chunk key the last one spares; [2]: when it came (Date.now() mod CLOCK_MOD). */
export const cutRequests = new Int32Array(new SharedArrayBuffer(12));

/** Requests heard (cutRequests[0]) when the runner last acted on one or dropped it. */
let settled = 0;

/** Captured at load, before any task's code can replace or stub it (fake timers). */
const dateNow = Date.now;

/** True if a request is pending and does not spare chunk `key`. */
export function cutAsked(key: number): boolean {
  return Atomics.load(cutRequests, 0) !== settled && Atomics.load(cutRequests, 1) !== (key | 0);
}

/** Milliseconds from `at` to `now`, both Date.now() modulo CLOCK_MOD. */
export function requestAge(now: number, at: number): number {
  return (now - at + CLOCK_MOD) % CLOCK_MOD;
}

/** A chunk starts: a request pending from before that is older than CUT_REQUEST_TTL_MS is done with. */
export function cutExpire(): void {
  const heard = Atomics.load(cutRequests, 0);
  if (heard !== settled && requestAge(dateNow() % CLOCK_MOD, Atomics.load(cutRequests, 2)) >= CUT_REQUEST_TTL_MS) settled = heard;
}

/** The worker has nothing to run: a request that spares none (for a free worker) is done with. */
export function cutIdle(): void {
  if (Atomics.load(cutRequests, 1) === 0) cutSettled();
}

/** The pending requests are done with: a chunk was cut, the spared chunk starts, or (cutExpire, cutIdle) they are not for what runs next. */
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
