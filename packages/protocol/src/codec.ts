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
