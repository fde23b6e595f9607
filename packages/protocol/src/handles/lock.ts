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

/** A lock grant: its fencing token. */
export interface LockGrant {
  token: number;
}

/** A handle on a shared Lock. Methods never throw synchronously: they reject with a CorepoolError. */
export class Lock extends NamedHandle {
  #token: number | undefined;

  constructor(transport: StateTransport, name: string) {
    super('lock', transport, name);
  }

  /** The fencing token of the grant this handle holds, or undefined. */
  get token(): number | undefined {
    return this.#token;
  }

  /** Waits for the lock up to `timeoutMs` (E_TIMEOUT), forever by default; 0 tries once. */
  async acquire(options?: TimeoutOptions): Promise<LockGrant> {
    this.checkName();
    const timeoutMs = wireTimeout(options);
    const grant = (await this.transport.request(
      timeoutMs === undefined ? { op: 'lock.acquire', name: this.name } : { op: 'lock.acquire', name: this.name, timeoutMs },
    )) as LockGrant;
    this.#token = grant.token;
    return { token: grant.token };
  }

  /** Releases the grant this handle holds; E_LOCK_NOT_HELD if it holds none (or lost it). */
  async release(): Promise<void> {
    this.checkName();
    if (this.#token === undefined) throw new LockNotHeldError(`lock "${this.name}" is not held by this handle`);
    await this.#release(this.#token);
  }

  /** Runs `fn(token)` holding the lock, and releases it after, also when `fn` throws. */
  async withLock<R>(fn: (token: number) => R | Promise<R>, options?: TimeoutOptions): Promise<R> {
    if (typeof fn !== 'function') throw new BadArgumentError('withLock(fn): fn must be a function');
    const { token } = await this.acquire(options);
    let result: R;
    try {
      result = await fn(token);
    } catch (err) {
      await this.#release(token).catch(() => {});
      throw err;
    }
    await this.#release(token);
    return result;
  }

  async #release(token: number): Promise<void> {
    try {
      await this.transport.request({ op: 'lock.release', name: this.name, token });
    } finally {
      if (this.#token === token) this.#token = undefined;
    }
  }
}
