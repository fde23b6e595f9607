/**
 * state-flow.ts - bounds the state requests one connection has unanswered in
 * the daemon. Past its window its session stops reading the client (as it
 * does while replies wait to be sent), and reads again once half are answered:
 * a burst (100,000 `add`s in flight from one Promise.all) then waits in the
 * client's socket, not in the daemon's memory or in the Redis connection's
 * queue. Without it, one client's burst took a cluster daemon's event loop for
 * seconds at a time (each request handed to Redis in the same turn) and
 * queued every other client's requests behind its own, until the daemon
 * missed its lease renewals.
 *
 * Calls that may wait on another client (queue.get, lock.acquire) are not
 * counted: a client whose window were full of them could not send the put or
 * the release that ends the wait. A listing of a dict (keys, entries) counts
 * for an eighth of the window: it may read a whole large dict and hold it
 * while its reply is encoded over turns (listing-encoder.ts) or paged from
 * Redis (dict-walks.ts), so one connection has about eight in flight, not
 * thousands.
 *
 * The connection's dispatch tells the flow of each request it sends and each
 * it answers, from the reaction it has on the request's outcome anyway: the
 * flow adds no promise of its own (one more per request in flight was
 * measured at ~150 bytes and a microtask each under a burst).
 */
import { MAX_BATCH_MESSAGES, type StateRequest } from '@corepool/protocol/internal';

/**
 * The window on Redis (cluster mode): every request in it is handed to Redis in
 * the turn it arrives, and its reply handled in a later one, so the window is
 * what one turn may cost; half of it (128 scripts, a few ms of Redis's time)
 * still keeps Redis busy while the client's next requests are read.
 */
export const CLUSTER_STATE_WINDOW = 256;
/**
 * The window on LMDB (standalone): one coalesced frame of requests (the
 * protocol's MAX_BATCH_MESSAGES), answered together by the next group commit,
 * so a burst is read at the pace it was before, with the daemon's memory bounded.
 */
export const LOCAL_STATE_WINDOW = MAX_BATCH_MESSAGES;

/** What a flow asks of its session. */
export interface StateFlowHost {
  /** Too many requests unanswered: stop reading the client. */
  hold(): void;
  /** Few enough again: read it (unless something else holds it). */
  release(): void;
}

/** Requests one listing counts for, out of a window of `window`. */
const listingWeight = (window: number): number => Math.max(1, Math.floor(window / 8));

/** What a request counts for against the window: nothing for one that may wait on another client. */
function weight(req: StateRequest, listing: number): number {
  switch (req.op) {
    case 'queue.get':
    case 'lock.acquire':
      return 0;
    case 'dict.keys':
    case 'dict.entries':
      return listing;
    default:
      return 1;
  }
}

/** One connection's state requests in flight, counted against its window. */
export class StateFlow {
  readonly #host: StateFlowHost;
  readonly #window: number;
  /** Reading resumes below this: half the window is still in flight. */
  readonly #readAgainBelow: number;
  readonly #listing: number;
  #unanswered = 0;
  #held = false;
  /** A release is scheduled for the next turn. */
  #releasing = false;

  /** `window`: the most requests unanswered before the client is not read. */
  constructor(host: StateFlowHost, window: number) {
    this.#host = host;
    this.#window = window;
    this.#readAgainBelow = Math.ceil(window / 2);
    this.#listing = listingWeight(window);
  }

  /** `req` was handed to the state service; `answered(req)` follows once its outcome settles. */
  sent(req: StateRequest): void {
    const w = weight(req, this.#listing);
    if (w === 0) return;
    if ((this.#unanswered += w) >= this.#window && !this.#held) {
      this.#held = true;
      this.#host.hold();
    }
  }

  /** The outcome of a request `sent` settled (whether or not its connection is still open). */
  answered(req: StateRequest): void {
    const w = weight(req, this.#listing);
    if (w === 0) return;
    if ((this.#unanswered -= w) < this.#readAgainBelow && this.#held && !this.#releasing) {
      // In a turn of its own: the settling turn also handles the replies that settled
      // (hundreds, from one read of Redis's socket), and reading again at once would add
      // the next window's requests to it, or, when they fail at once (the lease lost),
      // read the whole burst in one turn. Timers and the lease renewal run between.
      this.#releasing = true;
      setImmediate(this.#release);
    }
  }

  readonly #release = (): void => {
    this.#releasing = false;
    if (!this.#held || this.#unanswered >= this.#readAgainBelow) return;
    this.#held = false;
    this.#host.release();
  };
}
