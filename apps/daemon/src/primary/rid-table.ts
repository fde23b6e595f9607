/**
 * rid-table.ts - values by request id, for a client instance's replays (replay.ts).
 *
 * Request ids grow by one per request, and a burst keeps up to 100,000 of them
 * until the client acknowledges them. One Map of them all rehashes as it grows
 * and again as acknowledgements empty it, and each rehash of a large one
 * allocates its table in V8's large-object space, mapped and faulted in afresh:
 * under 100,000 adds in flight that was 43% of the primary's page faults. Here
 * ids live in segments of SEGMENT slots (an array each, well under V8's
 * large-object size), found through a small Map; a segment that empties goes,
 * except the newest, which the next requests fill (one request at a time
 * would otherwise make a segment per request).
 *
 * Ids are visited segment by segment in the order the segments were made, and
 * in id order within one: the order of requests, as long as their ids grow.
 * Ids are unsigned integers (the protocol's parser checks).
 *
 * Segments are small (32 slots, ~300 bytes) because a client chooses its ids: one
 * that spaces them apart and never acknowledges costs a segment per kept reply,
 * bounded like the replies themselves (MAX_PER_INSTANCE). 100,000 ids in a burst
 * still take only ~3,100 segments, a Map well under the large-object size.
 */

/** Ids per segment. */
const SEGMENT = 32;

interface Segment<V> {
  readonly base: number;
  readonly slots: (V | undefined)[];
  count: number;
  /** No slot below this one is filled: visiting starts here. */
  low: number;
}

export class RidTable<V> {
  readonly #segments = new Map<number, Segment<V>>();
  /** The segment made last: kept when it empties. */
  #newest: Segment<V> | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(rid: number): V | undefined {
    const n = Math.floor(rid / SEGMENT);
    return this.#segments.get(n)?.slots[rid - n * SEGMENT];
  }

  /** Sets `rid` to `value` (never undefined). */
  set(rid: number, value: V): void {
    const n = Math.floor(rid / SEGMENT);
    let s = this.#segments.get(n);
    if (s === undefined) {
      s = { base: n * SEGMENT, slots: new Array<V | undefined>(SEGMENT).fill(undefined), count: 0, low: SEGMENT };
      this.#segments.set(n, s);
      const previous = this.#newest;
      this.#newest = s;
      if (previous !== undefined && previous.count === 0) this.#segments.delete(previous.base / SEGMENT);
    }
    const i = rid - s.base;
    if (s.slots[i] === undefined) {
      s.count++;
      this.#size++;
      if (i < s.low) s.low = i;
    }
    s.slots[i] = value;
  }

  /** Removes `rid`; false if it was not there. */
  delete(rid: number): boolean {
    const n = Math.floor(rid / SEGMENT);
    const s = this.#segments.get(n);
    const i = rid - n * SEGMENT;
    if (s === undefined || s.slots[i] === undefined) return false;
    s.slots[i] = undefined;
    s.count--;
    this.#size--;
    if (i === s.low) while (s.low < SEGMENT && s.slots[s.low] === undefined) s.low++;
    if (s.count === 0 && s !== this.#newest) this.#segments.delete(n);
    return true;
  }

  /** The first id in visiting order, if any. */
  first(): number | undefined {
    for (const s of this.#segments.values()) if (s.count > 0) return s.base + s.low;
    return undefined;
  }

  /** The ids, segment by segment in the order the segments were made, ascending within each; the one visited may be deleted. */
  *keys(): Generator<number> {
    for (const s of this.#segments.values()) {
      for (let i = s.low; i < SEGMENT; i++) if (s.slots[i] !== undefined) yield s.base + i;
    }
  }

  clear(): void {
    this.#segments.clear();
    this.#newest = undefined;
    this.#size = 0;
  }
}
