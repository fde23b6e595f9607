/**
 * Lock: a named mutex held by the daemon's primary. Grants go in arrival
 * order, each with a fencing token that only grows (also across daemon
 * restarts): pass it to the resource you protect so it can refuse a stale
 * holder. A lock whose holder disconnects or dies is released, and a lock a
 * task takes is released when that task ends (see the worker's task-scope.ts).
 */
import { BadArgumentError, LockNotHeldError } from '../errors.js';
import { NamedHandle } from './named-handle.js';
import { wireTimeout, type StateTransport, type TimeoutOptions } from './transport.js';

/** A lock grant: its fencing token, and the signal that tells the holder it lost the lock. */
export interface LockGrant {
  token: number;
  /**
   * Aborts, with an E_LOCK_NOT_HELD error as its reason, when the grant is
   * lost while held: the connection that holds it closed, so the daemon has
   * released the lock (another client may hold it now). Never aborts for a
   * lock a task holds (it lasts as long as the task).
   */
  signal: AbortSignal;
  /**
   * Releases this grant if its handle still holds it (nothing if it was released already), so
   * that `await using grant = await lock.acquire()` releases the lock at the end of the block,
   * also when the block throws. Rejects with E_LOCK_NOT_HELD when the grant was lost meanwhile
   * (its signal aborted), as `release()` and `withLock` do.
   */
  [Symbol.asyncDispose](): Promise<void>;
}

interface Held {
  token: number;
  controller: AbortController;
  unwatch: () => void;
}

/** A handle on a shared Lock. Methods never throw synchronously: they reject with a CorepoolError. */
export class Lock extends NamedHandle {
  #held: Held | undefined;

  constructor(transport: StateTransport, name: string) {
    super('lock', transport, name);
  }

  /** The fencing token of the grant this handle holds, or undefined. */
  get token(): number | undefined {
    return this.#held?.token;
  }

  /** The signal of the grant this handle holds (see LockGrant.signal), or undefined. */
  get signal(): AbortSignal | undefined {
    return this.#held?.controller.signal;
  }

  /** Waits for the lock up to `timeoutMs` (E_TIMEOUT), forever by default; 0 tries once. */
  async acquire(options?: TimeoutOptions): Promise<LockGrant> {
    const held = await this.#acquire(options, 'lock.acquire');
    return {
      token: held.token,
      signal: held.controller.signal,
      [Symbol.asyncDispose]: async () => {
        if (this.#held === held) await this.#release(held);
      },
    };
  }

  async #acquire(options: TimeoutOptions | undefined, call: string): Promise<Held> {
    this.checkName();
    const timeoutMs = wireTimeout(options, call);
    // Watched from before the request: a loss between the grant and its reply is not missed.
    const controller = new AbortController();
    const unwatch =
      this.transport.onLinkLost?.((err) => {
        controller.abort(
          new LockNotHeldError(
            `lock "${this.name}" was lost: the connection that held it closed, and the daemon released it (${err.message})`,
            { cause: err },
          ),
        );
      }) ?? NOOP;
    let grant: { token: number };
    try {
      grant = (await this.transport.request(
        timeoutMs === undefined ? { op: 'lock.acquire', name: this.name } : { op: 'lock.acquire', name: this.name, timeoutMs },
      )) as { token: number };
    } catch (err) {
      unwatch();
      throw err;
    }
    this.#held?.unwatch();
    this.#held = { token: grant.token, controller, unwatch };
    return this.#held;
  }

  /**
   * Releases the grant this handle holds; E_LOCK_NOT_HELD if it holds none,
   * or lost it (its signal aborted).
   */
  async release(): Promise<void> {
    this.checkName();
    const held = this.#held;
    if (held === undefined) throw new LockNotHeldError(`lock "${this.name}" is not held by this handle`);
    await this.#release(held);
  }

  /**
   * `delete()`, as on every handle: a lock exists only while held, so deleting it is releasing
   * this handle's grant. Resolves to true if this handle held the lock and released it, false if
   * it held none (or lost it: the daemon released it already). A lock another client holds is
   * never taken from it: that would end its mutual exclusion, so the holder's grant stands.
   */
  async delete(): Promise<boolean> {
    this.checkName();
    const held = this.#held;
    if (held === undefined) return false;
    if (held.controller.signal.aborted) {
      // Lost: the daemon released it already, so there is nothing to ask of it.
      held.unwatch();
      this.#held = undefined;
      return false;
    }
    await this.#release(held);
    return true;
  }

  /**
   * Runs `fn(token, signal)` holding the lock, and releases it after, also
   * when `fn` throws. `signal` aborts if the lock is lost meanwhile (see
   * LockGrant.signal); withLock then rejects with E_LOCK_NOT_HELD even if `fn`
   * resolved, since its work was not protected to the end.
   */
  async withLock<R>(fn: (token: number, signal: AbortSignal) => R | Promise<R>, options?: TimeoutOptions): Promise<R> {
    if (typeof fn !== 'function') throw new BadArgumentError('withLock(fn): fn must be a function');
    const held = await this.#acquire(options, 'lock.withLock');
    let result: R;
    try {
      result = await fn(held.token, held.controller.signal);
    } catch (err) {
      await this.#release(held).catch(() => {});
      throw err;
    }
    await this.#release(held);
    return result;
  }

  async #release(held: Held): Promise<void> {
    const signal = held.controller.signal;
    try {
      // A lost grant is not asked about: the daemon released it, and the lock may be another's by now.
      if (signal.aborted) throw signal.reason;
      await this.transport.request({ op: 'lock.release', name: this.name, token: held.token });
    } finally {
      held.unwatch();
      if (this.#held === held) this.#held = undefined;
    }
  }
}

const NOOP = (): void => {};
