/**
 * number-record.ts - a float64 (a version, a counter, a sequence number) as the
 * 8 bytes the state store keeps, and back.
 */

/** A float64 (version, counter) as 8 bytes. */
export function encodeNumber(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, n);
  return b;
}

/** The float64 written by `encodeNumber`. */
export function decodeNumber(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat64(0);
}
