/**
 * dict-walks.ts - `dict.keys()` and `dict.entries()` in cluster mode, read a
 * page at a time so that no app's read of a large dict holds Redis for the
 * others. One script reading a 100,000-key dict whole holds Redis ~15 ms;
 * 256 of them in flight from one app held it ~10 s, and every daemon of the
 * cluster lost its lease.
 *
 * - A page is at most PAGE_KEYS keys and PAGE_BYTES bytes (~0.3 ms of Redis).
 *   This daemon has one page in flight at a time; each owner (a connection)
 *   walks one dict at a time, the rest of its walks waiting their turn, so
 *   the pages of the owners walking take turns.
 * - Memory: a walk stops with E_TOO_LARGE once what it read is over what one
 *   reply may carry, and only WALKS walks past their first page hold what they
 *   read at once: another drops its first page and starts again when one ends.
 * - A reply is one instant of the dict, as on the LMDB store. Each page carries
 *   a stamp that changes with anything the walk reads (dict-scripts.ts); a
 *   walk that sees it change starts again. After RESTARTS such walks the dict
 *   is read whole in one script when it is small enough to be cheap
 *   (ATOMIC_KEYS); a larger one that never stops changing is E_UNAVAILABLE.
 */
import { UnavailableError, type CorepoolError } from '@corepool/protocol';

import { listingTooLarge } from '../../state/listing-encoder.js';

import { DICT_ALL, DICT_PAGE } from './dict-scripts.js';
import { bytes } from './replies.js';
import { Script } from './scripts.js';
import type { StateRedis } from './state-redis.js';

const PAGE = new Script(DICT_PAGE);
const ALL = new Script(DICT_ALL);

/** Keys one page reads at most. */
const PAGE_KEYS = 1_000;
/** Bytes (keys and values) one page reads at most, past its first key. */
const PAGE_BYTES = 256 * 1024;
/** Walks past their first page at once. */
const WALKS = 4;
/** Walks that found the dict changed under them before it is read whole. */
const RESTARTS = 3;
/** The most keys read in one script (about 3 ms of Redis). */
const ATOMIC_KEYS = 20_000;
/** What msgpack adds to each key (and to each entry's value) in the reply, at least. */
const ITEM_OVERHEAD = 2;

type Walked = Buffer[];
type ListingOp = 'dict.keys' | 'dict.entries';

/** One owner's walks: the one running, and those asked after it, in order. */
interface OwnerWalks {
  queue: { start: () => void; fail: (err: CorepoolError) => void }[];
  /** Set once the owner went: its running walk stops at its next page. */
  gone: CorepoolError | undefined;
}

/** The dict walks of one daemon. */
export class DictWalks {
  readonly #r: StateRedis;
  /** Bytes one reply may carry (the store's maxValueBytes). */
  readonly #max: number;
  /** The owners with a walk running, each with those waiting behind it. */
  readonly #owners = new Map<string, OwnerWalks>();
  /** Page reads waiting for the one in flight, oldest first. */
  readonly #pages: (() => void)[] = [];
  #paging = false;
  /** Walks past their first page, and those waiting for one of their places. */
  #walking = 0;
  readonly #waitingToWalk: (() => void)[] = [];
  /** Set once the store closes: every walk stops at its next page. */
  #closed: CorepoolError | undefined;

  constructor(r: StateRedis, maxBytes: number) {
    this.#r = r;
    this.#max = maxBytes;
  }

  async keys(owner: string, name: string): Promise<string[]> {
    const got = await this.#queued(owner, () => this.#walk(owner, name, 'dict.keys'));
    return got.map((b) => b.toString());
  }

  async entries(owner: string, name: string): Promise<[string, Uint8Array][]> {
    const got = await this.#queued(owner, () => this.#walk(owner, name, 'dict.entries'));
    const out: [string, Uint8Array][] = [];
    for (let i = 0; i + 1 < got.length; i += 2) out.push([got[i]!.toString(), bytes(got[i + 1])]);
    return out;
  }

  /** The owner went: its running walk stops at its next page, and those waiting fail with `err`. */
  dropOwner(owner: string, err: CorepoolError): void {
    const o = this.#owners.get(owner);
    if (o === undefined) return;
    o.gone = err;
    for (const w of o.queue.splice(0)) w.fail(err);
  }

  /** The store closes: every walk fails with `err`, the running ones at their next page. */
  dropAll(err: CorepoolError): void {
    this.#closed = err;
    for (const owner of [...this.#owners.keys()]) this.dropOwner(owner, err);
  }

  /** Runs `walk` once the owner's earlier walks are done. */
  #queued(owner: string, walk: () => Promise<Walked>): Promise<Walked> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    return new Promise<Walked>((resolve, reject) => {
      const start = (): void => {
        walk()
          .then(resolve, reject)
          .finally(() => {
            const o = this.#owners.get(owner)!;
            const next = o.queue.shift();
            if (next !== undefined) next.start();
            else this.#owners.delete(owner);
          });
      };
      const o = this.#owners.get(owner);
      if (o !== undefined) o.queue.push({ start, fail: reject });
      else {
        this.#owners.set(owner, { queue: [], gone: undefined });
        start();
      }
    });
  }

  /** Throws when the owner went or the store closed. */
  #check(owner: string): void {
    const err = this.#owners.get(owner)?.gone ?? this.#closed;
    if (err !== undefined) throw err;
  }

  async #walk(owner: string, name: string, op: ListingOp): Promise<Walked> {
    let placed = false;
    let changes = 0;
    try {
      for (;;) {
        const walked = await this.#pagesOf(owner, name, op, placed);
        if (walked === 'place') {
          await this.#place();
          placed = true;
          continue;
        }
        if (walked.stamp === 'done') return walked.out;
        if (++changes <= RESTARTS) continue;
        const whole = walked.count <= ATOMIC_KEYS ? await this.#whole(owner, name, op) : 'many';
        if (whole !== 'many') return whole;
        throw new UnavailableError(
          `dict "${name}" changed while its ${op === 'dict.entries' ? 'entries' : 'keys'} were read, ${changes} times in a row, and it is too large ` +
            `(over ${ATOMIC_KEYS} keys) to read at one instant: read it while it is not being written, or keep fewer keys in one dict`,
        );
      }
    } finally {
      if (placed) this.#unplace();
    }
  }

  /**
   * One walk over the dict's pages: its keys (and values), or 'place' when it needs one
   * of the WALKS places to go past its first page, or the count it saw when it changed.
   */
  async #pagesOf(
    owner: string,
    name: string,
    op: ListingOp,
    placed: boolean,
  ): Promise<{ stamp: 'done'; out: Walked } | { stamp: 'changed'; count: number } | 'place'> {
    const keys = this.#r.keys.dictKeys(name);
    const values = op === 'dict.entries' ? '1' : '0';
    const out: Walked = [];
    let used = 0;
    let stamp: string | undefined;
    let after = '-inf';
    for (;;) {
      const a = await this.#page(owner, () => this.#r.run(PAGE, undefined, keys, [after, PAGE_KEYS, PAGE_BYTES, values]));
      const [seen, last, more] = a.rest.slice(0, 3).map(String) as [string, string, string];
      if (stamp === undefined) stamp = seen;
      else if (seen !== stamp) return { stamp: 'changed', count: Number(seen.split(':')[2]) };
      for (let i = 3; i < a.rest.length; i++) {
        const b = a.rest[i] as Buffer;
        used += b.length + ITEM_OVERHEAD;
        out.push(b);
      }
      if (used > this.#max) throw listingTooLarge(op, name, used, this.#max);
      if (more !== '1') return { stamp: 'done', out };
      if (!placed) return 'place';
      after = `(${last}`;
    }
  }

  /** The dict in one script, for a walk that kept seeing it change. */
  async #whole(owner: string, name: string, op: ListingOp): Promise<Walked | 'many'> {
    const keys = this.#r.keys.dictKeys(name);
    // The script counts bytes without msgpack's overhead: it stops at the reply's bytes less that.
    const a = await this.#page(owner, () =>
      this.#r.run(ALL, undefined, keys, [Math.min(this.#max, 2 ** 53), op === 'dict.entries' ? '1' : '0', ATOMIC_KEYS]),
    );
    if (a.word === 'many') return 'many';
    if (a.word === 'big') throw listingTooLarge(op, name, this.#max + 1, this.#max);
    const out = a.rest as Walked;
    const used = out.reduce((n, b) => n + b.length + ITEM_OVERHEAD, 0);
    if (used > this.#max) throw listingTooLarge(op, name, used, this.#max);
    return out;
  }

  /** Runs one page read when the ones asked before it are done. */
  async #page<T>(owner: string, read: () => Promise<T>): Promise<T> {
    if (this.#paging) await new Promise<void>((go) => this.#pages.push(go));
    this.#paging = true;
    try {
      this.#check(owner);
      return await read();
    } finally {
      const next = this.#pages.shift();
      if (next !== undefined) next();
      else this.#paging = false;
    }
  }

  /** Waits for one of the WALKS places. */
  async #place(): Promise<void> {
    if (this.#walking >= WALKS) await new Promise<void>((go) => this.#waitingToWalk.push(go));
    else this.#walking++;
  }

  /** A place is free again: the longest waiting walk takes it. */
  #unplace(): void {
    const next = this.#waitingToWalk.shift();
    if (next !== undefined) next();
    else this.#walking--;
  }
}
