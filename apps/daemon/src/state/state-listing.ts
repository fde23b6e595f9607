/**
 * state-listing.ts - the bounds of a state listing (StateStore.list, the
 * dashboard's named state) and the preview of a value in it. An app may make
 * 100,000 values, each up to a frame: a page has at most MAX_LIST_LIMIT
 * entries, a name or preview is cut short, and a value is decoded for its
 * preview only when it is small and cheap to decode and render (a long bigint
 * in hex), so a preview costs at most ~2 ms whatever the value holds. A page
 * of small values costs a few milliseconds; one of 200 values each near that
 * bound (objects of 1,000 keys) 90-220 ms, which a page took in one turn,
 * every other client waiting: previews are made PREVIEW_SLICE_MS a turn, over
 * every page being made (previewed).
 */
import { inspect } from 'node:util';
import { BadArgumentError, decodeData, MAX_NAME_LENGTH } from '@corepool/protocol/internal';

import { bigIntBytes, decodeCost } from './data-equal.js';
import type { StateEntry, StateListing } from './state-store.js';
import { TurnBudget } from './turn-budget.js';

/** Entries one page may ask for. */
export const MAX_LIST_LIMIT = 200;
/** Characters of a value's preview. */
export const PREVIEW_CHARS = 120;
/** Characters of a listed name: every name whole (`corepool state rm` takes a name from `state ls`). */
export const LISTED_NAME_CHARS = MAX_NAME_LENGTH;
/** A value larger than this is not decoded for its preview. */
export const PREVIEW_MAX_BYTES = 16 * 1024;
/** Nor one costlier than this to decode (decodeCost units, ~0.1 us each: ~2 ms). */
const PREVIEW_MAX_COST = 20_000;
/**
 * A bigint longer than this (8,192 bits) is previewed in hex, or not decoded when inside a
 * structure: inspect writes it in decimal, in time growing with the square of its length
 * (131,000 bits 4.4 ms, 200 such values a page of 2.4 s); at this length 16 of them fill a
 * value of PREVIEW_MAX_BYTES and take ~1.3 ms.
 */
const PREVIEW_BIGINT_BYTES = 1024;

/** `s` cut to `max` characters, with an ellipsis when it was longer. */
export function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A short, one-line rendering of a data-encoded value; its size alone when too large or costly to decode. */
export function preview(bytes: Uint8Array): string {
  const tooBig = `(${bytes.length} bytes)`;
  if (bytes.length > PREVIEW_MAX_BYTES) return tooBig;
  const bigInt = bigIntBytes(bytes);
  if (bigInt > PREVIEW_BIGINT_BYTES) return hex(bytes.subarray(bytes.length - bigInt));
  if (decodeCost(bytes, PREVIEW_MAX_COST, PREVIEW_BIGINT_BYTES) > PREVIEW_MAX_COST) return tooBig;
  let v: unknown;
  try {
    v = decodeData(bytes);
  } catch {
    return tooBig;
  }
  // Decoded data holds no functions or getters: inspect only formats it, within these limits.
  const text = inspect(v, {
    depth: 2,
    maxArrayLength: 10,
    maxStringLength: PREVIEW_CHARS,
    breakLength: Infinity,
    compact: true,
    customInspect: false,
  });
  return cut(text, PREVIEW_CHARS);
}

/**
 * A bigint's first and last hex digits and its length, read from its extension's payload (two's
 * complement, big-endian) without decoding it: decoding 200 of 131,000 bits took ~50 ms.
 */
function hex(payload: Uint8Array): string {
  const negative = (payload[0]! & 0x80) !== 0;
  let mag = payload;
  if (negative) {
    mag = payload.map((x) => ~x & 0xff);
    let i = mag.length - 1;
    while (i >= 0 && mag[i] === 0xff) mag[i--] = 0;
    if (i >= 0) mag[i] = mag[i]! + 1;
  }
  let start = 0;
  while (start < mag.length - 1 && mag[start] === 0) start++;
  const bits = (mag.length - start) * 8 - (Math.clz32(mag[start]!) - 24);
  const digits = (from: number, to: number): string => Buffer.from(mag.subarray(from, to)).toString('hex');
  const head = digits(start, start + 13).replace(/^0(?=.)/, '');
  const text =
    mag.length - start <= 16
      ? digits(start, mag.length).replace(/^0(?=.)/, '')
      : `${head.slice(0, 24)}…${digits(mag.length - 4, mag.length)}`;
  return `${negative ? '-' : ''}0x${text}n (${bits} bits)`;
}

/** Time spent on previews in one turn of the event loop, over every page being made, before yielding it. */
const PREVIEW_SLICE_MS = 2;
const previewTime = new TurnBudget(PREVIEW_SLICE_MS);

/**
 * Runs `make` (an entry or preview to make, a preview's decoding in it) in a turn that has
 * PREVIEW_SLICE_MS left, and counts its time: a page's previews go in slices, other clients'
 * requests served in between. Only the entry that passes the slice runs past it (~2 ms at most).
 */
export async function previewed<T>(make: () => T): Promise<T> {
  if (previewTime.spent) await previewTime.nextTurn();
  const t0 = performance.now();
  try {
    return make();
  } finally {
    previewTime.spend(performance.now() - t0);
  }
}

/** A page size from a request: 1..MAX_LIST_LIMIT. */
export function clampLimit(limit: number): number {
  return Math.max(1, Math.min(MAX_LIST_LIMIT, Math.floor(limit)));
}

/** Entries the walks of every page pass over in one turn, together, before they let the event loop run. */
const SKIP_SLICE = 2048;
/** Walks kept at the cursor they handed out: at most this many pagings go on at once at the cost of a page each. */
const KEPT_WALKS = 64;
/** A kept walk not paged on for this long is let go (it holds the maps' iterators, and through them what they held). */
export const WALK_TTL_MS = 30_000;

/** One entry of the listing, made when asked from what its name holds then; undefined if it holds nothing now. */
export type ListedEntry = () => StateEntry | undefined;

/** A walk through the listing, `at` entries in; `head` is the entry it read past the page it served. */
interface Walk {
  readonly it: Iterator<ListedEntry>;
  at: number;
  head: ListedEntry | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Pages of a live listing by offset cursors. The names live in insertion-ordered maps, which
 * cannot seek: a cursor is reached by walking to it. The walk that served a page is kept at the
 * cursor it hands out, so paging on costs a page (paging 300,000 names from the start re-walked
 * them all for every page); a cursor it did not hand out (another's, or far off) is walked to
 * in slices, SKIP_SLICE entries a turn for all such walks together, so other clients' requests
 * get through however many lists a client sends at once (one such call held the daemon 76 ms).
 */
export class Pager {
  readonly #walks = new Map<string, Walk>();
  readonly #listing: () => Iterator<ListedEntry>;
  /** Entries skipped, by every walk, SKIP_SLICE a turn. */
  readonly #skips = new TurnBudget(SKIP_SLICE);

  constructor(listing: () => Iterator<ListedEntry>) {
    this.#listing = listing;
  }

  async page(limit: number, cursor?: string): Promise<StateListing> {
    // A cursor is a previous page's `next`: an offset. One that is not an offset is refused, and one past any
    // listing (more digits than an offset has) ends it; both used to start the listing over, so a pager fed
    // a bad cursor looped forever.
    if (cursor !== undefined && !/^\d+$/.test(cursor)) throw new BadArgumentError("cursor must be a previous page's `next`");
    if (cursor !== undefined && cursor.length > 9) return { entries: [] };
    const start = cursor === undefined ? 0 : Number(cursor);
    const n = clampLimit(limit);
    let walk = start === 0 ? undefined : this.#walks.get(String(start));
    if (walk === undefined) walk = { it: this.#listing(), at: 0, head: undefined, timer: undefined };
    else {
      this.#walks.delete(String(start));
      clearTimeout(walk.timer);
    }
    while (walk.at < start) {
      if (next(walk) === undefined) return { entries: [] };
      walk.at++;
      this.#skips.spend(1);
      if (this.#skips.spent) await this.#skips.nextTurn();
    }
    const entries: StateEntry[] = [];
    for (let e = next(walk); e !== undefined; e = next(walk)) {
      if (entries.length === n) {
        walk.head = e;
        this.#keep(String(start + n), walk);
        return { entries, next: String(start + n) };
      }
      const entry = await previewed(e);
      if (entry !== undefined) entries.push(entry);
      walk.at++;
    }
    return { entries };
  }

  #keep(at: string, walk: Walk): void {
    const old = this.#walks.get(at);
    if (old !== undefined) clearTimeout(old.timer);
    else if (this.#walks.size >= KEPT_WALKS) {
      const [oldest, w] = this.#walks.entries().next().value!;
      clearTimeout(w.timer);
      this.#walks.delete(oldest);
    }
    walk.timer = setTimeout(() => {
      if (this.#walks.get(at) === walk) this.#walks.delete(at);
    }, WALK_TTL_MS).unref();
    this.#walks.set(at, walk);
  }
}

function next(walk: Walk): ListedEntry | undefined {
  const head = walk.head;
  if (head !== undefined) {
    walk.head = undefined;
    return head;
  }
  const r = walk.it.next();
  return r.done === true ? undefined : r.value;
}
