/**
 * The two msgpack codecs. Control messages (which the primary decodes from
 * untrusted peers) use a strict codec: no structured-clone references, no
 * records, no extra types. Data (items, results, shared values) uses the
 * structured-clone codec and is encoded only by clients and workers; the
 * primary passes it on as opaque bytes.
 */
import { Packr, Unpackr } from 'msgpackr';

import { BadMessageError, NotCloneableError } from './errors.js';
import { findUncloneable } from './cloneable.js';

const control = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  moreTypes: false,
  int64AsType: 'number',
});
const controlReader = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  moreTypes: false,
  int64AsType: 'number',
});

// Records are defined inline in every message (no shared `structures`), so any
// fresh instance in another process decodes what this one wrote.
const data = new Packr({ structuredClone: true, moreTypes: true, useBigIntExtension: true });

/** Encodes a control message. */
export function encodeMessage(message: unknown): Uint8Array {
  return control.pack(message);
}

/** Decodes a control frame; anything malformed becomes E_BAD_MESSAGE, never a crash. */
export function decodeMessage(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw new BadMessageError('empty frame');
  try {
    return controlReader.unpack(bytes);
  } catch (err) {
    throw new BadMessageError(`frame does not decode: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Encodes data (items, results, values). `what` names the value in the error
 * ("item 3", "the result of item 3") when it cannot be cloned; `wrappers`
 * outer array levels only carry the data (see findUncloneable).
 */
export function encodeData(value: unknown, what = 'value', wrappers = 0): Uint8Array {
  let bad: string | undefined;
  try {
    bad = findUncloneable(value, wrappers);
  } catch (err) {
    // A getter or a proxy trap threw while the value was inspected.
    throw new NotCloneableError(`${what} cannot be read: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (bad !== undefined) {
    throw new NotCloneableError(`${what} cannot be sent: ${bad} (values must be structured-cloneable)`);
  }
  try {
    return data.pack(value);
  } catch (err) {
    throw new NotCloneableError(`${what} cannot be encoded: ${(err as Error).message}`, { cause: err });
  }
}

/** Encodes data the caller has already checked with `findUncloneable`. */
export function encodeCheckedData(value: unknown): Uint8Array {
  return data.pack(value);
}

/** Decodes data written by `encodeData`. */
export function decodeData(bytes: Uint8Array): unknown {
  try {
    return data.unpack(bytes);
  } catch (err) {
    throw new BadMessageError(`data does not decode: ${(err as Error).message}`, { cause: err });
  }
}

// A successful reply that carries data, { type: 'reply', rid, ok: true, value }, is what the daemon
// sends most (every state write answers with one). encodeReply writes the bytes encodeMessage would
// write for that object (a map16 of four fixstr keys, in this order), without making the object or
// walking it: ~0.1 us instead of ~0.45 per reply, measured with 100,000 adds in flight.
const REPLY_HEAD = Uint8Array.from([0xde, 0x00, 0x04, 0xa4, ...ascii('type'), 0xa5, ...ascii('reply'), 0xa3, ...ascii('rid')]);
const REPLY_MID = Uint8Array.from([0xa2, ...ascii('ok'), 0xc3, 0xa5, ...ascii('value')]);

function ascii(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0));
}

/** The bytes of `{ type: 'reply', rid, ok: true, value }`, the same as encodeMessage's for that object. */
export function encodeReply(rid: number, value: Uint8Array): Uint8Array {
  // msgpackr writes an id past 32 bits (or negative, or fractional) otherwise; such ids take the general path.
  if (!(rid >= 0 && rid <= 0xffffffff && Number.isInteger(rid))) return encodeMessage({ type: 'reply', rid, ok: true, value });
  const ridBytes = rid < 0x80 ? 1 : rid < 0x100 ? 2 : rid < 0x10000 ? 3 : 5;
  const n = value.length;
  const binHead = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  const out = new Uint8Array(REPLY_HEAD.length + ridBytes + REPLY_MID.length + binHead + n);
  out.set(REPLY_HEAD, 0);
  let p = REPLY_HEAD.length;
  if (ridBytes === 1) {
    out[p++] = rid;
  } else if (ridBytes === 2) {
    out[p++] = 0xcc;
    out[p++] = rid;
  } else if (ridBytes === 3) {
    out[p++] = 0xcd;
    out[p++] = rid >>> 8;
    out[p++] = rid & 0xff;
  } else {
    out[p++] = 0xce;
    out[p++] = rid >>> 24;
    out[p++] = (rid >>> 16) & 0xff;
    out[p++] = (rid >>> 8) & 0xff;
    out[p++] = rid & 0xff;
  }
  out.set(REPLY_MID, p);
  p += REPLY_MID.length;
  if (binHead === 2) {
    out[p++] = 0xc4;
    out[p++] = n;
  } else if (binHead === 3) {
    out[p++] = 0xc5;
    out[p++] = n >>> 8;
    out[p++] = n & 0xff;
  } else {
    out[p++] = 0xc6;
    out[p++] = n >>> 24;
    out[p++] = (n >>> 16) & 0xff;
    out[p++] = (n >>> 8) & 0xff;
    out[p++] = n & 0xff;
  }
  out.set(value, p);
  return out;
}
