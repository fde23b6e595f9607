/**
 * Dict<T>: a named map from string keys to values, held by the daemon's
 * primary and kept across restarts. Subscribers get every change (a set or a
 * delete) in order.
 */
import { decodeData } from '../codec.js';
import { ErrorCode } from '../codes.js';
import { BadNameError } from '../errors.js';
import type { Push } from '../messages.js';
import { checkDictKey } from '../parse.js';
import { callUser } from '../user-callback.js';
import { NamedHandle, decodePushed } from './named-handle.js';
import { encodeOperand, type StateTransport } from './transport.js';

/** A handle on a shared Dict. Methods never throw synchronously: they reject with a CorepoolError. */
export class Dict<T = unknown> extends NamedHandle {
  constructor(transport: StateTransport, name: string) {
    super('dict', transport, name);
  }

  /** The value at `key`, or undefined when there is none (see `has` for a stored undefined). */
  async get(key: string): Promise<T | undefined> {
    this.#check(key);
    const bytes = await this.transport.request({ op: 'dict.get', name: this.name, key });
    return bytes === null || bytes === undefined ? undefined : (decodeData(bytes as Uint8Array) as T);
  }

  /** Sets `key` to `value`. */
  async set(key: string, value: T): Promise<void> {
    this.#check(key);
    const a = encodeOperand(value, `the value of "${this.name}"[${JSON.stringify(key)}]`);
    await this.transport.request({ op: 'dict.set', name: this.name, key, a });
  }

  /** Deletes `key`; resolves to whether it was there. */
  async delete(key: string): Promise<boolean> {
    this.#check(key);
    return (await this.transport.request({ op: 'dict.delete', name: this.name, key })) as boolean;
  }

  /** Whether `key` is set. */
  async has(key: string): Promise<boolean> {
    this.#check(key);
    return (await this.transport.request({ op: 'dict.has', name: this.name, key })) as boolean;
  }

  /** Every key, in insertion order. */
  async keys(): Promise<string[]> {
    this.#check('');
    return (await this.transport.request({ op: 'dict.keys', name: this.name })) as string[];
  }

  /** Every [key, value] pair, in insertion order. */
  async entries(): Promise<[string, T][]> {
    this.#check('');
    const raw = (await this.transport.request({ op: 'dict.entries', name: this.name })) as [string, Uint8Array][];
    return raw.map(([k, v]) => [k, decodeData(v) as T]);
  }

  /** How many keys are set. */
  async size(): Promise<number> {
    this.#check('');
    return (await this.transport.request({ op: 'dict.size', name: this.name })) as number;
  }

  /**
   * Calls `cb(key, value, false)` on every set and `cb(key, undefined, true)`
   * on every delete, in order; returns the function that stops it. `onEnd`
   * hears why the subscription ended when the client closes or gives up
   * reconnecting. Throws BadNameError at once for a bad name.
   */
  subscribe(cb: (key: string, value: T | undefined, deleted: boolean) => void, onEnd?: (err: Error) => void): () => void {
    this.checkName();
    let last = 0;
    let live = true;
    // Keys this subscriber has been told about, so a resync can report the ones deleted meanwhile.
    const known = new Set<string>();
    const resync = (): void => {
      this.#rawEntries().then(
        (reply) => {
          if (!live) return;
          const present = new Set<string>();
          for (const [key, bytes] of reply) {
            const got = decodePushed<T>(bytes);
            if (got === undefined) continue;
            present.add(key);
            known.add(key);
            callUser(cb, key, got.value, false);
          }
          for (const key of [...known]) {
            if (present.has(key)) continue;
            known.delete(key);
            callUser(cb, key, undefined, true);
          }
        },
        () => {},
      );
    };
    const stop = this.transport.listen(
      'dict',
      this.name,
      (push: Push) => {
        // The daemon lost track (cluster mode): versions may start over; a full read follows (resync).
        if (push.resync === true) last = 0;
        if (push.key === undefined || push.version <= last) return;
        if (push.deleted === true) {
          last = push.version;
          known.delete(push.key);
          cb(push.key, undefined, true);
          return;
        }
        const got = push.value === undefined ? undefined : decodePushed<T>(push.value);
        if (got === undefined) return;
        last = push.version;
        known.add(push.key);
        cb(push.key, got.value, false);
      },
      onEnd,
      resync,
    );
    return () => {
      live = false;
      stop();
    };
  }

  /** Every entry, still encoded; a dict too large for one reply (E_TOO_LARGE) is read key by key. */
  async #rawEntries(): Promise<[string, Uint8Array][]> {
    try {
      return (await this.transport.request({ op: 'dict.entries', name: this.name })) as [string, Uint8Array][];
    } catch (err) {
      if ((err as { code?: unknown }).code !== ErrorCode.E_TOO_LARGE) throw err;
    }
    const out: [string, Uint8Array][] = [];
    for (const key of (await this.transport.request({ op: 'dict.keys', name: this.name })) as string[]) {
      const bytes = await this.transport.request({ op: 'dict.get', name: this.name, key });
      if (bytes instanceof Uint8Array) out.push([key, bytes]);
    }
    return out;
  }

  #check(key: unknown): void {
    this.checkName();
    const bad = checkDictKey(key);
    if (bad !== undefined) throw new BadNameError(bad);
  }
}
