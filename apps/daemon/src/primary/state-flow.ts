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
 * the release that ends the wait.
 */
import type { ReplayKey } from '../state/state-store.js';
import { MAX_BATCH_MESSAGES, type StateRequest } from '@corepool/protocol/internal';
import type { StateService } from './dispatch.js';

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

/** One connection's view of the state service, counting what it has in flight. */
export class StateFlow implements StateService {
  readonly #state: StateService;
  readonly #host: StateFlowHost;
  readonly #window: number;
  /** Reading resumes below this: half the window is still in flight. */
  readonly #readAgainBelow: number;
  #unanswered = 0;
  #held = false;
  /** A release is scheduled for the next turn. */
  #releasing = false;

  /** `window`: the most requests unanswered before the client is not read. */
  constructor(state: StateService, host: StateFlowHost, window: number) {
    this.#state = state;
    this.#host = host;
    this.#window = window;
    this.#readAgainBelow = Math.ceil(window / 2);
  }

  handle(owner: string, req: StateRequest, key?: ReplayKey): Promise<unknown> {
    const p = this.#state.handle(owner, req, key);
    if (req.op === 'queue.get' || req.op === 'lock.acquire') return p;
    if (++this.#unanswered >= this.#window && !this.#held) {
      this.#held = true;
      this.#host.hold();
    }
    p.then(this.#settled, this.#settled);
    return p;
  }

  undelivered(req: StateRequest, value: unknown, key?: ReplayKey): void {
    this.#state.undelivered(req, value, key);
  }

  releaseOwner(owner: string): void {
    this.#state.releaseOwner(owner);
  }

  readonly #settled = (): void => {
    if (--this.#unanswered < this.#readAgainBelow && this.#held && !this.#releasing) {
      // In a turn of its own: the settling turn also handles the replies that settled
      // (hundreds, from one read of Redis's socket), and reading again at once would add
      // the next window's requests to it, or, when they fail at once (the lease lost),
      // read the whole burst in one turn. Timers and the lease renewal run between.
      this.#releasing = true;
      setImmediate(this.#release);
    }
  };

  readonly #release = (): void => {
    this.#releasing = false;
    if (!this.#held || this.#unanswered >= this.#readAgainBelow) return;
    this.#held = false;
    this.#host.release();
  };
}
