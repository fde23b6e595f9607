/**
 * msgpack-counts.ts - a check of msgpack bytes before they are decoded: no
 * array or map may declare more elements than bytes are left to hold them
 * (each takes at least one). msgpackr allocates an array of the declared
 * length before it reads an element: a 6-byte frame declaring 33,554,431
 * elements, sent before any token, held the daemon's primary ~170 ms and
 * 270 MB, and a loop of them left a neighbour's awaited adds at 106 in 4 s
 * instead of 20,000. One linear pass over the headers, no allocation.
 */

/**
 * Header sizes of 0xc0..0xdf, with the payload for fixed-size ones (0: invalid). For bin, ext and str
 * (c4-c9, d9-db) the size of the header alone; their payload's length is read from it.
 */
// prettier-ignore
export const MSGPACK_HEADER: readonly number[] = [
  1, 0, 1, 1, 2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9, // c0-cf
  2, 3, 5, 9, 3, 4, 6, 10, 18, 2, 3, 5, 3, 5, 3, 5, // d0-df
];

/** True unless an array or map in `bytes` declares more elements than the bytes after its header could hold. */
export function countsFit(bytes: Uint8Array): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let pos = 0;
  while (pos < end) {
    const h = bytes[pos]!;
    if (h < 0xc0 || h >= 0xe0) {
      // fixint, fixmap, fixarray (at most 15 elements: nothing to allocate), fixstr (its payload follows).
      pos += h >= 0xa0 && h <= 0xbf ? 1 + (h & 0x1f) : 1;
      continue;
    }
    const head = MSGPACK_HEADER[h - 0xc0]!;
    // Invalid, or cut short: the decoder says so, without allocating.
    if (head === 0 || pos + head > end) return true;
    let count = 0;
    let payload = 0;
    switch (h) {
      case 0xc4:
      case 0xd9:
        payload = bytes[pos + 1]!;
        break;
      case 0xc5:
      case 0xda:
        payload = view.getUint16(pos + 1);
        break;
      case 0xc6:
      case 0xdb:
        payload = view.getUint32(pos + 1);
        break;
      case 0xc7:
        payload = bytes[pos + 1]!;
        break;
      case 0xc8:
        payload = view.getUint16(pos + 1);
        break;
      case 0xc9:
        payload = view.getUint32(pos + 1);
        break;
      case 0xdc:
        count = view.getUint16(pos + 1);
        break;
      case 0xdd:
        count = view.getUint32(pos + 1);
        break;
      case 0xde:
        count = 2 * view.getUint16(pos + 1);
        break;
      case 0xdf:
        count = 2 * view.getUint32(pos + 1);
        break;
    }
    pos += head;
    if (count > end - pos) return false;
    pos += payload;
  }
  return true;
}
