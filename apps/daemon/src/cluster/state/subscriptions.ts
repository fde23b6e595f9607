/**
 * subscriptions.ts - the value and dict subscribers of this daemon and the
 * pushes they get from the change feed: one per committed change, in stream
 * order (commit order), whichever daemon wrote it; or, when the feed lost
 * continuity, one push with `resync: true` per subscribed name.
 *
 * A change too large to be recorded inline is read from its key, with the
 * others of its round, before the round is handed on (big-reads.ts): a
 * value's is pushed only if it is still that version (a later version has its
 * own record, pushed next), a dict key's as it is now, which may be newer than
 * the pushed version (its later changes are pushed again, in order). It is
 * read only if someone here subscribes to its name when the round is read: an
 * owner who subscribes between that read and the push is not pushed it (it
 * was committed before they subscribed; a value's subscribe reads it or newer).
 *
 * The read is a script (READ_VALUE, READ_DICT_KEY) that answers nothing
 * unless the bytes there now are at most the size the record gave, and, for a
 * value, still its version: a group of reads (costed at the recorded sizes)
 * never fetches more than that, however large the value or key has grown
 * since. Then that change is not pushed: whatever changed it after its record
 * appended a record of its own, pushed in its turn with the newer state. A
 * record without a size (an older daemon's `big=1`) is read whatever its size
 * (alone, big-reads.ts), as that daemon did.
 */
import type { Push } from '@corepool/protocol/internal';

import { Subscribers } from '../../state/owner-index.js';
import type { BigReads, ChangeEntry } from './change-feed.js';
import { bytes } from './replies.js';
import { Script } from './scripts.js';
import type { StateRedis } from './state-redis.js';

/**
 * KEYS[1] `v:<name>`, ARGV[1] the record's version, ARGV[2] its size ('' when
 * not recorded: any). Replies the value's bytes, or nil unless it is still that
 * version and within that size.
 */
const READ_VALUE = new Script(String.raw`
if tonumber(redis.call('HGET', KEYS[1], 'ver')) ~= tonumber(ARGV[1]) then return false end
local max = tonumber(ARGV[2])
if max and redis.call('HSTRLEN', KEYS[1], 'val') > max then return false end
return redis.call('HGET', KEYS[1], 'val')
`);

/**
 * KEYS[1] `dict:<name>`, ARGV[1] the key, ARGV[2] the record's size ('' when
 * not recorded: any). Replies the key's bytes as they are now, or nil when it
 * is gone or larger than that size.
 */
const READ_DICT_KEY = new Script(String.raw`
local max = tonumber(ARGV[2])
if max and redis.call('HSTRLEN', KEYS[1], ARGV[1]) > max then return false end
return redis.call('HGET', KEYS[1], ARGV[1])
`);

export class Subscriptions implements BigReads<Uint8Array | undefined> {
  /** Where pushes go (the store's onPush). */
  push: (owner: string, push: Push) => void = () => {};
  readonly values = new Subscribers('value subscriptions');
  readonly dicts = new Subscribers('dict subscriptions');
  readonly #r: StateRedis;

  constructor(r: StateRedis) {
    this.#r = r;
  }

  dropOwner(owner: string): void {
    this.values.dropOwner(owner);
    this.dicts.dropOwner(owner);
  }

  /** Whether a change must be read before it is pushed: too large to be recorded, of a name someone here subscribes to. */
  wants(e: ChangeEntry): boolean {
    if (!e.big) return false;
    if (e.kind === 'v') return this.values.of(e.name) !== undefined;
    return e.kind === 'd' && e.key !== undefined && this.dicts.of(e.name) !== undefined;
  }

  /**
   * The bytes of a change too large to be recorded, or undefined when there is
   * none to push: gone, a value no longer that version, or grown past the
   * recorded size (a later record pushes the newer state).
   */
  async read(e: ChangeEntry): Promise<Uint8Array | undefined> {
    const redis = this.#r.node.redis;
    const max = e.bigBytes ?? '';
    const got = (
      e.kind === 'v'
        ? await READ_VALUE.run(redis, [this.#r.keys.value(e.name)], [e.version, max])
        : await READ_DICT_KEY.run(redis, [this.#r.keys.dict(e.name)], [e.key!, max])
    ) as Buffer | null;
    return got === null ? undefined : bytes(got);
  }

  /** A value change from the feed, with what `read` got for it if it was big. */
  value(e: ChangeEntry, big: Uint8Array | undefined): void {
    if (this.values.of(e.name) === undefined) return;
    if (e.deleted) {
      const gone: Push = { type: 'push', kind: 'value', name: e.name, version: e.version, deleted: true };
      for (const owner of this.values.of(e.name) ?? []) this.push(owner, gone);
      return;
    }
    const value = e.value ?? big;
    if (value === undefined) return;
    const push: Push = { type: 'push', kind: 'value', name: e.name, version: e.version, value };
    for (const owner of this.values.of(e.name) ?? []) this.push(owner, push);
  }

  /** A dict change from the feed, with what `read` got for it if it was big. */
  dict(e: ChangeEntry, big: Uint8Array | undefined): void {
    if (this.dicts.of(e.name) === undefined) return;
    if (e.key === undefined) {
      // The whole dict was deleted (a keyless delete record).
      if (!e.deleted) return;
      const gone: Push = { type: 'push', kind: 'dict', name: e.name, version: e.version, deleted: true };
      for (const owner of this.dicts.of(e.name) ?? []) this.push(owner, gone);
      return;
    }
    let push: Push;
    if (e.deleted) push = { type: 'push', kind: 'dict', name: e.name, version: e.version, key: e.key, deleted: true };
    else {
      const value = e.value ?? big;
      if (value === undefined) return;
      push = { type: 'push', kind: 'dict', name: e.name, version: e.version, key: e.key, value };
    }
    for (const owner of this.dicts.of(e.name) ?? []) this.push(owner, push);
  }

  /** The feed lost continuity: every subscriber here must read the current state again. */
  resync(): void {
    for (const [kind, subs] of [
      ['value', this.values],
      ['dict', this.dicts],
    ] as const) {
      for (const [name, owners] of subs.entries()) {
        const push: Push = { type: 'push', kind, name, version: 0, resync: true };
        for (const owner of owners) this.push(owner, push);
      }
    }
  }
}
