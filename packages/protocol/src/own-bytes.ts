/**
 * own-bytes.ts - bytes kept past the turn they arrived in, as their own copy
 * (the daemon's stored values and queued chunks). What msgpackr decodes from a frame is a view into the whole frame
 * (and ws's frame, into the whole socket read), so a small operand or chunk
 * kept as it came keeps that frame alive with it: a client could hold 8 MiB of
 * the primary for every byte the daemon keeps (measured: 100 one-byte values,
 * each sent in one frame beside a 4 MB operand, held 400 MB; 100 queued
 * one-item chunks sent the same way, 470 MB).
 */

/**
 * `bytes`, copied when they are a view into a buffer more than `most` times their size. By
 * default an eighth more: a large value alone in its frame (its envelope a few dozen bytes)
 * is kept as it came, not copied again (a 64 KiB value's copy was 5% of the primary's time
 * under a client writing them in a loop). Not `bytes.slice()`: on a Buffer, what msgpackr
 * decodes to, slice is another view.
 */
export function own(bytes: Uint8Array, most = 1.125): Uint8Array {
  return bytes.buffer.byteLength <= bytes.byteLength * most ? bytes : new Uint8Array(bytes);
}
