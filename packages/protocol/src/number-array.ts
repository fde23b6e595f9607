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

/**
 * Eight bytes for a double on its way in or out. No DataView is made per call: for a one-item
 * array (a submit) making one, and the backing store it forces, took longer than msgpackr's pack.
 */
const SCRATCH = new DataView(new ArrayBuffer(8));
const SCRATCH_BYTES = new Uint8Array(SCRATCH.buffer);

/** Writes the low `bytes` bytes of `v` big-endian at `p`; returns the next position. */
function putBE(out: Uint8Array, p: number, v: number, bytes: number): number {
  if (bytes === 4) {
    out[p++] = (v >>> 24) & 0xff;
    out[p++] = (v >>> 16) & 0xff;
  }
  if (bytes >= 2) out[p++] = (v >>> 8) & 0xff;
  out[p++] = v & 0xff;
  return p;
}

/** The big-endian uint32 at `p`. */
function uint32At(b: Uint8Array, p: number): number {
  return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

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
  let p = 0;
  if (n < 0x10) out[p++] = 0x90 | n;
  else if (n < 0x10000) {
    out[p++] = 0xdc;
    p = putBE(out, p, n, 2);
  } else {
    out[p++] = 0xdd;
    p = putBE(out, p, n, 4);
  }
  // Each item is read again here: a getter or a proxy may answer differently the second time. A value
  // that is no number now, or needs more room than measured, leaves the array to msgpackr (one read).
  for (let i = 0; i < n; i++) {
    const v = items[i];
    if (typeof v !== 'number') return undefined;
    const w = numberBytes(v);
    if (p + w > size) return undefined;
    if (w === 1) out[p++] = v & 0xff;
    else if (w === 9) {
      out[p++] = 0xcb;
      SCRATCH.setFloat64(0, v);
      out.set(SCRATCH_BYTES, p);
      p += 8;
    } else {
      // The type byte by width and sign (numberBytes chose the width: a negative one is an int32).
      out[p++] = v < 0 ? (w === 2 ? 0xd0 : w === 3 ? 0xd1 : 0xd2) : w === 2 ? 0xcc : w === 3 ? 0xcd : 0xce;
      p = putBE(out, p, v, w - 1);
    }
  }
  return p === size ? out : undefined;
}

/**
 * The array the data codec's reader makes of `bytes` when they are an array
 * of numbers as encodeNumbers (or msgpackr) writes them and nothing after it;
 * otherwise undefined, and the caller reads them with msgpackr.
 */
export function decodeNumbers(bytes: Uint8Array): number[] | undefined {
  const end = bytes.length;
  if (end === 0) return undefined;
  const head = bytes[0]!;
  let n: number;
  let p: number;
  if ((head & 0xf0) === 0x90) {
    n = head & 0x0f;
    p = 1;
  } else if (head === 0xdc && end >= 3) {
    n = (bytes[1]! << 8) | bytes[2]!;
    p = 3;
  } else if (head === 0xdd && end >= 5) {
    n = uint32At(bytes, 1);
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
        out[i] = (bytes[p + 1]! << 8) | bytes[p + 2]!;
        break;
      case 0xce:
        out[i] = uint32At(bytes, p + 1);
        break;
      case 0xd0:
        out[i] = (bytes[p + 1]! << 24) >> 24;
        break;
      case 0xd1:
        out[i] = (((bytes[p + 1]! << 8) | bytes[p + 2]!) << 16) >> 16;
        break;
      case 0xd2:
        out[i] = uint32At(bytes, p + 1) | 0;
        break;
      default: // 0xcb
        SCRATCH_BYTES.set(bytes.subarray(p + 1, p + 9));
        out[i] = SCRATCH.getFloat64(0);
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
