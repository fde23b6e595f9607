/**
 * The push listeners of one transport (the SDK's WebSocket or a worker's IPC
 * channel), kept once for both: it subscribes at the daemon when a name gets
 * its first listener and unsubscribes after the last, hands each new listener
 * the current value (from the subscribe reply), resubscribes after a
 * reconnect, and tells every listener when the transport ends for good.
 */
import { ErrorCode } from '../codes.js';
import { CorepoolError } from '../errors.js';
import type { Push, StateRequest } from '../messages.js';
import { callUser } from '../user-callback.js';

/**
 * Refusals that say nothing about the subscription itself: the link dropped
 * (resubscribeAll sends it again), the client closed (endAll ends it), or a
 * daemon in cluster mode could not read Redis (the daemon keeps the
 * subscription, and pushes resume with Redis). Any other refusal (E_LIMIT,
 * E_BAD_NAME) is final for that subscription.
 */
const TRANSIENT = new Set<string>([ErrorCode.E_CONNECTION, ErrorCode.E_CLOSED, ErrorCode.E_SHUTTING_DOWN, ErrorCode.E_UNAVAILABLE]);

type Kind = 'value' | 'dict';

interface Listener {
  push(p: Push): void;
  end?: ((err: Error) => void) | undefined;
  resync?: (() => void) | undefined;
  /**
   * Pushes that came while its subscribe reply (a value's current state) was on its way: the reply
   * is settled a microtask after the frame that carried it and the pushes behind it, so without
   * holding them a push newer than the reply would be heard first and the current value dropped.
   */
  held?: Push[] | undefined;
}

/** Listener bookkeeping over a transport's `request`. */
export class ListenerRegistry {
  readonly #byName = new Map<string, Set<Listener>>();
  readonly #request: (req: StateRequest) => Promise<unknown>;
  /** Set once the transport is gone for good: a listener added later ends at once. */
  #ended: Error | undefined;

  constructor(request: (req: StateRequest) => Promise<unknown>) {
    this.#request = request;
  }

  /** Adds a listener; returns the function that removes it. */
  listen(kind: Kind, name: string, push: (p: Push) => void, end?: (err: Error) => void, resync?: () => void): () => void {
    const ended = this.#ended;
    if (ended !== undefined) {
      // After close: no subscription, and the listener hears why (a watch() loop ends instead of waiting forever).
      if (end !== undefined) queueMicrotask(() => callUser(end, ended));
      return () => {};
    }
    const key = `${kind}\0${name}`;
    let set = this.#byName.get(key);
    if (set === undefined) {
      set = new Set();
      this.#byName.set(key, set);
    }
    const listener: Listener = { push, end, resync };
    set.add(listener);
    // Subscribing is idempotent at the daemon, so each new listener gets the current value first.
    this.#subscribe(kind, name, [listener], (p) => {
      if (set.has(listener)) callUser(listener.push, p);
    });
    return () => {
      if (!set.delete(listener) || set.size > 0) return;
      this.#byName.delete(key);
      this.#request({ op: `${kind}.unsubscribe`, name }).catch(() => {});
    };
  }

  /**
   * Routes a push from the daemon to its listeners. A `resync` push (cluster mode: the
   * daemon cannot prove it pushed every change) goes to the listeners too, so they forget
   * the versions they saw (after Redis lost data, versions start over), and the name is
   * subscribed again as after a reconnect: listeners get the current state.
   */
  deliver(p: Push): void {
    const key = `${p.kind}\0${p.name}`;
    const set = this.#byName.get(key);
    if (set === undefined) return;
    for (const l of set) {
      if (l.held !== undefined) l.held.push(p);
      else callUser(l.push, p);
    }
    if (p.resync === true) this.#resubscribe(key, set);
  }

  /** After a reconnect: subscribe again to every name, and give listeners the current value. */
  resubscribeAll(): void {
    for (const [key, set] of this.#byName) this.#resubscribe(key, set);
  }

  #resubscribe(key: string, set: Set<Listener>): void {
    // At the first NUL only: a name may hold NULs itself (split at each, "a\0b" was resubscribed as "a").
    const at = key.indexOf('\0');
    const kind = key.slice(0, at) as Kind;
    const name = key.slice(at + 1);
    this.#subscribe(
      kind,
      name,
      [...set],
      (p) => {
        for (const l of set) callUser(l.push, p);
      },
      () => {
        // Changes made while the link was down came with no push: listeners that can, read them now.
        for (const l of set) if (l.resync !== undefined) callUser(l.resync);
      },
      true,
    );
  }

  /**
   * Every listener ends with `err`; with `forGood` (the transport is gone for good) so does every one
   * added later. Without it (a client offline: its next call revives the link) later ones subscribe as
   * usual: marked ended then, a client offline once never had a subscription again.
   */
  endAll(err: Error, forGood = true): void {
    if (forGood) this.#ended ??= err;
    const all = [...this.#byName.values()];
    this.#byName.clear();
    for (const set of all) for (const l of set) if (l.end !== undefined) callUser(l.end, err);
  }

  /** Sends a subscribe for `covers`; a final refusal ends those listeners with the daemon's error. */
  #subscribe(kind: Kind, name: string, covers: Listener[], first: (p: Push) => void, subscribed?: () => void, again = false): void {
    // A value's listeners hear its current state first, then what changed after it, in that order.
    if (kind === 'value') for (const l of covers) l.held ??= [];
    const release = (): void => {
      for (const l of covers) {
        const held = l.held ?? [];
        l.held = undefined;
        for (const p of held) callUser(l.push, p);
      }
    };
    this.#request({ op: `${kind}.subscribe`, name }).then(
      (reply) => {
        subscribed?.();
        // A value's subscribe reply carries its current state (no value field while it does not exist).
        if (kind === 'value') {
          const r = reply as { version: number; value?: Uint8Array };
          // Again (after a reconnect), the value may have been deleted meanwhile, or deleted and made
          // again with lower versions: the current state comes as a fresh start (resync), or as a delete.
          if (r.value !== undefined)
            first({ type: 'push', kind, name, version: r.version, value: r.value, ...(again ? { resync: true } : {}) });
          else if (again) first({ type: 'push', kind, name, version: 0, deleted: true });
        }
        release();
      },
      (err: unknown) => {
        release();
        if (!(err instanceof CorepoolError) || TRANSIENT.has(err.code)) return;
        this.#refused(`${kind}\0${name}`, covers, err);
      },
    );
  }

  /** The daemon refused to subscribe `covers`: they get no pushes, so they end (a watch() loop rejects). */
  #refused(key: string, covers: Listener[], err: Error): void {
    const set = this.#byName.get(key);
    if (set === undefined) return;
    const ended = covers.filter((l) => set.delete(l));
    if (set.size === 0) this.#byName.delete(key);
    for (const l of ended) if (l.end !== undefined) callUser(l.end, err);
  }
}
