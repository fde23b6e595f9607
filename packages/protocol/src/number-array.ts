/**
 * Arrays of numbers, written and read by hand: the bytes the data codec
 * (msgpackr, records on, no float32) writes for such an array, and the array
 * its reader makes of them. A chunk of numbers is what most maps send (ids,
 * indexes, seeds), and msgpackr's general `pack` spends ~15-25 ns a number on
 * its type dispatch; with 1,000,000 items (the bench's `trivial`) the SDK's
 * encoding of the items was the largest single cost of the map's wall time.
 *
 * Anything else (an item of another type, a hole, a byte the writer below
 * never writes) is left to msgpackr: `undefined` says so. The unit test
 * compares these bytes with msgpackr's over every integer width's edges,
 * -0, NaN, infinities and random doubles.
 */

/** msgpackr's data codec writes 0x40-0x7f as records' ids, so its positive fixints stop at 0x3f. */
const FIXINT_END = 0x40;

/** How many bytes msgpackr writes for `v`. */
function numberBytes(v: number): number {
  if (v >>> 0 === v) return v < FIXINT_END ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : 5;
  if (v >> 0 === v) return v >= -0x20 ? 1 : v >= -0x80 ? 2 : v >= -0x8000 ? 3 : 5;
  return 9;
}

/** The data codec's bytes for `items` when every item is a number; otherwise undefined. */
export function encodeNumbers(items: readonly unknown[]): Uint8Array | undefined {
  const n = items.length;
  let size = n < 0x10 ? 1 : n < 0x10000 ? 3 : 5;
  for (let i = 0; i < n; i++) {
    const v = items[i];
    if (typeof v !== 'number') return undefined;
    size += numberBytes(v);
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let p = 0;
  if (n < 0x10) out[p++] = 0x90 | n;
  else if (n < 0x10000) {
    out[p++] = 0xdc;
    view.setUint16(p, n);
    p += 2;
  } else {
    out[p++] = 0xdd;
    view.setUint32(p, n);
    p += 4;
  }
  for (let i = 0; i < n; i++) {
    const v = items[i] as number;
    if (v >>> 0 === v) {
      if (v < FIXINT_END) out[p++] = v;
      else if (v < 0x100) {
        out[p++] = 0xcc;
        out[p++] = v;
      } else if (v < 0x10000) {
        out[p++] = 0xcd;
        view.setUint16(p, v);
        p += 2;
      } else {
        out[p++] = 0xce;
        view.setUint32(p, v);
        p += 4;
      }
    } else if (v >> 0 === v) {
      if (v >= -0x20) out[p++] = 0x100 + v;
      else if (v >= -0x80) {
        out[p++] = 0xd0;
        out[p++] = v + 0x100;
      } else if (v >= -0x8000) {
        out[p++] = 0xd1;
        view.setInt16(p, v);
        p += 2;
      } else {
        out[p++] = 0xd2;
        view.setInt32(p, v);
        p += 4;
      }
    } else {
      out[p++] = 0xcb;
      view.setFloat64(p, v);
      p += 8;
    }
  }
  return out;
}

/**
 * The array the data codec's reader makes of `bytes` when they are an array
 * of numbers as encodeNumbers (or msgpackr) writes them and nothing after it;
 * otherwise undefined, and the caller reads them with msgpackr.
 */
export function decodeNumbers(bytes: Uint8Array): number[] | undefined {
  const end = bytes.length;
  if (end === 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = bytes[0]!;
  let n: number;
  let p: number;
  if ((head & 0xf0) === 0x90) {
    n = head & 0x0f;
    p = 1;
  } else if (head === 0xdc && end >= 3) {
    n = view.getUint16(1);
    p = 3;
  } else if (head === 0xdd && end >= 5) {
    n = view.getUint32(1);
    p = 5;
  } else return undefined;
  // Every number takes at least one byte, and one that is not a number is refused before the array is made.
  if (n > end - p || (n > 0 && !isNumberByte(bytes[p]!))) return undefined;
  // Made at its length, as msgpackr's reader makes it (measured: twice as fast as pushing into []).
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    if (p >= end) return undefined;
    const b = bytes[p]!;
    if (b < FIXINT_END) {
      out[i] = b;
      p += 1;
      continue;
    }
    if (b >= 0xe0) {
      out[i] = b - 0x100;
      p += 1;
      continue;
    }
    const size = WIDTH[b - 0xc0] ?? 0;
    if (size === 0 || p + size > end) return undefined;
    switch (b) {
      case 0xcc:
        out[i] = bytes[p + 1]!;
        break;
      case 0xcd:
        out[i] = view.getUint16(p + 1);
        break;
      case 0xce:
        out[i] = view.getUint32(p + 1);
        break;
      case 0xd0:
        out[i] = view.getInt8(p + 1);
        break;
      case 0xd1:
        out[i] = view.getInt16(p + 1);
        break;
      case 0xd2:
        out[i] = view.getInt32(p + 1);
        break;
      default: // 0xcb
        out[i] = view.getFloat64(p + 1);
    }
    p += size;
  }
  return p === end ? out : undefined;
}

/** Bytes taken by a number whose first byte is 0xc0 + index (0: not a number encodeNumbers writes). */
const WIDTH = Uint8Array.from({ length: 0x20 }, (_, i) => {
  const b = 0xc0 + i;
  return b === 0xcc || b === 0xd0 ? 2 : b === 0xcd || b === 0xd1 ? 3 : b === 0xce || b === 0xd2 ? 5 : b === 0xcb ? 9 : 0;
});

/** Whether `b` starts a number as encodeNumbers writes it. */
function isNumberByte(b: number): boolean {
  return b < FIXINT_END || b >= 0xe0 || (b >= 0xc0 && WIDTH[b - 0xc0] !== 0);
}
