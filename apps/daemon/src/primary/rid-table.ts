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
 *
 * The first id is found through a list of the segments in the order they were
 * made, not by iterating the Map: a Map's iterator walks over the entries
 * deleted since its last rehash, which acknowledgements leave at its front (up
 * to ~3/4 of its capacity), once per acknowledged id. Measured with 100,000
 * adds in flight: 0.4 us per acknowledged id, 6% of the primary's CPU.
 */

/** Ids per segment. */
const SEGMENT = 32;

/**
 * Past this many gone segments in it (and once they are half of it), the list of segments is cut
 * down: each cut is paid for by as many removals as it keeps, whatever the slack. At 64, an
 * instance whose 1,024 blocked gets were given back and forgotten, one reply kept after them,
 * held its 32 gone segments (12.9 KB, uncounted) for its two minutes; at 8, 3.5 KB.
 */
const ORDER_SLACK = 8;

interface Segment<V> {
  readonly base: number;
  readonly slots: (V | undefined)[];
  count: number;
  /** No slot below this one is filled: visiting starts here. */
  low: number;
  /** Gone from the Map (emptied, or the table cleared): skipped, and dropped from the list in passing. */
  gone: boolean;
}

export class RidTable<V> {
  readonly #segments = new Map<number, Segment<V>>();
  /** The segments in the order they were made, from #head on; gone ones among them until passed or cut. */
  #order: Segment<V>[] = [];
  #head = 0;
  /** Gone segments still in #order after #head. */
  #gone = 0;
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
      s = { base: n * SEGMENT, slots: new Array<V | undefined>(SEGMENT).fill(undefined), count: 0, low: SEGMENT, gone: false };
      this.#segments.set(n, s);
      this.#order.push(s);
      const previous = this.#newest;
      this.#newest = s;
      if (previous !== undefined && previous.count === 0) this.#remove(previous);
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
    if (s.count === 0 && s !== this.#newest) this.#remove(s);
    // Emptied: the gone segments the list still held go (60 spaced ids, all forgotten: 23 KB kept before).
    if (this.#size === 0 && this.#head + this.#gone > 0) {
      this.#order = this.#newest === undefined ? [] : [this.#newest];
      this.#head = 0;
      this.#gone = 0;
    }
    return true;
  }

  /** The first id in visiting order, if any. */
  first(): number | undefined {
    const order = this.#order;
    while (this.#head < order.length) {
      const s = order[this.#head]!;
      if (!s.gone) {
        // Only the newest segment is ever empty and not gone, and nothing comes after it.
        if (s.count > 0) return s.base + s.low;
        return undefined;
      }
      this.#head++;
      this.#gone--;
    }
    return undefined;
  }

  /** The ids, segment by segment in the order the segments were made, ascending within each; the one visited may be deleted. */
  *keys(): Generator<number> {
    // Over the segments as they are now (deletes may cut the list meanwhile); one emptied meanwhile is gone.
    for (const s of this.#order.slice(this.#head)) {
      for (let i = s.low; i < SEGMENT && !s.gone; i++) if (s.slots[i] !== undefined) yield s.base + i;
    }
  }

  clear(): void {
    for (const s of this.#order) s.gone = true;
    this.#segments.clear();
    this.#order = [];
    this.#head = 0;
    this.#gone = 0;
    this.#newest = undefined;
    this.#size = 0;
  }

  /** Takes an emptied segment out of the Map; the list keeps it until it is passed, or until gone ones are most of it. */
  #remove(s: Segment<V>): void {
    this.#segments.delete(s.base / SEGMENT);
    s.gone = true;
    this.#gone++;
    // Every segment before #head is gone too.
    const gone = this.#head + this.#gone;
    if (gone >= ORDER_SLACK && gone * 2 >= this.#order.length) {
      this.#order = this.#order.slice(this.#head).filter((x) => !x.gone);
      this.#head = 0;
      this.#gone = 0;
    }
  }
}
