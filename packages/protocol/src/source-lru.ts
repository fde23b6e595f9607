/**
 * The bound on the task sources one end of a channel keeps, shared by both
 * ends so they agree: a source crosses a channel once, then only its hash.
 *
 * Two channels carry task sources this way. The primary sends each worker a
 * source once and then only its hash (the worker keeps the compiled function);
 * a client sends the daemon each source once per connection and then only its
 * hash (the primary keeps the source for that connection). Both ends of a
 * channel keep a SourceLru ordered by the same events, the messages naming a
 * source task in channel order (the sender touches on send, the receiver on
 * receipt, and neither anywhere else), and evict least recently used entries
 * until both the count and the total source length fit. What such an LRU
 * keeps is the longest run of most recent entries that fits its bounds, so
 * with the sender's bounds below the receiver's every hash the sender thinks
 * the receiver knows, the receiver has.
 */

/** Bounds of one SourceLru: entries, and total source length (UTF-16 code units, the same measure at both ends). */
export interface SourceBounds {
  readonly count: number;
  readonly chars: number;
}

/** What a worker keeps: 256 sources, 32 Mi characters of source (a 1 MB source costs ~2 MB once compiled). */
export const WORKER_SOURCES: SourceBounds = { count: 256, chars: 32 * 1024 * 1024 };
/** What the primary assumes a worker keeps: strictly less, so the worker always has it. */
export const PRIMARY_SOURCES: SourceBounds = { count: 192, chars: 24 * 1024 * 1024 };
/**
 * What the primary keeps of the sources one connection sent (made at its first source
 * task): 32 sources, 1 Mi characters (2 MB at most per connection, like the byte limits
 * each client already has; an idle client that never sent a source holds none).
 */
export const CONNECTION_SOURCES: SourceBounds = { count: 32, chars: 1024 * 1024 };
/** What the SDK assumes the primary keeps of its connection's sources: strictly less. */
export const CLIENT_SOURCES: SourceBounds = { count: 24, chars: 768 * 1024 };
/**
 * A source longer than this travels whole every time and is kept by neither end of a client's
 * connection (one entry that large would push most others out of CLIENT_SOURCES).
 */
export const MAX_KEPT_SOURCE_CHARS = 256 * 1024;

/** An LRU of task sources by hash, with a value attached (the compiled function in a worker; nothing in the primary). */
export class SourceLru<V = undefined> {
  readonly #bounds: SourceBounds;
  /** Map order is recency order: first = least recently used. */
  readonly #entries = new Map<string, { chars: number; value: V }>();
  #chars = 0;
  /**
   * The most recently used hash: touching it again changes nothing, so the map is left alone
   * (an app submitting one task over and over re-inserted it on every chunk, and the map's
   * deleted slots made it rehash every few submits).
   */
  #newest: string | undefined;

  constructor(bounds: SourceBounds) {
    this.#bounds = bounds;
  }

  /** Entries kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** Total source length kept. */
  get chars(): number {
    return this.#chars;
  }

  /** Marks `hash` most recently used; false if it is not kept (nothing changes then). */
  touch(hash: string): boolean {
    if (hash === this.#newest) return true;
    const e = this.#entries.get(hash);
    if (e === undefined) return false;
    this.#entries.delete(hash);
    this.#entries.set(hash, e);
    this.#newest = hash;
    return true;
  }

  /** Keeps `hash` (source length `chars`) as most recently used, evicting the least recently used past the bounds. */
  set(hash: string, chars: number, value: V): void {
    const old = this.#entries.get(hash);
    if (old !== undefined) {
      this.#entries.delete(hash);
      this.#chars -= old.chars;
    }
    this.#entries.set(hash, { chars, value });
    this.#chars += chars;
    this.#newest = hash;
    for (const [h, e] of this.#entries) {
      if (this.#entries.size <= this.#bounds.count && this.#chars <= this.#bounds.chars) break;
      this.#entries.delete(h);
      this.#chars -= e.chars;
      if (h === this.#newest) this.#newest = undefined;
    }
  }

  /** The value kept for `hash`, without changing its recency. */
  peek(hash: string): V | undefined {
    return this.#entries.get(hash)?.value;
  }

  /** Replaces the value of a kept entry, without changing its recency; false if `hash` is not kept. */
  update(hash: string, value: V): boolean {
    const e = this.#entries.get(hash);
    if (e === undefined) return false;
    e.value = value;
    return true;
  }
}
