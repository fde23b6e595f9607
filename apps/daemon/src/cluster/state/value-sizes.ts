/**
 * value-sizes.ts - what an add to a value will cost Redis, from the sizes of
 * the values this daemon has seen: its own writes and reads, and every change
 * the feed brings (each records its value, or its size when too large).
 *
 * An add to a bigint is Lua arithmetic over the stored bytes (lua-numbers.ts):
 * ~78 ms for 950 KB on this machine, against ~0.1 ms for a number. Only values
 * large enough to matter are remembered; a value this daemon has not seen since
 * it started (written before, and neither read nor written through it since)
 * counts as cheap until its first add's reply says its size.
 */

/** Lua time of an add, per byte of the stored bigint (measured ~82 ns at 950 KB, ~45 ns at 60 KB). */
const ADD_MS_PER_BYTE = 85e-6;
/** Values below this many bytes are not remembered: an add to them costs under ~1 ms. */
const REMEMBERED_BYTES = 12 * 1024;
/** Values remembered at most (the oldest seen goes first). */
const MAX_REMEMBERED = 100_000;

/** The large values of the cluster this daemon knows of, by name, and what an add to one costs. */
export class ValueSizes {
  readonly #bytes = new Map<string, number>();

  /** Records that value `name` now holds `bytes` bytes. */
  seen(name: string, bytes: number): void {
    this.#bytes.delete(name);
    if (bytes < REMEMBERED_BYTES) return;
    this.#bytes.set(name, bytes);
    if (this.#bytes.size > MAX_REMEMBERED) this.#bytes.delete(this.#bytes.keys().next().value!);
  }

  /** Records that value `name` was deleted. */
  gone(name: string): void {
    this.#bytes.delete(name);
  }

  /** The estimated Lua time of an add to `name`, in ms. */
  addMs(name: string): number {
    return (this.#bytes.get(name) ?? 0) * ADD_MS_PER_BYTE;
  }
}
