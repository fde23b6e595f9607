/**
 * Value<T>: a named shared value held by the daemon's primary, the same
 * object for every client and task that names it. Every operation is atomic
 * and linearizable; subscribers see every version in order, or the latest
 * when they fall behind, never an older one after a newer one.
 */
import { decodeData } from '../codec.js';
import { NoSuchValueError } from '../errors.js';
import type { Push } from '../messages.js';
import { QueuedIterator } from '../queued-iterator.js';
import { NamedHandle, checkListener, decodePushed } from './named-handle.js';
import { encodeOperand, MAX_VALUE_BYTES, type StateTransport } from './transport.js';

/** Options of `client.value(name, options)` and `ctx.value(name, options)`. */
export interface ValueOptions<T> {
  /** Created with this value if it does not exist yet; an existing value is never overwritten. */
  initial?: T;
}

interface ValueReply {
  version: number;
  value: Uint8Array;
}

/** A handle on a shared Value. Methods never throw synchronously: they reject with a CorepoolError. */
export class Value<T = unknown> extends NamedHandle {
  /** Set while `initial` still has to be sent (value.init, once, before the first operation). */
  #initial: { value: T } | undefined;
  #initializing: Promise<void> | undefined;

  constructor(transport: StateTransport, name: string, options?: ValueOptions<T>) {
    super('value', transport, name, options);
    if (options?.initial !== undefined) this.#initial = { value: options.initial };
  }

  /** The current value; E_NO_SUCH_VALUE if it was never set (and has no `initial`). */
  async get(): Promise<T> {
    if (this.#pending()) await this.#ready();
    const r = (await this.transport.request({ op: 'value.get', name: this.name })) as ValueReply;
    return decodeData(r.value) as T;
  }

  /** Replaces the value. */
  set(value: T): Promise<void> {
    // Not async, like add: the operations a counter or a status makes thousands of times a second.
    if (this.#pending()) return this.#ready().then(() => this.#set(value));
    return this.#set(value);
  }

  #set(value: T): Promise<void> {
    try {
      const a = encodeOperand(value, `the value of "${this.name}"`);
      return this.transport.request({ op: 'value.set', name: this.name, a }).then(nothing);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Adds `delta` atomically (numbers to numbers, bigints to bigints; absent counts as 0) and resolves to the new value. */
  add(delta: T & (number | bigint)): Promise<T> {
    // Not an async function: one promise of the transport's and one for the decoded value per
    // call, instead of a suspended frame, its promise and an await's (the SDK allocated ~1 KB an add).
    if (this.#pending()) return this.#ready().then(() => this.#add(delta));
    return this.#add(delta);
  }

  #add(delta: T & (number | bigint)): Promise<T> {
    try {
      const a = encodeOperand(delta, 'the delta');
      return this.transport.request({ op: 'value.add', name: this.name, a }).then(decodeValue) as Promise<T>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Sets `next` if the value equals `expected` (structurally), atomically; resolves to whether it did. */
  async compareAndSet(expected: T, next: T): Promise<boolean> {
    if (this.#pending()) await this.#ready();
    const a = encodeOperand(expected, 'the expected value');
    const b = encodeOperand(next, `the value of "${this.name}"`, MAX_VALUE_BYTES - a.length);
    const r = (await this.transport.request({ op: 'value.cas', name: this.name, a, b })) as { ok: boolean };
    return r.ok;
  }

  /**
   * Deletes the value: it reads as absent again (get: E_NO_SUCH_VALUE) until something sets it;
   * this handle's `initial` is not sent any more (if not sent yet, it never is: deleting does not
   * first create), a new handle's is. Resolves to true if it existed, false if not. Subscribers
   * hear `onDelete`; versions start over at 1 when it is made again. Applied once, also when
   * resent after a reconnect.
   */
  async delete(): Promise<boolean> {
    this.checkName();
    // An init already on its way lands first, so the delete finds what it made.
    if (this.#initializing !== undefined) await this.#initializing.catch(() => {});
    this.#initial = undefined;
    return (await this.transport.request({ op: 'value.remove', name: this.name })) as boolean;
  }

  /**
   * Calls `cb` with the current value and then on every change; returns the
   * function that stops it. Versions only go forward: a push older than one
   * already delivered is dropped. When the value is deleted, `onDelete` is
   * called (`cb` is not) and the subscription goes on: a value made again
   * comes to `cb` from version 1. Throws BadNameError at once for a bad name, and
   * BadArgumentError for a `cb` (or `onEnd`, `onDelete`) that is not a function.
   */
  subscribe(cb: (value: T, version: number) => void, onEnd?: (err: Error) => void, onDelete?: () => void): () => void {
    this.checkName();
    checkListener('subscribe(cb): cb', cb);
    checkListener('subscribe(cb, onEnd): onEnd', onEnd, true);
    checkListener('subscribe(cb, onEnd, onDelete): onDelete', onDelete, true);
    // Creates the value from `initial` if needed; a failure shows in the next call that awaits it.
    this.#ready().catch(() => {});
    let last = 0;
    return this.transport.listen(
      'value',
      this.name,
      (push: Push) => {
        // The daemon lost track (cluster mode): versions may start over; the current value follows.
        if (push.resync === true) last = 0;
        if (push.deleted === true) {
          // Deleted: the next value (if any) starts over at version 1. Told only if it had one
          // (after a reconnect, an absent value comes as a delete whether or not it ever existed).
          const had = last > 0;
          last = 0;
          if (had) onDelete?.();
          return;
        }
        if (push.value === undefined || push.version <= last) return;
        const got = decodePushed<T>(push.value);
        if (got === undefined) return;
        last = push.version;
        cb(got.value, push.version);
      },
      onEnd,
    );
  }

  /**
   * The value now and after every change, as an async iterator; breaking out
   * of `for await` unsubscribes. A slow consumer gets the latest value, never
   * a backlog. When the value is deleted the loop ends by throwing
   * NoSuchValueError (E_NO_SUCH_VALUE).
   */
  async *watch(): AsyncGenerator<T, void, undefined> {
    const changes = new QueuedIterator<T>({ latestOnly: true });
    // onEnd: the client closed or gave up reconnecting, and the loop ends with that error instead of waiting forever.
    const stop = this.subscribe(
      (value) => changes.push(value),
      (err) => changes.end(err),
      () => changes.end(new NoSuchValueError(`value "${this.name}" was deleted`)),
    );
    try {
      yield* changes;
    } finally {
      stop();
    }
  }

  /** True while a call must first go through #ready (a bad name, or `initial` not sent yet): the common case skips an await. */
  #pending(): boolean {
    return this.bad !== undefined || this.#initial !== undefined;
  }

  /** Rejects for a bad name; sends `initial` once (value.init never overwrites). */
  #ready(): Promise<void> {
    if (this.bad !== undefined) return Promise.reject(this.bad);
    if (this.#initial === undefined) return RESOLVED;
    if (this.#initializing === undefined) {
      const { value } = this.#initial;
      this.#initializing = (async () => {
        const a = encodeOperand(value, `the initial value of "${this.name}"`);
        await this.transport.request({ op: 'value.init', name: this.name, a });
      })().then(
        () => {
          this.#initial = undefined;
        },
        (err: unknown) => {
          // Try again with the next operation (the connection may come back).
          this.#initializing = undefined;
          throw err;
        },
      );
    }
    return this.#initializing;
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

function nothing(): void {}

function decodeValue(r: unknown): unknown {
  return decodeData((r as ValueReply).value);
}
