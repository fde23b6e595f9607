/**
 * The shared-state traffic of workers, beside the chunk traffic of the pool
 * seam (worker-pool.ts): a task's state requests go to the store under its
 * worker's owner name, their replies and the pushes for that owner go back to
 * the worker, and the owner is released when the worker is gone (its locks,
 * subscriptions and blocked gets). The daemon wires one link to its pool;
 * workers of another daemon would need a link of their own, with owner names
 * that pool gives.
 */
import { checkName, EncodedValue, ErrorCode, LARGEST_MAX_PAYLOAD, type Push, type WireError } from '@corepool/protocol/internal';
import type { PushMessage, StateMessage, StateReplyMessage, StateReturnMessage } from '../ipc.js';
import type { StateStore as Store } from '../state/state-store.js';

/** The store as a worker's requests reach it (SharedState or RedisState). */
export type StateStore = Pick<Store, 'handle' | 'undelivered' | 'releaseOwner' | 'cancelGets'>;

/** How the link reaches the workers. */
export interface StateLinkHost<W> {
  /** The worker's owner name in the store: unique among all owners, and starting with `ownerPrefix`. */
  owner(w: W): string;
  /** Sends to the worker; false if it cannot take it. */
  send(w: W, m: StateReplyMessage | PushMessage): boolean;
  /** True once the worker has exited. */
  dead(w: W): boolean;
}

export class WorkerStateLink<W> {
  readonly #store: StateStore;
  readonly #host: StateLinkHost<W>;
  readonly #prefix: string;
  /** The live workers that may hold state, by owner name. */
  readonly #byOwner = new Map<string, W>();

  /** `ownerPrefix` starts every worker owner name, and no other owner's. */
  constructor(store: StateStore, host: StateLinkHost<W>, ownerPrefix: string) {
    this.#store = store;
    this.#host = host;
    this.#prefix = ownerPrefix;
  }

  /** The worker is ready: pushes for its owner reach it from now on. */
  ready(w: W): void {
    this.#byOwner.set(this.#host.owner(w), w);
  }

  /** A task's state request: answered to the worker, whatever the outcome. */
  request(w: W, m: StateMessage): void {
    // A dead worker's last requests must not take a lock for an owner that is already gone.
    if (this.#host.dead(w)) return;
    this.#store.handle(this.#host.owner(w), m.req).then(
      (value: unknown) => {
        // A value encoded already (a large listing) goes as its bytes, decoded by the worker.
        const reply: StateReplyMessage =
          value instanceof EncodedValue
            ? { t: 'state.reply', rid: m.rid, ok: true, encoded: value.bytes }
            : { t: 'state.reply', rid: m.rid, ok: true, value };
        if (!this.#host.send(w, reply)) this.#store.undelivered(m.req, value);
      },
      (err: { toWire?: () => WireError; message?: string }) =>
        this.#host.send(w, {
          t: 'state.reply',
          rid: m.rid,
          ok: false,
          error: typeof err.toWire === 'function' ? err.toWire() : { code: ErrorCode.E_INTERNAL, message: String(err.message) },
        }),
    );
  }

  /** The worker's running chunk was aborted: its blocked queue gets fail with E_CANCELLED now. */
  cancelGets(w: W): void {
    if (!this.#host.dead(w)) this.#store.cancelGets(this.#host.owner(w));
  }

  /**
   * An item a get took for a task cancelled meanwhile goes back to the front of its queue. What a
   * task could send as well as a put (its own bytes, to any queue): only a frame's worth is refused.
   */
  giveBack(w: W, m: StateReturnMessage): void {
    if (this.#host.dead(w) || checkName(m.name) !== undefined) return;
    if (!(m.value instanceof Uint8Array) || m.value.length === 0 || m.value.length > LARGEST_MAX_PAYLOAD) return;
    this.#store.undelivered({ op: 'queue.get', name: m.name }, m.value);
  }

  /** A push for `owner`: true if the owner is a worker's (delivered if that worker still lives), false if not. */
  push(owner: string, push: Push): boolean {
    if (!owner.startsWith(this.#prefix)) return false;
    const w = this.#byOwner.get(owner);
    if (w !== undefined) this.#host.send(w, { t: 'push', push });
    return true;
  }

  /** The worker exited: its owner is released. */
  gone(w: W): void {
    const owner = this.#host.owner(w);
    this.#byOwner.delete(owner);
    this.#store.releaseOwner(owner);
  }
}
