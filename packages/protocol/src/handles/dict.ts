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
import { sha256 } from '../sha256.js';
import { callUser } from '../user-callback.js';
import { NamedHandle, checkListener, decodePushed } from './named-handle.js';
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

  /**
   * `delete(key)` deletes `key` and resolves to whether it was there; `delete()`, with no
   * argument, deletes the whole dict, as `delete()` does on every handle (the same as clear()).
   * An explicit `delete(undefined)` is E_BAD_NAME, as for any key that is not a string.
   */
  delete(): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  async delete(...args: [] | [key: string]): Promise<boolean> {
    if (args.length === 0) return this.clear();
    const key = args[0];
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
   * Deletes the whole dict (every key; `delete(key)` deletes one). Resolves to true if it held
   * keys, false if it was empty or never existed. Its subscribers are told with one delete per
   * key they had (see subscribe); the next set makes it again, its version starting over.
   * Applied once, also when resent after a reconnect.
   */
  async clear(): Promise<boolean> {
    this.checkName();
    return (await this.transport.request({ op: 'dict.remove', name: this.name })) as boolean;
  }

  /**
   * Calls `cb(key, value, false)` on every set and `cb(key, undefined, true)`
   * on every delete, in order, from the subscription on (not the entries it
   * finds); returns the function that stops it. After a reconnect it reports
   * what changed while the link was down, compared with what it had: changed
   * and new keys as sets, removed keys as deletes, nothing else (subscribing
   * reads the entries once for that; of a dict too large for one reply, every
   * entry it has not been told of is reported as a set instead). When the dict is cleared
   * (`clear()`, `corepool state rm`), `cb(key, undefined, true)` is called for each key the
   * subscriber had, and the subscription goes on: later sets are reported as usual. `onEnd` hears why the subscription
   * ended when the client closes or gives up reconnecting. Throws
   * BadNameError at once for a bad name, and BadArgumentError for a `cb` or `onEnd` that is not a function.
   */
  subscribe(cb: (key: string, value: T | undefined, deleted: boolean) => void, onEnd?: (err: Error) => void): () => void {
    this.checkName();
    checkListener('subscribe(cb): cb', cb);
    checkListener('subscribe(cb, onEnd): onEnd', onEnd, true);
    let last = 0;
    let live = true;
    // What this subscriber has as each key's value (a digest of its bytes): the entries when it
    // subscribed, then every push. After a reconnect the entries are read again and only what
    // differs is reported (sets, and deletes of keys it had), not the whole dict.
    const seen = new Map<string, string>();
    // The first read is the baseline: nothing reported, since a fresh subscriber hears changes only.
    let baseline: Promise<void> | undefined;
    // The link dropped before the baseline's reply came: the read is sent again after the reconnect and answers
    // with the dict as it is then, changes made meanwhile included. Taken silently as the baseline, those changes
    // were never reported (a resync compared against it found nothing): it is reported instead, every entry a
    // set, as when no baseline can be had.
    let baselineLate = false;
    let baselineDone = false;
    // While reads are under way, each pushed key's push count (and the count at the last whole-dict
    // delete): a key pushed after a read was sent keeps what its push said, since the read's reply may
    // be the older of the two. The SDK reports pushes as it reads them and settles a reply a few
    // microtasks later, so a reply and later pushes read together (a client that fell behind, Nagle on
    // a proxy between) reach this handle pushes first; in cluster mode they also come by different
    // paths. Taken as newer, a baseline answered behind three pushes dropped the keys they had told of,
    // and the next resync reported a rewrite of one as a change and missed the delete of another.
    let reads = 0;
    let pushes = 0;
    let clearedAt = -1;
    const pushedAt = new Map<string, number>();
    const pushed = (key: string | undefined): void => {
      if (reads === 0) return;
      pushes++;
      if (key === undefined) clearedAt = pushes;
      else pushedAt.set(key, pushes);
    };
    // Without a baseline (a dict too large for one reply is not read key by key just to subscribe),
    // a resync reports every entry as a set, as a fresh read would.
    const read = (report: boolean): Promise<void> => {
      reads++;
      const since = pushes;
      const newer = (key: string): boolean => clearedAt > since || (pushedAt.get(key) ?? -1) > since;
      const done = (): void => {
        if (--reads > 0) return;
        pushedAt.clear();
        pushes = 0;
        clearedAt = -1;
      };
      const isBaseline = baseline === undefined;
      return this.#rawEntries(report).then((reply) => {
        if (!live) return done();
        if (isBaseline && baselineLate) report = true;
        const present = new Set<string>();
        for (const [key, bytes] of reply) {
          present.add(key);
          if (newer(key)) continue;
          const digest = digestOf(bytes);
          if (seen.get(key) === digest) continue;
          seen.set(key, digest);
          if (!report) continue;
          const got = decodePushed<T>(bytes);
          if (got !== undefined) callUser(cb, key, got.value, false);
        }
        for (const key of [...seen.keys()]) {
          if (present.has(key) || newer(key)) continue;
          seen.delete(key);
          if (report) callUser(cb, key, undefined, true);
        }
        done();
      }, done);
    };
    const resync = (): void => {
      // Back after a gap: the dict may have been deleted and made again, its versions from 1.
      last = 0;
      // A resync before the baseline arrived compares against it once it has.
      if (!baselineDone) baselineLate = true;
      void (baseline ?? Promise.resolve()).then(() => read(true));
    };
    const stop = this.transport.listen(
      'dict',
      this.name,
      (push: Push) => {
        // The daemon lost track (cluster mode): versions may start over; a full read follows (resync).
        if (push.resync === true) last = 0;
        if (push.deleted === true && push.key === undefined) {
          // The whole dict was deleted: a delete for each key this subscriber had; versions start over.
          last = 0;
          pushed(undefined);
          const keys = [...seen.keys()];
          seen.clear();
          // Each through callUser: one that throws must not cost the others their delete.
          for (const key of keys) callUser(cb, key, undefined, true);
          return;
        }
        if (push.key === undefined || push.version <= last) return;
        pushed(push.key);
        if (push.deleted === true) {
          last = push.version;
          seen.delete(push.key);
          callUser(cb, push.key, undefined, true);
          return;
        }
        const got = push.value === undefined ? undefined : decodePushed<T>(push.value);
        if (got === undefined) return;
        last = push.version;
        seen.set(push.key, digestOf(push.value!));
        callUser(cb, push.key, got.value, false);
      },
      onEnd,
      resync,
    );
    // Sent after the subscribe on the same link: the entries it reads include every change made before the subscription.
    baseline = read(false).then(() => {
      baselineDone = true;
    });
    return () => {
      live = false;
      stop();
    };
  }

  /** Every entry, still encoded; a dict too large for one reply (E_TOO_LARGE) is read key by key if `byKey`, else that error. */
  async #rawEntries(byKey = true): Promise<[string, Uint8Array][]> {
    try {
      return (await this.transport.request({ op: 'dict.entries', name: this.name })) as [string, Uint8Array][];
    } catch (err) {
      if (!byKey || (err as { code?: unknown }).code !== ErrorCode.E_TOO_LARGE) throw err;
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

/** A short fingerprint of an entry's encoded bytes: enough to tell a changed value from the one a subscriber has. */
function digestOf(bytes: Uint8Array): string {
  return sha256(bytes, 'base64');
}
