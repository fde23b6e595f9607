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
 */
import type { Push } from '@corepool/protocol/internal';

import { Subscribers } from '../../state/owner-index.js';
import type { BigReads, ChangeEntry } from './change-feed.js';
import { bytes, decimal } from './replies.js';
import type { StateRedis } from './state-redis.js';

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

  /** The bytes of a change too large to be recorded, or undefined when there is none to push. */
  async read(e: ChangeEntry): Promise<Uint8Array | undefined> {
    if (e.kind === 'v') {
      const [ver, val] = (await this.#r.read('HMGET', this.#r.keys.value(e.name), 'ver', 'val')) as [Buffer | null, Buffer | null];
      return ver === null || val === null || decimal(ver) !== e.version ? undefined : bytes(val);
    }
    const got = (await this.#r.read('HGET', this.#r.keys.dict(e.name), e.key!)) as Buffer | null;
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
