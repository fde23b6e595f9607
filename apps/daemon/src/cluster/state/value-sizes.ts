/**
 * value-sizes.ts - what an add to a value will cost Redis, from the sizes of
 * the values this daemon has seen: its own writes and reads, and every change
 * the feed brings (each records its value, or its size when too large).
 *
 * An add to a bigint is Lua arithmetic over the stored bytes (lua-numbers.ts):
 * 50-80 ms for 950 KB on this machine, against ~0.1 ms for a number. A value
 * this daemon has not seen since it started (written before, and neither read
 * nor written through it since), or seen too long ago to be remembered, has
 * no known cost: an add to it is measured first, from the value's stored
 * length (redis-state.ts, costly-scripts.ts).
 */

/** Lua time of an add, per byte of the stored bigint (measured ~82 ns at 950 KB, ~45 ns at 60 KB). */
const ADD_MS_PER_BYTE = 85e-6;
/** Values remembered at most (the one seen longest ago goes first): ~10 MB of names. */
const MAX_REMEMBERED = 100_000;
/** Bytes from which a write on its way counts for the adds after it (below, an add to it costs under 1 ms). */
const PENDING_FROM = 4096;

/** The sizes of the cluster's values this daemon knows, by name, and what an add to one costs. */
export class ValueSizes {
  readonly #bytes = new Map<string, number>();
  /**
   * Writes on their way to Redis that may leave a value large (a set, a compare-and-set, an add of a
   * large delta), by name: how many, and the largest size one leaves. Until they are answered the
   * value's size is not known here, but the adds sent after them run on what they wrote: costed on
   * the size seen before, a set of a 950 KB bigint and forty adds of 1 sent right behind it went as
   * cheap, all at once, and held Redis 2-3 s.
   */
  readonly #pending = new Map<string, { n: number; bytes: number }>();

  /** Records that value `name` now holds `bytes` bytes. */
  seen(name: string, bytes: number): void {
    this.#bytes.delete(name);
    this.#bytes.set(name, bytes);
    if (this.#bytes.size > MAX_REMEMBERED) this.#bytes.delete(this.#bytes.keys().next().value!);
  }

  /** Records that value `name` was deleted (an add makes it again from its delta alone). */
  gone(name: string): void {
    this.seen(name, 0);
  }

  /**
   * The estimated Lua time of an add of a `deltaBytes` operand to `name`, in ms: the larger of the two
   * sets it (the sum is as long as the longer: a 950 KB delta to a small value costs what one to a
   * 950 KB value does). Undefined when the value's size is not known, whatever the delta: a small
   * delta to a large value unseen is as costly, and it is measured first (costly-scripts.ts).
   */
  addMs(name: string, deltaBytes: number): number | undefined {
    const bytes = this.#bytes.get(name);
    return bytes === undefined ? undefined : Math.max(bytes, deltaBytes, this.#pending.get(name)?.bytes ?? 0) * ADD_MS_PER_BYTE;
  }

  /**
   * A write that may leave `name` holding up to `bytes` bytes is on its way: adds are costed as if the
   * value held them until it is answered (call the returned function then). Undefined when too small to
   * matter.
   */
  writing(name: string, bytes: number): (() => void) | undefined {
    if (bytes < PENDING_FROM) return undefined;
    let p = this.#pending.get(name);
    if (p === undefined) this.#pending.set(name, (p = { n: 0, bytes: 0 }));
    p.n++;
    p.bytes = Math.max(p.bytes, bytes);
    return () => {
      if (--p.n === 0 && this.#pending.get(name) === p) this.#pending.delete(name);
    };
  }
}
