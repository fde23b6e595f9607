/**
 * listing-encoder.ts - the reply to `dict.keys()` / `dict.entries()` of a large
 * dict, encoded a slice at a time. In one go, the keys of a 300,000-key dict
 * took the primary 30-55 ms to encode and its entries 70-190 ms to copy, every
 * other client waiting; a client listing it again and again held the daemon.
 *
 * The dict is read at the request's turn (flat arrays of its keys and values:
 * a few ms for 300,000), so the reply is exactly what the request would have
 * read then; what is costly after it, encoding and copying into the reply's
 * buffer, goes in slices of at most SLICE_MS a turn, counted over every
 * listing being encoded, so other clients' requests are served in between.
 * At most ENCODING listings are encoded at once (the others wait with what
 * they read): each holds up to a reply's worth of bytes while it is. One
 * that passes what a reply may carry stops there, with E_TOO_LARGE.
 */
import { LimitError, TooLargeError } from '@corepool/protocol';
import { arrayHeaderBytes, EncodedValue, encodeMessage, ENVELOPE_ROOM, putArrayHeader } from '@corepool/protocol/internal';

import { TurnBudget } from './turn-budget.js';

/** A listing of fewer items is replied as it is (encoded with the reply, in one go: well under a ms). */
export const SLICED_FROM = 4_096;
/** Items encoded in one step. */
const STEP_ITEMS = 1_024;
/** Bytes copied into the reply in one step. */
const STEP_BYTES = 256 * 1024;
/** Time spent encoding listings in one turn of the event loop, over all of them, before yielding it. */
const SLICE_MS = 2;
/** Listings encoded at once. */
const ENCODING = 4;
/** Keys the listings waiting or being encoded may hold together (8 or 16 bytes each: 32-64 MB). */
const HELD_KEYS = 4_000_000;
const NO_RELEASE = (): void => {};

/** How many keys a dict holds, and the lengths of its keys (UTF-16 units) and of its values (bytes). */
export interface DictMeasure {
  count: number;
  keyLengths: number;
  valueBytes: number;
}

/** What a listing read: the dict's keys, and their values for entries. */
export interface Listed {
  keys: string[];
  values?: Uint8Array[];
}

/** A listing waiting for one of the ENCODING places. */
interface Job {
  go(): void;
  fail(err: Error): void;
}

/** One owner's listings: those waiting for a place, and whether it went. */
interface OwnerListings {
  waiting: Job[];
  running: number;
  /** Listings admitted and not yet released: an owner that goes while they wait for their commit is marked gone for them. */
  admitted: number;
  gone: Error | undefined;
}

/** Encodes large listings, a slice a turn. */
export class ListingEncoder {
  /** Bytes one reply may carry. */
  readonly #max: number;
  /** Time encoding, over every listing: SLICE_MS a turn. */
  readonly #time = new TurnBudget(SLICE_MS);
  #encoding = 0;
  /** Owners with listings waiting or being encoded; those waiting are taken an owner at a time, in turn. */
  readonly #owners = new Map<string, OwnerListings>();
  /** Keys held by the listings waiting or being encoded (what they read, until their reply is made). */
  #held = 0;
  /** Where each step's time goes: the primary charges the listing's owner, whose reading then waits its turn. */
  charge: (owner: string, ms: number) => void = () => {};

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  /** E_TOO_LARGE when what the dict holds (its `measure`) could not be sent as the listing's reply: refused before it is read. */
  refuse(op: string, name: string, m: DictMeasure): TooLargeError | undefined {
    // A string's and a bin's header is a byte at least, and so is an entry's pair.
    const least = m.keyLengths + m.count + (op === 'dict.entries' ? m.valueBytes + 2 * m.count : 0);
    return least > this.#max ? listingTooLarge(op, name, least, this.#max) : undefined;
  }

  /**
   * Room for a listing of `count` keys among those waiting or being encoded, asked before the dict is
   * read (so a refusal costs no copy of it): a release to call once its reply is made, or E_LIMIT when
   * they hold HELD_KEYS keys already. A small listing needs none.
   */
  admit(owner: string, count: number): LimitError | (() => void) {
    if (count < SLICED_FROM) return NO_RELEASE;
    if (this.#held + count > HELD_KEYS) {
      return new LimitError(
        `the daemon is encoding listings of ${this.#held} dict keys already (at most ${HELD_KEYS} at once): try again, or list smaller dicts`,
      );
    }
    this.#held += count;
    // Known from here, not from its encoding: an owner gone while its listing waits for its commit has it fail
    // then, where it was encoded for nobody, holding a place and the keys' room other apps' listings wait for.
    const o = this.#owner(owner);
    o.admitted++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held -= count;
      o.admitted--;
      this.#forgetIfIdle(owner, o);
    };
  }

  #owner(owner: string): OwnerListings {
    let o = this.#owners.get(owner);
    if (o === undefined) this.#owners.set(owner, (o = { waiting: [], running: 0, admitted: 0, gone: undefined }));
    return o;
  }

  #forgetIfIdle(owner: string, o: OwnerListings): void {
    if (o.running === 0 && o.waiting.length === 0 && o.admitted === 0 && this.#owners.get(owner) === o) this.#owners.delete(owner);
  }

  /** The reply to a listing for `owner`: as it is when small, else its msgpack bytes (the same bytes), encoded over turns. */
  reply(owner: string, l: Listed, op: string, name: string): Promise<unknown> | string[] | [string, Uint8Array][] {
    if (l.keys.length < SLICED_FROM)
      return l.values === undefined ? l.keys : l.keys.map((k, i): [string, Uint8Array] => [k, l.values![i]!]);
    return this.#encode(owner, l, op, name);
  }

  /** The owner went: its listings waiting fail with `err`, and those being encoded stop at their next step. */
  dropOwner(owner: string, err: Error): void {
    const o = this.#owners.get(owner);
    if (o === undefined) return;
    o.gone = err;
    for (const job of o.waiting.splice(0)) job.fail(err);
    this.#forgetIfIdle(owner, o);
  }

  async #encode(owner: string, l: Listed, op: string, name: string): Promise<EncodedValue> {
    const mine = this.#owner(owner);
    if (mine.gone !== undefined) throw mine.gone;
    // Counted as running when given its place (here, or by #next), not when it resumes: in between, another
    // listing of the owner may end, and must not take the owner's record for idle.
    if (this.#encoding >= ENCODING) await new Promise<void>((go, fail) => mine.waiting.push({ go, fail }));
    else {
      this.#encoding++;
      mine.running++;
    }
    try {
      return await this.#encoded(owner, mine, l, op, name);
    } finally {
      mine.running--;
      this.#forgetIfIdle(owner, mine);
      this.#next();
    }
  }

  /** A place is free: the next owner in turn with a listing waiting takes it. */
  #next(): void {
    for (const [owner, o] of this.#owners) {
      const job = o.waiting.shift();
      if (job === undefined) continue;
      o.running++;
      // To the back of the turn.
      this.#owners.delete(owner);
      this.#owners.set(owner, o);
      job.go();
      return;
    }
    this.#encoding--;
  }

  async #encoded(owner: string, o: OwnerListings, l: Listed, op: string, name: string): Promise<EncodedValue> {
    const parts: Uint8Array[] = [];
    let total = 0;
    const n = l.keys.length;
    for (let i = 0; i < n;) {
      await this.#room(o);
      const t = performance.now();
      // A step of STEP_ITEMS, or fewer when they hold STEP_BYTES (a value may be megabytes), one at least.
      let end = i;
      let least = 0;
      while (end < n && end - i < STEP_ITEMS && (end === i || least < STEP_BYTES)) {
        // A string's length in UTF-16 units is at most its length in UTF-8 bytes.
        least += l.keys[end]!.length + (l.values === undefined ? 0 : l.values[end]!.length);
        end++;
      }
      if (total + least > this.#max) throw listingTooLarge(op, name, total + least, this.#max);
      const keys = l.keys.slice(i, end);
      const slice = l.values === undefined ? keys : keys.map((k, j) => [k, l.values![i + j]!]);
      // An array's encoding is its header, then each element's: the slice's elements are the listing's, as they are.
      // Copied out: the encoding is a view of msgpackr's working buffer, which it would keep alive.
      const part = encodeMessage(slice).slice(arrayHeaderBytes(end - i));
      parts.push(part);
      total += part.length;
      i = end;
      this.#spent(owner, performance.now() - t);
    }
    if (total > this.#max) throw listingTooLarge(op, name, total, this.#max);
    const buf = new Uint8Array(ENVELOPE_ROOM + arrayHeaderBytes(n) + total);
    let p = putArrayHeader(buf, ENVELOPE_ROOM, n);
    for (const part of parts) {
      for (let at = 0; at < part.length; at += STEP_BYTES) {
        await this.#room(o);
        const t = performance.now();
        const piece = part.subarray(at, at + STEP_BYTES);
        buf.set(piece, p);
        p += piece.length;
        this.#spent(owner, performance.now() - t);
      }
    }
    return new EncodedValue(buf);
  }

  /** A step's time: counted in this turn's slice, and charged to the owner. */
  #spent(owner: string, ms: number): void {
    this.#time.spend(ms);
    this.charge(owner, ms);
  }

  /** Resolves at once while this turn's time is not spent, else in the next turn (which starts a new slice); throws once the owner went. */
  async #room(o: OwnerListings): Promise<void> {
    if (o.gone !== undefined) throw o.gone;
    while (this.#time.spent) {
      await this.#time.nextTurn();
      if (o.gone !== undefined) throw o.gone;
    }
  }
}

/** E_TOO_LARGE for a listing of dict `name` found over `max` bytes at `bytes` (here, and in cluster mode's walks). */
export function listingTooLarge(op: string, name: string, bytes: number, max: number): TooLargeError {
  const instead =
    op === 'dict.entries' ? 'read dict.keys() and then get() each key' : 'keep fewer keys in one dict (spread them over several dicts)';
  return new TooLargeError(
    `the reply to ${op} of dict "${name}" is over ${bytes} bytes encoded, over the ${max} bytes one reply may carry (--max-payload less the envelope): ${instead}`,
  );
}
