/**
 * The bound on task sources a worker keeps, shared by both ends so they agree.
 *
 * A worker keeps each source task it is sent (and its compiled function) by
 * hash; the primary sends a source once per worker and then only its hash. Both
 * ends keep a SourceLru ordered by the same events, the run messages of one
 * worker in channel order (the primary touches on send, the worker on
 * receipt, and neither anywhere else), and evict least recently used entries
 * until both the count and the total source length fit. What such an LRU
 * keeps is the longest run of most recent entries that fits its bounds, so
 * with the primary's bounds below the worker's (PRIMARY_SOURCES < WORKER_SOURCES)
 * every hash the primary thinks a worker knows, the worker has.
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
