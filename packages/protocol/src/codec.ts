/**
 * The two msgpack codecs. Control messages (which the primary decodes from
 * untrusted peers) use a strict codec: no structured-clone references, no
 * records, no extra types. Data (items, results, shared values) uses the
 * structured-clone codec and is encoded only by clients and workers; the
 * primary passes it on as opaque bytes.
 */
import type { Packr, Unpackr } from 'msgpackr';

import { BadMessageError, NotCloneableError } from './errors.js';
import { findUncloneable } from './cloneable.js';
import { ERROR_EXTENSION } from './error-extension.js';
import { loadMsgpackr } from './load-msgpackr.js';
import { decodeNumbers, encodeNumbers } from './number-array.js';

interface Codecs {
  control: Packr;
  controlReader: Unpackr;
  data: Packr;
  dataNumbers: Packr;
}

let made: Codecs | undefined;

/**
 * msgpackr is loaded by the first message, not with this module: its native
 * string extractor's loader probes the platform for its binary (detect-libc,
 * node-gyp-build: ~10 ms of CPU), which the daemon's primary would otherwise
 * pay before it forks its workers, and every CLI command that sends nothing.
 */
function codecs(): Codecs {
  return (made ??= makeCodecs(loadMsgpackr()));
}

function makeCodecs({ Packr, Unpackr, addExtension }: typeof import('msgpackr')): Codecs {
  // msgpackr's extensions are its module's, for every codec: the strict ones never carry an Error.
  addExtension(ERROR_EXTENSION);
  // A copy each: msgpackr's constructors may write into the options they are given.
  const strict = (): ConstructorParameters<typeof Packr>[0] => ({
    useRecords: false,
    mapsAsObjects: true,
    structuredClone: false,
    moreTypes: false,
    int64AsType: 'number',
  });
  return {
    control: new Packr(strict()),
    controlReader: new Unpackr(strict()),
    // Records are defined inline in every message (no shared `structures`), so any
    // fresh instance in another process decodes what this one wrote.
    data: new Packr({ structuredClone: true, moreTypes: true, useBigIntExtension: true }),
    // The data codec makes a structured-clone reference Map on every pack (~180 bytes, the largest single
    // allocation of a counter's add in the primary). A number has nothing to reference: numbers (a counter's
    // value, an add's delta) go through this twin without structured clone, which writes the same bytes.
    dataNumbers: new Packr({ moreTypes: true, useBigIntExtension: true }),
  };
}

/** Encodes a control message. */
export function encodeMessage(message: unknown): Uint8Array {
  return codecs().control.pack(message);
}

/** Decodes a control frame; anything malformed becomes E_BAD_MESSAGE, never a crash. */
export function decodeMessage(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw new BadMessageError('empty frame');
  const reader = codecs().controlReader; // outside the catch: a broken install is not a bad frame
  try {
    return reader.unpack(bytes);
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
  const c = codecs(); // outside the catches: a broken install is not an uncloneable value
  if (typeof value === 'number') return c.dataNumbers.pack(value);
  let bad: string | undefined;
  try {
    // An array of numbers (a chunk of them, or their results) is written by hand: nothing in it to check.
    const numbers = Array.isArray(value) ? encodeNumbers(value) : undefined;
    if (numbers !== undefined) return numbers;
    bad = findUncloneable(value, wrappers);
  } catch (err) {
    // A getter or a proxy trap threw while the value was inspected.
    throw new NotCloneableError(`${what} cannot be read: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (bad !== undefined) {
    throw new NotCloneableError(`${what} cannot be sent: ${bad} (values must be structured-cloneable)`);
  }
  try {
    return c.data.pack(value);
  } catch (err) {
    throw new NotCloneableError(`${what} cannot be encoded: ${(err as Error).message}`, { cause: err });
  }
}

/** Encodes data the caller has already checked with `findUncloneable`. */
export function encodeCheckedData(value: unknown): Uint8Array {
  const c = codecs();
  if (typeof value === 'number') return c.dataNumbers.pack(value);
  return (Array.isArray(value) ? encodeNumbers(value) : undefined) ?? c.data.pack(value);
}

/** Decodes data written by `encodeData`. */
export function decodeData(bytes: Uint8Array): unknown {
  const data = codecs().data;
  const numbers = decodeNumbers(bytes);
  if (numbers !== undefined) return numbers;
  try {
    return data.unpack(bytes);
  } catch (err) {
    throw new BadMessageError(`data does not decode: ${(err as Error).message}`, { cause: err });
  }
}

// A successful reply that carries data, { type: 'reply', rid, ok: true, value }, is what the daemon
// sends most (every state write answers with one). encodeReply writes the bytes encodeMessage would
// write for that object (a map16 of four fixstr keys, in this order), without making the object or
// walking it: ~0.1 us instead of ~0.45 per reply, measured with 100,000 adds in flight. The value is
// either data bytes (a bin) or a VersionReply (a value's version, and its bytes when it has them).
const REPLY_HEAD = Uint8Array.from([0xde, 0x00, 0x04, 0xa4, ...ascii('type'), 0xa5, ...ascii('reply'), 0xa3, ...ascii('rid')]);
const REPLY_MID = Uint8Array.from([0xa2, ...ascii('ok'), 0xc3, 0xa5, ...ascii('value')]);
const VERSION_KEY = Uint8Array.from([0xa7, ...ascii('version')]);
const VALUE_KEY = Uint8Array.from([0xa5, ...ascii('value')]);

function ascii(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * What a Value's operations answer: its version, and its bytes where the
 * operation returns them (`{ version, value }` on the wire, as a plain object
 * with those keys would be written; `value` is absent, not undefined, without
 * bytes). A class, so that the primary knows it from any other reply at once
 * and writes it by hand, into the reply on the wire (encodeReply) and into
 * each replay-log record that keeps it (encodePairs). Its encoding is not
 * kept: a kept reply would then hold ~250 more bytes (a typed array of its
 * own) for as long as it is kept, up to 100,000 per client.
 */
export class VersionReply {
  readonly version: number;
  declare readonly value?: Uint8Array;

  constructor(version: number, value?: Uint8Array) {
    this.version = version;
    if (value !== undefined) (this as { value?: Uint8Array }).value = value;
  }
}

/**
 * The data a state reply carries (a queue item, a dict value, a value's bytes): what the daemon
 * keeps of it for a resend until the client acknowledges it. 0 for a reply without data, or a
 * promise. A VersionReply, or the plain object a client decodes one to.
 */
export function replyDataBytes(reply: unknown): number {
  if (reply instanceof Uint8Array) return reply.length;
  const inner = (reply as { value?: unknown } | null | undefined)?.value;
  return inner instanceof Uint8Array ? inner.length : 0;
}

/**
 * A reply's value already encoded as msgpack (not data bytes: written into the
 * reply as it is, not as a bin), with room at its front for the reply's own
 * fields: the daemon encodes a large listing (the keys of a 300,000-key dict
 * took 30-55 ms to encode in one go) a slice per turn, and the reply then
 * goes out in that buffer, without another copy of megabytes.
 */
export class EncodedValue {
  /** ENVELOPE_ROOM bytes free, then the value's msgpack bytes. */
  readonly buf: Uint8Array;
  /**
   * One value for many replies (a status asked by many requests): each reply is written into a copy
   * when it is encoded, not into `buf`, whose front an earlier reply's frame may still hold in a socket.
   * Copied then rather than when the reply was made, replies waiting for a slow reader share the bytes.
   */
  readonly shared: boolean;

  constructor(buf: Uint8Array, shared = false) {
    this.buf = buf;
    this.shared = shared;
  }

  /** Bytes of the value. */
  get length(): number {
    return this.buf.length - ENVELOPE_ROOM;
  }

  /** The value's msgpack bytes. */
  get bytes(): Uint8Array {
    return this.buf.subarray(ENVELOPE_ROOM);
  }
}

/** Room an EncodedValue keeps at its front: the reply's fields before its value (REPLY_HEAD, a uint32 id, REPLY_MID). */
export const ENVELOPE_ROOM = 40;

/** What a reply written by hand carries: data bytes (a bin), a Value's reply, or a value already encoded. */
export type ReplyValue = Uint8Array | VersionReply | EncodedValue;

/** A VersionReply this file writes by hand: msgpackr writes a version past 32 bits (or fractional) otherwise. */
function handWritten(v: unknown): v is VersionReply {
  return v instanceof VersionReply && isUint32(v.version);
}

/** Bytes writeVersion writes for `v` (handWritten). */
function versionBytes(v: VersionReply): number {
  const n = v.value === undefined ? 0 : v.value.length;
  return (
    3 +
    VERSION_KEY.length +
    1 +
    (v.version < 0x80 ? 0 : uintBytes(v.version)) +
    (v.value === undefined ? 0 : VALUE_KEY.length + 1 + uintBytes(n) + n)
  );
}

/** Writes what encodeMessage writes for `v` (versionBytes said how much): a map16 of one or two fixstr keys, as msgpackr writes every object. */
function writeVersion(out: Uint8Array, p: number, v: VersionReply): number {
  p = put(out, p, 0xde, v.value === undefined ? 1 : 2, 2);
  out.set(VERSION_KEY, p);
  p = putUint(out, p + VERSION_KEY.length, v.version);
  if (v.value === undefined) return p;
  out.set(VALUE_KEY, p);
  return putBin(out, p + VALUE_KEY.length, v.value);
}

/**
 * How many bytes writeReply writes for `{ type: 'reply', rid, ok: true, value }`; -1 when it
 * cannot: msgpackr writes an id past 32 bits (or negative, or fractional) otherwise, and such
 * ids (and versions) take the general path (encodeMessage).
 */
export function replyBytes(rid: number, value: ReplyValue): number {
  if (!isUint32(rid) || (value instanceof VersionReply && !handWritten(value))) return -1;
  const body =
    value instanceof VersionReply
      ? versionBytes(value)
      : value instanceof EncodedValue
        ? value.length
        : 1 + uintBytes(value.length) + value.length;
  return REPLY_HEAD.length + 1 + (rid < 0x80 ? 0 : uintBytes(rid)) + REPLY_MID.length + body;
}

/** Writes the reply replyBytes measured (not -1) into `out` at `p`, as encodeMessage would; returns the next position. */
export function writeReply(out: Uint8Array, p: number, rid: number, value: ReplyValue): number {
  p = writeEnvelope(out, p, rid);
  if (value instanceof VersionReply) return writeVersion(out, p, value);
  return value instanceof EncodedValue ? copy(out, p, value.bytes) : putBin(out, p, value);
}

/** The reply's fields before its value; returns the next position. */
function writeEnvelope(out: Uint8Array, p: number, rid: number): number {
  out.set(REPLY_HEAD, p);
  p = putUint(out, p + REPLY_HEAD.length, rid);
  out.set(REPLY_MID, p);
  return p + REPLY_MID.length;
}

/**
 * The bytes of `{ type: 'reply', rid, ok: true, value }`, the same as encodeMessage's for that
 * object (for an EncodedValue, its bytes as the value). An EncodedValue's reply is written into
 * the room at its front: what is returned shares its buffer (a copy of it, for a shared one).
 */
export function encodeReply(rid: number, value: ReplyValue): Uint8Array {
  if (value instanceof EncodedValue) {
    if (!isUint32(rid)) {
      // The general path: the value is the last field, so the reply is what msgpackr writes for null in its place, less the null.
      const head = encodeMessage({ type: 'reply', rid, ok: true, value: null });
      const out = new Uint8Array(head.length - 1 + value.length);
      out.set(head.subarray(0, head.length - 1));
      out.set(value.bytes, head.length - 1);
      return out;
    }
    const start = ENVELOPE_ROOM - (replyBytes(rid, value) - value.length);
    const buf = value.shared ? value.buf.slice(start) : value.buf.subarray(start);
    writeEnvelope(buf, 0, rid);
    return buf;
  }
  const n = replyBytes(rid, value);
  if (n < 0) return encodeMessage({ type: 'reply', rid, ok: true, value });
  const out = new Uint8Array(n);
  writeReply(out, 0, rid, value);
  return out;
}

/**
 * The bytes encodeMessage writes for the flat array [k1, v1, k2, v2, ...] of
 * `pairs`, for the replay log, which writes a segment of kept replies again
 * with every batch that changes it: a VersionReply (a Value's reply, most of
 * them) is written by hand, anything else encoded by msgpackr here.
 */
export function encodePairs(pairs: Pairs): Uint8Array {
  // Keys msgpackr writes as a uint32 at most, and VersionReplies, are written in the second pass; the rest is encoded now.
  const encoded: Uint8Array[] = [];
  let size = 0;
  pairs.forEach((v, k) => {
    if (isUint32(k)) size += 1 + (k < 0x80 ? 0 : uintBytes(k));
    else size += push(encoded, encodeMessage(k));
    size += handWritten(v) ? versionBytes(v) : push(encoded, encodeMessage(v));
  });
  const count = pairs.size * 2;
  const out = new Uint8Array(arrayHeaderBytes(count) + size);
  let p = putArrayHeader(out, 0, count);
  let i = 0;
  pairs.forEach((v, k) => {
    if (isUint32(k)) p = putUint(out, p, k);
    else p = copy(out, p, encoded[i++]!);
    if (handWritten(v)) p = writeVersion(out, p, v);
    else p = copy(out, p, encoded[i++]!);
  });
  return out;
}

/** What encodePairs reads: a Map of numbers to anything, or anything that lists its pairs the same way, in the same order twice. */
export interface Pairs {
  readonly size: number;
  forEach(each: (value: unknown, key: number) => void): void;
}

/** Bytes of the msgpack header of an array of `n` elements: fixarray, array16 or array32. */
export function arrayHeaderBytes(n: number): number {
  return n < 0x10 ? 1 : n < 0x10000 ? 3 : 5;
}

/** Writes the header of an array of `n` elements (fixarray, array16 0xdc, array32 0xdd) at `p`; returns the next position. */
export function putArrayHeader(out: Uint8Array, p: number, n: number): number {
  if (n < 0x10) {
    out[p] = 0x90 | n;
    return p + 1;
  }
  return n < 0x10000 ? put(out, p, 0xdc, n, 2) : put(out, p, 0xdd, n, 4);
}

/** Appends `bytes` to `list`; returns their length. */
function push(list: Uint8Array[], bytes: Uint8Array): number {
  list.push(bytes);
  return bytes.length;
}

/** Copies `bytes` into `out` at `p`; returns the next position. */
function copy(out: Uint8Array, p: number, bytes: Uint8Array): number {
  out.set(bytes, p);
  return p + bytes.length;
}

function isUint32(n: number): boolean {
  return n >= 0 && n <= 0xffffffff && Number.isInteger(n);
}

/** A positive fixint is the number itself; past it, uint8/16/32 (0xcc-0xce) and the number big-endian. */
function putUint(out: Uint8Array, p: number, n: number): number {
  if (n < 0x80) {
    out[p] = n;
    return p + 1;
  }
  const width = uintBytes(n);
  return put(out, p, UINT_MARKERS[width]!, n, width);
}

/** bin8/16/32 (0xc4-0xc6) and the length big-endian, then the bytes; returns the next position. */
function putBin(out: Uint8Array, p: number, bytes: Uint8Array): number {
  const width = uintBytes(bytes.length);
  p = put(out, p, BIN_MARKERS[width]!, bytes.length, width);
  out.set(bytes, p);
  return p + bytes.length;
}

/** msgpack's uint and bin markers by the width of what follows them. */
const UINT_MARKERS: Record<number, number> = { 1: 0xcc, 2: 0xcd, 4: 0xce };
const BIN_MARKERS: Record<number, number> = { 1: 0xc4, 2: 0xc5, 4: 0xc6 };

/** Bytes needed for `n` as msgpack writes an unsigned length or id: 1, 2 or 4. */
function uintBytes(n: number): number {
  return n < 0x100 ? 1 : n < 0x10000 ? 2 : 4;
}

/** Writes `marker`, then `n` big-endian in `width` bytes; returns the next position. */
function put(out: Uint8Array, p: number, marker: number, n: number, width: number): number {
  out[p++] = marker;
  for (let shift = (width - 1) * 8; shift >= 0; shift -= 8) out[p++] = (n >>> shift) & 0xff;
  return p;
}
